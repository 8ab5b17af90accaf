// PlumbingEngine: the one client class the main thread talks to. It owns a module worker
// (./worker.js, found relative to this file) which owns the wasm engine. Used by the page
// and by the <plumbing-chat> widget.
//
//   const engine = new PlumbingEngine();
//   const model = await readManifest(new URL('./models/manifest.json', import.meta.url));
//   await engine.load(model.url, { sha256: model.sha256, onProgress: (p) => ... , signal });
//   const r = await engine.generate('Hi!', { onToken: (t) => ..., signal, temperature: 0.7 });
//
// Errors are PlumbingError with a `kind`: "network" | "hash" | "model" | "aborted" | "worker".

import { Req, Msg, Kind, MODEL_CACHE, SHA_HEADER } from './protocol.js';

export { Kind, MODEL_CACHE };

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

export class PlumbingEngine {
  #worker;
  #nextId = 1;
  #pending = new Map(); // id -> { resolve, reject, onMessage }
  #netListeners = new Set();
  #dead = null;         // a PlumbingError once the worker has died

  /** @param {{workerUrl?: string|URL}} [options] */
  constructor({ workerUrl } = {}) {
    this.build = null;
    this.ready = new Promise((resolve, reject) => { this._ready = { resolve, reject }; });
    this.ready.catch(() => {});
    this.#worker = new Worker(sameOriginWorkerUrl(workerUrl ?? new URL('./worker.js', import.meta.url)), { type: 'module' });
    this.#worker.onmessage = (ev) => this.#receive(ev.data);
    this.#worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.#die(`the engine worker failed: ${ev.message || 'it could not start or crashed'}`);
    };
    this.#worker.onmessageerror = () => this.#die('a message from the engine worker could not be read');
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
    }).then((r) => { this.model = r.info; return r; });
  }

  /** The loaded model's info (config, metadata, tensors, special ids). */
  info() { return this.#request(Req.INFO).then((r) => r.info); }

  // ------------------------------------------------------------ the tokenizer

  /** {ids, pieces, special} for text; special: parse "<|im_start|>" etc. as special tokens. */
  tokenize(text, { special = false } = {}) { return this.#request(Req.TOKENIZE, { text, special }); }

  /** {id, piece, text, bytes, special} for one token id. */
  token(id) { return this.#request(Req.TOKEN, { token: id }); }

  /** The text the model's chat template renders for messages [{role, content}]. */
  chatPrompt(messages, { addGenerationPrompt = true } = {}) {
    return this.#request(Req.CHAT_PROMPT, { messages, addGenerationPrompt }).then((r) => r.text);
  }

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
   * onProgress({phase:"prefill", done, total}).
   * Resolves {reason: "eos"|"max_tokens"|"context_full"|"aborted", stats, memory}.
   */
  generate(prompt, { onToken, onPrompt, onProgress, signal, messages, raw, ...params } = {}) {
    return this.#request(Req.GENERATE, { prompt, messages, raw: !!raw, params }, {
      signal,
      onMessage: (m) => {
        if (m.type === Msg.TOKEN) onToken?.(m);
        else if (m.type === Msg.PROMPT) onPrompt?.(m);
        else if (m.type === Msg.PROGRESS) onProgress?.(m);
      },
    });
  }

  /**
   * Rewinds the current generation to generated position `pos`, puts token `id` there and
   * continues. The first onToken carries `chosen: {pos, id, text}` (text = the answer so far).
   */
  choose(pos, id, { onToken, signal, ...params } = {}) {
    return this.#request(Req.CHOOSE, { pos, token: id, params }, {
      signal,
      onMessage: (m) => m.type === Msg.TOKEN && onToken?.(m),
    });
  }

  /**
   * Attention captured while generating position `pos` (the forward pass its distribution came
   * from): {available, nHead, nCtx, layers: [Float32Array(nHead*nCtx)]}; one layer if given.
   */
  attention(pos, { layer } = {}) { return this.#request(Req.ATTENTION, { pos, layer }); }

  /** {stats, memory}: the engine's stats_json() and the wasm memory size. */
  stats() { return this.#request(Req.STATS); }

  // ------------------------------------------------------------ misc

  /** Calls fn({name, at}) for each resource request the worker makes (at: epoch ms). */
  onNetwork(fn) { this.#netListeners.add(fn); return () => this.#netListeners.delete(fn); }

  get alive() { return !this.#dead; }

  terminate() {
    this.#worker.terminate();
    this.#die('the engine was terminated', Kind.ABORTED);
  }

  // ------------------------------------------------------------ plumbing

  #request(type, fields = {}, { signal, onMessage } = {}) {
    if (this.#dead) return Promise.reject(this.#dead);
    if (signal?.aborted) return Promise.reject(new PlumbingError(Kind.ABORTED, `${type} was aborted`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => this.#worker.postMessage({ id: this.#nextId++, type: Req.ABORT, target: id });
      signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => signal?.removeEventListener('abort', onAbort);
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
      if (m.type === Msg.READY) { this.build = m.build; this._ready.resolve(m.build); }
      else if (m.type === Msg.NET) for (const e of m.entries) for (const fn of this.#netListeners) fn(e);
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
    } else {
      try { p.onMessage?.(m); } catch (e) { console.error(e); }
    }
  }

  #die(message, kind = Kind.WORKER) {
    if (this.#dead) return;
    this.#dead = new PlumbingError(kind, message);
    this._ready.reject(this.#dead);
    for (const p of this.#pending.values()) p.reject(this.#dead);
    this.#pending.clear();
  }
}
