// A helper thread of the threads build (./threads.js starts n-1 of these from the engine worker).
// One message in: { glue (URL of ./pkg-threads/plumbing.js), module (the compiled
// WebAssembly.Module), memory (the engine's shared WebAssembly.Memory), index (1..n-1), board
// (Int32Array on a SharedArrayBuffer) }. It instantiates the same module on the same memory,
// says 'started', and calls pool_worker(index): the pool's loop, which blocks between tasks and
// returns only when the thread count drops below index + 1 (then 'left'). A trap inside it (a
// Rust panic aborts; its message is already in the engine's take_panic(), the memory is shared)
// is written to the board, then pool_abandon(index) wakes the engine's thread, whose run returns
// an error the engine worker reports as a crash. This worker ends with the engine worker.

self.onmessage = async (ev) => {
  self.onmessage = null;
  const { glue, module, memory, index, board } = ev.data;
  let wasm;
  try {
    wasm = await import(glue);
    await wasm.default({ module_or_path: module, memory });
  } catch (e) {
    self.postMessage({ type: 'failed', message: String(e?.message ?? e) });
    return;
  }
  self.postMessage({ type: 'started' });
  try {
    wasm.pool_worker(index);
    self.postMessage({ type: 'left' });
  } catch (e) {
    Atomics.store(board, 0, index);
    try { wasm.pool_abandon(index); } catch { /* the board still says so */ }
    self.postMessage({ type: 'trapped', message: String(e?.message ?? e) });
  }
};
