// The page: loads the model through PlumbingEngine and draws what the engine returns.
// Reads top to bottom: set-up, tabs, loading, weights, tokenizer, inference, inside the step,
// openness, helpers. Every string that comes from the model file or the model is written with
// textContent (or as a text node), never as HTML.

import { PlumbingEngine, readManifest, keepStorage } from './engine.js';
import { absQuantile, lut } from './colormap.js';
import { PlProgress } from './components/progress-bar.js';
import { PlHeatmap } from './components/heat-map.js';
import { PlLegend } from './components/color-legend.js';
import { PlHistogram } from './components/histogram-chart.js';
import { PlTokens } from './components/token-strip.js';
import { PlAlternatives } from './components/alternatives-list.js';
import { PlNetMeter } from './components/net-meter.js';
import { el, visibleText } from './components/util.js';

for (const C of [PlProgress, PlHeatmap, PlLegend, PlHistogram, PlTokens, PlAlternatives, PlNetMeter]) C.define();

const $ = (id) => document.getElementById(id);
const MANIFEST_URL = new URL('./models/manifest.json', import.meta.url);

const state = {
  engine: null,
  model: null,       // manifest entry
  info: null,        // engine info
  sha256: null,      // computed by the worker while downloading
  loadController: null,
  tensors: [],       // info.tensors + derived fields
  selectedTensor: null,
  sort: { key: 'name', dir: 1 },
  // generation
  running: null,     // { controller, promise }
  fed: [],           // prompt tokens {id, text, special}
  steps: [],         // per generated position: { step, chosenId?, chosenText? }
  selectedPos: -1,
  follow: true,      // inspector follows the newest token until the user picks one
  attnCache: new Map(),
  runId: 0,
};

// ================================================================ tabs

const tabs = [...document.querySelectorAll('[role="tab"]')];

function showTab(tab, focus = false) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  const name = tab.id.replace('tab-', '');
  if (location.hash.slice(1) !== name) history.replaceState(null, '', `#${name}`);
}

for (const t of tabs) {
  t.addEventListener('click', () => showTab(t));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    let j = null;
    if (e.key === 'ArrowRight') j = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') j = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = tabs.length - 1;
    if (j != null) { e.preventDefault(); showTab(tabs[j], true); }
  });
}
const initialTab = tabs.find((t) => t.id === `tab-${location.hash.slice(1)}`);
if (initialTab) showTab(initialTab);

// ================================================================ loading

const PHASES = [
  ['download', 'download'], ['verify', 'sha256'], ['header', 'header'],
  ['tensors', 'tensors'], ['tokenizer', 'tokenizer'],
];
// Where each phase sits on the one progress bar (percent).
const SPAN = { download: [0, 88], verify: [88, 90], header: [90, 91], tensors: [91, 98], tokenizer: [98, 100] };

function resetPhases() {
  const ol = $('phases');
  ol.replaceChildren();
  for (const [key, label] of PHASES) {
    const li = el('li');
    li.dataset.phase = key;
    li.dataset.state = 'pending';
    li.append(el('span', '', label), el('b', '', ''));
    ol.append(li);
  }
}

function phase(key, st, text) {
  const li = $('phases').querySelector(`[data-phase="${key}"]`);
  if (!li) return;
  if (st) li.dataset.state = st;
  if (text != null) li.querySelector('b').textContent = text;
}

function startEngine() {
  state.engine?.terminate();
  const engine = new PlumbingEngine();
  state.engine = engine;
  engine.onNetwork((e) => $('net').add(e));
  engine.ready.then((build) => {
    if (build) $('build-info').textContent = `engine ${build.version ?? ''}${build.simd128 ? ' · simd128' : ''}`;
  }).catch(() => {});
  return engine;
}

/** Loads the manifest's model, or `file` (a File the person chose or dropped: no sha256 to
 * check against, so its hash is shown instead). */
async function loadModel(file = null) {
  const loader = $('loader'), bar = $('progress');
  $('file-hash').hidden = true;
  loader.dataset.state = 'loading';
  $('load-error').hidden = true;
  $('load-retry').hidden = true;
  $('load-cancel').hidden = false;
  $('loader-title').textContent = 'Loading the model';
  bar.state = 'running';
  bar.value = 0;
  bar.max = 100;
  resetPhases();
  setGenerateEnabled(false);

  const engine = startEngine();
  const controller = new AbortController();
  state.loadController = controller;
  const t0 = performance.now();
  try {
    if (file) {
      if (!file.size) throw Object.assign(new Error(`${file.name} is empty (0 bytes)`), { kind: 'model' });
      // A blob: URL the worker fetches like any other (the CSP allows connect-src blob:).
      state.model = { name: file.name, url: URL.createObjectURL(file), bytes: file.size, user: true };
      $('model-chip').textContent = `${file.name} · your file`;
    } else {
      bar.label = 'Reading the manifest…';
      state.model = await readManifest(MANIFEST_URL);
      $('model-chip').textContent = `${state.model.name} · ${state.model.quantization?.split(' ')[0] ?? ''}`;
    }
    renderOpenness();
    bar.label = 'Starting the WebAssembly engine…';
    await engine.ready;
    let lastDone = 0, lastT = performance.now(), speed = 0;
    const result = await engine.load(state.model.url, {
      sha256: state.model.sha256,
      bytes: state.model.bytes,
      signal: controller.signal,
      onProgress: (p) => {
        const [a, b] = SPAN[p.phase] ?? [0, 100];
        const frac = p.total ? p.done / p.total : 1;
        bar.value = (a + (b - a) * frac).toFixed(2);
        if (p.phase === 'download') {
          const now = performance.now();
          if (now - lastT > 250) {
            const inst = ((p.done - lastDone) / (now - lastT)) * 1000;
            speed = speed ? speed * 0.6 + inst * 0.4 : inst;
            lastDone = p.done; lastT = now;
          }
          const avg = p.ms ? (p.done / p.ms) * 1000 : 0;
          bar.label = `Downloading ${fmtBytes(p.done)} of ${fmtBytes(p.total)} · ${fmtBytes(speed || avg)}/s · ${fmtMs(p.ms)}`;
          phase('download', 'active', `${Math.round(frac * 100)}%`);
        } else if (p.phase === 'verify') {
          phase('download', 'done');
          phase('verify', 'done', 'match');
          state.sha256 = p.sha256;
          bar.label = file ? 'Reading the file…' : 'sha256 matches the manifest; reading the file…';
          if (file) showFileHash(file, p.sha256);
        } else {
          for (const [k] of PHASES) {
            if (k === p.phase) break;
            const li = $('phases').querySelector(`[data-phase="${k}"]`);
            if (li?.dataset.state !== 'done') phase(k, 'done');
          }
          phase(p.phase, 'active', `${p.done}/${p.total}`);
          bar.label = `Reading ${p.phase}: ${p.done} of ${p.total}`;
        }
      },
    });
    state.info = result.info;
    state.sha256 = result.sha256;
    const tm = result.timings;
    phase('download', 'done', `${fmtMs(tm.download)} · ${fmtBytes((result.info.file_bytes / tm.download) * 1000)}/s`);
    phase('verify', 'done', file ? 'no manifest hash for your file' : `${fmtMs(tm.hash)} (while downloading)`);
    for (const k of ['header', 'tensors', 'tokenizer']) phase(k, 'done', tm[k] != null ? fmtMs(tm[k]) : '');
    bar.value = 100;
    bar.state = 'done';
    bar.label = `Loaded ${fmtBytes(result.info.file_bytes)}${result.cache?.source === 'cache' ? ' from this device\'s cache' : ''} in ${fmtMs(performance.now() - t0)}; everything below runs in this tab.`
      + (result.cache && !result.cache.stored ? ` Not kept for offline use: ${result.cache.reason}.` : '');
    loader.dataset.state = 'done';
    $('loader-title').textContent = 'Model loaded';
    $('load-cancel').hidden = true;
    setMemory(result.memory);
    $('net').arm();
    onLoaded();
  } catch (e) {
    bar.state = 'error';
    loader.dataset.state = 'error';
    bar.label = e.kind === 'aborted' ? 'Loading was cancelled.' : 'Loading failed.';
    for (const li of $('phases').querySelectorAll('[data-state="active"]')) li.dataset.state = 'error';
    $('load-error').textContent = `${e.kind ? `[${e.kind}] ` : ''}${e.message}`;
    $('load-error').hidden = false;
    $('load-retry').hidden = false;
    $('load-cancel').hidden = true;
    renderOpenness();
  } finally {
    state.loadController = null;
    if (file) URL.revokeObjectURL(state.model?.url);
  }
}

function showFileHash(file, sha256) {
  $('file-hash').textContent = `${file.name} · ${fmtBytes(file.size)} · sha256 ${sha256}`;
  $('file-hash').hidden = false;
}

// A GGUF of one's own: chosen, or dropped anywhere on the page.
$('file-input').addEventListener('change', (e) => {
  const f = e.target.files?.[0];
  e.target.value = '';
  if (f) loadModel(f);
});
document.addEventListener('dragover', (e) => {
  if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dragging'); });
document.addEventListener('drop', (e) => {
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files?.[0];
  if (!f) return;
  e.preventDefault();
  loadModel(f);
});

$('load-cancel').addEventListener('click', () => state.loadController?.abort());
$('load-retry').addEventListener('click', () => loadModel());

// The worker died (out of memory, a crash): say so, and offer a fresh one.
function engineDied(e) {
  state.info = null;
  setGenerateEnabled(false);
  $('loader').dataset.state = 'error';
  $('progress').state = 'error';
  $('progress').label = 'The engine stopped.';
  $('load-error').textContent = `The engine's worker stopped (${e.message}). Load again to start a new one.`;
  $('load-error').hidden = false;
  $('load-retry').hidden = false;
}

function onLoaded() {
  renderFacts();
  renderMetadata();
  prepareTensors();
  renderBytes();
  renderTensorTable();
  renderOpenness();
  setGenerateEnabled(true);
  scheduleTokenize();
  $('layer').max = String(state.info.config.n_layer - 1);
  // Start with something to look at: the first attention matrix.
  const first = state.tensors.find((t) => t.name === 'blk.0.attn_q.weight') ?? state.tensors.find((t) => t.shape.length === 2);
  if (first && !state.selectedTensor) selectTensor(first.name);
}

// ================================================================ weights: facts & metadata

function metaValue(key) {
  return state.info.metadata?.find((m) => m.key === key)?.value;
}

function renderFacts() {
  const { info } = state;
  const c = info.config;
  const params = info.tensors.reduce((s, t) => s + t.n_params, 0);
  const licence = metaValue('general.license') ?? state.model?.licence?.spdx;
  const rows = [
    ['name', info.name ?? metaValue('general.name') ?? '–'],
    ['architecture', info.architecture],
    ['file', `${fmtBytes(info.file_bytes)} · GGUF v${info.gguf_version}`],
    ['parameters', `${fmtInt(params)} (${(params / 1e6).toFixed(1)} M)`],
    ['tensors', fmtInt(info.tensors.length)],
    ['layers', c.n_layer],
    ['attention heads', `${c.n_head} query · ${c.n_head_kv} key/value`],
    ['head size', c.head_dim],
    ['embedding width', c.n_embd],
    ['MLP width', c.n_ff],
    ['vocabulary', fmtInt(c.n_vocab)],
    ['context', c.n_ctx ? `${fmtInt(c.n_ctx)} tokens (trained ${fmtInt(c.n_ctx_train)})` : `trained on ${fmtInt(c.n_ctx_train)} tokens`],
    ['RoPE θ', fmtInt(c.rope_theta)],
    ['RMSNorm ε', fmtNum(c.rms_eps, 3)],
    ['output head', c.tied_output ? 'tied to token_embd' : c.tied_output === false ? 'its own tensor' : '–'],
    ['licence', licence ?? 'not stated in the file'],
    ['special ids', `bos ${info.bos_id} · eos ${info.eos_id} · end-of-generation ${(info.eog_ids ?? []).join(', ')}`],
  ];
  const dl = $('facts');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    const d = el('div');
    d.append(el('dt', '', k), el('dd', '', String(v)));
    if (k === 'special ids') d.className = 'wide';
    dl.append(d);
  }
  $('file-lede').textContent = `${info.name ?? 'The model'} as stored in this GGUF file: what the header says about itself.`;
}

function renderMetadata() {
  const tbody = $('metadata').tBodies[0];
  tbody.replaceChildren();
  const meta = state.info.metadata ?? [];
  $('meta-count').textContent = `(${meta.length} keys)`;
  for (const m of meta) {
    const tr = el('tr');
    const td = el('td');
    if (Array.isArray(m.value) || m.len != null) {
      const items = Array.isArray(m.value) ? m.value : [];
      const shown = items.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(', ');
      td.append(document.createTextNode(`[${shown}${(m.len ?? items.length) > items.length ? ', …' : ''}]`));
      if ((m.len ?? 0) > items.length) td.append(el('span', 'summary', ` first ${items.length} of ${fmtInt(m.len)}`));
    } else if (typeof m.value === 'string' && (m.value.length > 160 || m.value.includes('\n'))) {
      td.append(el('span', 'long', m.value));
    } else {
      td.textContent = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
    }
    const type = m.len != null ? `${m.type} × ${fmtInt(m.len)}` : m.type;
    tr.append(el('td', '', m.key), el('td', '', type), td);
    tbody.append(tr);
  }
}

// ================================================================ weights: where the bytes go

const CATEGORIES = [
  ['embedding', 'token embedding'], ['attention', 'attention (q, k, v, output)'],
  ['mlp', 'MLP (gate, up, down)'], ['norm', 'norms'], ['output', 'output head'],
  ['header', 'header, metadata, vocabulary'],
];

function category(name) {
  if (name.startsWith('token_embd')) return 'embedding';
  if (/norm/.test(name)) return 'norm';
  if (/attn_(q|k|v|output)\./.test(name)) return 'attention';
  if (/ffn_(gate|up|down)\./.test(name)) return 'mlp';
  if (name.startsWith('output.')) return 'output';
  return 'header';
}

function prepareTensors() {
  const file = state.info.file_bytes;
  state.tensors = state.info.tensors.map((t, i) => {
    const m = /^blk\.(\d+)\./.exec(t.name);
    return { ...t, index: i, layer: m ? Number(m[1]) : -1, share: t.bytes / file, category: category(t.name) };
  });
}

function renderBytes() {
  const sums = Object.fromEntries(CATEGORIES.map(([k]) => [k, 0]));
  let tensorBytes = 0;
  for (const t of state.tensors) { sums[t.category] += t.bytes; tensorBytes += t.bytes; }
  sums.header += state.info.file_bytes - tensorBytes;
  const bar = $('bytes-bar'), legend = $('bytes-legend');
  bar.replaceChildren();
  legend.replaceChildren();
  for (const [k, label] of CATEGORIES) {
    const v = sums[k];
    if (!v) continue;
    const share = v / state.info.file_bytes;
    const seg = el('span', `cat-${k}`);
    seg.style.flexBasis = `${share * 100}%`;
    seg.title = `${label}: ${fmtBytes(v)} (${(share * 100).toFixed(1)}%)`;
    bar.append(seg);
    const li = el('li');
    li.append(el('span', `sw cat-${k}`), el('span', '', label), el('span', 'n', `${fmtBytes(v)} · ${(share * 100).toFixed(1)}%`));
    legend.append(li);
  }
  bar.setAttribute('aria-label', `Share of the file: ${CATEGORIES.filter(([k]) => sums[k])
    .map(([k, l]) => `${l} ${((sums[k] / state.info.file_bytes) * 100).toFixed(1)}%`).join(', ')}`);
}

// ================================================================ weights: the tensor table

const collapsed = new Set();

function renderTensorTable() {
  const table = $('tensors');
  for (const tb of [...table.tBodies]) tb.remove();
  const filter = $('tensor-filter').value.trim().toLowerCase();
  const grouped = $('group-layers').checked;
  const { key, dir } = state.sort;
  const cmp = (a, b) => {
    let r;
    if (key === 'name') r = a.name.localeCompare(b.name, 'en', { numeric: true });
    else if (key === 'type' || key === 'shape') r = String(key === 'shape' ? a.shape.join('×') : a.type).localeCompare(String(key === 'shape' ? b.shape.join('×') : b.type), 'en', { numeric: true });
    else r = a[key] - b[key];
    return r * dir || a.index - b.index;
  };
  const rows = state.tensors.filter((t) => !filter || t.name.toLowerCase().includes(filter) || t.type.toLowerCase().includes(filter));
  $('tensor-count').textContent = filter ? `(${rows.length} of ${state.tensors.length})` : `(${state.tensors.length})`;

  const groups = new Map();
  if (grouped) {
    const layers = [...new Set(rows.map((t) => t.layer))].sort((a, b) => a - b);
    for (const l of layers) groups.set(l, rows.filter((t) => t.layer === l).sort(cmp));
  } else {
    groups.set(null, [...rows].sort(cmp));
  }
  for (const [layer, list] of groups) {
    const tb = el('tbody');
    if (layer != null) {
      const gkey = String(layer);
      if (collapsed.has(gkey)) tb.classList.add('collapsed');
      const tr = el('tr', 'group');
      const th = el('th');
      th.colSpan = 6;
      th.scope = 'rowgroup';
      const b = el('button');
      b.type = 'button';
      b.setAttribute('aria-expanded', String(!collapsed.has(gkey)));
      const bytes = list.reduce((s, t) => s + t.bytes, 0), params = list.reduce((s, t) => s + t.n_params, 0);
      b.append(el('span', 'chev', '▾'), el('span', '', layer < 0 ? 'outside the layers' : `layer ${layer}`),
        el('span', 'g-meta', `${list.length} tensors · ${fmtInt(params)} params · ${fmtBytes(bytes)}`));
      b.addEventListener('click', () => {
        const now = !tb.classList.toggle('collapsed');
        b.setAttribute('aria-expanded', String(now));
        if (now) collapsed.delete(gkey); else collapsed.add(gkey);
      });
      th.append(b);
      tr.append(th);
      tb.append(tr);
    }
    const maxShare = Math.max(...state.tensors.map((t) => t.share));
    for (const t of list) tb.append(tensorRow(t, maxShare));
    table.append(tb);
  }
  for (const th of table.tHead.rows[0].cells) {
    const b = th.querySelector('button');
    const on = b.dataset.sort === key;
    th.setAttribute('aria-sort', on ? (dir > 0 ? 'ascending' : 'descending') : 'none');
  }
  const sel = table.querySelector('tr.t-row[aria-selected="true"]') ?? table.querySelector('tr.t-row');
  if (sel) sel.tabIndex = 0;
}

function tensorRow(t, maxShare) {
  const tr = el('tr', 't-row');
  tr.dataset.name = t.name;
  tr.dataset.testid = 'tensor-row';
  tr.setAttribute('data-testid', 'tensor-row');
  tr.tabIndex = -1;
  tr.setAttribute('aria-selected', String(state.selectedTensor === t.name));
  const name = el('td', 'name');
  const dot = t.name.lastIndexOf('.', t.name.length - 8);
  if (t.layer >= 0 && dot > 0) {
    name.append(el('span', 'pre', t.name.slice(0, dot + 1)), document.createTextNode(t.name.slice(dot + 1)));
  } else name.textContent = t.name;
  const type = el('td', 'type');
  type.append(el('span', '', t.type));
  const share = el('td', 'num share-cell');
  const s = el('span', 'share');
  const i = el('i');
  i.style.width = `${(t.share / maxShare) * 3}rem`;
  s.append(i, document.createTextNode(`${(t.share * 100).toFixed(2)}%`));
  share.append(s);
  tr.append(name, type, el('td', 'shape', t.shape.join(' × ')), el('td', 'num params', fmtInt(t.n_params)),
    el('td', 'num', fmtBytes(t.bytes)), share);
  return tr;
}

$('tensors').tHead.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-sort]');
  if (!b) return;
  const key = b.dataset.sort;
  state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === 'name' ? 1 : -1 };
  renderTensorTable();
});
$('tensors').addEventListener('click', (e) => {
  const tr = e.target.closest('tr.t-row');
  if (tr) selectTensor(tr.dataset.name, tr);
});
$('tensors').addEventListener('keydown', (e) => {
  const tr = e.target.closest?.('tr.t-row');
  if (!tr) return;
  const rows = [...$('tensors').querySelectorAll('tr.t-row')].filter((r) => r.offsetParent);
  const i = rows.indexOf(tr);
  let j = null;
  if (e.key === 'ArrowDown') j = Math.min(rows.length - 1, i + 1);
  else if (e.key === 'ArrowUp') j = Math.max(0, i - 1);
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = rows.length - 1;
  else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectTensor(tr.dataset.name, tr); return; }
  if (j == null) return;
  e.preventDefault();
  tr.tabIndex = -1;
  rows[j].tabIndex = 0;
  rows[j].focus();
});
$('tensor-filter').addEventListener('input', () => renderTensorTable());
$('group-layers').addEventListener('change', () => renderTensorTable());

// ================================================================ weights: one tensor

let tensorSeq = 0;

async function selectTensor(name, row) {
  const t = state.tensors.find((x) => x.name === name);
  if (!t) return;
  state.selectedTensor = name;
  for (const r of $('tensors').querySelectorAll('tr.t-row')) {
    const on = r.dataset.name === name;
    r.setAttribute('aria-selected', String(on));
    r.tabIndex = on ? 0 : -1;
  }
  row?.focus?.({ preventScroll: true });
  const seq = ++tensorSeq;
  const detail = $('tensor-detail');
  detail.dataset.state = 'loading';
  $('td-name').textContent = name;
  $('td-meta').textContent = `${t.type} · ${t.shape.join(' × ')} · ${fmtInt(t.n_params)} params · ${fmtBytes(t.bytes)} at offset ${fmtInt(t.offset)} · computing…`;
  $('td-body').hidden = false;
  let view;
  try {
    view = await state.engine.tensorView(name, { maxW: 448, maxH: 448, bins: 96 });
  } catch (e) {
    if (seq !== tensorSeq) return;
    $('td-meta').textContent = `The engine could not draw ${name}: ${e.message}`;
    detail.dataset.state = 'error';
    return;
  }
  if (seq !== tensorSeq) return;
  $('td-meta').textContent = `${t.type} · ${t.shape.join(' × ')} · ${fmtInt(t.n_params)} params · ${fmtBytes(t.bytes)} at offset ${fmtInt(t.offset)}`;
  const q = absQuantile(view.heatmap, 0.995) || Math.max(Math.abs(view.min), Math.abs(view.max)) || 1;
  const hm = $('td-heatmap');
  hm.draw(view.heatmap, view.width, view.height, { lo: -q, hi: q });
  hm.label = `Heatmap of ${name}, ${view.rows} rows by ${view.cols} columns`;
  hm.dataset.rows = String(view.rows);
  hm.dataset.cols = String(view.cols);
  const cellW = view.cols / view.width, cellH = view.rows / view.height;
  $('td-heat-caption').textContent = `${fmtInt(view.rows)} rows × ${fmtInt(view.cols)} columns drawn as ${view.width} × ${view.height} pixels`
    + (cellW > 1 || cellH > 1 ? `; each pixel is the mean of ${fmtNum(cellH)} × ${fmtNum(cellW)} values.` : '; one pixel per value.')
    + ' Click to pick a block.';
  const legend = $('td-legend');
  legend.setAttribute('lo', String(-q));
  legend.setAttribute('hi', String(q));
  legend.setAttribute('label', 'pixel value (blue negative, red positive; clipped at the 99.5th percentile)');
  setStat('td-min', view.min);
  setStat('td-max', view.max);
  setStat('td-mean', view.mean);
  setStat('td-std', view.std);
  $('td-hist').draw(view.histogram, view.min, view.max);
  state.view = view;
  const isBlock = /^Q/.test(t.type);
  const blocks = isBlock ? Math.max(1, Math.floor(view.cols / 32)) : Math.max(1, Math.ceil(view.cols / 32));
  $('blk-row').max = String(view.rows - 1);
  $('blk-block').max = String(blocks - 1);
  $('blk-row').value = '0';
  $('blk-block').value = '0';
  detail.dataset.state = 'ready';
  detail.dataset.tensor = name;
  await showBlock();
}

function setStat(id, v) {
  const dd = $(id);
  dd.textContent = fmtNum(v, 6);
  dd.dataset.value = String(v);
}

let blockSeq = 0;
async function showBlock() {
  const name = state.selectedTensor, view = state.view;
  if (!name || !view) return;
  const t = state.tensors.find((x) => x.name === name);
  const row = clampInt($('blk-row'), 0, view.rows - 1);
  const block = clampInt($('blk-block'), 0, Number($('blk-block').max));
  const seq = ++blockSeq;
  // Where the block sits on the heatmap.
  $('td-heatmap').marker = {
    x: ((block * 32) / view.cols) * view.width, y: (row / view.rows) * view.height,
    w: Math.max(1, (32 / view.cols) * view.width), h: Math.max(1, view.height / view.rows),
  };
  let b;
  try {
    b = await state.engine.tensorBlock(name, row, block);
  } catch (e) {
    if (seq === blockSeq) { $('block').replaceChildren(el('p', 'error', e.message)); }
    return;
  }
  if (seq !== blockSeq) return;
  const type = b.type ?? t.type;
  $('blk-explain').textContent = {
    Q4_1: 'Q4_1 stores 32 weights in 20 bytes: a scale d and a minimum m (16-bit floats) and 32 four-bit codes. Each weight is d × code + m.',
    Q8_0: 'Q8_0 stores 32 weights in 34 bytes: a scale d (16-bit float) and 32 signed 8-bit codes. Each weight is d × code.',
  }[type] ?? `${type} stores plain numbers; there is no code to decode.`;
  const box = $('block');
  box.replaceChildren();
  box.dataset.type = type;
  box.dataset.d = b.d != null ? String(b.d) : '';
  box.dataset.m = b.m != null ? String(b.m) : '0';
  const head = el('div', 'head');
  const addHead = (k, v) => { const s = el('span'); s.append(el('b', '', `${k} `), document.createTextNode(v)); head.append(s); };
  addHead('row', String(b.row ?? row));
  addHead('block', `${b.block ?? block} (columns ${block * 32}–${block * 32 + 31})`);
  if (b.d != null) addHead('d', fmtNum(b.d, 6));
  if (b.m != null) addHead('m', fmtNum(b.m, 6));
  box.append(head);
  const values = b.values ?? [];
  const amax = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
  const table = lut('diverging');
  values.forEach((v, i) => {
    const cell = el('div', 'cell');
    cell.dataset.value = String(v);
    if (b.codes) cell.dataset.code = String(b.codes[i]);
    const tIdx = Math.round(((v / amax + 1) / 2) * 255);
    const [r, g, bl] = [table[tIdx * 3], table[tIdx * 3 + 1], table[tIdx * 3 + 2]];
    cell.style.background = `rgb(${r} ${g} ${bl})`;
    cell.classList.add(0.299 * r + 0.587 * g + 0.114 * bl < 128 ? 'dark' : 'light');
    if (b.codes) cell.append(el('span', 'code', String(b.codes[i])));
    cell.append(el('span', 'val', fmtNum(v, 3)));
    cell.title = `column ${block * 32 + i}: ${b.codes ? `code ${b.codes[i]} → ` : ''}${v}`;
    box.append(cell);
  });
}

$('blk-row').addEventListener('change', showBlock);
$('blk-block').addEventListener('change', showBlock);
$('td-log').addEventListener('change', (e) => $('td-hist').toggleAttribute('log', e.target.checked));
$('td-heatmap').addEventListener('pl-cell', (e) => {
  const view = state.view;
  if (!view) return;
  const { x, y } = e.detail;
  const row = Math.min(view.rows - 1, Math.floor(((y + 0.5) / view.height) * view.rows));
  const col = Math.min(view.cols - 1, Math.floor(((x + 0.5) / view.width) * view.cols));
  $('blk-row').value = String(row);
  $('blk-block').value = String(Math.min(Number($('blk-block').max), Math.floor(col / 32)));
  showBlock();
});

// ================================================================ tokenizer

let tokTimer = null, tokSeq = 0;
function scheduleTokenize() {
  clearTimeout(tokTimer);
  tokTimer = setTimeout(tokenizeNow, 60);
}

async function tokenizeNow() {
  if (!state.info) return;
  const seq = ++tokSeq;
  const text = $('tok-input').value;
  try {
    const r = await state.engine.tokenize(text, { special: $('tok-special').checked });
    if (seq !== tokSeq) return;
    const tokens = r.ids.map((id, i) => ({ id, text: r.pieces[i], special: r.special?.[i] }));
    $('tok-strip').set(tokens);
    $('tok-strip').dataset.ids = r.ids.join(',');
    const chars = [...text].length;
    $('tok-count').textContent = `${fmtInt(r.ids.length)} tokens · ${fmtInt(chars)} characters${r.ids.length ? ` · ${(chars / r.ids.length).toFixed(2)} chars/token` : ''}`;
    const chat = await state.engine.chatPrompt([{ role: 'user', content: text }]);
    const c = await state.engine.tokenize(chat, { special: true });
    if (seq !== tokSeq) return;
    $('tok-chat').set(c.ids.map((id, i) => ({ id, text: c.pieces[i], special: c.special?.[i] })));
    const nSpecial = c.special?.filter(Boolean).length ?? 0;
    $('tok-chat-count').textContent = `${fmtInt(c.ids.length)} tokens fed, ${nSpecial} of them special; the template added ${fmtInt(c.ids.length - r.ids.length)} (a default system prompt, role markers).`;
  } catch (e) {
    if (seq === tokSeq) $('tok-count').textContent = `tokenizer error: ${e.message}`;
  }
}

$('tok-input').addEventListener('input', scheduleTokenize);
$('tok-special').addEventListener('change', scheduleTokenize);
$('tok-ids').addEventListener('change', (e) => {
  for (const id of ['tok-strip', 'tok-chat']) $(id).toggleAttribute('show-ids', e.target.checked);
});

let tokenSeq = 0;
async function showToken(id) {
  const seq = ++tokenSeq;
  $('tk-hint').hidden = true;
  $('tk-body').hidden = false;
  try {
    const [t, values] = await Promise.all([state.engine.token(id), state.engine.embedding(id)]);
    if (seq !== tokenSeq) return;
    const dl = $('tk-facts');
    dl.replaceChildren();
    const add = (k, v, wide) => {
      const d = el('div', wide ? 'wide' : '');
      const dd = el('dd');
      if (v instanceof Node) dd.append(v); else dd.textContent = v;
      d.append(el('dt', '', k), dd);
      dl.append(d);
    };
    add('id', String(t.id));
    add('special', t.special ? 'yes' : 'no');
    add('bytes', String(t.bytes?.length ?? 0));
    add('vocabulary entry', t.piece, true);
    add('text', visibleText(t.text ?? ''), true);
    add('bytes (hex)', (t.bytes ?? []).map((b) => b.toString(16).padStart(2, '0')).join(' ') || '–', true);
    dl.dataset.id = String(t.id);
    let lo = Infinity, hi = -Infinity, ss = 0;
    for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); ss += v * v; }
    const a = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    $('tk-embd').draw(values, values.length, 1, { lo: -a, hi: a });
    $('tk-legend').setAttribute('lo', String(-a));
    $('tk-legend').setAttribute('hi', String(a));
    $('tk-embd-n').textContent = fmtInt(values.length);
    $('tk-embd-meta').textContent = `min ${fmtNum(lo, 3)} · max ${fmtNum(hi, 3)} · ‖x‖ ${fmtNum(Math.sqrt(ss), 3)}`;
  } catch (e) {
    if (seq === tokenSeq) $('tk-embd-meta').textContent = `error: ${e.message}`;
  }
}

for (const id of ['tok-strip', 'tok-chat']) {
  $(id).addEventListener('pl-select', (e) => showToken(e.detail.token.id));
}

// ================================================================ inference

function params() {
  const num = (id, d) => { const v = Number($(id).value); return Number.isFinite(v) ? v : d; };
  return {
    temperature: num('temperature', 0.7),
    top_k: Math.max(0, Math.round(num('top-k', 40))),
    top_p: num('top-p', 0.95),
    seed: Math.max(0, Math.round(num('seed', 42))),
    max_tokens: Math.max(1, Math.round(num('max-tokens', 200))),
    capture_attention: $('capture').checked,
  };
}

$('temperature').addEventListener('input', (e) => { $('temp-out').textContent = Number(e.target.value).toFixed(2); });
$('top-p').addEventListener('input', (e) => { $('topp-out').textContent = Number(e.target.value).toFixed(2); });

function setGenerateEnabled(on) {
  $('generate').disabled = !on;
}

function setRunning(on) {
  $('stop').disabled = !on;
  $('generate').textContent = on ? 'Restart' : 'Generate';
  $('net').state = on ? 'busy' : 'armed';
  $('alts').toggleAttribute('disabled', false);
}

$('gen-form').addEventListener('submit', (e) => {
  e.preventDefault();
  startGeneration();
});
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); startGeneration(); }
});
$('stop').addEventListener('click', () => {
  if (!state.running) return;
  state.running.controller.abort();
  $('gen-status').textContent = 'Stopping…';
});

async function stopRunning() {
  const r = state.running;
  if (!r) return;
  r.controller.abort();
  try { await r.promise; } catch { /* reported by its own handler */ }
}

async function startGeneration() {
  if (!state.info) return;
  await stopRunning();
  const run = ++state.runId;
  state.steps = [];
  state.fed = [];
  state.attnCache.clear();
  state.selectedPos = -1;
  state.follow = true;
  $('answer').set([]);
  $('fed').set([]);
  resetInspector();
  const p = params();
  const controller = new AbortController();
  $('gen-status').textContent = 'Reading the prompt…';
  $('answer').dataset.state = 'running';
  const promise = state.engine.generate($('prompt').value, {
    ...p,
    signal: controller.signal,
    onPrompt: (m) => {
      if (run !== state.runId) return;
      state.fed = m.ids.map((id, i) => ({ id, text: m.pieces[i], special: m.special?.[i] }));
      $('fed').set(state.fed);
      $('fed-count').textContent = `(${m.ids.length} tokens)`;
    },
    onProgress: (m) => {
      if (run === state.runId) $('gen-status').textContent = `Prefill: ${m.done} of ${m.total} prompt tokens`;
    },
    onToken: (m) => run === state.runId && onToken(m),
  });
  await follow(run, controller, promise);
}

async function continueFrom(pos, id) {
  if (!state.info || pos < 0 || pos >= state.steps.length) return;
  await stopRunning();
  const run = ++state.runId;
  for (const k of [...state.attnCache.keys()]) if (k > pos) state.attnCache.delete(k);
  const controller = new AbortController();
  $('gen-status').textContent = `Continuing from token ${pos}…`;
  $('answer').dataset.state = 'running';
  const promise = state.engine.choose(pos, id, {
    ...params(),
    signal: controller.signal,
    onToken: (m) => run === state.runId && onToken(m),
  });
  await follow(run, controller, promise);
}

async function follow(run, controller, promise) {
  state.running = { controller, promise };
  setRunning(true);
  try {
    const r = await promise;
    if (run !== state.runId) return;
    const s = r.stats;
    const why = { eos: 'the model ended its answer', max_tokens: 'max tokens reached', context_full: 'the context is full', aborted: 'stopped' }[r.reason] ?? r.reason;
    $('gen-status').textContent = `Done: ${why} · ${s?.generated ?? state.steps.length} tokens${s?.decode_tok_s ? ` · ${s.decode_tok_s.toFixed(1)} tok/s` : ''}`;
    $('answer').dataset.reason = r.reason;
    if (s) setStats(s, r.memory);
  } catch (e) {
    if (run === state.runId) $('gen-status').textContent = `Error [${e.kind}]: ${e.message}`;
    if (e.kind === 'worker') engineDied(e);
  } finally {
    if (run === state.runId) {
      state.running = null;
      setRunning(false);
      $('answer').dataset.state = 'done';
    }
  }
}

function answerToken(step, chosen) {
  const id = chosen?.id ?? step.id;
  const text = chosen ? chosen.text : step.text;
  const eog = state.info.eog_ids?.includes(id);
  return {
    id,
    text: text !== '' ? text : eog ? (chosen ? chosen.text : step.piece) || '⏎end' : '▯',
    special: eog,
    prob: chosen ? step.top.find((c) => c.id === id)?.prob : step.prob,
    chosen: !!chosen,
  };
}

function onToken(m) {
  const answer = $('answer');
  if (m.chosen) {
    // choose(): position pos now holds the chosen id; the distribution it came from is unchanged.
    const pos = m.chosen.pos;
    const prev = state.steps[pos];
    state.steps.length = pos + 1;
    answer.truncate(pos);
    const alt = prev.step.top.find((c) => c.id === m.chosen.id);
    prev.chosenId = m.chosen.id;
    prev.chosenText = alt?.text ?? '';
    answer.append(answerToken(prev.step, { id: m.chosen.id, text: prev.chosenText }));
    selectPos(pos, false);
  }
  if (m.step) {
    const step = m.step;
    if (step.pos !== state.steps.length) {
      // Should not happen: positions arrive in order. Keep the page consistent anyway.
      state.steps.length = Math.min(state.steps.length, step.pos);
      answer.truncate(state.steps.length);
    }
    state.steps.push({ step });
    answer.append(answerToken(step));
    $('gen-status').textContent = `Generating… ${state.steps.length} tokens`;
    if (state.follow) selectPos(step.pos, false, true);
  }
  if (m.stats) setStats(m.stats, m.memory);
}

function setStats(s, memory) {
  $('st-ttft').textContent = s.ttft_ms != null ? fmtMs(s.ttft_ms) : '–';
  $('st-prefill').textContent = s.prefill_tok_s ? `${s.prefill_tok_s.toFixed(1)} tok/s` : '–';
  $('st-decode').textContent = s.decode_tok_s ? `${s.decode_tok_s.toFixed(1)} tok/s` : '–';
  $('st-ctx').textContent = `${fmtInt(s.n_ctx_used)} / ${fmtInt(s.n_ctx)}`;
  $('st-gen').textContent = fmtInt(s.generated);
  if (memory) setMemory(memory);
}

function setMemory(bytes) {
  $('memory-chip').textContent = `wasm ${fmtBytes(bytes)}`;
  $('st-mem').textContent = fmtBytes(bytes);
}

$('answer').addEventListener('pl-select', (e) => {
  state.follow = false;
  selectPos(e.detail.index, true);
});
$('alts').addEventListener('pl-choose', (e) => {
  if (state.selectedPos < 0) return;
  state.follow = true;
  continueFrom(state.selectedPos, e.detail.id);
});

// ================================================================ inside the step

function resetInspector() {
  $('in-hint').hidden = false;
  $('in-body').hidden = true;
  $('attn-heads').clear();
  $('attn-layers').clear();
}

let inspectTimer = null;
function selectPos(pos, fromUser, live = false) {
  const entry = state.steps[pos];
  if (!entry) return;
  state.selectedPos = pos;
  if ($('answer').selectedIndex !== pos) $('answer').select(pos);
  // While streaming, redraw at most every 120 ms so that the inspector never slows the tokens.
  clearTimeout(inspectTimer);
  if (live) inspectTimer = setTimeout(() => renderInspector(pos), 120);
  else renderInspector(pos);
}

function renderInspector(pos) {
  const entry = state.steps[pos];
  if (!entry) return;
  const { step } = entry;
  $('in-hint').hidden = true;
  $('in-body').hidden = false;
  $('inspector').dataset.pos = String(pos);
  $('in-pos').textContent = `token ${pos}${entry.chosenId != null ? ' (you chose)' : ''}`;
  const shown = entry.chosenId != null ? entry.chosenText : step.text || step.piece;
  $('in-text').replaceChildren(visibleText(shown ?? ''));
  const p = entry.chosenId != null ? step.top.find((c) => c.id === entry.chosenId)?.prob : step.prob;
  $('in-prob').textContent = p != null ? `${(p * 100).toFixed(1)}%` : '–';
  $('in-entropy').textContent = `${step.entropy.toFixed(2)} nats`;
  $('in-kept').textContent = fmtInt(step.kept);
  $('in-ms').textContent = step.ms != null ? fmtMs(step.ms) : '–';
  $('alts').set(step, { chosenId: entry.chosenId });
  renderAttention(pos);
}

let attnSeq = 0;
async function renderAttention(pos) {
  const seq = ++attnSeq;
  let a = state.attnCache.get(pos);
  try {
    if (!a) {
      a = await state.engine.attention(pos);
      if (a.available) state.attnCache.set(pos, a);
    }
  } catch (e) {
    a = { available: false, error: e.message };
  }
  if (seq !== attnSeq) return;
  const box = $('attn-box'), missing = $('attn-missing');
  if (!a.available) {
    box.hidden = true;
    missing.hidden = false;
    missing.textContent = a.error ? `Attention unavailable: ${a.error}`
      : $('capture').checked ? 'The attention of this step is no longer kept (the worker keeps the most recent steps within a memory budget).'
        : 'Attention was not captured: tick "keep attention" and generate again.';
    return;
  }
  box.hidden = false;
  missing.hidden = true;
  state.attn = { pos, ...a };
  drawAttention();
}

function contextTokens(nCtx) {
  const out = state.fed.slice(0, nCtx);
  for (let i = 0; out.length < nCtx && i < state.steps.length; i++) {
    const s = state.steps[i];
    out.push({ id: s.chosenId ?? s.step.id, text: s.chosenId != null ? s.chosenText : s.step.text || s.step.piece });
  }
  return out;
}

function drawAttention() {
  const a = state.attn;
  if (!a) return;
  const layer = Number($('layer').value);
  $('layer-out').textContent = String(layer);
  const { nHead, nCtx } = a;
  // Heads of one layer, each row scaled to its own maximum.
  const heads = a.layers[layer];
  const rows = new Float32Array(nHead * nCtx);
  for (let h = 0; h < nHead; h++) {
    let m = 0;
    for (let j = 0; j < nCtx; j++) m = Math.max(m, heads[h * nCtx + j]);
    for (let j = 0; j < nCtx; j++) rows[h * nCtx + j] = m ? heads[h * nCtx + j] / m : 0;
  }
  $('attn-heads').draw(rows, nCtx, nHead, { lo: 0, hi: 1 });
  $('attn-heads').dataset.layer = String(layer);
  // Every layer, mean over heads.
  const nLayer = a.layers.length;
  const over = new Float32Array(nLayer * nCtx);
  for (let l = 0; l < nLayer; l++) {
    let m = 0;
    for (let j = 0; j < nCtx; j++) {
      let s = 0;
      for (let h = 0; h < nHead; h++) s += a.layers[l][h * nCtx + j];
      over[l * nCtx + j] = s / nHead;
      m = Math.max(m, s / nHead);
    }
    for (let j = 0; j < nCtx; j++) over[l * nCtx + j] = m ? over[l * nCtx + j] / m : 0;
  }
  $('attn-layers').draw(over, nCtx, nLayer, { lo: 0, hi: 1 });
  $('attn-layers').marker = { x: 0, y: layer, w: nCtx, h: 1 };
  // The most attended tokens of this layer (mean over heads).
  const ctx = contextTokens(nCtx);
  const mean = [];
  for (let j = 0; j < nCtx; j++) {
    let s = 0;
    for (let h = 0; h < nHead; h++) s += heads[h * nCtx + j];
    mean.push([j, s / nHead]);
  }
  mean.sort((x, y) => y[1] - x[1]);
  const ol = $('attn-top');
  ol.replaceChildren();
  for (const [j, v] of mean.slice(0, 6)) {
    const li = el('li');
    const t = el('span', 'mono');
    t.append(visibleText(ctx[j]?.text ?? '?'));
    li.append(document.createTextNode(`#${j} `), t, el('span', 'pct', `${(v * 100).toFixed(1)}%`));
    ol.append(li);
  }
}

$('layer').addEventListener('input', drawAttention);
$('attn-layers').addEventListener('pl-cell', (e) => { $('layer').value = String(e.detail.y); drawAttention(); });

function hoverAttention(e, which) {
  const a = state.attn;
  const line = $('attn-hover');
  if (!a || !e.detail) { line.textContent = '\u00a0'; return; }
  const { x, y } = e.detail;
  const tok = contextTokens(a.nCtx)[x];
  const layer = which === 'heads' ? Number($('layer').value) : y;
  let v;
  if (which === 'heads') v = a.layers[layer][y * a.nCtx + x];
  else { v = 0; for (let h = 0; h < a.nHead; h++) v += a.layers[layer][h * a.nCtx + x]; v /= a.nHead; }
  line.replaceChildren(document.createTextNode(`layer ${layer}${which === 'heads' ? ` head ${y}` : ' (mean)'} → #${x} `));
  const s = el('span');
  s.append(visibleText(tok?.text ?? '?'));
  line.append(s, document.createTextNode(` : ${(v * 100).toFixed(2)}%`));
}
$('attn-heads').addEventListener('pl-hover', (e) => hoverAttention(e, 'heads'));
$('attn-layers').addEventListener('pl-hover', (e) => hoverAttention(e, 'layers'));

// ================================================================ openness

function link(url, text) {
  const a = el('a', '', text ?? url);
  a.href = url;
  if (/^https?:/.test(url)) { a.rel = 'noopener'; a.target = '_blank'; }
  return a;
}

function renderOpenness() {
  const m = state.model;
  const o = m?.openness;
  const grid = $('open-grid');
  grid.replaceChildren();
  if (!o) {
    $('open-lede').textContent = 'The manifest has no openness facts for this model.';
    return;
  }
  $('open-lede').textContent = `${m.name}, part by part, as the ${o.definition?.name ?? 'Open Source AI Definition'} splits it.`;
  $('open-lede').append(' ', link(o.definition.url, 'Read the definition.'));
  const parts = [
    ['weights', 'Weights', o.weights],
    ['inference_code', 'Inference code', o.inference_code],
    ['training_code', 'Training code', o.training_code],
    ['training_data', 'Training data', o.training_data],
  ];
  for (const [key, title, p] of parts) {
    if (!p) continue;
    const box = el('section', 'part');
    box.dataset.part = key;
    const h = el('h3', '', title);
    const badgeClass = p.status === 'open' ? 'open' : p.status === 'available' ? 'available' : 'partial';
    h.append(el('span', `badge ${badgeClass}`, p.status));
    box.append(h, el('p', '', p.summary));
    if (key === 'weights') box.append(hashBlock(m));
    if (p.facts?.length) {
      const ul = el('ul');
      for (const f of p.facts) {
        const li = el('li', '', `${f.text} `);
        if (f.url) li.append(link(f.url, 'source'));
        ul.append(li);
      }
      box.append(ul);
    }
    if (p.datasets?.length) {
      const wrap = el('div', 'table-wrap');
      const t = el('table', 'datasets');
      const head = el('tr');
      for (const c of ['dataset', 'used for', 'notes']) head.append(el('th', '', c));
      t.append(el('thead'));
      t.tHead.append(head);
      const tb = el('tbody');
      for (const d of p.datasets) {
        const tr = el('tr');
        const name = el('td');
        name.append(link(d.url, d.name));
        const notes = el('td', '', [d.licence ? `licence ${d.licence}` : '', d.note ?? ''].filter(Boolean).join('; '));
        if (d.source) { notes.append(notes.textContent ? ' · ' : '', link(d.source, 'source')); }
        tr.append(name, el('td', '', d.stage), notes);
        tb.append(tr);
      }
      t.append(tb);
      wrap.append(t);
      box.append(wrap);
    }
    grid.append(box);
  }
  $('open-note').textContent = o.note ?? '';
  if (o.paper) { $('open-note').append(' Paper: ', link(o.paper.url, o.paper.title)); }
}

function hashBlock(m) {
  const div = el('div', 'hashes');
  div.dataset.testid = 'hashes';
  const row = (k, v, id) => {
    const r = el('div');
    const c = el('code', '', v ?? '…');
    if (id) c.id = id;
    r.append(el('span', 'muted', k), c);
    return r;
  };
  div.append(row('expected', m.sha256, 'sha-expected'), row('this tab', state.sha256 ?? (state.info ? '?' : 'computed while downloading'), 'sha-computed'));
  const v = el('p', 'verdict');
  v.id = 'sha-verdict';
  if (state.sha256) {
    const ok = state.sha256 === m.sha256;
    v.classList.add(ok ? 'ok' : 'bad');
    v.textContent = ok ? '✓ The file in this tab is byte for byte the one the manifest pins.' : '✗ The hashes differ.';
  } else v.textContent = '';
  const wrap = el('div');
  wrap.append(div, v);
  const src = m.source;
  if (src) {
    const p = el('p', 'small muted', `Fetched for this project with: ${src.fetch ?? ''} `);
    if (src.url) p.append(link(src.url, 'package'));
    wrap.append(p);
  }
  return wrap;
}

// ================================================================ helpers

function fmtBytes(n) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${Math.round(n)} B`;
}

function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

function fmtInt(n) { return Number(n).toLocaleString('en-US'); }

function fmtNum(v, digits = 4) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(Math.min(digits, 4) - 1);
  return Number(v.toPrecision(digits)).toString();
}

function clampInt(input, lo, hi) {
  let v = Math.round(Number(input.value));
  if (!Number.isFinite(v)) v = lo;
  v = Math.max(lo, Math.min(hi, v));
  input.value = String(v);
  return v;
}

// ================================================================ go

// ?prompt=...&temperature=...&seed=...&max-tokens=... (the widget's "See inside" link).
function applyQuery() {
  const q = new URLSearchParams(location.search);
  const set = (id, v) => { if (v != null && v !== '') { $(id).value = v; $(id).dispatchEvent(new Event('input')); } };
  set('prompt', q.get('prompt'));
  set('temperature', q.get('temperature'));
  set('seed', q.get('seed'));
  set('max-tokens', q.get('max-tokens'));
  if (q.has('prompt') && !location.hash) showTab($('tab-inference'));
}

// Offline: www/sw.js keeps the page; the worker keeps the verified model (see sw.js).
function offline() {
  keepStorage();
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { updateViaCache: 'none' }).catch(() => {});
}

applyQuery();
offline();
loadModel();
