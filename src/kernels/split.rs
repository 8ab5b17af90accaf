//! Splitting a matrix product across the thread pool (src/pool.rs) by output rows: each task is
//! the type's own kernel on a contiguous run of rows (a sub-slice of the weights: a matrix's rows
//! are contiguous), so every output value is computed by one thread in the kernel's fixed order,
//! whatever the thread count. `matmul_group` runs several products of the same activations as one
//! run (q, k and v; gate and up): one fork and join instead of three, and the small ones (k and v)
//! run beside the others instead of alone on one thread.

use super::{cast_blocks, Acts, Kernel, WeightType};
use crate::Error;

/// Rows per task are a multiple of this (the row kernels take several rows at a time), but for
/// the last task of a matrix.
const ROW_STEP: usize = 8;
/// A task has at least this many multiply-adds (rows × row length × tokens): below, the fork and
/// join (~1 µs) would cost more than the task.
const MIN_TASK_MACS: usize = 64 * 1024;
/// Tasks per thread (claimed as threads come free: a thread slowed by the machine's other work
/// takes fewer).
const TASKS_PER_THREAD: usize = 4;

/// How many tasks a product of `rows` rows of `k` values with `ntok` tokens splits into on
/// `threads` threads: 1 (no split) when it is small.
pub fn row_tasks(rows: usize, k: usize, ntok: usize, threads: usize) -> usize {
    if threads <= 1 {
        return 1;
    }
    let steps = rows.div_ceil(ROW_STEP);
    let by_work = (rows * k * ntok / MIN_TASK_MACS).max(1);
    steps.min(by_work).min(threads * TASKS_PER_THREAD).max(1)
}

/// The rows of task `i` of `tasks` over `rows`: contiguous, balanced to within ROW_STEP rows.
#[inline]
fn task_rows(i: usize, tasks: usize, rows: usize) -> std::ops::Range<usize> {
    let steps = rows.div_ceil(ROW_STEP);
    let at = |i: usize| (i * steps / tasks * ROW_STEP).min(rows);
    at(i)..at(i + 1)
}

/// The output of a split product with several tokens, task by task: each task's rows for every
/// token (`t * n + r`), scattered to `out[t * rows + r]` afterwards. Kept once grown.
static SPLIT_SCRATCH: std::sync::Mutex<Vec<f32>> = std::sync::Mutex::new(Vec::new());

/// Runs a per-type kernel over contiguous chunks of rows on the thread pool: each chunk is the
/// kernel's own product on a sub-slice of the weights (the rows of a matrix are contiguous), so
/// every output is computed by one thread in the kernel's fixed order, whatever the thread count.
/// One token writes its chunk of `out` in place; several write a per-chunk scratch in the
/// kernel's layout, copied to theirs. The kernels themselves are untouched.
pub(super) fn split_rows<B: Kernel + Sync>(w: &[B], rows: usize, x: &Acts, out: &mut [f32], kernel: fn(&[B], usize, &Acts, &mut [f32])) -> Result<(), Error> {
    let ntok = x.ntok;
    let tasks = row_tasks(rows, x.k, ntok, crate::pool::threads());
    // Shapes the kernels would refuse are left to their checks (a bug in the caller, not a file).
    if tasks <= 1 || !w.len().is_multiple_of(rows) || out.len() < ntok * rows {
        crate::pool::unsplit(|| kernel(w, rows, x, out));
        return Ok(());
    }
    let per_row = w.len() / rows;
    let out = crate::pool::Parts::new(&mut out[..ntok * rows]);
    if ntok == 1 {
        return crate::pool::run(tasks, &|i| {
            let r = task_rows(i, tasks, rows);
            // SAFETY: the tasks' row ranges are disjoint (task_rows is increasing in i).
            let o = unsafe { out.get(r.clone()) };
            kernel(&w[r.start * per_row..r.end * per_row], r.len(), x, o)
        });
    }
    let mut held = SPLIT_SCRATCH.try_lock().ok();
    let mut own = Vec::new();
    // A second product running at once (another engine on another thread) takes its own.
    let scratch = match held.as_deref_mut() {
        Some(v) => v,
        None => &mut own,
    };
    if scratch.len() < ntok * rows {
        scratch.resize(ntok * rows, 0.0);
    }
    let scratch = crate::pool::Parts::new(&mut scratch[..ntok * rows]);
    crate::pool::run(tasks, &|i| {
        let r = task_rows(i, tasks, rows);
        let n = r.len();
        // SAFETY: task i takes the scratch of its own rows, r.start * ntok .. r.end * ntok, and
        // out[t * rows + r] for its rows only: the tasks' ranges are disjoint.
        let s = unsafe { scratch.get(r.start * ntok..r.end * ntok) };
        kernel(&w[r.start * per_row..r.end * per_row], n, x, s);
        for t in 0..ntok {
            // SAFETY: as above.
            unsafe { out.get(t * rows + r.start..t * rows + r.end) }.copy_from_slice(&s[t * n..(t + 1) * n]);
        }
    })
}


/// One product of a group (matmul_group): `rows` rows of type `ty` in `bytes` (read in place)
/// times the group's activations, into `out` (`rows` values per token).
pub struct Product<'a> {
    pub ty: WeightType,
    pub bytes: &'a [u8],
    pub rows: usize,
    pub out: &'a mut [f32],
}

/// The most products one group runs together.
const MAX_GROUP: usize = 4;

/// The products of `group`, all of the same activations `x`, each as `matmul` (`reference`:
/// `matmul_ref`) computes it. With one token (a decode step) on several threads they are one run
/// on the pool: each product's rows split as split_rows splits them alone (row_tasks, task_rows),
/// so every value is the one a separate call gives. Otherwise one product after another.
pub fn matmul_group(group: &mut [Product<'_>], x: &Acts, reference: bool) -> Result<(), Error> {
    for p in group.iter() {
        super::check_forms(p.ty, x)?;
    }
    let threads = crate::pool::threads();
    let one_by_one = |group: &mut [Product<'_>]| -> Result<(), Error> {
        for p in group.iter_mut() {
            if reference {
                super::matmul_ref(p.ty, p.bytes, p.rows, x, p.out)?;
            } else {
                super::matmul(p.ty, p.bytes, p.rows, x, p.out)?;
            }
        }
        Ok(())
    };
    let n = group.len();
    if x.ntok != 1 || threads <= 1 || !(2..=MAX_GROUP).contains(&n) {
        return one_by_one(group);
    }
    // Product i's tasks are start[i]..start[i + 1]. Shapes the kernels would refuse (a bug in the
    // caller, not a file) go one by one, to the kernels' own checks.
    let mut start = [0usize; MAX_GROUP + 1];
    for (i, p) in group.iter().enumerate() {
        let blocks = crate::with_type!(p.ty, B => cast_blocks::<B>(p.bytes)?.len());
        if p.rows == 0 || !blocks.is_multiple_of(p.rows) || p.out.len() < p.rows {
            return one_by_one(group);
        }
        start[i + 1] = start[i] + row_tasks(p.rows, x.k, 1, threads);
    }
    let mut meta: [Option<(WeightType, &[u8], usize)>; MAX_GROUP] = [None; MAX_GROUP];
    let mut outs: [Option<crate::pool::Parts<'_, f32>>; MAX_GROUP] = [None, None, None, None];
    for (i, p) in group.iter_mut().enumerate() {
        meta[i] = Some((p.ty, p.bytes, p.rows));
        outs[i] = Some(crate::pool::Parts::new(&mut p.out[..p.rows]));
    }
    crate::pool::run(start[n], &|t| {
        let i = (0..n).find(|&i| t < start[i + 1]).unwrap_or(n - 1);
        let (Some((ty, bytes, rows)), Some(out)) = (meta[i], &outs[i]) else { return };
        let r = task_rows(t - start[i], start[i + 1] - start[i], rows);
        crate::with_type!(ty, B => {
            if let Ok(w) = cast_blocks::<B>(bytes) {
                let per_row = w.len() / rows;
                let kernel = if reference { <B as Kernel>::matmul_ref } else { <B as Kernel>::matmul };
                // SAFETY: the tasks of product i take disjoint row ranges of its own output
                // (task_rows is increasing in the task's index); no two products share an output.
                let o = unsafe { out.get(r.clone()) };
                kernel(&w[r.start * per_row..r.end * per_row], r.len(), x, o);
            }
        })
    })
}
