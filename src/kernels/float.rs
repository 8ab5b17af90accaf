//! The float types: F32, F16 and BF16 matrices against the f32 activations (`Acts::f`).
//!
//! Each weight is converted exactly to f32 (f16 as kernels::f16_to_f32, bf16 by a 16-bit shift)
//! and the products are summed in scalar::dot_f32's order (element i into accumulator i mod 16,
//! scalar.rs states it), without fused multiply-add, so that every instruction set gives the
//! same bits. The SIMD versions convert 16 weights of a row once and multiply them with up to
//! four tokens (kernels::for_tiles), so that prefill reads each converted row once per tile.
//! WebAssembly SIMD128 holds the 16 accumulators of a token in four f32x4, AVX2 in two __m256
//! (lanes 0..7 and 8..15: the same 16 sums).

use super::{f16_is_finite, f16_to_f32, f32_to_f16, scalar, Acts, Bf16, BlockView, Kernel, Quant, F16};
use crate::gguf::GgmlType;

/// A float weight: its exact f32 value.
pub(crate) trait FloatWeight: Copy {
    fn to_f32(self) -> f32;
}

impl FloatWeight for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl FloatWeight for F16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16_to_f32(self.0)
    }
}

impl FloatWeight for Bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from_bits((self.0 as u32) << 16)
    }
}

/// What the inspector shows of one float "block" (one value): the value itself, no codes.
fn float_view(formula: &'static str) -> BlockView {
    BlockView { sub_len: 1, code_bits: 0, formula, ..BlockView::default() }
}

impl Quant for f32 {
    const TYPE: GgmlType = GgmlType::F32;
    const QK: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        out[0] = *self;
    }
    fn finite(&self) -> bool {
        self.is_finite()
    }
    fn view(&self) -> BlockView {
        float_view("f32")
    }
}

impl Quant for F16 {
    const TYPE: GgmlType = GgmlType::F16;
    const QK: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml_fp16_to_fp32: exact (every finite f16 is an f32).
        out[0] = f16_to_f32(self.0);
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.0)
    }
    fn view(&self) -> BlockView {
        float_view("f16 → f32")
    }
}

impl Quant for Bf16 {
    const TYPE: GgmlType = GgmlType::BF16;
    const QK: usize = 1;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml_bf16_to_fp32: the bits are the top half of the f32.
        out[0] = self.to_f32();
    }
    fn finite(&self) -> bool {
        self.0 & 0x7f80 != 0x7f80
    }
    fn view(&self) -> BlockView {
        float_view("bf16 → f32 (the top 16 bits)")
    }
}

/// A value in about ±0.1 (weights' size), from 64 random bits; now and then a tiny one (f16 and
/// bf16 subnormals, where the conversion has its own path) or an exact zero of either sign.
fn random_value(bits: u64) -> f32 {
    let u = super::q32::unit_f32(bits) * 2.0 - 1.0;
    match bits & 63 {
        0 => 0.0,
        1 => -0.0,
        2 => u * 1e-6,
        3 => u * 1e-39,
        _ => u * 0.1,
    }
}

impl Kernel for f32 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_f(w, rows, x, out, FloatWeight::to_f32)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        // unit: small integers, so that the products are exact.
        if unit { ((next() % 15) as i32 - 7) as f32 } else { random_value(next()) }
    }
}

impl Kernel for F16 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_f(w, rows, x, out, FloatWeight::to_f32)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        F16(f32_to_f16(if unit { ((next() % 15) as i32 - 7) as f32 } else { random_value(next()) }))
    }
}

impl Kernel for Bf16 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_f(w, rows, x, out, FloatWeight::to_f32)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let v = if unit { ((next() % 15) as i32 - 7) as f32 } else { random_value(next()) };
        // Rounded to nearest, ties to even (bf16 keeps an f32's top 16 bits).
        let b = v.to_bits();
        Bf16(((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16)
    }
}

// ------------------------------------------------------------------------------------------------
// The kernels of each instruction set
// ------------------------------------------------------------------------------------------------

/// The SIMD matmul's driver: shapes checked, then `row(weights of the row, x.f, k, t0, nt)` for
/// every row and tile of up to four tokens (for_tiles).
#[allow(dead_code)] // unused where the scalar reference is the kernel set
#[inline(always)]
fn tiles<T>(w: &[T], rows: usize, x: &Acts, out: &mut [f32], row: impl Fn(&[T], &[f32], usize, usize, usize) -> [f32; 4]) {
    super::check_matmul_f(w.len(), rows, x, out.len());
    let k = x.k;
    super::for_tiles(rows, x.ntok, out, |r, t0, nt| row(&w[r * k..(r + 1) * k], &x.f, k, t0, nt));
}

#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
)))]
mod arch {
    use super::*;

    pub(super) fn matmul<T: FloatWeight>(w: &[T], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_f(w, rows, x, out, FloatWeight::to_f32)
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod arch {
    use core::arch::wasm32::*;

    use super::super::simd128::f16x4_top;
    use super::*;

    /// 16 consecutive weights as four f32x4, converted exactly.
    pub(super) trait Wide: FloatWeight {
        /// # Safety
        /// `p .. p + 16` must lie inside one slice of Self.
        unsafe fn load16(p: *const Self) -> [v128; 4];
    }

    impl Wide for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32) -> [v128; 4] {
            // SAFETY: the caller's contract (16 floats); v128_load needs no alignment.
            unsafe { [v128_load(p as *const v128), v128_load(p.add(4) as *const v128), v128_load(p.add(8) as *const v128), v128_load(p.add(12) as *const v128)] }
        }
    }

    /// Four f16 (or bf16) bits as the top halves of four u32 lanes: the low (H = false) or high
    /// half of eight.
    #[inline(always)]
    fn top_halves<const H: bool>(v: v128) -> v128 {
        let z = i16x8_splat(0);
        if H { i16x8_shuffle::<0, 12, 1, 13, 2, 14, 3, 15>(z, v) } else { i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(z, v) }
    }

    impl Wide for F16 {
        #[inline(always)]
        unsafe fn load16(p: *const F16) -> [v128; 4] {
            // SAFETY: the caller's contract (16 × 2 bytes); v128_load needs no alignment.
            let (a, b) = unsafe { (v128_load(p as *const v128), v128_load(p.add(8) as *const v128)) };
            [f16x4_top(top_halves::<false>(a)), f16x4_top(top_halves::<true>(a)), f16x4_top(top_halves::<false>(b)), f16x4_top(top_halves::<true>(b))]
        }
    }

    impl Wide for Bf16 {
        #[inline(always)]
        unsafe fn load16(p: *const Bf16) -> [v128; 4] {
            // SAFETY: the caller's contract (16 × 2 bytes); v128_load needs no alignment.
            let (a, b) = unsafe { (v128_load(p as *const v128), v128_load(p.add(8) as *const v128)) };
            [top_halves::<false>(a), top_halves::<true>(a), top_halves::<false>(b), top_halves::<true>(b)]
        }
    }

    /// One row (`k` weights) against tokens t0..t0 + NT of `x` (rows of `k`).
    #[inline(always)]
    fn row<T: Wide, const NT: usize>(w: &[T], x: &[f32], k: usize, t0: usize) -> [f32; NT] {
        let xs: [&[f32]; NT] = std::array::from_fn(|j| &x[(t0 + j) * k..(t0 + j + 1) * k]);
        let w = &w[..k];
        let mut acc = [[f32x4_splat(0.0); 4]; NT];
        let mut i = 0;
        while i + 16 <= k {
            // SAFETY: i + 16 <= k = w.len().
            let wv = unsafe { T::load16(w.as_ptr().add(i)) };
            for j in 0..NT {
                for q in 0..4 {
                    // SAFETY: i + 4q + 4 <= i + 16 <= k = xs[j].len(); v128_load needs no alignment.
                    let xv = unsafe { v128_load(xs[j].as_ptr().add(i + 4 * q) as *const v128) };
                    acc[j][q] = f32x4_add(acc[j][q], f32x4_mul(wv[q], xv));
                }
            }
            i += 16;
        }
        std::array::from_fn(|j| {
            let a = &acc[j];
            let t = f32x4_add(f32x4_add(a[0], a[1]), f32x4_add(a[2], a[3]));
            let mut s = (f32x4_extract_lane::<0>(t) + f32x4_extract_lane::<1>(t)) + (f32x4_extract_lane::<2>(t) + f32x4_extract_lane::<3>(t));
            for e in i..k {
                s += w[e].to_f32() * xs[j][e];
            }
            s
        })
    }

    pub(super) fn matmul<T: Wide>(w: &[T], rows: usize, x: &Acts, out: &mut [f32]) {
        tiles(w, rows, x, out, |wr, xf, k, t0, nt| match nt {
            4 => row::<T, 4>(wr, xf, k, t0),
            3 => super::super::pad4(row::<T, 3>(wr, xf, k, t0)),
            2 => super::super::pad4(row::<T, 2>(wr, xf, k, t0)),
            _ => super::super::pad4(row::<T, 1>(wr, xf, k, t0)),
        })
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod arch {
    use core::arch::x86_64::*;

    use super::*;

    /// 16 consecutive weights as two __m256, converted exactly.
    pub(super) trait Wide: FloatWeight {
        /// # Safety
        /// `p .. p + 16` must lie inside one slice of Self.
        unsafe fn load16(p: *const Self) -> [__m256; 2];
    }

    impl Wide for f32 {
        #[inline(always)]
        unsafe fn load16(p: *const f32) -> [__m256; 2] {
            // SAFETY: AVX, enabled for this build; the caller's contract (16 floats), unaligned
            // loads.
            unsafe { [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))] }
        }
    }

    impl Wide for F16 {
        #[inline(always)]
        unsafe fn load16(p: *const F16) -> [__m256; 2] {
            // SAFETY: AVX2 and F16C, enabled for this build (F16C: the cfg of fn f16x8); the
            // caller's contract (16 × 2 bytes), unaligned loads.
            unsafe { [f16x8(_mm_loadu_si128(p as *const __m128i)), f16x8(_mm_loadu_si128(p.add(8) as *const __m128i))] }
        }
    }

    /// Eight f16 to f32: vcvtph2ps, exact (every finite f16 is an f32, subnormals included).
    #[cfg(target_feature = "f16c")]
    #[inline(always)]
    fn f16x8(h: __m128i) -> __m256 {
        // SAFETY: F16C, enabled for this build (the cfg above); registers only.
        unsafe { _mm256_cvtph_ps(h) }
    }

    /// Eight f16 to f32 without F16C, exactly as kernels::f16_to_f32 (see simd128/mod.rs's f16x4_top):
    /// in the top halves of i32 lanes, shifted arithmetically by 3, masked, times 2^112.
    #[cfg(not(target_feature = "f16c"))]
    #[inline(always)]
    fn f16x8(h: __m128i) -> __m256 {
        // SAFETY: AVX2, enabled for this build; registers only.
        unsafe {
            let top = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
            let bits = _mm256_and_si256(_mm256_srai_epi32(top, 3), _mm256_set1_epi32(0x8fff_ffffu32 as i32));
            _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(f32::from_bits(0x7780_0000)))
        }
    }

    impl Wide for Bf16 {
        #[inline(always)]
        unsafe fn load16(p: *const Bf16) -> [__m256; 2] {
            // SAFETY: AVX2, enabled for this build; the caller's contract (16 × 2 bytes),
            // unaligned loads.
            unsafe {
                let (a, b) = (_mm_loadu_si128(p as *const __m128i), _mm_loadu_si128(p.add(8) as *const __m128i));
                [_mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(a), 16)), _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16))]
            }
        }
    }

    /// One row (`k` weights) against tokens t0..t0 + NT of `x` (rows of `k`).
    #[inline(always)]
    fn row<T: Wide, const NT: usize>(w: &[T], x: &[f32], k: usize, t0: usize) -> [f32; NT] {
        let xs: [&[f32]; NT] = std::array::from_fn(|j| &x[(t0 + j) * k..(t0 + j + 1) * k]);
        let w = &w[..k];
        // SAFETY: AVX, enabled for this build. The loads: i + 16 <= k = w.len() = xs[j].len(),
        // so each reads inside its slice (unaligned loads); the store goes to a 16-float array.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; NT];
            let mut i = 0;
            while i + 16 <= k {
                let wv = T::load16(w.as_ptr().add(i));
                for j in 0..NT {
                    let xp = xs[j].as_ptr().add(i);
                    acc[j][0] = _mm256_add_ps(acc[j][0], _mm256_mul_ps(wv[0], _mm256_loadu_ps(xp)));
                    acc[j][1] = _mm256_add_ps(acc[j][1], _mm256_mul_ps(wv[1], _mm256_loadu_ps(xp.add(8))));
                }
                i += 16;
            }
            std::array::from_fn(|j| {
                // t = (acc_0..3 + acc_4..7) + (acc_8..11 + acc_12..15)
                let (lo, hi) = (acc[j][0], acc[j][1]);
                let a = _mm_add_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
                let b = _mm_add_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
                let mut t = [0f32; 4];
                _mm_storeu_ps(t.as_mut_ptr(), _mm_add_ps(a, b));
                let mut s = (t[0] + t[1]) + (t[2] + t[3]);
                for e in i..k {
                    s += w[e].to_f32() * xs[j][e];
                }
                s
            })
        }
    }

    pub(super) fn matmul<T: Wide>(w: &[T], rows: usize, x: &Acts, out: &mut [f32]) {
        tiles(w, rows, x, out, |wr, xf, k, t0, nt| match nt {
            4 => row::<T, 4>(wr, xf, k, t0),
            3 => super::super::pad4(row::<T, 3>(wr, xf, k, t0)),
            2 => super::super::pad4(row::<T, 2>(wr, xf, k, t0)),
            _ => super::super::pad4(row::<T, 1>(wr, xf, k, t0)),
        })
    }
}
