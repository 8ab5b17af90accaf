// Types of engine.js: PlumbingEngine, the one client class a page talks to. It owns a module
// worker (./worker.js, found next to engine.js) which owns the wasm engine (./pkg/ or
// ./pkg-relaxed/ next to the worker). Reference: docs/engine-api.md of the repository.
//
//   import { PlumbingEngine, readManifest } from 'plumbing-llm';
//   const engine = new PlumbingEngine();
//   const model = await readManifest(new URL('./models/manifest.json', location.href));
//   await engine.load(model.url, { sha256: model.sha256 });
//   const r = await engine.generate('Hi!', { onToken: (t) => console.log(t.step.text) });

import type { ErrorKind, StopReason } from './protocol.js';
export { Kind, Stop, MODEL_CACHE } from './protocol.js';
export type { ErrorKind, StopReason } from './protocol.js';

// ---------------------------------------------------------------- errors

/** Every rejection of the client is a PlumbingError; `kind` says what went wrong. */
export declare class PlumbingError extends Error {
  constructor(kind: ErrorKind, message: string);
  readonly name: 'PlumbingError';
  readonly kind: ErrorKind;
}

// ---------------------------------------------------------------- requests

/**
 * Generation parameters. Every field is optional in a call: the engine fills what is absent from
 * its one set of defaults (`engine.defaults`) and reports the filled set in `Fed.params`.
 * An unknown key is refused (kind "request").
 */
export interface GenParams {
  /** 0 = greedy. Default 0.7. */
  temperature: number;
  /** 0 = no top-k cut. Default 40. */
  top_k: number;
  /** 1 = no top-p cut. Default 0.95. */
  top_p: number;
  /** 1 = off. Default 1. */
  repeat_penalty: number;
  /** Default 64. */
  repeat_last_n: number;
  /** null = a fresh random seed per run (reported in `Fed.params.seed`). */
  seed: number | null;
  /** Default 200. */
  max_tokens: number;
  /** Mask the end-of-generation tokens (always generate max_tokens). Default false. */
  ignore_eos: boolean;
  /** How many alternatives each step reports. Default 10. */
  n_top: number;
  /** Record the attention of every layer and head for `attention()`. Default false. */
  capture_attention: boolean;
  /** Context size; 0 = min(2048, the trained context). Default 0. */
  n_ctx: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | (string & {});
  content: string;
}

/** What to feed: a user message (with the model's chat template), a conversation, or raw text. */
export interface Request {
  /** A user message, rendered with the chat template; with `raw`, the exact text (special tokens parsed). */
  prompt?: string;
  /** A system message for `prompt`. */
  system?: string;
  /** A whole conversation instead of prompt/system. */
  messages?: ChatMessage[];
  raw?: boolean;
  params?: Partial<GenParams>;
}

/** The prompt exactly as fed: one entry per token. */
export interface Fed {
  text: string;
  ids: number[];
  /** Each token's own text (U+FFFD where it holds part of a character). */
  pieces: string[];
  special: boolean[];
  /** true where the chat template wrote the token, not a message. */
  template: boolean[];
  /** Every parameter the run uses, defaults filled, the seed included. */
  params: GenParams;
}

// ---------------------------------------------------------------- results and events

export interface Progress {
  phase: 'download' | 'verify' | 'header' | 'tensors' | 'tokenizer' | 'prefill';
  done: number;
  total: number;
  /** download: where the bytes come from. */
  source?: 'network' | 'cache';
  /** download: ms since the start. */
  ms?: number;
  /** verify: the file's sha256. */
  sha256?: string;
}

/** The build the worker runs (READY). */
export interface BuildInfo {
  version: string;
  /** The kernels compiled in, e.g. "simd128" or "simd128+relaxed". */
  kernels: string;
  simd128?: boolean;
  /** 'pkg' (SIMD128), 'pkg-relaxed' (SIMD128 and relaxed SIMD), or 'pkg-threads' (relaxed SIMD
   * and atomics on a shared memory: where the page is cross-origin isolated). */
  flavor?: 'pkg' | 'pkg-relaxed' | 'pkg-threads';
  /** The threads the engine runs on (its worker and helper workers). */
  threads?: number;
  /** Why fewer than asked, e.g. "one thread: this page is not cross-origin isolated"; null when all run. */
  threads_note?: string | null;
  /** hex sha256 of the .wasm bytes the worker instantiated. */
  wasm_sha256?: string;
  wasm_url?: string;
  [key: string]: unknown;
}

/** The loaded model: config, metadata, tensors, special ids, the engine's defaults. */
export interface ModelInfo {
  file_bytes: number;
  gguf_version: number;
  architecture: string;
  name: string;
  config: {
    n_layer: number; n_embd: number; n_head: number; n_head_kv: number; head_dim: number; n_ff: number;
    n_vocab: number; n_ctx_train: number;
    /** A session's default context. */
    n_ctx: number;
    rope_theta: number; rms_eps: number;
    [key: string]: unknown;
  };
  /** Long arrays are cut to their first entries; `len` says how long they are. */
  metadata: { key: string; type: string; value: unknown; len?: number }[];
  /** The engine's one set of generation defaults. */
  defaults: GenParams;
  tensors: TensorInfo[];
  /** The kernels this wasm build runs. */
  kernels: string;
  alignment: number;
  data_offset: number;
  bos_id: number | null;
  eos_id: number | null;
  eog_ids: number[];
  add_bos: boolean;
  tokenizer_pre: string | null;
  chat_template: string | null;
  /** false for a base model (no chat template): feed text raw and continue it. */
  has_template: boolean;
  /** The reasoning block's tokens, when the vocabulary has them. */
  think: { open: string; close: string; open_id: number; close_id: number;
    /** The rendered generation prompt ends with `<think>`: the output starts inside the block. */
    template_opens: boolean } | null;
  /** What the file says it is (general.*), its parameters and tensors by type. */
  recognised: {
    architecture: string | null; name: string | null; basename: string | null; size_label: string | null;
    finetune: string | null; organization: string | null; license: string | null; n_params: number;
    types: { type: string; tensors: number; params: number; bytes: number }[];
  };
  [key: string]: unknown;
}

export interface TensorInfo {
  name: string;
  /** "Q4_1", "Q8_0", "F32", ... */
  type: string;
  /** GGUF order: ne0 (the contiguous dimension, = cols) first. */
  shape: number[];
  n_params: number;
  bytes: number;
  offset: number;
  role: 'embedding' | 'attn_norm' | 'attn_q' | 'attn_k' | 'attn_v' | 'attn_output' | 'ffn_norm' | 'ffn_gate'
    | 'ffn_up' | 'ffn_down' | 'output_norm' | 'output' | 'other';
  group: 'embedding' | 'attention' | 'mlp' | 'norm' | 'output' | 'other';
  layer: number | null;
  rows: number;
  cols: number;
  /** The unit tensorBlock() shows. */
  block: { elements: number; bytes: number; per_row: number };
  [key: string]: unknown;
}

export interface LoadResult {
  info: ModelInfo;
  sha256: string;
  /** ms per phase: download, hash, header, tensors, tokenizer, parse, total. */
  timings: Record<string, number>;
  cache: { source: 'network' | 'cache'; stored: boolean; reason?: string };
  /** wasm memory, bytes. */
  memory: number;
}

export interface Alternative {
  id: number;
  text: string;
  logit: number;
  prob: number;
}

/** One generated position. */
export interface Step {
  pos: number;
  id: number;
  /** What this token adds to the answer ("" while a character is incomplete). */
  text: string;
  /** The token's vocabulary string. */
  piece: string;
  top: Alternative[];
  prob: number;
  /** nats */
  entropy: number;
  /** Candidates left after top-k and top-p. */
  kept: number;
  ms: number;
  done: Exclude<StopReason, 'aborted'> | null;
}

export interface Stats {
  prompt_tokens: number;
  generated: number;
  n_ctx_used: number;
  n_ctx: number;
  ttft_ms: number;
  prefill_tok_s: number;
  decode_tok_s: number;
}

export interface TokenEvent {
  /** Absent on the first event of choose(), which carries `chosen` instead. */
  step?: Step;
  chosen?: { pos: number; id: number; text: string; done: Exclude<StopReason, 'aborted'> | null };
  stats: Stats;
  memory: number;
}

export interface GenerateResult {
  reason: StopReason;
  stats: Stats | null;
  memory: number;
}

export interface Tokenized {
  ids: number[];
  pieces: string[];
  special: boolean[];
}

export interface TokenDetail {
  id: number;
  piece: string;
  text: string;
  bytes: number[];
  special: boolean;
  /** An end-of-generation token. */
  eog: boolean;
}

export interface TensorView {
  name: string;
  rows: number;
  cols: number;
  width: number;
  height: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** width * height cells, row-major, each the mean of its values. */
  heatmap: Float32Array;
  /** `bins` counts over [min, max]. */
  histogram: Uint32Array;
}

export interface TensorBlock {
  name: string;
  type: string;
  row: number;
  block: number;
  /** Where the block starts in the file. */
  offset: number;
  /** The block's bytes as stored. */
  bytes: number[];
  /** The first column the block covers. */
  col: number;
  /** The block's f16 scales by name: ["d", x], ["m", x] (Q4_1, Q5_1), ["dmin", x] (Q2_K, Q4_K, Q5_K). */
  scales: [string, number][];
  d?: number;
  m?: number;
  dmin?: number;
  /** Values per sub-block (K-quants: 16 or 32; otherwise the block). */
  sub_len: number;
  /** The sub-blocks' scales and minimums as stored (empty where the type has none). */
  sub_scales: number[];
  sub_mins: number[];
  /** Bits per sub-block scale or minimum (K-quants). */
  sub_bits?: number;
  /** Each value's code as stored (empty for the float types). */
  codes: number[];
  code_bits: number;
  /** How a value is decoded, in words: "d · sc · q − dmin · m". */
  formula: string;
  values: number[];
  [key: string]: unknown;
}

export interface Attention {
  pos: number;
  available: boolean;
  nHead?: number;
  nCtx?: number;
  layer?: number | null;
  /** Float32Array(nHead * nCtx) per layer. */
  layers?: Float32Array[];
  /** When not available: the positions still kept. */
  kept?: number[];
}

export interface EngineEventMap {
  /** The wasm engine trapped; the request that hit it rejected with kind "crashed". */
  crashed: CustomEvent<{ message: string }>;
  /** A fresh worker is up and the last model reloaded (info null, error set, if that failed). */
  restarted: CustomEvent<{ info: ModelInfo | null; error?: PlumbingError }>;
}

// ---------------------------------------------------------------- the client

export interface GenerateOptions extends Partial<GenParams> {
  /** Once, before the first token: the prompt as fed. */
  onPrompt?: (fed: Fed & { id: number; type: string }) => void;
  onToken?: (token: TokenEvent) => void;
  /** phase "prefill". */
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  system?: string;
  messages?: ChatMessage[];
  /** Feed `prompt` as it is, without the chat template. */
  raw?: boolean;
  /** Step mode: the generation waits after each token until the pacer steps or runs. */
  pacer?: Pacer;
  /** The generation waits before generating position `pos` (step mode). */
  onPaused?: (p: { pos: number }) => void;
  /** Record every position's residual stream (for lens(), residual(), mlp(), neuron()). */
  residuals?: boolean;
}

/**
 * Paces a generation (step mode), as an AbortController ends one: pass it as `pacer`.
 * new Pacer({ step: true }) pauses after the first token; step() makes one more; run() runs on.
 */
export declare class Pacer extends EventTarget {
  constructor(options?: { step?: boolean });
  /** true while the generation pauses after each token. */
  stepping: boolean;
  step(): void;
  run(): void;
}

/** A token of the logit lens: its logit and its probability (softmax over the whole vocabulary). */
export interface LensToken {
  id: number;
  text: string;
  logit: number;
  prob: number;
}

/** One layer of the lens: the residual stream after it, through the final norm and the output head. */
export interface LensLayer {
  layer: number;
  top: LensToken[];
}

/** The logit lens at an absolute position; the last layer is the model's real output. */
export interface Lens {
  pos: number;
  /** The token fed at pos, and the one at pos + 1 if any. */
  token: { id: number; text: string };
  next: { id: number; text: string } | null;
  layers: LensLayer[];
  ms: number;
}

/** L2 norms at a position: the embedding, what each attention and MLP block adds, the stream after each layer. */
export interface Residual {
  pos: number;
  embd: number;
  attn: number[];
  mlp: number[];
  resid: number[];
}

/** The most activated MLP neurons of a layer at a position (the gated activation entering ffn_down), by |value|. */
export interface MlpNeurons {
  pos: number;
  layer: number;
  neurons: { id: number; value: number }[];
}

/** A neuron's down-projection direction and the token embeddings closest to it and most opposite (cosine). */
export interface Neuron {
  layer: number;
  neuron: number;
  norm: number;
  closest: { id: number; text: string; cos: number }[];
  opposite: { id: number; text: string; cos: number }[];
  /** Its value at the position, null when not among that position's top neurons (then |value| <= bound). */
  value: number | null;
  rank: number | null;
  bound: number;
}

/** Which positions the engine holds residuals for (from .. to - 1), and the memory they take. */
export interface Capture {
  on: boolean;
  from: number;
  to: number;
  cap: number;
  bytes: number;
  bytes_per_pos: number;
}

export declare class PlumbingEngine extends EventTarget {
  /**
   * @param options.workerUrl the worker (default: ./worker.js next to engine.js).
   * @param options.threads threads to use where the page is cross-origin isolated (default: every core).
   * @param options.startStallMs how long the starting worker may stay silent before `ready` rejects (default 120000).
   */
  constructor(options?: { workerUrl?: string | URL; threads?: number; startStallMs?: number });

  /**
   * Resolves with the build once the worker's wasm is up; rejects (kind "worker") if the worker
   * fails, or says nothing for startStallMs while it starts (the message names the step it stalled at).
   */
  ready: Promise<BuildInfo>;
  build: BuildInfo | null;
  /** The loaded model's info, after load(). */
  model: ModelInfo | null;
  /** The engine's one set of generation defaults (model.defaults), after load(). */
  defaults: GenParams | null;
  /** false once the worker died (kind "worker") or terminate() was called. */
  readonly alive: boolean;

  /**
   * Downloads a GGUF into the worker's wasm memory, checks its sha256 (when given) and parses
   * it. A verified download is kept in Cache Storage and read from there next time.
   */
  load(url: string | URL, options?: {
    onProgress?: (p: Progress) => void;
    signal?: AbortSignal;
    sha256?: string;
    bytes?: number;
  }): Promise<LoadResult>;
  info(): Promise<ModelInfo>;

  tokenize(text: string, options?: { special?: boolean }): Promise<Tokenized>;
  token(id: number): Promise<TokenDetail>;
  /** What generate() would feed for a request, without generating. */
  prepare(request: Request): Promise<Fed>;
  /** The token's row of token_embd. */
  embedding(id: number): Promise<Float32Array>;

  tensorView(name: string, options?: { maxW?: number; maxH?: number; bins?: number }): Promise<TensorView>;
  tensorBlock(name: string, row?: number, block?: number): Promise<TensorBlock>;

  /**
   * Generates an answer to `prompt` (a user message, rendered with the model's chat template;
   * with `raw` the exact text; `messages` gives a whole conversation instead).
   */
  generate(prompt: string | undefined, options?: GenerateOptions): Promise<GenerateResult>;
  /** Rewinds the current generation to position `pos`, puts token `id` there and continues. */
  choose(pos: number, id: number, options?: Partial<GenParams> & {
    onToken?: (token: TokenEvent) => void;
    onPaused?: (p: { pos: number }) => void;
    signal?: AbortSignal;
    pacer?: Pacer;
  }): Promise<GenerateResult>;
  /** The attention captured while generating position `pos` (capture_attention). */
  attention(pos: number, options?: { layer?: number }): Promise<Attention>;
  /** The logit lens at absolute position `pos` of a generation run with `residuals: true`; one layer if given. */
  lens(pos: number): Promise<Lens>;
  lens(pos: number, options: { layer: number }): Promise<LensLayer>;
  residual(pos: number): Promise<Residual>;
  mlp(pos: number, layer: number): Promise<MlpNeurons>;
  neuron(layer: number, neuron: number, pos: number): Promise<Neuron>;
  capture(): Promise<Capture>;
  stats(): Promise<{ stats: Stats; memory: number }>;
  /** The raw logits for the next position, before sampling. */
  logits(): Promise<Float32Array>;
  /** Makes the engine panic on purpose (tests of crash recovery): rejects with kind "crashed". */
  testPanic(message?: string, options?: { thread?: boolean }): Promise<never>;

  /** Calls fn for each resource request the worker makes; returns the unsubscribe function. */
  onNetwork(fn: (entry: { name: string; at: number }) => void): () => boolean;
  terminate(): void;

  addEventListener<K extends keyof EngineEventMap>(type: K, listener: (this: PlumbingEngine, ev: EngineEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof EngineEventMap>(type: K, listener: (this: PlumbingEngine, ev: EngineEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

// ---------------------------------------------------------------- helpers

/** An entry of models/manifest.json, `url` resolved against the manifest's URL. */
export interface ModelEntry {
  id: string;
  name: string;
  file: string;
  url: string;
  bytes: number;
  sha256: string;
  licence?: { spdx: string; url?: string };
  upstream?: { repo?: string; url?: string };
  parameters?: number;
  manifest: { default: string; models: unknown[] };
  [key: string]: unknown;
}

/** Reads a manifest and returns the entry `id` (default: the manifest's default). */
export declare function readManifest(manifestUrl: string | URL, id?: string): Promise<ModelEntry>;
/** Is a verified copy of this model in Cache Storage? Reads no body; never throws. */
export declare function modelCached(url: string | URL, sha256?: string | null): Promise<boolean>;
/** Asks the browser to keep this site's storage (the cached model); never throws. */
export declare function keepStorage(): Promise<boolean>;
/**
 * Starts, on the page, the helper threads an engine worker of the threads build asks for, and
 * relays their messages; terminate() ends them (call it with worker.terminate()). PlumbingEngine
 * does this for its own worker; a page that runs worker.js itself calls it.
 */
export declare function hostHelpers(worker: Worker): { readonly count: number; terminate(): void };
