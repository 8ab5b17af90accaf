//! The activations' Q8_1 quantization in WebAssembly SIMD: kernels::quantize_q8_1's blocks bit
//! for bit, eight f32x4 per block instead of 32 scalar steps (a decode step quantizes ~100,000
//! values; the scalar loop was 2–3 % of it in V8).
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::wasm32::*;

use crate::kernels::{BlockQ8_1, QK};

/// As kernels::quantize_q8_1, lane by lane:
/// - amax: |v| where |v| > m, else m (a compare and a select), the scalar fold's step, so a NaN
///   is passed over as there (f32x4.pmax kept NaNs in V8: the selftest caught it); the largest
///   of non-negative values does not depend on the order in which they are compared (equal
///   values have equal bits: |−0| is +0), so four lanes, then the lanes, give the scalar's value.
/// - d and its inverse: the same scalar operations.
/// - codes: f32x4.nearest rounds half to even as round_ties_even, and i32x4.trunc_sat_f32x4
///   converts as `as i32` does (NaN to 0). |v · id| <= 127 (or NaN, or 0 when id is 0), so the
///   saturating narrowings to i16 and i8 keep every code as `as i8` does.
/// - the sum of the codes: integers, exact in any order.
pub(crate) fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    debug_assert_eq!(x.len(), out.len() * QK);
    for (xb, b) in x.chunks_exact(QK).zip(out.iter_mut()) {
        // SAFETY: xb is 32 floats: eight loads of four; v128_load needs no alignment.
        let v: [v128; 8] = core::array::from_fn(|i| unsafe { v128_load(xb.as_ptr().add(4 * i) as *const v128) });
        let mut m = f32x4_splat(0.0);
        for &vi in &v {
            let a = f32x4_abs(vi);
            m = v128_bitselect(a, m, f32x4_gt(a, m));
        }
        let mut amax = 0f32;
        for l in [f32x4_extract_lane::<0>(m), f32x4_extract_lane::<1>(m), f32x4_extract_lane::<2>(m), f32x4_extract_lane::<3>(m)] {
            if l > amax {
                amax = l;
            }
        }
        let d = amax / 127.0;
        // A subnormal d has no finite inverse: such a row is all but zero and quantizes to zeros.
        let id = if d.is_normal() { 1.0 / d } else { 0.0 };
        let idv = f32x4_splat(id);
        let r: [v128; 8] = core::array::from_fn(|i| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v[i], idv))));
        let s4 = i32x4_add(i32x4_add(i32x4_add(r[0], r[1]), i32x4_add(r[2], r[3])), i32x4_add(i32x4_add(r[4], r[5]), i32x4_add(r[6], r[7])));
        let sum = i32x4_extract_lane::<0>(s4) + i32x4_extract_lane::<1>(s4) + i32x4_extract_lane::<2>(s4) + i32x4_extract_lane::<3>(s4);
        let lo = i8x16_narrow_i16x8(i16x8_narrow_i32x4(r[0], r[1]), i16x8_narrow_i32x4(r[2], r[3]));
        let hi = i8x16_narrow_i16x8(i16x8_narrow_i32x4(r[4], r[5]), i16x8_narrow_i32x4(r[6], r[7]));
        // SAFETY: qs is 32 bytes; v128_store needs no alignment.
        unsafe {
            v128_store(b.qs.as_mut_ptr() as *mut v128, lo);
            v128_store(b.qs.as_mut_ptr().add(16) as *mut v128, hi);
        }
        b.d = d;
        b.s = d * sum as f32;
    }
}
