//! Attention over one layer's KV cache, split across the thread pool.

use super::Config;
use crate::kernels;
use crate::Error;

/// One layer's KV cache as attention reads it: per KV head, rows of head_dim from position
/// `base`, and the positions a token sees (`window`; 0: all before it) in a context of `n_ctx`.
pub(super) struct Cache<'a> {
    pub(super) k: &'a [Vec<f32>],
    pub(super) v: &'a [Vec<f32>],
    pub(super) base: usize,
    pub(super) window: usize,
    pub(super) n_ctx: usize,
}

/// Attention of this call's `t_n` tokens (positions p0..) in layer `l`: for each token, each group
/// of query heads sharing a KV head against the keys and values the token sees, into `att`
/// (t_n × q_dim). Split across the thread pool (src/pool.rs) by (token, run of a group's heads):
/// each head of each token is computed by one task in kernels::attention_group's fixed order,
/// so the numbers are the same for any thread count. Each task has its own part of `scores`
/// (room for the most positions a token can see: grown here once per thread count, so that a
/// decode step allocates nothing). `capture`, when on, receives the last token's weights (state.attention's
/// layout: n_layer × n_head × n_final).
#[allow(clippy::too_many_arguments)]
pub(super) fn attend(c: &Config, l: usize, p0: usize, t_n: usize, q: &[f32], cache: &Cache, att: &mut [f32], scores: &mut Vec<f32>, capture: Option<&mut [f32]>) -> Result<(), Error> {
    let (hd, qd, nh, n_kv) = (c.head_dim, c.q_dim, c.n_head, c.n_head_kv);
    let group = nh / n_kv;
    let n_final = p0 + t_n;
    let threads = crate::pool::threads();
    // Few (token, KV head) pairs (a decode step) on several threads: split the groups' heads too
    // (each head's sums are its own).
    let pairs = t_n * n_kv;
    let pieces = if threads > 1 && pairs < 2 * threads { (2 * threads).div_ceil(pairs).min(group) } else { 1 };
    let units = pairs * pieces;
    let tasks = if threads > 1 { units.min(2 * threads) } else { 1 };
    // The most positions a token sees.
    let n_max = if cache.window > 0 { cache.n_ctx.min(cache.window) } else { cache.n_ctx };
    let per_task = group * n_max;
    if scores.len() < tasks * per_task {
        scores.resize(tasks * per_task, 0.0);
    }
    let scores = crate::pool::Parts::new(&mut scores[..tasks * per_task]);
    let att = crate::pool::Parts::new(&mut att[..t_n * qd]);
    let capture = capture.map(crate::pool::Parts::new);
    crate::pool::run(tasks, &|task| {
        // SAFETY: task `task` alone takes this part of the scores.
        let sc = unsafe { scores.get(task * per_task..(task + 1) * per_task) };
        // Units task, task + tasks, ...: each task gets early and late tokens alike.
        for u in (task..units).step_by(tasks) {
            let (t, kvh, piece) = (u / (n_kv * pieces), u / pieces % n_kv, u % pieces);
            let p = p0 + t;
            // Causal: this token sees itself and everything before, or its window of it.
            let first = if cache.window > 0 { (p + 1).saturating_sub(cache.window) } else { 0 };
            let n = p + 1 - first;
            let at = (first - cache.base) * hd;
            // This piece's run of the `group` query heads that share KV head kvh.
            let (h0, h1) = (kvh * group + piece * group / pieces, kvh * group + (piece + 1) * group / pieces);
            let qg = &q[t * qd + h0 * hd..t * qd + h1 * hd];
            // SAFETY: the units' (token, heads) ranges of att are disjoint, and each unit is one task's.
            let out = unsafe { att.get(t * qd + h0 * hd..t * qd + h1 * hd) };
            let s = &mut sc[..(h1 - h0) * n];
            kernels::attention_group(qg, hd, &cache.k[kvh][at..], &cache.v[kvh][at..], hd, n, c.attn_scale, s, out);
            if let (Some(cap), true) = (&capture, t == t_n - 1) {
                for (i, h) in (h0..h1).enumerate() {
                    let row = (l * nh + h) * n_final + first;
                    // SAFETY: rows of distinct heads (h is this unit's) of the last token: disjoint.
                    unsafe { cap.get(row..row + n) }.copy_from_slice(&s[i * n..(i + 1) * n]);
                }
            }
        }
    })
}
