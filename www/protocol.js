// The messages between www/engine.js (main thread) and www/worker.js, in one place.
//
// Every request carries an `id` and ends with exactly one terminal message, DONE { result } or
// ERROR { kind, message }. (The result is wrapped so that its fields never clash with the envelope.)
// PROGRESS, PROMPT and TOKEN are intermediate. ABORT names the request to stop by `target`;
// an aborted request still ends with DONE { reason: "aborted" } (or ERROR kind "aborted" for a
// load, which has no partial result). Buffers (heatmaps, attention, embedding rows) are
// transferred, not copied.

/** Requests, main thread -> worker: { id, type, ...fields }; "-> DONE {x}" means DONE { result: {x} } */
export const Req = Object.freeze({
  LOAD: 'load',               // { url, sha256?, bytes?, cache? }    -> DONE { info, sha256, timings, cache }
                              //   cache (default true): read the verified copy from Cache Storage if there,
                              //   else keep the download there once its sha256 matched (see MODEL_CACHE).
                              //   DONE.cache = { source: "cache"|"network", stored, reason? }
  ABORT: 'abort',             // { target }                          (no reply of its own)
  INFO: 'info',               //                                     -> DONE { info }
  TOKENIZE: 'tokenize',       // { text, special }                   -> DONE { ids, pieces, special }
  TOKEN: 'token',             // { token }                           -> DONE { id, piece, text, bytes, special }
  PREPARE: 'prepare',         // { request }                        -> DONE Fed: what GENERATE would feed
                              //   request = { prompt?, system?, messages?, raw?, params? } (src/request.rs)
  EMBEDDING: 'embedding',     // { token }                           -> DONE { values: Float32Array }
  TENSOR_VIEW: 'tensorView',  // { name, maxW, maxH, bins }          -> DONE { rows, cols, width, height,
                              //                                        min, max, mean, std, heatmap, histogram }
  TENSOR_BLOCK: 'tensorBlock',// { name, row, block }                -> DONE { type, row, block, col, offset, bytes, scales, sub_len, sub_scales, sub_mins, sub_bits?, codes, code_bits, formula, values }
  GENERATE: 'generate',       // { prompt?, system?, messages?, raw?, params, step?, residuals? } -> PROMPT, TOKEN*, DONE { reason, stats }
                              //   the engine fills every default of params (info.defaults)
                              //   residuals: true records every position's residual stream for LENS,
                              //   RESIDUAL, MLP and NEURON (the engine's set_capture_residuals; default off)
                              //   step: true starts in step mode: one token, then PAUSED until STEP or RUN
  CHOOSE: 'choose',           // { pos, token, params, step? }       -> TOKEN*, DONE { reason, text, stats }
                              //   step: true pauses after the chosen token
  STEP: 'step',               // { target }  one more token of a paused generation; a running one pauses
                              //   after the token in flight (no reply of its own: TOKEN, then PAUSED)
  RUN: 'run',                 // { target }  a paused generation runs on, token after token (no reply)
  ATTENTION: 'attention',     // { pos, layer? }                     -> DONE { pos, nHead, nCtx, layers: [Float32Array] }
  // Inside the step, deeper (docs/engine-api.md). pos: an ABSOLUTE context position (prompt tokens
  // first); its residual stream predicts the token at pos + 1. Errors kind "request" for a position
  // that was not captured.
  LENS: 'lens',               // { pos, layer? }   -> DONE { pos, token, next, layers: [{ layer, top: [{id, text, logit, prob}] }], ms }
                              //   with layer: DONE { layer, top } (one row, the same numbers)
  RESIDUAL: 'residual',       // { pos }           -> DONE { pos, embd, attn: [n_layer], mlp: [n_layer], resid: [n_layer] } L2 norms
  MLP: 'mlp',                 // { pos, layer }    -> DONE { pos, layer, neurons: [{ id, value }] } the most activated, by |value|
  NEURON: 'neuron',           // { layer, neuron, pos } -> DONE { layer, neuron, norm, closest: [{id, text, cos}],
                              //                        opposite: [...], value, rank, bound }
  CAPTURE: 'capture',         //                   -> DONE { on, from, to, cap, bytes, bytes_per_pos }
  STATS: 'stats',             //                                     -> DONE { stats, memory }
  LOGITS: 'logits',           //                                     -> DONE { values: Float32Array } raw logits
                              //                                        for the next position (tests)
  TEST_PANIC: 'testPanic',    // { message }                         -> ERROR { kind: "crashed" } (tests: a
                              //                                        deliberate Rust panic, to test recovery)
});

/** Replies, worker -> main thread: { id, type, ...fields } */
export const Msg = Object.freeze({
  STARTING: 'starting', // id 0: { stage } what the worker is doing before READY (for a start that stalls)
  READY: 'ready',       // once, id 0: { build } the wasm module is initialised
  PROGRESS: 'progress', // { phase: "download"|"verify"|"header"|"tensors"|"tokenizer"|"prefill", done, total, ... }
                        //   download also says source: "network"|"cache"
  PROMPT: 'prompt',     // Fed { text, ids, pieces, special, template, params } what is actually fed
  TOKEN: 'token',       // { step, stats, memory, chosen? } one generated token (Step JSON of the engine)
  PAUSED: 'paused',     // { pos } step mode: the generation waits before generating position pos
                        //   (Req.STEP makes that one token, Req.RUN runs on, Req.ABORT ends it)
  NET: 'net',           // id 0: { requests, urls } resource requests the worker made (PerformanceObserver)
  SPAWN_HELPER: 'spawnHelper', // id 0: { script, name, port } the threads build asks the page to start a
                        //   helper worker and relay its messages through port (./threads.js, engine.js hostHelpers)
  DONE: 'done',         // terminal
  ERROR: 'error',       // terminal: { kind, message }. With id 0 and kind "crashed": the wasm instance
                        //   trapped (whatever request it was running); the client replaces the worker
});

/** Why a generation ended (DONE.reason; the engine's StopReason, and "aborted"). */
export const Stop = Object.freeze({
  EOS: 'eos',                   // the model ended its answer
  MAX_TOKENS: 'max_tokens',     // params.max_tokens reached
  CONTEXT_FULL: 'context_full', // the context is full
  ABORTED: 'aborted',           // the caller stopped it
});

/** Error kinds: ERROR.kind and PlumbingError.kind. */
export const Kind = Object.freeze({
  NETWORK: 'network', // fetch failed, HTTP status, truncated body
  HASH: 'hash',       // sha256 differs from the manifest
  ABORTED: 'aborted', // the caller aborted
  WORKER: 'worker',   // the worker died or could not start
  CRASHED: 'crashed', // the wasm engine trapped (a Rust panic; the message has its text): the client
                      //   starts a new worker and reloads the model
  MODEL: 'model',     // the engine refused the call, with no finer kind
  // The engine's own (Error::kind() in src/lib.rs):
  FORMAT: 'format',             // not a well-formed GGUF (truncated, lying header ...)
  UNSUPPORTED: 'unsupported',   // well-formed, but not something the engine runs
  MISSING: 'missing',           // a required metadata key or tensor is absent
  LIMIT: 'limit',               // a limit of the engine or the request (context, memory, ids)
  TOKENIZER: 'tokenizer',
  TEMPLATE: 'template',         // the model's chat template failed
  REQUEST: 'request',           // a request the engine cannot take (unknown parameter, bad value)
});

/**
 * The Cache Storage cache that holds verified model files (written by the worker, read by the
 * worker, the widget and www/sw.js, which repeats the name because a classic service worker
 * cannot import modules). Entries carry the verified hash in the x-plumbing-sha256 header.
 * Its name does not change with the build: a model is the same file whatever the app version.
 */
export const MODEL_CACHE = 'plumbing-models-v1';
export const SHA_HEADER = 'x-plumbing-sha256';
