// <plumbing-chat>: a small language model that runs in the reader's browser, for blog posts.
//
//   <script type="module" src="https://example.org/plumbing/widget.js"></script>
//   <plumbing-chat prompt="What is a pipe wrench for?"></plumbing-chat>
//
// Attributes (the source of truth; properties reflect them):
//   model        an id of the manifest next to this script ("gemma-3-270m"), a manifest (.json)
//                or a GGUF URL, relative to the page; default: that manifest's default model.
//                A base model (no chat template) continues the prompt instead of answering it;
//                a model that thinks (<think> … </think>) shows its reasoning apart, folded.
//   prompt       the question, editable by the reader        system       a system message
//   max-tokens, temperature, seed: absent = the engine's own defaults (info.defaults: 200 tokens,
//                0.7, a random seed per run, which the "See inside" link then carries)
//   autorun      start when scrolled into view (off by default: nothing heavy loads before a click)
//   theme        light | dark | auto (default)               compact      a smaller layout
// Styling: --plumbing-* custom properties and part= hooks (container, header, model, meta, prompt,
// run, stop, progress, status, reasoning, reasoning-summary, thought, answer, footer, stats, link,
// error, note).
// Events (bubbling, composed): plumbing-load {cache}, plumbing-done {reason, stats, params},
// plumbing-error {kind, message}, plumbing-restart {message} (the engine crashed and was restarted;
// every widget of the page hears it and goes on).
//
// Everything (worker, wasm, model) is found relative to this file's URL, so the folder can be
// hosted anywhere static. All widgets of a page share one worker and one copy of the model; a
// second run waits in a queue and says so. Text from the model is set with textContent only.
//
// Reads top to bottom: the shared engine and queue, the element, helpers (its styles and markup:
// widget-view.js).

import { PlumbingEngine, readManifest, modelCached, keepStorage, Kind, Stop } from './engine.js';
import { fmtBytes as mb, fmtMs as seconds } from './format.js';
import { thinkSplitter, thinkOf } from './think.js';
import { adoptStyles, TEMPLATE } from './widget-view.js';

const HERE = new URL('./', import.meta.url);
const DEFAULT_MANIFEST = new URL('./models/manifest.json', import.meta.url).href;

// ================================================================ one engine and one queue per page

const shared = {
  engine: null,       // PlumbingEngine, created on the first run (no worker before that)
  loaded: null,       // { url, cache } once a model is in the worker
  tail: Promise.resolve(),
  waiting: [],        // widgets whose run waits for the one running
  current: null,      // the widget whose run holds the engine
  widgets: new Set(), // connected widgets (told when the queue or the loaded model changes)
};
const manifests = new Map(); // url -> Promise<model entry>

// Other documents of this origin (an iframe embed, another tab) hear when a model was kept.
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('plumbing-chat') : null;
if (channel) channel.onmessage = (ev) => { if (ev.data?.type === 'model-cached') notifyAll(); };

function engine() {
  if (!shared.engine || !shared.engine.alive) {
    const eng = new PlumbingEngine({ workerUrl: new URL('./worker.js', import.meta.url) });
    // A crash restarts the worker and reloads the model: every widget says so and goes on.
    eng.addEventListener('crashed', (ev) => { for (const w of shared.widgets) w._engineCrashed(ev.detail.message); });
    eng.addEventListener('restarted', (ev) => { for (const w of shared.widgets) w._engineRestarted(ev.detail); });
    shared.engine = eng;
    shared.loaded = null;
  }
  return shared.engine;
}

function notifyAll() { for (const w of shared.widgets) w._queueChanged(); }

/** Runs job() when every earlier job of this page has finished; the widget waits visibly. */
function enqueue(widget, signal, job) {
  const entry = { widget };
  shared.waiting.push(entry);
  notifyAll();
  const run = shared.tail.then(async () => {
    shared.waiting.splice(shared.waiting.indexOf(entry), 1);
    if (signal.aborted) { notifyAll(); return { reason: Stop.ABORTED }; }
    shared.current = widget;
    notifyAll();
    try { return await job(); } finally { shared.current = null; notifyAll(); }
  });
  shared.tail = run.catch(() => {});
  return run;
}

// A model attribute that is a manifest id: letters, digits, '.', '_', '-', not a file name.
const isId = (s) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) && !/\.(json|gguf)$/i.test(s);

/** The entry `id` of the manifest next to this script, or an error naming the ids it has. */
async function manifestEntry(id) {
  const m = await readManifest(DEFAULT_MANIFEST, id);
  if (m.id === id) return m;
  const bring = m.manifest.bring_the_file?.find((b) => b.id === id);
  const err = new Error(bring
    ? `${bring.name} is not hosted here: put its GGUF next to widget.js and name that file in model="…" (upstream: ${bring.upstream.url})`
    : `no model "${id}" in ${DEFAULT_MANIFEST}; it lists ${m.manifest.models.map((x) => x.id).join(', ')}`);
  err.kind = Kind.MODEL;
  throw err;
}

/** The manifest entry for a model attribute: {name, url, sha256, bytes, licence, upstream}. */
function resolveModel(attr) {
  const id = attr && isId(attr) ? attr : null;
  const url = id ? `${DEFAULT_MANIFEST}#${id}` : attr ? new URL(attr, document.baseURI).href : DEFAULT_MANIFEST;
  if (!manifests.has(url)) {
    const isGguf = !id && /\.gguf([?#]|$)/i.test(url);
    const p = id ? manifestEntry(id) : isGguf
      ? Promise.resolve({ name: decodeURIComponent(url.split(/[?#]/)[0].split('/').pop()), url, sha256: null, bytes: null })
      : readManifest(url);
    p.catch(() => manifests.delete(url)); // a failed read is tried again next time
    manifests.set(url, p);
  }
  return manifests.get(url);
}

// Registers ./sw.js (offline copies of the page and this widget) when this script is same-origin
// with the page; a widget hosted elsewhere still keeps the model (Cache Storage of the page's origin).
function registerServiceWorker() {
  try {
    if (!('serviceWorker' in navigator) || HERE.origin !== location.origin) return;
    navigator.serviceWorker.register(new URL('./sw.js', import.meta.url), { scope: HERE.pathname, updateViaCache: 'none' })
      .catch(() => {});
  } catch { /* opaque origin, storage off */ }
}

// ================================================================ the element

const ATTRS = ['model', 'prompt', 'system', 'max-tokens', 'temperature', 'seed', 'autorun', 'theme', 'compact'];

export class PlumbingChat extends HTMLElement {
  static observedAttributes = ATTRS;
  /** The PlumbingEngine all widgets of this page share (null before the first run). */
  static get engine() { return shared.engine; }

  static define(tag = 'plumbing-chat', registry = customElements) {
    if (!registry.get(tag)) registry.define(tag, this);
    return this;
  }

  #root; #els; #model = null; #controller = null; #observer = null; #edited = false;
  #params = null; // the parameters of the last run, as the engine filled them
  #onSubmit = (e) => { e.preventDefault(); this.run(); };
  #onStop = () => this.stop();
  #onInput = () => { this.#edited = true; this.#updateLink(); };

  constructor() {
    super();
    this.#root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.#root);
    this.#root.append(TEMPLATE.content.cloneNode(true));
    const q = (s) => this.#root.querySelector(s);
    this.#els = {
      box: q('.box'), model: q('.model'), meta: q('.meta'), form: q('form'), prompt: q('textarea'),
      run: q('.run'), runLabel: q('.run .label'), stop: q('.stop'), status: q('.status'),
      progress: q('.progress'), fill: q('.progress > div'), answer: q('.answer'), error: q('.error'),
      stats: q('.stats'), link: q('.link'), note: q('.note'),
      reasoning: q('.reasoning'), reasoningSummary: q('.reasoning summary'), thought: q('.thought'),
    };
  }

  // ---------------------------------------------------------------- attributes <-> properties

  get model() { return this.getAttribute('model') ?? ''; }
  set model(v) { this.setAttribute('model', v); }
  get prompt() { return this.getAttribute('prompt') ?? ''; }
  set prompt(v) { this.setAttribute('prompt', v); }
  get system() { return this.getAttribute('system') ?? ''; }
  set system(v) { this.setAttribute('system', v); }
  // null when absent: the engine's default applies (the one set of defaults lives in Rust).
  get maxTokens() { return this.hasAttribute('max-tokens') ? intAttr(this, 'max-tokens', null, 1, 2048) : null; }
  set maxTokens(v) { if (v == null) this.removeAttribute('max-tokens'); else this.setAttribute('max-tokens', String(v)); }
  get temperature() { return this.hasAttribute('temperature') ? numAttr(this, 'temperature', null, 0, 2) : null; }
  set temperature(v) { if (v == null) this.removeAttribute('temperature'); else this.setAttribute('temperature', String(v)); }
  get seed() { return this.hasAttribute('seed') ? intAttr(this, 'seed', 0, 0, 2 ** 32 - 1) : null; }
  set seed(v) { if (v == null) this.removeAttribute('seed'); else this.setAttribute('seed', String(v)); }
  get autorun() { return this.hasAttribute('autorun'); }
  set autorun(v) { this.toggleAttribute('autorun', !!v); }
  get theme() { return this.getAttribute('theme') ?? 'auto'; }
  set theme(v) { this.setAttribute('theme', v); }
  get compact() { return this.hasAttribute('compact'); }
  set compact(v) { this.toggleAttribute('compact', !!v); }

  /** "idle" | "loading" | "queued" | "running" | "done" | "error" */
  get state() { return this.#els.box.dataset.state; }

  attributeChangedCallback(name, oldValue, newValue) {
    if (oldValue === newValue) return;
    if (name === 'prompt' && !this.#edited) this.#els.prompt.value = newValue ?? '';
    if (name === 'model') { this.#model = null; if (this.isConnected) this.#describe(); }
    if (name === 'autorun' && this.isConnected) this.#watchAutorun();
    this.#updateLink();
  }

  connectedCallback() {
    const e = this.#els;
    if (!this.#edited) e.prompt.value = this.prompt;
    e.prompt.rows = this.compact ? 1 : 2;
    e.form.addEventListener('submit', this.#onSubmit);
    e.stop.addEventListener('click', this.#onStop);
    e.prompt.addEventListener('input', this.#onInput);
    shared.widgets.add(this);
    this.#updateLink();
    this.#describe();
    this.#watchAutorun();
  }

  disconnectedCallback() {
    const e = this.#els;
    e.form.removeEventListener('submit', this.#onSubmit);
    e.stop.removeEventListener('click', this.#onStop);
    e.prompt.removeEventListener('input', this.#onInput);
    shared.widgets.delete(this);
    this.#observer?.disconnect();
    this.#observer = null;
    this.#controller?.abort();
  }

  // ---------------------------------------------------------------- what the reader sees first

  // Name, licence and size from the manifest (a few KB); whether the model is already here.
  async #describe() {
    const e = this.#els;
    let m;
    try {
      m = this.#model = await resolveModel(this.model);
    } catch (err) {
      e.model.textContent = 'Model unavailable';
      e.meta.textContent = '';
      return this.#fail({ kind: err.kind ?? 'network', message: err.message });
    }
    e.model.textContent = m.name ?? 'a language model';
    if (m.upstream?.url) e.model.href = m.upstream.url; else e.model.removeAttribute('href');
    const parts = [];
    if (m.licence?.spdx || m.licence?.name) {
      const a = document.createElement('a');
      a.textContent = m.licence.spdx ?? m.licence.name;
      a.title = 'licence';
      if (m.licence.url) { a.href = m.licence.url; a.target = '_blank'; a.rel = 'noopener'; }
      parts.push(a);
    }
    parts.push(text(m.bytes ? mb(m.bytes) : 'size unknown'));
    if (m.parameters) parts.push(text(`${Math.round(m.parameters / 1e6)} M parameters`, 'long'));
    if (m.template === false) parts.push(text('base model: continues your text'));
    e.meta.replaceChildren(...parts); // separators come from CSS
    e.answer.dataset.placeholder = m.template === false ? 'The continuation appears here, token by token.' : 'The answer appears here, token by token.';
    this.#updateLink();
    if (this.state === 'idle') await this.#idleStatus();
  }

  async #idleStatus() {
    const e = this.#els, m = this.#model;
    if (!m || this.state !== 'idle') return;
    const here = shared.loaded?.url === m.url;
    const cached = here || await modelCached(m.url, m.sha256);
    if (this.state !== 'idle') return;
    e.box.toggleAttribute('data-cached', cached);
    e.status.replaceChildren();
    if (here) {
      e.status.append(bold('Loaded on this page'), ': starts at once.');
    } else if (cached) {
      e.status.append(bold('Cached on this device'), ': starts at once, no download.');
    } else {
      e.status.append(`Downloads ${m.bytes ? mb(m.bytes) : 'the model'} once`,
        m.sha256 ? ' (checked by sha256)' : ' (unverified: no manifest)', '; nothing you type leaves this tab.');
    }
  }

  #watchAutorun() {
    this.#observer?.disconnect();
    this.#observer = null;
    if (!this.autorun || typeof IntersectionObserver === 'undefined') return;
    this.#observer = new IntersectionObserver((entries) => {
      if (entries.some((x) => x.isIntersecting) && this.state === 'idle') {
        this.#observer?.disconnect();
        this.#observer = null;
        this.run();
      }
    });
    this.#observer.observe(this);
  }

  _queueChanged() {
    if (this.state === 'queued') this.#queuedStatus();
    else if (this.state === 'idle' || this.state === 'done') {
      if (this.state === 'idle') this.#idleStatus();
    }
  }

  #queuedStatus() {
    const ahead = shared.waiting.findIndex((x) => x.widget === this) + (shared.current ? 1 : 0);
    const who = shared.current === this ? 'this widget' : 'another widget on this page';
    this.#els.status.replaceChildren(bold('Queued'),
      `: waits for ${ahead <= 1 ? `${who} to finish` : `${ahead} runs ahead of it`}, then starts by itself. Stop cancels it.`);
  }

  // ---------------------------------------------------------------- running

  /** Starts a run (queued behind other widgets of the page). Resolves when it has ended. */
  async run() {
    if (this.#controller) return;
    const e = this.#els;
    const controller = new AbortController();
    this.#controller = controller;
    const prompt = e.prompt.value.trim() || this.prompt;
    e.answer.textContent = '';
    e.stats.textContent = '';
    e.error.hidden = true;
    e.note.hidden = true;
    e.run.disabled = true;
    e.stop.hidden = false;
    e.stop.disabled = false;
    e.box.removeAttribute('data-cached');
    keepStorage();
    registerServiceWorker();
    const busy = shared.current || shared.waiting.length;
    this.#setState(busy ? 'queued' : 'loading');
    if (busy) this.#queuedStatus();
    try {
      const m = this.#model ?? await resolveModel(this.model);
      const result = await enqueue(this, controller.signal, async () => {
        this.#setState('loading');
        await this.#ensureModel(m, controller.signal);
        if (controller.signal.aborted) return { reason: Stop.ABORTED };
        this.#setState('running');
        return this.#generate(prompt, controller.signal);
      });
      this.#finished(result);
    } catch (err) {
      if (err.kind === Kind.ABORTED) this.#finished({ reason: Stop.ABORTED });
      else this.#fail(err);
    } finally {
      this.#controller = null;
      e.run.disabled = false;
      e.stop.hidden = true;
      e.progress.hidden = true;
      this.#els.runLabel.textContent = this.state === 'error' ? 'Try again' : 'Run again';
    }
  }

  /** Stops this widget's run (or takes it out of the queue). */
  stop() {
    if (!this.#controller) return;
    this.#controller.abort();
    this.#els.stop.disabled = true;
    if (this.state === 'queued') this.#els.status.textContent = 'Cancelled before it started.';
  }

  async #ensureModel(m, signal) {
    const e = this.#els;
    if (shared.loaded?.url === m.url && shared.engine?.alive) {
      e.status.replaceChildren(bold('Loaded on this page'), ': no download.');
      return;
    }
    const eng = engine();
    e.status.textContent = 'Starting the WebAssembly engine…';
    await eng.ready;
    e.progress.hidden = false;
    e.fill.style.width = '0%';
    const t0 = performance.now();
    const r = await eng.load(m.url, {
      sha256: m.sha256, bytes: m.bytes, signal,
      onProgress: (p) => {
        if (p.phase === 'download') {
          const frac = p.total ? p.done / p.total : 0;
          e.fill.style.width = `${(frac * 92).toFixed(1)}%`;
          if (p.source === 'cache') {
            e.status.replaceChildren(bold('Cached on this device'), `: reading ${mb(p.done)} of ${mb(p.total)}, checking its sha256…`);
          } else {
            const speed = p.ms ? ` · ${mb((p.done / p.ms) * 1000)}/s` : '';
            e.status.textContent = `Downloading ${mb(p.done)} of ${mb(p.total)}${speed}`;
          }
        } else if (p.phase === 'verify') {
          e.fill.style.width = '94%';
          e.status.textContent = 'sha256 matches the manifest; reading the model…';
        } else {
          e.fill.style.width = `${94 + 6 * (p.total ? p.done / p.total : 1)}%`;
          e.status.textContent = `Reading the model: ${p.phase}…`;
        }
      },
    });
    e.progress.hidden = true;
    shared.loaded = { url: m.url, cache: r.cache };
    const from = r.cache?.source === 'cache' ? 'from this device\'s cache' : 'downloaded';
    e.status.textContent = `Model ready (${from}, ${seconds(performance.now() - t0)}).`;
    if (r.cache && !r.cache.stored && r.cache.source === 'network') {
      e.note.textContent = `Not kept for offline use: ${r.cache.reason}.`;
      e.note.hidden = false;
    }
    if (r.cache?.stored && r.cache.source === 'network') channel?.postMessage({ type: 'model-cached', url: m.url });
    this.#emit('plumbing-load', { cache: r.cache, sha256: r.sha256 });
    notifyAll();
  }

  #generate(prompt, signal) {
    const e = this.#els;
    e.status.textContent = 'Reading the prompt…';
    const node = document.createTextNode('');
    e.answer.replaceChildren(node);
    let generated = 0;
    // A base model continues the text (fed raw); a chat model gets it as a user message.
    const info = shared.engine.model ?? {};
    const chat = info.has_template ?? info.chat_template != null;
    const think = thinkOf(info);
    let split = think ? thinkSplitter(think) : null;
    const thought = document.createTextNode('');
    e.thought.replaceChildren(thought);
    e.reasoning.hidden = !think?.startInside;
    e.reasoning.open = true;
    let thinkTokens = 0, thinkMs = 0, thinking = !!think?.startInside;
    const showThink = () => {
      e.reasoningSummary.textContent = `Reasoning · ${thinkTokens} tokens · ${seconds(thinkMs)}${thinking ? ' · thinking…' : ''}`;
    };
    const put = (segs) => {
      for (const x of segs) {
        if (x.part === 'think') thought.appendData(x.text);
        else if (x.part === 'answer') node.appendData(x.text); // text, never HTML
      }
    };
    // Only what the author set; the engine fills the rest and reports it in onPrompt.
    const params = {};
    if (this.temperature != null) params.temperature = this.temperature;
    if (this.maxTokens != null) params.max_tokens = this.maxTokens;
    if (this.seed != null) params.seed = this.seed;
    this.#params = null;
    return shared.engine.generate(prompt, {
      system: chat ? this.system || undefined : undefined, raw: !chat, signal, ...params,
      onPrompt: (m) => {
        this.#params = m.params;
        this.#updateLink();
        // The prompt ends inside an opened block (a template that opens it): start in the reasoning.
        if (split && split.state !== 'think' && String(m.text ?? '').trimEnd().endsWith(think.open)) {
          split = thinkSplitter({ ...think, startInside: true });
          thinking = true;
          e.reasoning.hidden = false;
          showThink();
        }
      },
      onProgress: (p) => { e.status.textContent = `Reading the prompt: ${p.done} of ${p.total} tokens`; },
      onToken: (m) => {
        generated++;
        if (split && m.step) {
          const before = split.state;
          const piece = m.step.text || (m.step.piece === think.open || m.step.piece === think.close ? m.step.piece : '');
          const segs = split.push(piece);
          if (before === 'think' || segs.some((x) => x.part === 'think' || x.part === 'tag')) {
            thinkTokens++; thinkMs += m.step.ms ?? 0;
            e.reasoning.hidden = false;
          }
          thinking = split.state === 'think';
          put(segs);
          showThink();
          if (m.step.done) put(split.finish());
          if (before === 'think' && !thinking) e.reasoning.open = false; // the answer begins: fold it
        } else if (m.step?.text) node.appendData(m.step.text); // text, never HTML
        const s = m.stats;
        e.status.textContent = 'Writing…';
        e.stats.textContent = `${s?.generated ?? generated} tokens${s?.decode_tok_s ? ` · ${s.decode_tok_s.toFixed(1)} tok/s` : ''}`;
        if (e.answer.scrollHeight - e.answer.scrollTop - e.answer.clientHeight < 40) e.answer.scrollTop = e.answer.scrollHeight;
      },
    });
  }

  #finished(r) {
    const e = this.#els;
    const why = {
      [Stop.EOS]: 'Done: the model ended its answer.',
      [Stop.MAX_TOKENS]: `Done: reached ${this.#params?.max_tokens ?? 'the most'} tokens.`,
      [Stop.CONTEXT_FULL]: 'Done: the context is full.', [Stop.ABORTED]: 'Stopped.',
    }[r.reason] ?? `Done (${r.reason}).`;
    const wasQueued = this.state === 'queued';
    this.#setState('done');
    e.status.textContent = wasQueued && r.reason === Stop.ABORTED ? 'Cancelled before it started.' : why;
    const s = r.stats;
    if (s && s.generated) {
      e.stats.textContent = `${s.generated} tokens · ${s.decode_tok_s ? `${s.decode_tok_s.toFixed(1)} tok/s` : '–'}`
        + `${s.ttft_ms != null ? ` · first token ${seconds(s.ttft_ms)}` : ''}`;
    }
    this.#emit('plumbing-done', { reason: r.reason, stats: s ?? null, params: this.#params });
  }

  #fail(err) {
    const e = this.#els;
    this.#setState('error');
    const head = {
      [Kind.HASH]: 'Refused: this file is not the one the manifest names.',
      [Kind.NETWORK]: 'Could not download the model.',
      [Kind.WORKER]: 'The engine stopped.',
      [Kind.CRASHED]: 'The engine crashed; it is being restarted.',
      [Kind.MODEL]: 'The engine could not use this model.',
      [Kind.FORMAT]: 'The engine could not use this model.',
      [Kind.UNSUPPORTED]: 'The engine could not use this model.',
      [Kind.MISSING]: 'The engine could not use this model.',
    }[err.kind] ?? 'Something went wrong.';
    const strong = document.createElement('strong');
    strong.textContent = head;
    const code = document.createElement('code');
    code.textContent = err.message;
    e.error.replaceChildren(strong, code);
    e.error.hidden = false;
    e.status.textContent = err.kind === Kind.HASH ? 'Nothing was loaded; the page is fine.' : 'Try again when ready.';
    if (err.kind === Kind.WORKER || err.kind === Kind.HASH) shared.loaded = null;
    this.#emit('plumbing-error', { kind: err.kind ?? 'unknown', message: err.message });
  }

  // The shared engine crashed (every widget of the page hears it) and came back.
  _engineCrashed(message) {
    const e = this.#els;
    e.note.textContent = `The engine crashed (${message}); restarting it and reloading the model…`;
    e.note.hidden = false;
    this.#emit('plumbing-restart', { message });
  }

  _engineRestarted({ info, error }) {
    const e = this.#els;
    if (error || !info) {
      shared.loaded = null;
      e.note.textContent = `The engine was restarted${error ? `, but the model could not be reloaded: ${error.message}` : ''}. Run loads it again.`;
    } else {
      e.note.textContent = 'The engine was restarted and the model reloaded: run again when ready.';
    }
    e.note.hidden = false;
  }

  #setState(s) {
    this.#els.box.dataset.state = s;
    const label = { queued: 'Queued…', loading: 'Loading…', running: 'Writing…' }[s];
    if (label) this.#els.runLabel.textContent = label;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  // The full page, with the same prompt and settings: everything the widget hides.
  #updateLink() {
    const u = new URL('./index.html', HERE);
    const p = this.#els.prompt.value.trim() || this.prompt;
    if (p) u.searchParams.set('prompt', p);
    // The run's own parameters once it started (the seed the engine picked included), else the
    // author's; what is absent the page takes from the engine's defaults too.
    const t = this.#params?.temperature ?? this.temperature;
    const n = this.#params?.max_tokens ?? this.maxTokens;
    const seed = this.#params?.seed ?? this.seed;
    if (t != null) u.searchParams.set('temperature', String(t));
    if (n != null) u.searchParams.set('max-tokens', String(n));
    if (seed != null) u.searchParams.set('seed', String(seed));
    const id = this.#model?.id ?? (isId(this.model) ? this.model : null);
    if (id) u.searchParams.set('model', id);
    u.hash = 'inference';
    this.#els.link.href = u.href;
  }
}

// ================================================================ helpers

function intAttr(el, name, d, lo, hi) {
  const v = Math.round(Number(el.getAttribute(name)));
  return el.hasAttribute(name) && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
}
function numAttr(el, name, d, lo, hi) {
  const v = Number(el.getAttribute(name));
  return el.hasAttribute(name) && el.getAttribute(name) !== '' && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : d;
}
function text(s, cls) { const x = document.createElement('span'); x.textContent = s; if (cls) x.className = cls; return x; }
function bold(s) { const b = document.createElement('b'); b.textContent = s; return b; }

PlumbingChat.define();
