// The page: one module per view (www/views/), wired together here. Each view reads and writes
// only its part of the DOM; what they share (the engine, the model's info) is handed to them
// when a model loads. Every string that comes from the model file or the model is written with
// textContent (or as a text node), never as HTML.

import { keepStorage } from './engine.js';
import { PlProgress } from './components/progress-bar.js';
import { PlHeatmap } from './components/heat-map.js';
import { PlLegend } from './components/color-legend.js';
import { PlHistogram } from './components/histogram-chart.js';
import { PlTokens } from './components/token-strip.js';
import { PlAlternatives } from './components/alternatives-list.js';
import { PlNetMeter } from './components/net-meter.js';
import { tabsView } from './views/tabs.js';
import { loaderView } from './views/loader.js';
import { weightsView } from './views/weights.js';
import { tensorView } from './views/tensor.js';
import { tokenizerView } from './views/tokenizer.js';
import { inspectorView } from './views/inspector.js';
import { lensView } from './views/lens.js';
import { inferenceView } from './views/inference.js';
import { opennessView } from './views/openness.js';
import { pickerView } from './views/picker.js';

for (const C of [PlProgress, PlHeatmap, PlLegend, PlHistogram, PlTokens, PlAlternatives, PlNetMeter]) C.define();

const MANIFEST_URL = new URL('./models/manifest.json', import.meta.url);
const tabs = tabsView();
const openness = opennessView();
// What this tab did with each model (manifest id -> {url, source, sha256, sha256ok, user, ran}):
// the comparison's first row answers from it, not from what anyone claims.
const tab = new Map();
let shown = null; // the manifest id (or null) of the model in the tab now
let manifest = null;
const compare = () => openness.compare(manifest, tab);
const picker = pickerView({ onPick: (id) => loader.load(null, id) });
const tensor = tensorView();
const weights = weightsView({ onSelect: (t) => tensor.show(t) });
const tokenizer = tokenizerView();
const inspector = inspectorView({ onChoose: (pos, id) => inference.continueFrom(pos, id), deeper: lensView() });
const inference = inferenceView({
  inspector,
  onMemory: (bytes) => loader.setMemory(bytes),
  onBusy: (on) => loader.setBusy(on),
  onWorkerDied: (e) => { tokenizer.clear(); loader.died(e); },
  onFinished: ({ stats }) => {
    const did = shown && tab.get(shown);
    if (!did || !stats?.generated) return;
    did.ran = { tokens: (did.ran?.tokens ?? 0) + stats.generated, net: document.getElementById('net').count };
    compare();
  },
});
const loader = loaderView({
  manifestUrl: MANIFEST_URL,
  onLoading: () => { inference.disable(); tokenizer.clear(); },
  onModel: (model) => {
    if (model.manifest) { manifest = model.manifest; picker.show(manifest, MANIFEST_URL, model.id); compare(); }
    if (!model.user) openness.show({ model });
  },
  onLoaded: ({ engine, model, info, sha256, build, memory, match, cache }) => {
    tensor.setEngine(engine);
    weights.show(info, model);
    tokenizer.show(engine, info);
    inference.show(engine, info, memory);
    // A file of one's own that is a manifest model shows that model's card and counts for it.
    const card = model.user ? (match ? { ...match.entry, user: true } : model) : model;
    shown = model.user ? match?.entry.id ?? null : model.id;
    if (shown) tab.set(shown, { url: model.url, source: cache?.source, sha256, sha256ok: !!model.sha256 && sha256 === model.sha256, user: !!model.user });
    openness.show({ model: card, sha256, loaded: true, build });
    picker.show(manifest, MANIFEST_URL, model.user ? null : model.id);
    compare();
  },
  onFailed: (model, sha256) => openness.show({ model, sha256 }),
  onCrashed: () => inference.disable(),
  onRestarted: (message, info) => inference.restarted(message, info),
});

// ?prompt=... (the widget's "See inside" link) opens the inference view, which takes the message
// and the sampling parameters (?temperature=, ?seed= ...) from the query itself.
if (new URLSearchParams(location.search).has('prompt') && !location.hash) tabs.show('inference');

// Offline: www/sw.js keeps the page; the worker keeps the verified model (see sw.js).
keepStorage();
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { updateViaCache: 'none' }).catch(() => {});
}

loader.readAll().then((m) => {
  if (!m || manifest) return;
  manifest = m;
  picker.show(m, MANIFEST_URL, loader.currentId);
  compare();
});
loader.load();
