// Types of widget.js: <plumbing-chat>, a small language model in a blog post. Importing the
// module defines the element (PlumbingChat.define()). Attributes are the source of truth and the
// properties reflect them. Reference: docs/widget.md of the repository.
//
//   <script type="module">import 'plumbing-llm/widget';</script>
//   <plumbing-chat prompt="What is a pipe wrench for?" max-tokens="64"></plumbing-chat>

import type { ErrorKind, StopReason } from './protocol.js';
import type { GenParams, LoadResult, PlumbingEngine, Stats } from './engine.js';

/** Attributes of <plumbing-chat>. */
export interface PlumbingChatAttributes {
  /**
   * An id of the manifest next to widget.js ("gemma-3-270m"), a manifest (.json) or a GGUF URL,
   * relative to the page. Default: the default model of ./models/manifest.json next to widget.js.
   * A base model (no chat template) continues the prompt; a model that thinks shows its reasoning
   * apart (part="reasoning", "reasoning-summary", "thought").
   */
  model?: string;
  /** The question, editable by the reader. */
  prompt?: string;
  /** A system message. */
  system?: string;
  /** Absent = the engine's default. 1..2048. */
  'max-tokens'?: string | number;
  /** Absent = the engine's default. 0..2. */
  temperature?: string | number;
  /** Absent = a random seed per run. */
  seed?: string | number;
  /** Start when scrolled into view (nothing heavy loads before that, or a click, otherwise). */
  autorun?: boolean | '';
  theme?: 'light' | 'dark' | 'auto';
  /** A smaller layout. */
  compact?: boolean | '';
}

export type PlumbingChatState = 'idle' | 'loading' | 'queued' | 'running' | 'done' | 'error';

/** Events of <plumbing-chat>: all bubble and are composed. */
export interface PlumbingChatEventMap {
  /** The model is in the engine. */
  'plumbing-load': CustomEvent<{ cache: LoadResult['cache']; sha256: string }>;
  /** A run ended; params = what the engine ran with (the seed it picked included). */
  'plumbing-done': CustomEvent<{ reason: StopReason; stats: Stats | null; params: GenParams | null }>;
  'plumbing-error': CustomEvent<{ kind: ErrorKind | 'unknown'; message: string }>;
  /** The shared engine crashed and is being restarted (every widget of the page hears it). */
  'plumbing-restart': CustomEvent<{ message: string }>;
}

export declare class PlumbingChat extends HTMLElement {
  static readonly observedAttributes: string[];
  /** The PlumbingEngine all widgets of the page share (null before the first run). */
  static readonly engine: PlumbingEngine | null;
  /** Defines the element under `tag` (default "plumbing-chat") if that name is free. */
  static define(tag?: string, registry?: CustomElementRegistry): typeof PlumbingChat;

  model: string;
  prompt: string;
  system: string;
  /** null: the engine's default. */
  maxTokens: number | null;
  /** null: the engine's default. */
  temperature: number | null;
  /** null: a random seed per run. */
  seed: number | null;
  autorun: boolean;
  theme: 'light' | 'dark' | 'auto' | (string & {});
  compact: boolean;
  readonly state: PlumbingChatState;

  /** Starts a run (queued behind other widgets of the page); resolves when it has ended. */
  run(): Promise<void>;
  /** Stops this widget's run, or takes it out of the queue. */
  stop(): void;

  addEventListener<K extends keyof PlumbingChatEventMap>(type: K,
    listener: (this: PlumbingChat, ev: PlumbingChatEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener<K extends keyof HTMLElementEventMap>(type: K,
    listener: (this: PlumbingChat, ev: HTMLElementEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof PlumbingChatEventMap>(type: K,
    listener: (this: PlumbingChat, ev: PlumbingChatEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener<K extends keyof HTMLElementEventMap>(type: K,
    listener: (this: PlumbingChat, ev: HTMLElementEventMap[K]) => unknown, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

declare global {
  interface HTMLElementTagNameMap {
    'plumbing-chat': PlumbingChat;
  }
  interface HTMLElementEventMap extends PlumbingChatEventMap {}
}
