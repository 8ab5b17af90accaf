//! A small pool of threads for the forward pass: `run(n_tasks, f)` calls `f(0) .. f(n_tasks - 1)`
//! spread over the pool's threads, the caller's included, and returns when all are done.
//!
//! What is split (src/kernels/split.rs: a matrix product's rows; src/kernels/acts.rs: the
//! quantization of a prefill's activations by tokens; src/model/attend.rs: attention's heads;
//! src/model/ops.rs: a prefill's element-wise steps by tokens) is split so that every output
//! value is computed by one task in the fixed float order: the numbers never depend on the
//! thread count or on which thread ran which task.
//!
//! Our own, not rayon: a decode step runs ~200 matrix products of ~10–50 µs each, so a product's
//! fork and join must cost about a microsecond (one published word, tasks claimed by an atomic
//! counter, workers that spin briefly before they sleep); and the browser build spawns its
//! workers from JavaScript on a shared `WebAssembly.Memory` (`worker_main`), which rayon's pool
//! does not model without wasm-bindgen-rayon's own spawning. The same logic runs on:
//! - natively: persistent std threads (`set_threads` spawns and joins them); waits on a
//!   Mutex + Condvar after the spin;
//! - wasm32 with `atomics`: workers spawned by JavaScript call `worker_main(index)`; waits are
//!   `memory.atomic.wait32` / `memory.atomic.notify` (never on the page's main thread: the engine
//!   runs in a Worker);
//! - wasm32 without atomics (the one-thread builds): `run` is a plain loop.
//!
//! The protocol. One run at a time holds the pool (`BUSY`); a nested or concurrent run (a task
//! that runs, or a second engine on another thread) runs inline on its caller. A run stores its
//! job (a pointer to `f` on its stack) in `JOB`, then publishes `STATE` = epoch | n_tasks | next
//! and bumps `EPOCH` (what sleeping workers wait on). Every thread claims tasks by a
//! compare-and-swap of `STATE`'s `next`; the epoch in the same word makes a claim of a finished
//! job fail. `PENDING` counts the tasks not yet finished; the caller returns when it is 0, so `f`
//! outlives every call of it (a worker reads `JOB` before its claim and uses it only if the claim
//! succeeds, and touches nothing of the job after its decrement of `PENDING`).

#![deny(unsafe_op_in_unsafe_fn)]

use std::marker::PhantomData;
use std::ops::Range;

use crate::Error;


/// The most threads a pool runs (the caller included).
pub const MAX_THREADS: usize = 64;

/// A mutable slice of which the tasks of one run write disjoint parts (the rows of a matrix
/// product's output, the heads of attention).
pub struct Parts<'a, T> {
    ptr: *mut T,
    len: usize,
    _life: PhantomData<&'a mut [T]>,
}

// SAFETY: Parts hands out `&mut` to parts of a slice it borrows mutably for 'a; callers of `get`
// promise that concurrent parts are disjoint, so sharing it between threads is sharing `&mut [T]`
// pieces, which needs T: Send.
unsafe impl<T: Send> Sync for Parts<'_, T> {}
// SAFETY: as for Sync.
unsafe impl<T: Send> Send for Parts<'_, T> {}

impl<'a, T> Parts<'a, T> {
    pub fn new(s: &'a mut [T]) -> Parts<'a, T> {
        Parts { ptr: s.as_mut_ptr(), len: s.len(), _life: PhantomData }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements `r` (panics when out of bounds, as slicing does).
    ///
    /// # Safety
    /// No two parts alive at the same time overlap: the tasks of one run ask for disjoint ranges.
    #[allow(clippy::mut_from_ref)] // the point of the type: disjoint &mut parts from a shared handle
    pub unsafe fn get(&self, r: Range<usize>) -> &mut [T] {
        assert!(r.start <= r.end && r.end <= self.len, "part {}..{} of {} elements", r.start, r.end, self.len);
        // SAFETY: in bounds of the slice borrowed for 'a (checked above); no other live part
        // overlaps it (the caller's promise), so this is the only reference to these elements.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(r.start), r.end - r.start) }
    }
}

pub use imp::{set_spin, set_threads, stats, threads, workers_ready};

/// What the pool did since the last `stats()` (counted with relaxed increments: a few per
/// product, nothing measurable): for telling a slow split from a slow kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Publications (split products, attention, quantizations).
    pub runs: u64,
    /// Tasks run by the caller (thread 0) and by the helpers.
    pub tasks_caller: u64,
    pub tasks_helpers: u64,
    /// Times a helper's spin ran out and it blocked (each costs a wake).
    pub helper_sleeps: u64,
    /// Runs whose caller had finished its tasks and then waited for a helper's (imbalance), and
    /// how many of those waits ran out of spinning and blocked.
    pub caller_waits: u64,
    pub caller_sleeps: u64,
}

/// Measuring (natively): while on, the time spent inside `run` (the split work, on its caller)
/// is summed, so that a benchmark can say which share of a forward pass is split (Amdahl's bound
/// for more threads). Off by default: then it costs one relaxed load per run.
#[cfg(not(target_arch = "wasm32"))]
pub mod timing {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

    pub(super) static ON: AtomicBool = AtomicBool::new(false);
    pub(super) static NS: AtomicU64 = AtomicU64::new(0);

    pub fn set(on: bool) {
        ON.store(on, Relaxed);
    }

    /// Nanoseconds inside `run` since the last take.
    pub fn take() -> u64 {
        NS.swap(0, Relaxed)
    }
}

/// Calls `f(0) .. f(n_tasks - 1)`, each once, on the pool's threads and this one; returns when
/// all have returned. Natively a panic in a task is resumed here once the others are done (run
/// inline, with one thread or no helper in yet, the first panic unwinds at once). An error only
/// when a helper stopped inside a task (wasm: it trapped; see `abandon`).
#[inline]
pub fn run(n_tasks: usize, f: &(dyn Fn(usize) + Sync)) -> Result<(), Error> {
    #[cfg(not(target_arch = "wasm32"))]
    if timing::ON.load(std::sync::atomic::Ordering::Relaxed) {
        let t = std::time::Instant::now();
        let r = imp::run(n_tasks, f);
        timing::NS.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        return r;
    }
    imp::run(n_tasks, f)
}

/// Below this many values (a decode step's rows) an element-wise step or the quantization of the
/// activations runs inline: a fork and join would cost more than it saves.
pub const SPLIT_MIN_VALUES: usize = 16 * 1024;

/// Calls `f(first, end)` on `min(n, 2 × threads)` contiguous runs of the items `0..n`, in order,
/// each run by one task of `run`: every item is computed by one call, so what a call computes
/// per item is the same for any thread count. The split of a prefill's rows (model/ops.rs
/// `par_rows`, kernels/acts.rs `quantize_rows`).
pub fn run_runs(n: usize, f: &(dyn Fn(usize, usize) + Sync)) -> Result<(), Error> {
    let tasks = n.min(2 * threads());
    run(tasks, &|i| f(i * n / tasks, (i + 1) * n / tasks))
}

/// Work that would have been split but is too small (or has one thread): run here, counted by
/// `timing` like a run.
#[inline]
pub fn unsplit<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(not(target_arch = "wasm32"))]
    if timing::ON.load(std::sync::atomic::Ordering::Relaxed) {
        let t = std::time::Instant::now();
        let r = f();
        timing::NS.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        return r;
    }
    f()
}
#[cfg(target_arch = "wasm32")]
pub use imp::{abandon, worker_main};

// ------------------------------------------------------------------------------------------------
// One thread: wasm32 without atomics
// ------------------------------------------------------------------------------------------------

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod imp {
    use crate::Error;

    /// No threads in this build: stays 1.
    pub fn set_threads(_n: usize) -> usize {
        1
    }

    pub fn threads() -> usize {
        1
    }

    pub fn workers_ready() -> usize {
        0
    }

    pub fn stats() -> super::Stats {
        super::Stats::default()
    }

    pub fn set_spin(_n: u32) {}

    pub fn run(n_tasks: usize, f: &(dyn Fn(usize) + Sync)) -> Result<(), Error> {
        for i in 0..n_tasks {
            f(i);
        }
        Ok(())
    }

    /// No threads in this build: returns at once.
    pub fn worker_main(_index: usize) {}

    pub fn abandon(_index: usize) {}
}

// ------------------------------------------------------------------------------------------------
// Threads: natively, and wasm32 with atomics
// ------------------------------------------------------------------------------------------------

#[cfg(any(not(target_arch = "wasm32"), target_feature = "atomics"))]
mod imp {
    use super::MAX_THREADS;
    use crate::Error;
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};

    /// The most tasks one publication carries (16 bits of STATE); longer runs publish in batches.
    const MAX_TASKS: usize = 0xffff;

    /// Threads to use, the caller included.
    static THREADS: AtomicUsize = AtomicUsize::new(1);
    /// A run holds the pool.
    static BUSY: AtomicBool = AtomicBool::new(false);
    /// epoch (32 bits) | n_tasks (16) | next task to claim (16).
    static STATE: AtomicU64 = AtomicU64::new(0);
    /// Bumped after every publication and thread-count change: what idle workers wait on.
    static EPOCH: AtomicU32 = AtomicU32::new(0);
    /// The current job: a `*const &(dyn Fn(usize) + Sync)` on the running caller's stack.
    static JOB: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());
    /// Tasks of the current job not yet finished.
    static PENDING: AtomicU32 = AtomicU32::new(0);
    /// Threads inside a blocking wait (a wake is skipped when there are none).
    static SLEEPERS: AtomicU32 = AtomicU32::new(0);
    /// 0, or 1 + the index of a worker that stopped inside a task (wasm: a trap).
    static POISON: AtomicU32 = AtomicU32::new(0);
    /// Workers inside their loop.
    static READY: AtomicU32 = AtomicU32::new(0);
    /// Per worker: 1 while it runs a claimed task (so that `abandon` can finish it in its stead).
    static CLAIMED: [AtomicU32; MAX_THREADS] = [const { AtomicU32::new(0) }; MAX_THREADS];

    // What `stats` reports (relaxed counters).
    static N_RUNS: AtomicU64 = AtomicU64::new(0);
    static N_TASKS_CALLER: AtomicU64 = AtomicU64::new(0);
    static N_TASKS_HELPERS: AtomicU64 = AtomicU64::new(0);
    static N_HELPER_SLEEPS: AtomicU64 = AtomicU64::new(0);
    static N_CALLER_WAITS: AtomicU64 = AtomicU64::new(0);
    static N_CALLER_SLEEPS: AtomicU64 = AtomicU64::new(0);

    /// The counters since the last call (and resets them).
    pub fn stats() -> super::Stats {
        super::Stats {
            runs: N_RUNS.swap(0, Relaxed),
            tasks_caller: N_TASKS_CALLER.swap(0, Relaxed),
            tasks_helpers: N_TASKS_HELPERS.swap(0, Relaxed),
            helper_sleeps: N_HELPER_SLEEPS.swap(0, Relaxed),
            caller_waits: N_CALLER_WAITS.swap(0, Relaxed),
            caller_sleeps: N_CALLER_SLEEPS.swap(0, Relaxed),
        }
    }

    type Task<'a> = &'a (dyn Fn(usize) + Sync);

    // Spins before a blocking wait: an idle worker keeps polling for a while (the gap between two
    // matrix products of a decode step is a few µs; between two tokens, the sampler's ~100 µs), a
    // caller waiting for the last tasks of a run about 4 times as long. Natively ~50–100 µs. In
    // wasm, where a wake (memory.atomic.notify to a thread in wait32) costs far more, ~0.3–0.5 ms:
    // measured in Chromium on SmolLM2 (pool_stats_json), 50,000 polls let the helper block in 268
    // of a prefill's 391 runs (the serial work between products is longer there), 500,000 in 19–33,
    // and in a decode only between tokens (about once per token either way).
    #[cfg(not(target_arch = "wasm32"))]
    const SPIN: u32 = 2_000; // each a PAUSE (~40 ns on recent x86)
    #[cfg(target_arch = "wasm32")]
    const SPIN: u32 = 500_000; // each an atomic load (spin_loop is a no-op in wasm)
    /// The spins in use (set_spin changes them, for measuring).
    static SPIN_NOW: AtomicU32 = AtomicU32::new(SPIN);

    /// Sets how long an idle thread spins before it blocks (in polls; 0: the default).
    pub fn set_spin(n: u32) {
        SPIN_NOW.store(if n == 0 { SPIN } else { n }, Relaxed);
    }

    // --------------------------------------------------------------------------------------------
    // Waiting: a futex (wait while a word holds a value; wake every waiter of a word)
    // --------------------------------------------------------------------------------------------

    #[cfg(not(target_arch = "wasm32"))]
    mod futex {
        use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
        use std::sync::{Condvar, Mutex};

        // One lock and condition for every word: a wake wakes all waiters, each rechecks its word.
        static LOCK: Mutex<()> = Mutex::new(());
        static COND: Condvar = Condvar::new();

        /// Blocks while `a` holds `expected` (may return early).
        pub fn wait(a: &AtomicU32, expected: u32) {
            let g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
            if a.load(SeqCst) == expected {
                // A wake takes LOCK after changing the word: it cannot fall between the check
                // and the wait. The timeout only bounds an unforeseen lost wake.
                let _ = COND.wait_timeout(g, std::time::Duration::from_millis(100));
            }
        }

        pub fn wake(_a: &AtomicU32) {
            drop(LOCK.lock().unwrap_or_else(|p| p.into_inner()));
            COND.notify_all();
        }
    }

    #[cfg(target_arch = "wasm32")]
    mod futex {
        use std::sync::atomic::AtomicU32;

        /// Blocks while `a` holds `expected` (may return early): memory.atomic.wait32, which traps
        /// on the page's main thread; the engine and its helpers run in Workers. At most 100 ms: the
        /// callers recheck their word, so even a lost wake costs no more than that.
        pub fn wait(a: &AtomicU32, expected: u32) {
            // SAFETY: the pointer is that of a live, aligned AtomicU32 (a static); wait32 only
            // reads it atomically. The build has the atomics feature (this module's cfg).
            unsafe {
                core::arch::wasm32::memory_atomic_wait32(a.as_ptr() as *mut i32, expected as i32, 100_000_000);
            }
        }

        pub fn wake(a: &AtomicU32) {
            // SAFETY: as for wait; notify reads nothing but the address.
            unsafe {
                core::arch::wasm32::memory_atomic_notify(a.as_ptr() as *mut i32, u32::MAX);
            }
        }
    }

    /// Waits until `a` no longer holds `v`, spinning `spin` times first; counts a block in `sleeps`.
    fn wait_while(a: &AtomicU32, v: u32, spin: u32, sleeps: &AtomicU64) {
        for _ in 0..spin {
            if a.load(Acquire) != v {
                return;
            }
            std::hint::spin_loop();
        }
        sleeps.fetch_add(1, Relaxed);
        // Dekker with `notify`: the waiter counts itself, then rereads the word (SeqCst); the
        // changer writes the word, then reads the count (SeqCst): one of them sees the other.
        SLEEPERS.fetch_add(1, SeqCst);
        while a.load(SeqCst) == v {
            futex::wait(a, v);
        }
        SLEEPERS.fetch_sub(1, SeqCst);
    }

    /// Wakes the waiters of `a`, after a SeqCst change of it.
    fn notify(a: &AtomicU32) {
        if SLEEPERS.load(SeqCst) > 0 {
            futex::wake(a);
        }
    }

    // --------------------------------------------------------------------------------------------
    // Threads
    // --------------------------------------------------------------------------------------------

    pub fn threads() -> usize {
        THREADS.load(Relaxed)
    }

    pub fn workers_ready() -> usize {
        READY.load(Relaxed) as usize
    }

    #[cfg(not(target_arch = "wasm32"))]
    static WORKERS: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

    /// Uses `n` threads (clamped to 1..=MAX_THREADS), the caller included: spawns or stops the
    /// workers 1..n. Returns the count in use (fewer if the system refused a thread).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn set_threads(n: usize) -> usize {
        let n = n.clamp(1, MAX_THREADS);
        let mut ws = WORKERS.lock().unwrap_or_else(|p| p.into_inner());
        THREADS.store(n, SeqCst);
        if ws.len() > n - 1 {
            // Workers n.. see the new count when woken and leave their loop.
            EPOCH.fetch_add(1, SeqCst);
            notify(&EPOCH);
            for w in ws.drain(n - 1..) {
                let _ = w.join();
            }
        }
        while ws.len() < n - 1 {
            let index = ws.len() + 1;
            match std::thread::Builder::new().name(format!("plumbing-{index}")).spawn(move || worker_main(index)) {
                Ok(h) => ws.push(h),
                Err(_) => break,
            }
        }
        let n = ws.len() + 1;
        THREADS.store(n, SeqCst);
        n
    }

    /// Uses `n` threads (clamped to 1..=MAX_THREADS), the caller included. JavaScript spawns the
    /// workers (each calls `worker_main(i)`, i in 1..n); workers with an index >= n leave.
    #[cfg(target_arch = "wasm32")]
    pub fn set_threads(n: usize) -> usize {
        let n = n.clamp(1, MAX_THREADS);
        THREADS.store(n, SeqCst);
        EPOCH.fetch_add(1, SeqCst);
        notify(&EPOCH);
        n
    }

    /// The loop of worker `index` (1..MAX_THREADS): takes tasks of every run while
    /// index < threads(), sleeping in between; returns when the thread count drops to index or
    /// below, or the pool is poisoned. Index 0 (the caller) or one out of range returns at once.
    pub fn worker_main(index: usize) {
        if index == 0 || index >= MAX_THREADS {
            return;
        }
        READY.fetch_add(1, SeqCst);
        loop {
            let e = EPOCH.load(SeqCst);
            if index >= THREADS.load(SeqCst) || POISON.load(SeqCst) != 0 {
                break;
            }
            let mut done = 0;
            while let Some((task, f)) = claim() {
                execute(index, task, f);
                done += 1;
                if index >= THREADS.load(Relaxed) {
                    break;
                }
            }
            // Counted once per wake, not per task: the counter's line is shared by every thread.
            if done > 0 {
                N_TASKS_HELPERS.fetch_add(done, Relaxed);
            }
            wait_while(&EPOCH, e, SPIN_NOW.load(Relaxed), &N_HELPER_SLEEPS);
        }
        READY.fetch_sub(1, SeqCst);
    }

    #[cfg(target_arch = "wasm32")]
    /// Worker `index` stopped for good (its JavaScript caught a trap from worker_main): the task
    /// it held is counted as finished so that the run wakes, and the pool is poisoned: that run
    /// and every later one return an error.
    pub fn abandon(index: usize) {
        if index == 0 || index >= MAX_THREADS {
            return;
        }
        let _ = POISON.compare_exchange(0, 1 + index as u32, SeqCst, SeqCst);
        if CLAIMED[index].swap(0, SeqCst) == 1 {
            finish();
        }
        let _ = READY.fetch_update(SeqCst, SeqCst, |r| Some(r.saturating_sub(1)));
        EPOCH.fetch_add(1, SeqCst);
        futex::wake(&EPOCH);
        futex::wake(&PENDING);
    }

    // --------------------------------------------------------------------------------------------
    // Runs
    // --------------------------------------------------------------------------------------------

    /// Claims the next task of the published job: its index and the job, or None when none is left.
    fn claim() -> Option<(usize, Task<'static>)> {
        let mut s = STATE.load(Acquire);
        loop {
            let (n, next) = ((s >> 16) & 0xffff, s & 0xffff);
            if next >= n {
                return None;
            }
            // Read before the claim: a job's JOB is replaced only after all its tasks finished,
            // which needs this claim's task; if the claim succeeds this is still its job.
            let job = JOB.load(Acquire) as *const Task<'static>;
            match STATE.compare_exchange_weak(s, s + 1, AcqRel, Acquire) {
                // SAFETY: the claim succeeded in the epoch that published `job` (the epoch is
                // part of the word), so the job's caller waits in `run` until this task has
                // finished: the `&dyn Fn` it points to is alive until then, and we use it no longer
                // (see execute). The lifetime is a stand-in for "until finish()".
                Ok(_) => return Some((next as usize, unsafe { *job })),
                Err(now) => s = now,
            }
        }
    }

    /// Runs one claimed task on thread `index` and counts it finished.
    fn execute(index: usize, task: usize, f: Task<'static>) {
        CLAIMED[index].store(1, SeqCst);
        call(f, task);
        // Whoever swaps the 1 out (this thread, or `abandon` for a dead one) counts the task.
        if CLAIMED[index].swap(0, SeqCst) == 1 {
            finish();
        }
    }

    fn finish() {
        if PENDING.fetch_sub(1, SeqCst) == 1 {
            notify(&PENDING);
        }
    }

    /// The first panic of a task of the current run, resumed on its caller.
    #[cfg(not(target_arch = "wasm32"))]
    static PANIC: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>> = std::sync::Mutex::new(None);

    /// Calls a task natively catching a panic (kept for the caller to resume): the other tasks
    /// still finish and nobody waits for a task that died.
    #[cfg(not(target_arch = "wasm32"))]
    fn call(f: Task<'_>, task: usize) {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(task))) {
            PANIC.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(p);
        }
    }

    /// In wasm a panic aborts (a trap): the worker's JavaScript calls `abandon`.
    #[cfg(target_arch = "wasm32")]
    fn call(f: Task<'_>, task: usize) {
        f(task)
    }

    fn poisoned() -> Result<(), Error> {
        match POISON.load(SeqCst) {
            0 => Ok(()),
            p => Err(Error::Limit(format!(
                "helper thread {} of the thread pool stopped inside a task; the engine must be restarted",
                p - 1
            ))),
        }
    }

    /// Calls `f(0) .. f(n_tasks - 1)`, each once, on the pool's threads and this one; returns when
    /// all have returned. A panic in a task is resumed here once the others are done (natively).
    /// An error only when a helper stopped inside a task (wasm: it trapped; see `abandon`).
    pub fn run(n_tasks: usize, f: &(dyn Fn(usize) + Sync)) -> Result<(), Error> {
        poisoned()?;
        if n_tasks <= 1 || THREADS.load(Relaxed) <= 1 || READY.load(Relaxed) == 0 || BUSY.compare_exchange(false, true, Acquire, Relaxed).is_err() {
            for i in 0..n_tasks {
                f(i);
            }
            return Ok(());
        }
        let mut base = 0;
        while base < n_tasks {
            let n = (n_tasks - base).min(MAX_TASKS);
            let g = move |i: usize| f(base + i);
            publish_and_join(n, &g);
            base += n;
        }
        BUSY.store(false, Release);
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(p) = PANIC.lock().unwrap_or_else(|p| p.into_inner()).take() {
            std::panic::resume_unwind(p);
        }
        poisoned()
    }

    /// One publication of `n` (<= MAX_TASKS) tasks, while holding BUSY.
    fn publish_and_join(n: usize, f: &(dyn Fn(usize) + Sync)) {
        let job: Task<'_> = f;
        PENDING.store(n as u32, Relaxed);
        JOB.store(&job as *const Task<'_> as *mut (), Release);
        let epoch = (STATE.load(Relaxed) >> 32).wrapping_add(1) & 0xffff_ffff;
        // Release: a thread that sees this word sees JOB and PENDING.
        STATE.store(epoch << 32 | (n as u64) << 16, Release);
        EPOCH.fetch_add(1, SeqCst);
        notify(&EPOCH);
        let mut done = 0;
        while let Some((task, f)) = claim() {
            execute(0, task, f);
            done += 1;
        }
        N_RUNS.fetch_add(1, Relaxed);
        N_TASKS_CALLER.fetch_add(done, Relaxed);
        if PENDING.load(Acquire) != 0 {
            N_CALLER_WAITS.fetch_add(1, Relaxed);
        }
        loop {
            let p = PENDING.load(Acquire);
            if p == 0 {
                break;
            }
            wait_while(&PENDING, p, 4 * SPIN_NOW.load(Relaxed), &N_CALLER_SLEEPS);
        }
        // Every task finished (their decrements are Release, the load above Acquire): the job on
        // this stack is no longer referenced when `job` goes out of scope.
    }
}
