// Types of protocol.js: the constants shared by the client (engine.js), the worker and the widget.
// The messages themselves are internal to the package; what a program sees is in engine.d.ts.

/** Why a generation ended (`GenerateResult.reason`, `plumbing-done`'s `detail.reason`). */
export declare const Stop: Readonly<{
  /** The model ended its answer. */
  EOS: 'eos';
  /** `max_tokens` reached. */
  MAX_TOKENS: 'max_tokens';
  /** The context is full. */
  CONTEXT_FULL: 'context_full';
  /** The caller stopped it (an aborted `signal`). */
  ABORTED: 'aborted';
}>;
export type StopReason = (typeof Stop)[keyof typeof Stop];

/** Error kinds: `PlumbingError.kind`. */
export declare const Kind: Readonly<{
  /** fetch failed, an HTTP error status, a truncated body. */
  NETWORK: 'network';
  /** The file's sha256 differs from the one asked for (the manifest's). */
  HASH: 'hash';
  /** The caller aborted. */
  ABORTED: 'aborted';
  /** The worker died or could not start; the engine is unusable (`alive` is false). */
  WORKER: 'worker';
  /**
   * The wasm engine trapped (a Rust panic; the message carries its text). The client starts a
   * fresh worker and reloads the model by itself ('crashed', then 'restarted' events).
   */
  CRASHED: 'crashed';
  /** The engine refused the call, with no finer kind. */
  MODEL: 'model';
  /** Not a well-formed GGUF (truncated, a header that lies, ...). */
  FORMAT: 'format';
  /** Well-formed, but not something the engine runs (architecture, tensor type). */
  UNSUPPORTED: 'unsupported';
  /** A required metadata key or tensor is absent. */
  MISSING: 'missing';
  /** A limit of the engine or of the request (context, memory, token ids). */
  LIMIT: 'limit';
  TOKENIZER: 'tokenizer';
  /** The model's chat template failed. */
  TEMPLATE: 'template';
  /** A request the engine cannot take (an unknown parameter, a bad value). */
  REQUEST: 'request';
}>;
export type ErrorKind = (typeof Kind)[keyof typeof Kind];

/** The Cache Storage cache that holds verified model files. */
export declare const MODEL_CACHE: 'plumbing-models-v1';
/** The header of a cached model entry that carries its verified sha256. */
export declare const SHA_HEADER: 'x-plumbing-sha256';

/** Request types, main thread -> worker (internal). */
export declare const Req: Readonly<Record<string, string>>;
/** Reply types, worker -> main thread (internal). */
export declare const Msg: Readonly<Record<string, string>>;
