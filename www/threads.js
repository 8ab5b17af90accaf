// Threads in the browser (issue 12), on the engine worker's side: which of the three builds it
// instantiates, and the helper workers of the threads build. Imported by ./worker.js only.
//
// The three builds compute the same numbers (src/kernels/scalar.rs states the order; src/pool.rs
// splits work by output rows and heads, every row computed by one thread in that order):
//   ./pkg-threads/  atomics + relaxed SIMD on a shared WebAssembly.Memory, n threads: where the
//                   page is cross-origin isolated (COOP + COEP) and relaxed SIMD validates;
//   ./pkg-relaxed/, ./pkg/  one thread, as before; the page says why ("one thread: this page is
//                   not cross-origin isolated").
// n: `?threads=N` on this worker's URL (PlumbingEngine({threads}) puts it there), else every core
// (navigator.hardwareConcurrency). `?threads=1` on an isolated page runs the threads build alone.
//
// The engine worker is thread 0. It instantiates the module, calls threads_init(n), then has
// n-1 helpers (./threads-worker.js) started, each instantiating the same compiled module on the
// same memory and calling pool_worker(i), which blocks between tasks and never returns. READY
// waits until every helper said it started (or failed to: then fewer threads, and the page says so).
//
// The helpers are started by the page, not by the engine worker: Firefox's `new Worker` inside a
// worker blocks that worker's thread until the main thread answers, and sometimes it never
// returns (measured: 12 of 160 starts of two nested helpers hung for good in Firefox 153 driven
// over WebDriver BiDi; 0 of 160 with the same helpers started by the page). So the engine worker
// posts Msg.SPAWN_HELPER { script, name, port } to the page and talks to its helper through that
// MessagePort; the page's hostHelpers() (./engine.js, which PlumbingEngine calls) starts the
// Worker, relays the messages both ways, and terminates the helpers with the engine worker.
// A helper that traps writes its index into a shared board and calls pool_abandon(i): the run in
// progress on thread 0 returns an error, and helperTrapped() tells the worker it was a crash.

import { Msg } from './protocol.js';

export const THREADS_FLAVOR = 'pkg-threads';
export const MAX_THREADS = 64; // src/pool.rs MAX_THREADS
const START_TIMEOUT_MS = 20000;

let board = null;   // Int32Array on a SharedArrayBuffer: [0] = 0, or the index of a helper that trapped
let helpers = [];   // the engine worker's ends of the helpers' ports (the page holds the Workers)

/** The threads asked for: `?threads=N` on `url`, else all cores; clamped to 1..MAX_THREADS. */
export function wantedThreads(url) {
  const asked = Number.parseInt(new URL(url).searchParams.get('threads') ?? '', 10);
  const cores = Number(self.navigator?.hardwareConcurrency) || 1;
  return Math.max(1, Math.min(MAX_THREADS, Number.isFinite(asked) && asked > 0 ? asked : cores));
}

/** Why this worker runs one thread (the page's sentence), or null where the threads build can run. */
export function oneThreadReason(relaxed) {
  if (!self.crossOriginIsolated) return 'one thread: this page is not cross-origin isolated';
  if (typeof SharedArrayBuffer !== 'function') return 'one thread: this browser has no SharedArrayBuffer';
  if (!relaxed) return 'one thread: the threads build needs relaxed SIMD, which this browser lacks';
  return null;
}

/**
 * Picks and instantiates a build, starting the helpers of the threads build. instantiate(flavor)
 * is the worker's: it resolves { module (the glue's namespace), flavor, url, wasmSha256, compiled
 * (WebAssembly.Module), exports }. Resolves { got, threads, note } (note: why one thread, or
 * fewer than asked; null when all asked for run).
 */
export async function startBuild(instantiate, { relaxed, url, starting = () => {} }) {
  let note = oneThreadReason(relaxed);
  if (!note) {
    const n = wantedThreads(url);
    try {
      const got = await instantiate(THREADS_FLAVOR);
      if (n > 1) starting(`starting ${n - 1} helper thread${n > 2 ? 's' : ''}`);
      const { threads, failed } = await startHelpers(got, n);
      const fewer = threads < n ? `${threads} of the ${n} threads asked for started (${failed})` : null;
      return { got, threads, note: fewer };
    } catch (e) {
      note = `one thread: the threads build did not start (${e?.message ?? e})`;
    }
  }
  let got = null;
  if (relaxed) {
    try { got = await instantiate('pkg-relaxed'); } catch { got = null; }
  }
  got ??= await instantiate('pkg');
  return { got, threads: 1, note };
}

/** Did a helper thread trap? (Then the engine's error is a crash: see ./worker.js crash().) */
export function helperTrapped() {
  return board ? Atomics.load(board, 0) : 0;
}

/**
 * Sets the pool to n threads and starts helpers 1..n-1 on the instance's memory; resolves
 * { threads, failed } once each has started or failed (threads counts the engine's own).
 * got: { module (the glue's namespace), exports, compiled, flavor }, as instantiate() gives.
 */
export async function startHelpers(got, n) {
  const memory = got.exports.memory;
  if (!(memory instanceof WebAssembly.Memory) || !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new Error('the threads build has no shared memory');
  }
  const set = got.module.threads_init(n);
  board = new Int32Array(new SharedArrayBuffer(8));
  const glue = new URL(`./${got.flavor}/plumbing.js`, import.meta.url).href;
  const script = new URL('./threads-worker.js', import.meta.url).href;
  const starts = [];
  for (let index = 1; index < set; index++) {
    starts.push(new Promise((resolve) => {
      const timer = setTimeout(() => resolve(`helper ${index} did not start within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
      const done = (why) => { clearTimeout(timer); resolve(why); };
      // The page starts the helper (see the top of this file) and relays through `ch`.
      const ch = new MessageChannel();
      helpers.push(ch.port1);
      ch.port1.onmessage = (ev) => {
        const m = ev.data;
        if (m.type === 'started') done(null);
        else if (m.type === 'failed') done(`helper ${index}: ${m.message}`);
        else if (m.type === 'trapped') console.error(`plumbing: helper thread ${index} trapped: ${m.message}`);
      };
      try {
        self.postMessage({ id: 0, type: Msg.SPAWN_HELPER, script, name: `plumbing helper ${index}`, port: ch.port2 }, [ch.port2]);
      } catch (e) {
        return done(`helper ${index}: ${e?.message ?? e}`);
      }
      ch.port1.postMessage({ glue, module: got.compiled, memory, index, board });
    }));
  }
  const results = await Promise.all(starts);
  const failed = results.filter(Boolean);
  return { threads: 1 + results.length - failed.length, failed: failed.join('; ') };
}
