// PlumbingEngine: the one client class the main thread talks to. It owns a module worker
// (./worker.js, found relative to this file) which owns the wasm engine. Used by the page
// and by the <plumbing-chat> widget.
//
//   const engine = new PlumbingEngine();
//   const model = await readManifest(new URL('./models/manifest.json', import.meta.url));
//   await engine.load(model.url, { sha256: model.sha256, onProgress: (p) => ... , signal });
//   const r = await engine.generate('Hi!', { onToken: (t) => ..., signal, temperature: 0.7 });
//
// Errors are PlumbingError with a `kind` (Kind in ./protocol.js): "network" | "hash" | "aborted" |
// "worker" | "crashed" | the engine's own ("format", "limit", "request" ...).
//
// A crash (the wasm engine trapped, e.g. a Rust panic) rejects the request that hit it with kind
// "crashed"; the client then starts a fresh worker and reloads the model (from Cache Storage),
// firing 'crashed' ({detail: {message}}) and, once the model is back, 'restarted' ({detail:
// {info}}). Requests made meanwhile wait for the reload.

import { Req, Msg, Kind, Stop, MODEL_CACHE, SHA_HEADER } from './protocol.js';

export { Kind, Stop, MODEL_CACHE };

export class PlumbingError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'PlumbingError';
    this.kind = kind;
  }
}

/**
 * Reads a model manifest (models/manifest.json) and returns the entry `id` (default: the
 * manifest's default) with `url` resolved against the manifest's URL.
 */
export async function readManifest(manifestUrl, id) {
  let res;
  try {
    res = await fetch(manifestUrl);
  } catch (e) {
    throw new PlumbingError(Kind.NETWORK, `could not fetch ${manifestUrl}: ${e?.message ?? e}`);
  }
  if (!res.ok) throw new PlumbingError(Kind.NETWORK, `HTTP ${res.status} for ${manifestUrl}`);
  const manifest = await res.json();
  const want = id ?? manifest.default;
  const entry = manifest.models.find((m) => m.id === want) ?? manifest.models[0];
  if (!entry) throw new PlumbingError(Kind.MODEL, `${manifestUrl} lists no model`);
  return { ...entry, url: new URL(entry.file, new URL(manifestUrl, globalThis.location?.href)).href, manifest };
}

/**
 * Is a verified copy of this model in Cache Storage (kept by the worker after a download whose
 * sha256 matched)? Reads no body: cheap. Resolves false where there is no Cache Storage.
 */
export async function modelCached(url, sha256) {
  try {
    if (!globalThis.caches) return false;
    const href = new URL(url, globalThis.location?.href).href;
    const hit = await (await caches.open(MODEL_CACHE)).match(href);
    return !!hit && (!sha256 || hit.headers.get(SHA_HEADER) === String(sha256).toLowerCase());
  } catch {
    return false;
  }
}

/**
 * Asks the browser to keep this site's storage (the cached model) under storage pressure.
 * Resolves true if it is (or already was) persistent; never throws.
 */
export async function keepStorage() {
  try {
    if (!navigator.storage?.persist) return false;
    return (await navigator.storage.persisted()) || (await navigator.storage.persist());
  } catch {
    return false;
  }
}

/**
 * A worker must be same-origin with the page that starts it. When this file was loaded from
 * another origin (a widget hosted elsewhere), start a tiny module worker from a blob: URL that
 * imports the real worker by its absolute URL (which then needs CORS on that host).
 */
function sameOriginWorkerUrl(url) {
  const abs = new URL(url, import.meta.url);
  if (!globalThis.location || abs.origin === location.origin || abs.protocol === 'blob:') return abs;
  const src = `import ${JSON.stringify(abs.href)};\n`;
  return URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
}

/**
 * On the page: starts the helper threads that `worker` (an engine worker running the threads
 * build, ./threads.js) asks for with Msg.SPAWN_HELPER, relays their messages through the port
 * each request carries, and returns { count, terminate() }: terminate() ends them, and must come
 * with worker.terminate() (a helper outlives its engine worker otherwise, and keeps the shared
 * memory alive). The spawn requests never reach the worker's other listeners.
 */
export function hostHelpers(worker) {
  const started = [];
  const ports = [];
  let ended = false;
  worker.addEventListener('message', (ev) => {
    const m = ev.data;
    if (m?.type !== Msg.SPAWN_HELPER || !(m.port instanceof MessagePort)) return;
    ev.stopImmediatePropagation();
    const port = m.port;
    ports.push(port);
    if (ended) { port.close(); return; }
    let h;
    try {
      h = new Worker(sameOriginWorkerUrl(String(m.script)), { type: 'module', name: String(m.name ?? 'plumbing helper') });
    } catch (e) {
      port.postMessage({ type: 'failed', message: `its worker could not be created: ${e?.message ?? e}` });
      return;
    }
    started.push(h);
    port.onmessage = (e) => h.postMessage(e.data);
    h.onmessage = (e) => port.postMessage(e.data);
    h.onerror = (e) => { e.preventDefault?.(); port.postMessage({ type: 'failed', message: e.message || 'its worker failed' }); };
  });
  return {
    get count() { return started.length; },
    terminate() {
      ended = true;
      for (const h of started.splice(0)) h.terminate();
      for (const p of ports.splice(0)) p.close();
    },
  };
}

// How long a starting worker may stay silent (src: #start): generous, for a slow network or device.
const START_STALL_MS = 120_000;
// How long it may stay silent while it starts the helper threads of the threads build (the worker
// gives each helper 20 s of its own, ./threads.js): then it restarts on one thread (#start).
const HELPERS_STALL_MS = 40_000;
const HELPERS_STAGE = /^starting \d+ helper threads?$/;

/**
 * Paces a generation (step mode), as an AbortController ends one: pass it as `pacer` to
 * generate() or choose(). new Pacer({ step: true }) makes the generation pause after its first
 * token (after the chosen one, for choose); step() makes one more token (a generation that runs
 * pauses after the token in flight); run() lets it run on. onPaused({pos}) says when it waits.
 */
export class Pacer extends EventTarget {
  constructor({ step = false } = {}) { super(); this.stepping = !!step; }
  step() { this.stepping = true; this.dispatchEvent(new Event('step')); }
  run() { this.stepping = false; this.dispatchEvent(new Event('run')); }
}

export class PlumbingEngine extends EventTarget {
  #worker;
  #workerUrl;
  #nextId = 1;
  #pending = new Map(); // id -> { resolve, reject, onMessage }
  #netListeners = new Set();
  #dead = null;         // a PlumbingError once the worker has died
  #lastLoad = null;     // { url, sha256, bytes } of the loaded model, to reload after a crash
  #reloading = null;    // a Promise while a crashed worker's model is being reloaded
  #stage = 'starting the worker'; // what the worker last said it was doing while it started
  #startStallMs;
  #url;                 // the worker's script, before sameOriginWorkerUrl
  #oneThread = null;    // why this engine restarted its worker on one thread, once it did
  #helpers = null;      // hostHelpers() of the current worker: the helper threads the page started

  /**
   * threads: how many threads the engine may use where the page is cross-origin isolated (else
   * one; default: every core). `build.threads` says how many run, `build.threads_note` why fewer.
   * startStallMs: how long the starting worker may stay silent before `ready` rejects (120 s).
   * @param {{workerUrl?: string|URL, threads?: number, startStallMs?: number}} [options]
   */
  constructor({ workerUrl, threads, startStallMs = START_STALL_MS } = {}) {
    super();
    this.#startStallMs = startStallMs;
    this.build = null;
    this.model = null;    // the loaded model's info
    this.defaults = null; // the engine's one set of generation defaults (info.defaults)
    const url = new URL(workerUrl ?? new URL('./worker.js', import.meta.url), import.meta.url);
    if (threads > 0 && url.protocol !== 'blob:') url.searchParams.set('threads', String(Math.floor(threads)));
    this.#url = url;
    this.#workerUrl = sameOriginWorkerUrl(url);
    this.ready = this.#start();
  }

  // deferred: the { resolve, reject, promise } of a `ready` a replaced worker left unsettled.
  #start(deferred = null) {
    if (!deferred) {
      const promise = new Promise((resolve, reject) => { deferred = { resolve, reject }; });
      deferred.promise = promise;
      promise.catch(() => {});
    }
    this._ready = deferred;
    const ready = deferred.promise;
    this.#stage = 'starting the worker';
    // A start that stalls (a script or the .wasm that never arrives, a browser that never
    // answers) ends in an error naming the step it stalled at, not in a page that waits forever.
    // Each step the worker reports restarts the clock.
    // A stall while the helper threads start (seen once in Firefox: the worker itself went silent,
    // its own 20 s per helper never ran out) is not the end: the worker is replaced by one asked
    // for one thread, which starts no helper, and `build.threads_note` says why.
    const stallMs = () => (HELPERS_STAGE.test(this.#stage) && !this.#oneThread
      ? Math.min(HELPERS_STALL_MS, this.#startStallMs) : this.#startStallMs);
    let ms = stallMs();
    const stalled = () => {
      if (w !== this.#worker) return;
      this.#endWorker();
      const why = `no news from its worker for ${ms / 1000} s (last step: ${this.#stage})`;
      if (HELPERS_STAGE.test(this.#stage) && !this.#oneThread) {
        this.#oneThread = `one thread: the helper threads did not start (${why}), so the engine restarted on one`;
        if (this.#url.protocol !== 'blob:') this.#url.searchParams.set('threads', '1'); // starts no helper
        this.#workerUrl = sameOriginWorkerUrl(this.#url);
        this.#start(this._ready); // the same `ready`, settled by the new worker
        return;
      }
      this.#die(`the engine did not start: ${why}`);
    };
    let timer = setTimeout(stalled, ms);
    this._startNews = () => { clearTimeout(timer); ms = stallMs(); timer = setTimeout(stalled, ms); };
    ready.finally(() => clearTimeout(timer)).catch(() => {});
    const w = new Worker(this.#workerUrl, { type: 'module', name: this.#oneThread ? 'plumbing engine (one thread)' : 'plumbing engine' });
    // The threads build's helpers are started here, on the page (./threads.js says why), and end
    // with this worker (#endWorker).
    this.#helpers = hostHelpers(w);
    w.onmessage = (ev) => { if (w === this.#worker) this.#receive(ev.data); };
    w.onerror = (ev) => {
      ev.preventDefault?.();
      if (w === this.#worker) this.#die(`the engine worker failed: ${ev.message || 'it could not start or crashed'}`);
    };
    w.onmessageerror = () => { if (w === this.#worker) this.#die('a message from the engine worker could not be read'); };
    this.#worker = w;
    return ready;
  }

  // ------------------------------------------------------------ the model

  /**
   * Downloads a GGUF into the worker's wasm memory, checks its sha256 and parses it.
   * onProgress({phase, done, total, ms?, sha256?}): phase "download" | "verify" | "header" |
   * "tensors" | "tokenizer". Resolves {info, sha256, timings, memory}.
   */
  load(url, { onProgress, signal, sha256, bytes } = {}) {
    const href = new URL(url, globalThis.location?.href).href;
    return this.#request(Req.LOAD, { url: href, sha256, bytes }, {
      signal,
      onMessage: (m) => m.type === Msg.PROGRESS && onProgress?.(m),
    }).then((r) => {
      this.model = r.info;
      this.defaults = r.info.defaults;
      // A blob: URL may be revoked by its owner later; a crash then cannot reload it.
      this.#lastLoad = { url: href, sha256, bytes };
      return r;
    });
  }

  /** The loaded model's info (config, metadata, tensors, special ids). */
  info() { return this.#request(Req.INFO).then((r) => r.info); }

  // ------------------------------------------------------------ the tokenizer

  /** {ids, pieces, special} for text; special: parse "<|im_start|>" etc. as special tokens. */
  tokenize(text, { special = false } = {}) { return this.#request(Req.TOKENIZE, { text, special }); }

  /** {id, piece, text, bytes, special} for one token id. */
  token(id) { return this.#request(Req.TOKEN, { token: id }); }

  /**
   * What generate() would feed for a request, without generating: {text, ids, pieces, special,
   * template (true where the chat template wrote the token), params}. request: {prompt, system?,
   * messages?, raw?, params?}.
   */
  prepare(request) { return this.#request(Req.PREPARE, { request }); }

  /** Float32Array(n_embd): the token's row of token_embd. */
  embedding(id) { return this.#request(Req.EMBEDDING, { token: id }).then((r) => r.values); }

  // ------------------------------------------------------------ the weights

  /** A downsampled heatmap + histogram + stats of one tensor (computed in Rust). */
  tensorView(name, { maxW = 512, maxH = 512, bins = 64 } = {}) {
    return this.#request(Req.TENSOR_VIEW, { name, maxW, maxH, bins });
  }

  /** One quantized block: {type, row, block, d, m, codes, values}. */
  tensorBlock(name, row = 0, block = 0) { return this.#request(Req.TENSOR_BLOCK, { name, row, block }); }

  // ------------------------------------------------------------ generation

  /**
   * Generates an answer. `prompt` is the user's message (rendered with the chat template),
   * or with `raw: true` the exact text to feed; `messages` overrides prompt with a whole
   * conversation. Params: temperature, top_k, top_p, repeat_penalty, seed, max_tokens,
   * ignore_eos, capture_attention (default true).
   * onPrompt({text, ids, pieces, special}) once; onToken({step, stats, memory}) per token;
   * onProgress({phase:"prefill", done, total}). pacer (a Pacer): step mode, onPaused({pos}).
   * residuals: record every position's residual stream (for lens(), residual(), mlp(), neuron()).
   * Resolves {reason: "eos"|"max_tokens"|"context_full"|"aborted", stats, memory}.
   */
  generate(prompt, { onToken, onPrompt, onProgress, onPaused, signal, pacer, residuals, messages, system, raw, ...params } = {}) {
    return this.#request(Req.GENERATE, { prompt, system, messages, raw: !!raw, params, step: !!pacer?.stepping, residuals: !!residuals }, {
      signal, pacer,
      onMessage: (m) => {
        if (m.type === Msg.TOKEN) onToken?.(m);
        else if (m.type === Msg.PROMPT) onPrompt?.(m);
        else if (m.type === Msg.PROGRESS) onProgress?.(m);
        else if (m.type === Msg.PAUSED) onPaused?.(m);
      },
    });
  }

  /**
   * Rewinds the current generation to generated position `pos`, puts token `id` there and
   * continues. The first onToken carries `chosen: {pos, id, text}` (text = the answer so far).
   */
  choose(pos, id, { onToken, onPaused, signal, pacer, ...params } = {}) {
    return this.#request(Req.CHOOSE, { pos, token: id, params, step: !!pacer?.stepping }, {
      signal, pacer,
      onMessage: (m) => {
        if (m.type === Msg.TOKEN) onToken?.(m);
        else if (m.type === Msg.PAUSED) onPaused?.(m);
      },
    });
  }

  /**
   * Attention captured while generating position `pos` (the forward pass its distribution came
   * from): {available, nHead, nCtx, layers: [Float32Array(nHead*nCtx)]}; one layer if given.
   */
  attention(pos, { layer } = {}) { return this.#request(Req.ATTENTION, { pos, layer }); }

  // Inside the step, deeper: pos is an ABSOLUTE context position (the prompt's tokens first) of a
  // generation run with `residuals: true`; its residual stream predicts the token at pos + 1.

  /** The logit lens at pos: {pos, token, next, layers: [{layer, top: [{id, text, logit, prob}]}], ms}; one {layer, top} if given. */
  lens(pos, { layer } = {}) { return this.#request(Req.LENS, { pos, layer }); }

  /** {pos, embd, attn, mlp, resid}: L2 norms of what each block adds and of the stream after each layer. */
  residual(pos) { return this.#request(Req.RESIDUAL, { pos }); }

  /** {pos, layer, neurons: [{id, value}]}: the most activated MLP neurons of a layer at pos. */
  mlp(pos, layer) { return this.#request(Req.MLP, { pos, layer }); }

  /** {layer, neuron, norm, closest, opposite, value, rank, bound}: the tokens a neuron's down-projection is closest to. */
  neuron(layer, neuron, pos) { return this.#request(Req.NEURON, { layer, neuron, pos }); }

  /** {on, from, to, cap, bytes, bytes_per_pos}: which positions the engine holds residuals for. */
  capture() { return this.#request(Req.CAPTURE); }

  /** {stats, memory}: the engine's stats_json() and the wasm memory size. */
  stats() { return this.#request(Req.STATS); }

  /** Float32Array(n_vocab): the raw logits for the next position, before sampling. */
  logits() { return this.#request(Req.LOGITS).then((r) => r.values); }

  /**
   * Makes the engine panic on purpose (tests of crash recovery). Rejects with kind "crashed".
   * thread: in a helper thread of the threads build (rejects with kind "request" where none runs).
   */
  testPanic(message = 'on request', { thread = false } = {}) { return this.#request(Req.TEST_PANIC, { message, thread }); }

  // ------------------------------------------------------------ misc

  /** Calls fn({name, at}) for each resource request the worker makes (at: epoch ms). */
  onNetwork(fn) { this.#netListeners.add(fn); return () => this.#netListeners.delete(fn); }

  get alive() { return !this.#dead; }

  terminate() {
    this.#die('the engine was terminated', Kind.ABORTED);
  }

  // ------------------------------------------------------------ plumbing

  async #request(type, fields = {}, { signal, onMessage, pacer, now = false } = {}) {
    if (!now) while (this.#reloading) await this.#reloading.catch(() => {});
    return this.#send(type, fields, { signal, onMessage, pacer });
  }

  #send(type, fields, { signal, onMessage, pacer }) {
    if (this.#dead) return Promise.reject(this.#dead);
    if (signal?.aborted) return Promise.reject(new PlumbingError(Kind.ABORTED, `${type} was aborted`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ id: this.#nextId++, type: Req.ABORT, target: id });
      signal?.addEventListener('abort', onAbort, { once: true });
      const onStep = () => this.#worker.postMessage({ id: this.#nextId++, type: Req.STEP, target: id });
      const onRun = () => this.#worker.postMessage({ id: this.#nextId++, type: Req.RUN, target: id });
      pacer?.addEventListener('step', onStep);
      pacer?.addEventListener('run', onRun);
      const cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        pacer?.removeEventListener('step', onStep);
        pacer?.removeEventListener('run', onRun);
      };
      this.#pending.set(id, {
        onMessage,
        resolve: (v) => { cleanup(); resolve(v); },
        reject: (e) => { cleanup(); reject(e); },
      });
      this.#worker.postMessage({ id, type, ...fields });
    });
  }

  #receive(m) {
    if (m.id === 0) {
      if (m.type === Msg.READY) {
        this.build = m.build;
        if (this.#oneThread && m.build && m.build.threads === 1) this.build = { ...m.build, threads_note: this.#oneThread };
        this._ready.resolve(this.build);
      }
      else if (m.type === Msg.STARTING) { this.#stage = String(m.stage); this._startNews?.(); }
      else if (m.type === Msg.NET) for (const e of m.entries) for (const fn of this.#netListeners) fn(e);
      else if (m.type === Msg.ERROR && m.kind === Kind.CRASHED) this.#restart(m.message);
      else if (m.type === Msg.ERROR) this.#die(m.message, m.kind);
      return;
    }
    const p = this.#pending.get(m.id);
    if (!p) return;
    if (m.type === Msg.DONE) {
      this.#pending.delete(m.id);
      p.resolve(m.result);
    } else if (m.type === Msg.ERROR) {
      this.#pending.delete(m.id);
      p.reject(new PlumbingError(m.kind ?? Kind.MODEL, m.message));
      if (m.kind === Kind.CRASHED) this.#restart(m.message);
    } else {
      try { p.onMessage?.(m); } catch (e) { console.error(e); }
    }
  }

  // The worker's wasm instance trapped: it is not used again. Every other pending request fails
  // the same way; a new worker starts and the model is reloaded before any later request runs.
  #restart(message) {
    if (this.#reloading || this.#dead) return;
    const crashed = new PlumbingError(Kind.CRASHED, message);
    for (const p of this.#pending.values()) p.reject(crashed);
    this.#pending.clear();
    this.#endWorker();
    this.ready = this.#start();
    this.dispatchEvent(new CustomEvent('crashed', { detail: { message } }));
    const last = this.#lastLoad;
    this.#reloading = (async () => {
      await this.ready;
      if (!last) return null;
      const r = await this.#send(Req.LOAD, last, {});
      this.model = r.info;
      this.defaults = r.info.defaults;
      return r;
    })();
    this.#reloading.then(
      (r) => this.dispatchEvent(new CustomEvent('restarted', { detail: { info: r?.info ?? null } })),
      (e) => this.dispatchEvent(new CustomEvent('restarted', { detail: { info: null, error: e } })),
    ).finally(() => { this.#reloading = null; });
  }

  // Ends the worker and the helper threads the page started for it.
  #endWorker() {
    this.#worker.terminate();
    this.#helpers?.terminate();
  }

  #die(message, kind = Kind.WORKER) {
    this.#endWorker(); // (a dead worker's helpers would keep its memory alive)
    if (this.#dead) return;
    this.#dead = new PlumbingError(kind, message);
    this._ready.reject(this.#dead);
    for (const p of this.#pending.values()) p.reject(this.#dead);
    this.#pending.clear();
  }
}
