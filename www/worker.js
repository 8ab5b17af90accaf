// The engine's worker: the only importer of the wasm package (./pkg/, next to this file).
//
// Reads top to bottom: state, start-up, the request loop, loading, generation, the small
// requests, helpers. Protocol: ./protocol.js. Every request ends with exactly one DONE or ERROR.

import { Req, Msg, Kind, Stop, MODEL_CACHE, SHA_HEADER } from './protocol.js';
import { Sha256 } from './sha256.js';
import { fmtBytes } from './format.js';
import { startBuild, helperTrapped } from './threads.js';

// ---------------------------------------------------------------- state

let wasm = null;        // the module namespace of ./pkg/plumbing.js
let engine = null;      // the loaded Engine, or null
let info = null;        // engine.info_json(), parsed
const jobs = new Map(); // request id -> { aborted, controller?, paused?, allow?, wake? } for requests
                        // that can be aborted (and, a generation, paced: step mode, see pace())
let generation = null;  // { id, job, finished: Promise } the running generate/choose, if any
let session = null;     // { params } of the engine's current session (for choose)
let crashed = null;     // the message of a trap (a Rust panic): this instance is not called again

// Attention captured during generation, so that a past token can still be inspected.
// pos p -> { nCtx, layers: Float32Array[n_layer] } from the forward pass whose logits p was
// sampled from (the pass that fed token p-1, or the last prompt token for p = 0).
const attention = new Map();
const ATTENTION_BUDGET = 96 * 1024 * 1024; // bytes kept; oldest positions are dropped first
let attentionBytes = 0;

// ---------------------------------------------------------------- start-up

const post = (msg, transfer) => self.postMessage(msg, transfer ?? []);
// What this worker is doing before READY (the client gives up on a start that stays silent).
const starting = (stage) => post({ id: 0, type: Msg.STARTING, stage });

// Two builds of the engine compute the same numbers: ./pkg-relaxed/ uses relaxed SIMD's 8-bit
// dot product, ./pkg/ plain SIMD128. Take the faster one where this browser validates it.
// (This module holds i32x4.relaxed_dot_i8x16_i7x16_add_s; `?simd=128` forces the plain build.)
const RELAXED_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 1, 253, 15, 65, 2, 253, 15, 65, 3, 253, 17, 253, 147, 2, 11]);
const wantRelaxed = new URL(self.location.href).searchParams.get('simd') !== '128'
  && WebAssembly.validate(RELAXED_PROBE);

// The .wasm is fetched here and hashed before it is instantiated, so that the page can show the
// sha256 of exactly the code running in this tab (./build.sh prints the same for a clean build).
async function instantiate(flavor) {
  starting(`importing ./${flavor}/plumbing.js`);
  const module = await import(`./${flavor}/plumbing.js`);
  const url = new URL(`./${flavor}/plumbing_bg.wasm`, import.meta.url);
  starting(`fetching ./${flavor}/plumbing_bg.wasm`);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const wasmSha256 = new Sha256().update(bytes).hex();
  starting(`compiling ./${flavor}/plumbing_bg.wasm (${bytes.length} bytes)`);
  const compiled = await WebAssembly.compile(bytes); // kept: the threads build's helpers instantiate it too
  starting(`instantiating ./${flavor}/plumbing_bg.wasm`);
  const exports = await module.default({ module_or_path: compiled });
  return { module, flavor, url: url.href, wasmSha256, compiled, exports };
}

// The build (./threads.js: ./pkg-threads/ with its helper threads where the page is isolated,
// else ./pkg-relaxed/ or ./pkg/, one thread) and the thread count in use, with why when 1.
const ready = (async () => {
  const { got, threads, note } = await startBuild(instantiate, { relaxed: wantRelaxed, url: import.meta.url, starting });
  wasm = got.module;
  let build = null;
  try { build = JSON.parse(wasm.build_info()); } catch { build = {}; }
  build = { ...build, flavor: got.flavor, wasm_url: got.url, wasm_sha256: got.wasmSha256, threads, threads_note: note };
  post({ id: 0, type: Msg.READY, build });
})();
ready.catch((e) => post({ id: 0, type: Msg.ERROR, kind: Kind.WORKER,
  message: `could not start the wasm engine (./pkg/plumbing.js): ${e?.message ?? e}` }));

// Resource requests made by this worker (the page's own PerformanceObserver cannot see them).
try {
  new PerformanceObserver((list) => {
    const entries = list.getEntries().map((e) => ({
      name: e.name, at: performance.timeOrigin + e.startTime,
    }));
    if (entries.length) post({ id: 0, type: Msg.NET, entries });
  }).observe({ type: 'resource', buffered: true });
} catch { /* no PerformanceObserver in this worker: the page says so */ }

// ---------------------------------------------------------------- the request loop

self.onmessage = async (ev) => {
  const req = ev.data;
  if (req.type === Req.ABORT) {
    const job = jobs.get(req.target);
    if (job) { job.aborted = true; job.controller?.abort(); job.wake?.(); }
    return;
  }
  if (req.type === Req.STEP || req.type === Req.RUN) {
    const job = jobs.get(req.target);
    if (job) pace(job, req.type);
    return;
  }
  try {
    await ready;
  } catch (e) {
    return post({ id: req.id, type: Msg.ERROR, kind: Kind.WORKER,
      message: `the wasm engine did not start: ${e?.message ?? e}` });
  }
  if (crashed) return post({ id: req.id, type: Msg.ERROR, kind: Kind.CRASHED, message: crashed });
  try {
    switch (req.type) {
      case Req.LOAD: return await load(req);
      case Req.GENERATE: return await generate(req);
      case Req.CHOOSE: return await choose(req);
      default: return small(req);
    }
  } catch (e) {
    // A trap here, or in a helper thread (its run then ends in an error): a crash.
    if (e instanceof WebAssembly.RuntimeError || helperTrapped()) return crash(req, e);
    // Engine errors carry their Rust kind ("format", "limit" ...); ours carry one of Kind.
    const kind = e?.kind ?? (e?.name === 'AbortError' ? Kind.ABORTED : Kind.MODEL);
    post({ id: req.id, type: Msg.ERROR, kind, message: String(e?.message ?? e) });
  } finally {
    jobs.delete(req.id);
  }
};

// A trap (a Rust panic, or any other) leaves the instance in an unknown state: say so with the
// panic's own message, and never call it again. The client replaces this worker.
function crash(req, e) {
  let panic;
  try { panic = wasm.take_panic(); } catch { panic = undefined; }
  crashed = `the engine crashed: ${panic ?? e.message}`;
  engine = null; generation = null; session = null; clearAttention();
  post({ id: req.id, type: Msg.ERROR, kind: Kind.CRASHED, message: crashed });
  post({ id: 0, type: Msg.ERROR, kind: Kind.CRASHED, message: crashed }); // for the client, whatever the request
}

// ---------------------------------------------------------------- loading

async function load(req) {
  const job = { aborted: false, controller: new AbortController() };
  jobs.set(req.id, job);
  if (generation) { generation.job.aborted = true; await generation.finished; }
  if (engine) { engine.free(); engine = null; info = null; clearAttention(); }

  const timings = {};
  const t0 = performance.now();
  const want = req.sha256 ? String(req.sha256).toLowerCase() : null;

  // A verified copy kept by an earlier visit (read through the same hasher: checked again).
  const cache = req.cache === false ? null : await openModelCache();
  let res = null, source = 'network';
  if (cache) {
    const hit = await cache.match(req.url).catch(() => null);
    if (hit && (!want || hit.headers.get(SHA_HEADER) === want)) { res = hit; source = 'cache'; }
    else if (hit) await cache.delete(req.url).catch(() => {});
  }
  if (!res) {
    try {
      res = await fetch(req.url, { signal: job.controller.signal });
    } catch (e) {
      if (job.aborted) throw failure(Kind.ABORTED, 'loading was aborted');
      throw failure(Kind.NETWORK, `could not fetch ${req.url}: ${e?.message ?? e}`);
    }
    if (!res.ok) throw failure(Kind.NETWORK, `HTTP ${res.status} ${res.statusText} for ${req.url}`);
  }
  const header = Number(res.headers.get('content-length'));
  const encoded = res.headers.get('content-encoding');
  const total = header > 0 && !encoded ? header : req.bytes > 0 ? req.bytes : 0;
  if (!total) throw failure(Kind.NETWORK, `${req.url}: the server sent no Content-Length and no size was given`);

  // A network download is also written to the cache, through a gate that only lets the entry
  // commit once the sha256 matched (Cache.put keeps nothing if its body stream errors).
  let body = res.body;
  const store = source === 'network' && cache && want ? await keepInCache(cache, req.url, res, total, want) : null;
  if (store?.body) body = store.body;

  // Download straight into wasm memory, hashing each chunk on the way (one copy).
  const bytes = new wasm.ModelBytes(total);
  const hasher = new Sha256();
  let offset = 0, hashMs = 0, lastPost = 0;
  try {
    const reader = body.getReader();
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (job.aborted) throw failure(Kind.ABORTED, 'loading was aborted');
        throw failure(Kind.NETWORK, `download of ${req.url} broke at byte ${offset} of ${total}: ${e?.message ?? e}`);
      }
      if (job.aborted) { reader.cancel().catch(() => {}); throw failure(Kind.ABORTED, 'loading was aborted'); }
      if (chunk.done) break;
      const value = chunk.value;
      if (offset + value.length > total) {
        reader.cancel().catch(() => {});
        throw failure(Kind.NETWORK, `${req.url} is longer than the ${total} bytes announced`);
      }
      bytes.write(offset, value);
      const th = performance.now();
      hasher.update(value);
      hashMs += performance.now() - th;
      offset += value.length;
      const now = performance.now();
      if (now - lastPost > 50 || offset === total) {
        lastPost = now;
        post({ id: req.id, type: Msg.PROGRESS, phase: 'download', source, done: offset, total, ms: now - t0 });
      }
    }
    if (offset !== total) {
      throw failure(Kind.NETWORK, `download of ${req.url} ended at byte ${offset} of ${total}`);
    }
  } catch (e) {
    bytes.free();
    store?.discard();
    throw e;
  }
  timings.download = performance.now() - t0;
  timings.hash = hashMs;

  const sha256 = hasher.hex();
  post({ id: req.id, type: Msg.PROGRESS, phase: 'verify', done: 1, total: 1, sha256 });
  if (want && sha256 !== want) {
    bytes.free();
    store?.discard();
    if (source === 'cache') await cache.delete(req.url).catch(() => {});
    throw failure(Kind.HASH, `the sha256 of ${req.url} is ${sha256}, the manifest expects ${want}; the file was refused`
      + (source === 'cache' ? ' (it came from this browser\'s cache, which no longer holds it: load again to download it)' : ''));
  }
  store?.commit();

  // Parse: the engine reports "header" | "tensors" | "tokenizer" as it goes.
  let phase = null, phaseStart = performance.now();
  const tParse = performance.now();
  try {
    engine = wasm.Engine.load(bytes, (p, done, tot) => {
      const now = performance.now();
      if (p !== phase) {
        if (phase) timings[phase] = now - phaseStart;
        phase = p; phaseStart = now;
      }
      post({ id: req.id, type: Msg.PROGRESS, phase: p, done, total: tot });
    });
  } catch (e) {
    if (e instanceof WebAssembly.RuntimeError) throw e;
    release(bytes);
    store?.discard();
    throw failure(e?.kind ?? Kind.MODEL, String(e?.message ?? e));
  }
  release(bytes); // the engine took the file; this frees the empty handle
  if (phase) timings[phase] = performance.now() - phaseStart;
  timings.parse = performance.now() - tParse;
  timings.total = performance.now() - t0;
  info = JSON.parse(engine.info_json());
  const cached = source === 'cache' ? { source, stored: true }
    : store ? { source, ...(await within(store.done, CACHE_WAIT_MS, { stored: false,
      reason: `the browser was still writing it to this device's cache ${CACHE_WAIT_MS / 1000} s after the download; it may not be kept` })) }
      : { source, stored: false, reason: !want ? 'no sha256 to verify against, so it is not kept'
        : 'this browser offers no Cache Storage here' };
  post({ id: req.id, type: Msg.DONE, result: { info, sha256, timings, cache: cached, memory: wasm.wasm_memory_bytes() } });
}

// ---------------------------------------------------------------- the model cache

// How long a load waits, once the model runs, for the browser to finish writing it to the cache:
// a slow or stuck Cache Storage must not keep a loaded model from being used.
const CACHE_WAIT_MS = 20_000;

/** `p`'s value, or `otherwise` if it has not settled within `ms`. */
function within(p, ms, otherwise) {
  let timer;
  return Promise.race([p, new Promise((r) => { timer = setTimeout(() => r(otherwise), ms); })]).finally(() => clearTimeout(timer));
}

async function openModelCache() {
  try {
    return self.caches ? await caches.open(MODEL_CACHE) : null;
  } catch {
    return null; // an opaque origin (sandboxed iframe) or storage turned off
  }
}

/**
 * Tees the download: one branch for the caller, one into cache.put behind a gate that errors
 * (so the entry is never committed) unless commit() is called after the hash matched. Checks the
 * quota first, so that a full disk is said plainly instead of failing late.
 * Returns { body, commit(), discard(), done: Promise<{stored, reason?}> }, or a store that only
 * reports why nothing is kept.
 */
async function keepInCache(cache, url, res, total, sha256) {
  try {
    const est = await navigator.storage?.estimate?.();
    if (est && est.quota != null && est.usage != null && est.quota - est.usage < total * 1.05) {
      const reason = `storage is full: the model needs ${fmtBytes(total)}, this site may use ${fmtBytes(Math.max(0, est.quota - est.usage))} more `
        + `(quota ${fmtBytes(est.quota)}, used ${fmtBytes(est.usage)}); it runs now but will download again next time`;
      return { body: null, commit() {}, discard() {}, done: Promise.resolve({ stored: false, reason }) };
    }
  } catch { /* no estimate: try anyway; put() says if the quota is exceeded */ }

  const [mine, theirs] = res.body.tee();
  let verdict;
  const verified = new Promise((r) => { verdict = r; });
  const stop = new AbortController();
  const gate = new TransformStream({
    async flush() { if (!(await verified)) throw new Error('the download was not verified'); },
  });
  const headers = {
    'content-type': 'application/octet-stream', 'content-length': String(total), [SHA_HEADER]: sha256,
  };
  const done = cache.put(url, new Response(theirs.pipeThrough(gate, { signal: stop.signal }), { headers }))
    .then(() => ({ stored: true }), (e) => {
      if (e?.name === 'QuotaExceededError') {
        return { stored: false, reason: `storage is full: the browser refused to keep the ${fmtBytes(total)} model (${e.message}); it runs now but will download again next time` };
      }
      return { stored: false, reason: `not kept: ${e?.message || e?.name || String(e)}` };
    });
  return {
    body: mine,
    commit() { verdict(true); },
    discard() { verdict(false); stop.abort(); },
    done,
  };
}

// ---------------------------------------------------------------- generation

async function generate(req) {
  const { job, release } = await claimGeneration(req);
  try {
    needEngine();
    if (job.aborted) return finish(req, Stop.ABORTED);
    // The engine owns what a request means: defaults, template, tokens (src/request.rs).
    clearAttention();
    if (engine.set_capture_residuals) engine.set_capture_residuals(!!req.residuals);
    const request = { prompt: req.prompt, system: req.system, messages: req.messages, raw: !!req.raw, params: req.params ?? {} };
    const fed = JSON.parse(engine.begin(JSON.stringify(request)));
    const capture = fed.params.capture_attention;
    session = { params: fed.params, promptTokens: fed.ids.length };
    post({ id: req.id, type: Msg.PROMPT, ...fed });

    const total = fed.ids.length;
    let left = total;
    post({ id: req.id, type: Msg.PROGRESS, phase: 'prefill', done: 0, total });
    while (left > 0) {
      if (job.aborted) return finish(req, Stop.ABORTED);
      left = engine.prefill(32);
      post({ id: req.id, type: Msg.PROGRESS, phase: 'prefill', done: total - left, total });
      await yieldToEvents();
    }
    if (capture) captureAttention(0);
    if (req.step) { job.paused = true; job.allow = 1; }
    return await decode(req, job, capture, 0);
  } finally {
    release();
  }
}

async function choose(req) {
  const { job, release } = await claimGeneration(req);
  try {
    needEngine();
    if (job.aborted) return finish(req, Stop.ABORTED);
    if (!session) throw failure(Kind.MODEL, 'nothing to continue: no generation has been started');
    const capture = session.params.capture_attention;
    const chosen = JSON.parse(engine.choose(req.pos, req.token));
    for (const p of [...attention.keys()]) if (p > req.pos) dropAttention(p);
    // choose() feeds the chosen token and says whether it ends the generation.
    const st = stats();
    const ended = chosen.done ?? null;
    if (capture && !ended) captureAttention(req.pos + 1);
    post({ id: req.id, type: Msg.TOKEN, chosen, stats: st, memory: wasm.wasm_memory_bytes() });
    if (ended) return finish(req, ended);
    if (req.step) { job.paused = true; job.allow = 0; }
    await yieldToEvents();
    return await decode(req, job, capture, req.pos + 1);
  } finally {
    release();
  }
}

// next: the position the next step generates (for PAUSED).
async function decode(req, job, capture, next) {
  for (;;) {
    if (job.aborted) return finish(req, Stop.ABORTED);
    if (job.paused && job.allow === 0) {
      post({ id: req.id, type: Msg.PAUSED, pos: next });
      await new Promise((r) => { job.wake = r; });
      job.wake = null;
      continue;
    }
    if (job.paused) job.allow--;
    const step = JSON.parse(engine.step());
    if (capture && !step.done) captureAttention(step.pos + 1);
    next = step.pos + 1;
    post({ id: req.id, type: Msg.TOKEN, step, stats: stats(), memory: wasm.wasm_memory_bytes() });
    if (step.done) return finish(req, step.done);
    await yieldToEvents();
  }
}

// Step mode: STEP makes one more token of a paused generation (a running one pauses after the
// token in flight); RUN lets it run on. The generation waits between tokens, so that small
// requests (attention, the lens) are answered while it is paused.
function pace(job, type) {
  if (type === Req.RUN) { job.paused = false; job.allow = 0; }
  else if (job.paused) job.allow = (job.allow ?? 0) + 1;
  else { job.paused = true; job.allow = 0; }
  job.wake?.();
}

function finish(req, reason) {
  post({ id: req.id, type: Msg.DONE, result: { reason, stats: engine ? stats() : null,
    memory: wasm.wasm_memory_bytes() } });
}

// One generation at a time: a new one stops the running one first (which ends "aborted").
async function claimGeneration(req) {
  const job = { aborted: false };
  jobs.set(req.id, job);
  while (generation) { generation.job.aborted = true; await generation.finished; }
  let release;
  const finished = new Promise((r) => { release = r; });
  generation = { id: req.id, job, finished };
  return { job, release: () => { generation = null; release(); } };
}

function captureAttention(pos) {
  const layers = [];
  let bytes = 0;
  for (let l = 0; l < info.config.n_layer; l++) {
    const a = engine.attention(l);
    layers.push(a);
    bytes += a.byteLength;
  }
  dropAttention(pos);
  attention.set(pos, { nCtx: layers[0].length / info.config.n_head, layers, bytes });
  attentionBytes += bytes;
  for (const p of attention.keys()) {
    if (attentionBytes <= ATTENTION_BUDGET) break;
    dropAttention(p);
  }
}

function dropAttention(pos) {
  const a = attention.get(pos);
  if (a) { attentionBytes -= a.bytes; attention.delete(pos); }
}

function clearAttention() { attention.clear(); attentionBytes = 0; }

// ---------------------------------------------------------------- small requests

function small(req) {
  if (req.type !== Req.TEST_PANIC) needEngine(req.type);
  const done = (result, transfer) => post({ id: req.id, type: Msg.DONE, result }, transfer);
  switch (req.type) {
    case Req.INFO:
      return done({ info, memory: wasm.wasm_memory_bytes() });
    case Req.STATS:
      return done({ stats: stats(), memory: wasm.wasm_memory_bytes() });
    case Req.TOKENIZE:
      return done(JSON.parse(engine.tokenize_json(String(req.text), !!req.special)));
    case Req.TOKEN:
      return done(JSON.parse(engine.token_json(req.token)));
    case Req.PREPARE:
      return done(JSON.parse(engine.prepare(JSON.stringify(req.request ?? {}))));
    case Req.EMBEDDING: {
      const values = engine.embedding_row(req.token);
      return done({ values }, [values.buffer]);
    }
    case Req.TENSOR_VIEW: {
      const v = engine.tensor_view(req.name, req.maxW ?? 512, req.maxH ?? 512, req.bins ?? 64);
      try {
        const heatmap = v.heatmap(), histogram = v.histogram();
        return done({
          name: req.name, rows: v.rows, cols: v.cols, width: v.width, height: v.height,
          min: v.min, max: v.max, mean: v.mean, std: v.std, heatmap, histogram,
        }, [heatmap.buffer, histogram.buffer]);
      } finally {
        v.free();
      }
    }
    case Req.TENSOR_BLOCK:
      return done(JSON.parse(engine.tensor_block_json(req.name, req.row, req.block)));
    case Req.LOGITS: {
      const values = engine.next_logits();
      return done({ values }, [values.buffer]);
    }
    case Req.TEST_PANIC:
      // thread: in a helper thread of the threads build (an error where there is none).
      return req.thread ? wasm.test_panic_in_thread(String(req.message ?? 'on request'))
        : wasm.test_panic(String(req.message ?? 'on request'));
    case Req.ATTENTION: {
      const a = attention.get(req.pos);
      if (!a) return done({ pos: req.pos, available: false, kept: [...attention.keys()] });
      const layers = req.layer == null ? a.layers : [a.layers[req.layer]];
      const copies = layers.map((x) => x.slice());
      return done({ pos: req.pos, available: true, nHead: info.config.n_head, nCtx: a.nCtx,
        layer: req.layer ?? null, layers: copies }, copies.map((x) => x.buffer));
    }
    case Req.LENS:
      return done(JSON.parse(req.layer == null ? engine.lens_json(req.pos) : engine.lens_layer_json(req.pos, req.layer)));
    case Req.RESIDUAL:
      return done(JSON.parse(engine.residual_json(req.pos)));
    case Req.MLP:
      return done(JSON.parse(engine.mlp_json(req.pos, req.layer)));
    case Req.NEURON:
      return done(JSON.parse(engine.neuron_json(req.layer, req.neuron, req.pos)));
    case Req.CAPTURE:
      return done(JSON.parse(engine.capture_json()));
    default:
      throw failure(Kind.WORKER, `unknown request type ${JSON.stringify(req.type)}`);
  }
}

// ---------------------------------------------------------------- helpers

function stats() { return JSON.parse(engine.stats_json()); }

// Frees a wasm-bindgen handle that may already have been consumed.
function release(handle) {
  try { handle.free(); } catch { /* already taken by the engine */ }
}

function needEngine(what) {
  if (!engine) throw failure(Kind.MODEL, `no model is loaded${what ? ` (for ${what})` : ''}`);
}

function failure(kind, message) {
  const e = new Error(message);
  e.kind = kind;
  return e;
}

// Let queued messages (an abort, a small request) run between prefill chunks and tokens.
// A MessageChannel task, not setTimeout(0), which is clamped to 4 ms after a few nestings.
function yieldToEvents() {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => { ch.port1.close(); resolve(); };
    ch.port2.postMessage(0);
  });
}
