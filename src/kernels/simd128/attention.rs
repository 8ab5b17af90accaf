//! WebAssembly SIMD128 attention and softmax sums: the same results as scalar.rs and
//! kernels::attention, bit for bit (the products' module, mod.rs, says how the builds differ).
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::wasm32::*;

use super::finish;

/// Four floats from `p`.
///
/// # Safety
/// `p .. p + 4` must lie inside one slice of f32.
#[inline(always)]
unsafe fn ld4(p: *const f32) -> v128 {
    // SAFETY: the caller's contract; v128_load needs no alignment.
    unsafe { v128_load(p as *const v128) }
}

/// attention16's scores of positions t .. t + P for its G heads.
///
/// # Safety
/// attention16's contract, and t + P <= n.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scores16<const G: usize, const P: usize>(q: &[f32], hd: usize, keys: &[f32], stride: usize, n: usize, t: usize, scale: f32, scores: &mut [f32]) {
    let (qp, kp) = (q.as_ptr(), keys.as_ptr());
    let mut acc = [[[f32x4_splat(0.0); 4]; G]; P];
    for c in 0..hd / 16 {
        for (j, acc) in acc.iter_mut().enumerate() {
            // SAFETY: t + j < n and 16c + 15 < hd, so every float read is below
            // (n - 1) × stride + hd <= keys.len() (the contract).
            let kv = unsafe {
                let k = kp.add((t + j) * stride + 16 * c);
                [ld4(k), ld4(k.add(4)), ld4(k.add(8)), ld4(k.add(12))]
            };
            for (h, a) in acc.iter_mut().enumerate() {
                for i in 0..4 {
                    // SAFETY: h < G, so h × hd + 16c + 4i + 3 < G × hd <= q.len() (the contract).
                    let qv = unsafe { ld4(qp.add(h * hd + 16 * c + 4 * i)) };
                    a[i] = f32x4_add(a[i], f32x4_mul(qv, kv[i]));
                }
            }
        }
    }
    for (j, acc) in acc.iter().enumerate() {
        for (h, a) in acc.iter().enumerate() {
            let s = finish(f32x4_add(f32x4_add(a[0], a[1]), f32x4_add(a[2], a[3]))) * scale;
            // SAFETY: h × n + t + j < G × n <= scores.len() (the contract).
            unsafe { *scores.get_unchecked_mut(h * n + t + j) = s };
        }
    }
}

/// The attention of G query heads sharing one KV head, for any head size hd that is a multiple of
/// 16 (see kernels::attention_group): the heads share each key and value load. A head's 16
/// accumulators of scalar::dot_f32 are four registers, P positions at a time (independent sums,
/// so that the additions overlap), reduced in dot_f32's order; the values are added position by
/// position into outputs kept in registers, 16 dimensions at a time, in runs of VALUE_RUN positions.
///
/// # Safety
/// hd is a multiple of 16; `q` holds at least G × hd floats, `scores` at least G × n, `out` at
/// least G × hd, and, if n > 0, `keys` and `values` at least (n - 1) × stride + hd
/// (kernels::attention_group asserts exactly this before it calls).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn attention16<const G: usize, const P: usize>(q: &[f32], hd: usize, keys: &[f32], values: &[f32], stride: usize, n: usize, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    let chunks = hd / 16;
    let vp = values.as_ptr();
    let mut t = 0;
    // P positions while they last, then one at a time (the same sums either way).
    while t + P <= n {
        // SAFETY: t + P <= n, hence the contract of scores16.
        unsafe { scores16::<G, P>(q, hd, keys, stride, n, t, scale, scores) };
        t += P;
    }
    while t < n {
        // SAFETY: t < n.
        unsafe { scores16::<G, 1>(q, hd, keys, stride, n, t, scale, scores) };
        t += 1;
    }
    for h in 0..G {
        crate::kernels::softmax_in_place(&mut scores[h * n..(h + 1) * n]);
    }
    // The values, VALUE_RUN positions at a time: within a run, each 16-dimension chunk's outputs are
    // taken from `out`, the run's positions added in order, and put back (a float's store and
    // load are exact, so each output is still its positions added one by one from +0). A run's
    // rows are read whole before the next run's, rather than one 64-byte line of every row per
    // chunk, which left every load waiting on memory.
    for h in 0..G {
        out[h * hd..(h + 1) * hd].fill(0.0);
    }
    let op = out.as_mut_ptr();
    let mut t0 = 0;
    while t0 < n {
        let t1 = (t0 + crate::kernels::attention::VALUE_RUN).min(n);
        for c in 0..chunks {
            // SAFETY: h × hd + 16c + 4i + 3 < G × hd <= out.len() (the contract).
            let mut o: [[v128; 4]; G] = core::array::from_fn(|h| core::array::from_fn(|i| unsafe { ld4(op.add(h * hd + 16 * c + 4 * i)) }));
            for t in t0..t1 {
                // SAFETY: as for the keys: below (n - 1) × stride + hd <= values.len().
                let vv = unsafe {
                    let v = vp.add(t * stride + 16 * c);
                    [ld4(v), ld4(v.add(4)), ld4(v.add(8)), ld4(v.add(12))]
                };
                for (h, o) in o.iter_mut().enumerate() {
                    // SAFETY: h × n + t < G × n <= scores.len() (the contract).
                    let p = f32x4_splat(unsafe { *scores.get_unchecked(h * n + t) });
                    for i in 0..4 {
                        o[i] = f32x4_add(o[i], f32x4_mul(p, vv[i]));
                    }
                }
            }
            for (h, o) in o.iter().enumerate() {
                for (i, &oi) in o.iter().enumerate() {
                    // SAFETY: as for the loads above.
                    unsafe { v128_store(op.add(h * hd + 16 * c + 4 * i) as *mut v128, oi) };
                }
            }
        }
        t0 = t1;
    }
}

/// exp_f32 in four lanes: the same operations in the same order (no fused multiply-add), so each
/// lane is exp_f32 of its value, bit for bit (below -87.33 it is 0; NaN stays NaN).
#[inline(always)]
fn exp_f32x4(x: v128) -> v128 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let low = f32x4_lt(x, f32x4_splat(-87.33));
    let x = v128_bitselect(f32x4_splat(88.72), x, f32x4_gt(x, f32x4_splat(88.72)));
    let n = f32x4_nearest(f32x4_mul(x, f32x4_splat(LOG2E)));
    let r = f32x4_sub(f32x4_sub(x, f32x4_mul(n, f32x4_splat(C1))), f32x4_mul(n, f32x4_splat(C2)));
    let mut p = f32x4_splat(1.987_569_1e-4);
    #[allow(clippy::excessive_precision)] // Cephes' coefficients, as exp_f32 writes them
    for c in [1.398_199_9e-3_f32, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 5.000_000_1e-1] {
        p = f32x4_add(f32x4_mul(p, r), f32x4_splat(c));
    }
    let e = f32x4_add(f32x4_add(f32x4_mul(p, f32x4_mul(r, r)), r), f32x4_splat(1.0));
    // `n as i32` saturates, as i32x4.trunc_sat does; n is whole and within -126..128 here.
    let two_n = i32x4_shl(i32x4_add(i32x4_trunc_sat_f32x4(n), i32x4_splat(127)), 23);
    v128_andnot(f32x4_mul(e, two_n), low)
}

/// softmax_sums over whole chunks of eight (`logits.len()` a multiple of 8): value i of a chunk
/// into lane i of z and zx, each lane's f64 sum in id order, exactly as the scalar loop adds them
/// (a term that does not count adds +0.0 to both).
pub(crate) fn softmax_sums_chunks(logits: &[f32], max: f32, temp: f32, z: &mut [f64; 8], zx: &mut [f64; 8]) {
    debug_assert!(logits.len().is_multiple_of(8));
    let ld2 = |a: &[f64; 8], i: usize| f64x2(a[i], a[i + 1]);
    let (mut z2, mut zx2) = ([ld2(z, 0), ld2(z, 2), ld2(z, 4), ld2(z, 6)], [ld2(zx, 0), ld2(zx, 2), ld2(zx, 4), ld2(zx, 6)]);
    let (vmax, vtemp, cut) = (f32x4_splat(max), f32x4_splat(temp), f32x4_splat(-40.0));
    for c in logits.chunks_exact(8) {
        for h in 0..2 {
            // SAFETY: c is 8 floats; v128_load needs no alignment.
            let l = unsafe { v128_load(c.as_ptr().add(4 * h) as *const v128) };
            let x = f32x4_div(f32x4_sub(l, vmax), vtemp);
            let counts = f32x4_gt(x, cut);
            let e = v128_and(exp_f32x4(x), counts);
            let xc = v128_and(x, counts);
            let (e_lo, e_hi) = (f64x2_promote_low_f32x4(e), f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(e, e)));
            let (x_lo, x_hi) = (f64x2_promote_low_f32x4(xc), f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 0, 1>(xc, xc)));
            z2[2 * h] = f64x2_add(z2[2 * h], e_lo);
            z2[2 * h + 1] = f64x2_add(z2[2 * h + 1], e_hi);
            zx2[2 * h] = f64x2_add(zx2[2 * h], f64x2_mul(e_lo, x_lo));
            zx2[2 * h + 1] = f64x2_add(zx2[2 * h + 1], f64x2_mul(e_hi, x_hi));
        }
    }
    for k in 0..4 {
        z[2 * k] = f64x2_extract_lane::<0>(z2[k]);
        z[2 * k + 1] = f64x2_extract_lane::<1>(z2[k]);
        zx[2 * k] = f64x2_extract_lane::<0>(zx2[k]);
        zx[2 * k + 1] = f64x2_extract_lane::<1>(zx2[k]);
    }
}
