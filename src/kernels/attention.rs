//! Attention over the KV cache (the query heads that share one KV head), and the softmax, max and
//! exponential that it and the sampler share: one fixed float order in every build (scalar.rs).

use super::scalar;

/// Attention of the `group` query heads that share one KV head (grouped-query attention):
/// for each head h, softmax(q_h · K / sqrt(d)) · V. `q` holds the group's heads one after the
/// other (`hd` floats each); `keys` and `values` hold `n` positions with `stride` floats between
/// them, this KV head's `hd` floats at the start of each. `scores` receives the attention weights
/// (group × n; the page draws them), `out` the group's outputs (group × hd).
///
/// Each head is computed in the order scalar.rs states (its dot product order, then softmax with
/// exp_f32, then the values added position by position), whatever the instruction set.
#[allow(clippy::too_many_arguments)]
pub fn attention_group(q: &[f32], hd: usize, keys: &[f32], values: &[f32], stride: usize, n: usize, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    // The model passes shapes from its config (checked when it was loaded): a failure here is a
    // bug in the caller, not in a file. The SIMD kernels' loads rely on this check.
    let group = q.len() / hd;
    let kv_need = if n == 0 { 0 } else { (n - 1) * stride + hd };
    assert!(
        scores.len() >= group * n && out.len() >= group * hd && keys.len() >= kv_need && values.len() >= kv_need,
        "attention shapes: {group} heads of {hd} over {n} positions (stride {stride}) need {} scores, {} outputs and {kv_need} keys and values; got {}, {}, {} and {}",
        group * n, group * hd, scores.len(), out.len(), keys.len(), values.len()
    );
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
    ))]
    if hd > 0 && hd.is_multiple_of(16) {
        // The heads in runs of at most 4 (each head's sums are its own, so any split gives the
        // same numbers; a run shares every key and value load): 5 -> 3 + 2, 6 -> 3 + 3, 8 -> 4 + 4.
        let mut h0 = 0;
        while h0 < group {
            let left = group - h0;
            let g = left.div_ceil(left.div_ceil(4));
            let (q, scores, out) = (&q[h0 * hd..], &mut scores[h0 * n..], &mut out[h0 * hd..]);
            match g {
                // SAFETY: attention16's contract is the assert above, for the heads h0 .. h0 + g
                // of the group (q, scores and out start at head h0; hd is a multiple of 16). One
                // head has its positions two at a time (independent sums that overlap).
                1 => unsafe { super::arch::attention16::<1, 2>(q, hd, keys, values, stride, n, scale, scores, out) },
                // SAFETY: as for 1.
                2 => unsafe { super::arch::attention16::<2, 2>(q, hd, keys, values, stride, n, scale, scores, out) },
                // SAFETY: as for 1.
                3 => unsafe { super::arch::attention16::<3, 1>(q, hd, keys, values, stride, n, scale, scores, out) },
                // SAFETY: as for 1 (g is at most 4: ceil(left / ceil(left / 4)) <= 4).
                _ => unsafe { super::arch::attention16::<4, 1>(q, hd, keys, values, stride, n, scale, scores, out) },
            }
            h0 += g;
        }
        return;
    }
    // Any other shape: the reference itself (same order, so the same numbers).
    scalar::attention_group(q, hd, keys, values, stride, n, scale, scores, out)
}

/// The SIMD kernels add the values in runs of this many positions, each run's rows read whole
/// (16-dimension chunk by chunk) before the next run's; a run's outputs stay in `out` between
/// chunks. The sums are the same for any run length: every output adds its positions in order.
pub(crate) const VALUE_RUN: usize = 16;

/// The softmax step shared by every instruction set: scores (already scaled) to weights.
#[inline(always)]
pub(crate) fn softmax_in_place(scores: &mut [f32]) {
    let max = max_f32(scores);
    for s in scores.iter_mut() {
        *s = exp_f32(*s - max);
    }
    let mut sum = 0f32;
    for s in scores.iter() {
        sum += *s;
    }
    let inv = 1.0 / sum;
    for s in scores.iter_mut() {
        *s *= inv;
    }
}

/// The largest value (NEG_INFINITY for none; NaNs are passed over). A compare and a select,
/// where `f32::max` would be a call to fmaxf in WebAssembly; a long slice in 8 lanes (value i
/// in lane i mod 8), which gives the same value (only a zero's sign could differ, and x − max
/// and e^(x − max) do not see it).
#[inline(always)]
pub fn max_f32(x: &[f32]) -> f32 {
    let pick = |m: f32, v: f32| if v > m { v } else { m };
    if x.len() < 64 {
        return x.iter().fold(f32::NEG_INFINITY, |m, &v| pick(m, v));
    }
    let mut lanes = [f32::NEG_INFINITY; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for j in 0..8 {
            lanes[j] = pick(lanes[j], c[j]);
        }
    }
    let m = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| pick(m, v));
    lanes.iter().fold(m, |m, &v| pick(m, v))
}

/// The softmax's sums over `logits` at temperature `temp`, without storing it: for
/// x = (l − max) / temp and e = exp_f32(x), Z = Σ e and Σ e·x, over the terms with x > −40 (the
/// rest change neither). One fixed order, the same in every build: term i goes to lane i mod 8,
/// each lane summed in f64 in id order, then the lanes 0..8 in turn. Eight independent chains
/// (instead of one) let the additions overlap and the exponentials vectorise.
pub fn softmax_sums(logits: &[f32], max: f32, temp: f32) -> (f64, f64) {
    sums(logits, max, temp, true)
}

/// softmax_sums without the WebAssembly lanes: the reference kernels::selftest compares it with.
pub(crate) fn softmax_sums_ref(logits: &[f32], max: f32, temp: f32) -> (f64, f64) {
    sums(logits, max, temp, false)
}

fn sums(logits: &[f32], max: f32, temp: f32, simd: bool) -> (f64, f64) {
    const L: usize = 8;
    let (mut z, mut zx) = ([0f64; L], [0f64; L]);
    let add = |c: &[f32], z: &mut [f64; L], zx: &mut [f64; L]| {
        for (j, &l) in c.iter().enumerate() {
            let x = (l - max) / temp;
            // A term that does not count adds +0.0, which changes no sum (NaN and -inf never count).
            let e = if x > -40.0 { exp_f32(x) } else { 0.0 };
            z[j] += e as f64;
            zx[j] += e as f64 * if x > -40.0 { x as f64 } else { 0.0 };
        }
    };
    let whole = logits.len() / L * L;
    // WebAssembly: the same lanes in f32x4 and f64x2 (LLVM left the loop scalar there).
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = if simd {
        super::simd128::softmax_sums_chunks(&logits[..whole], max, temp, &mut z, &mut zx);
        whole
    } else {
        0
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = {
        let _ = simd;
        0
    };
    for c in logits[done..whole].chunks_exact(L) {
        add(c, &mut z, &mut zx);
    }
    add(&logits[whole..], &mut z, &mut zx);
    let (mut zs, mut zxs) = (0f64, 0f64);
    for j in 0..L {
        zs += z[j];
        zxs += zx[j];
    }
    (zs, zxs)
}

/// e^x in plain f32 arithmetic (Cephes' expf: x = n·ln 2 + r, a degree-6 polynomial in r,
/// 2^n put into the exponent; within 2 ulp), so that the compiler can vectorise it and every
/// build rounds alike. Below -87.3 it is 0 (the smallest normal is e^-87.3).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published (the f32 values are what count)
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E; // 1.442695, the same f32 as Cephes' literal
    const C1: f32 = 0.693_359_4; // ln 2 = C1 - C2, C1 exact in few bits
    const C2: f32 = -2.121_944_4e-4;
    if x < -87.33 {
        return 0.0;
    }
    let x = if x > 88.72 { 88.72 } else { x };
    let n = (x * LOG2E).round_ties_even();
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
