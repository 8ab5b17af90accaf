//! x86-64 AVX2 + FMA kernels, so that the native numbers are honest. Same names and results as
//! scalar.rs. The 8-bit products use vpmaddubsw (unsigned × signed bytes to i16 pairs) as
//! llama.cpp's ggml-cpu does: Q4_1 codes are unsigned already; for Q8_0 the sign of the weight
//! is moved onto the activation (|w| · sign(w)·x), exact for codes in -127..127, which is what
//! ggml's quantizer writes.
#![allow(unused_unsafe)]

use core::arch::x86_64::*;

use super::{f16_to_f32, BlockQ4_1, BlockQ8_0, BlockQ8_1};

#[inline(always)]
fn hsum(v: __m256) -> f32 {
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[inline(always)]
fn row_q4_1<const NT: usize>(wr: &[BlockQ4_1], x: &[BlockQ8_1], t0: usize, nb: usize) -> [f32; NT] {
    unsafe {
        let mask = _mm256_set1_epi8(0x0f);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); NT];
        let mut macc = [0f32; NT];
        for (bi, b) in wr.iter().enumerate() {
            let tmp = _mm_loadu_si128(b.qs.as_ptr() as *const __m128i);
            let w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp), mask);
            let dw = f16_to_f32(b.d);
            let mw = f16_to_f32(b.m);
            for j in 0..NT {
                let a = &x[(t0 + j) * nb + bi];
                let y = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), ones);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a.d), acc[j]);
                macc[j] += mw * a.s;
            }
        }
        let mut out = [0f32; NT];
        for j in 0..NT {
            out[j] = hsum(acc[j]) + macc[j];
        }
        out
    }
}

#[inline(always)]
fn row_q8_0<const NT: usize>(wr: &[BlockQ8_0], x: &[BlockQ8_1], t0: usize, nb: usize) -> [f32; NT] {
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); NT];
        for (bi, b) in wr.iter().enumerate() {
            let w = _mm256_loadu_si256(b.qs.as_ptr() as *const __m256i);
            let aw = _mm256_sign_epi8(w, w);
            let dw = f16_to_f32(b.d);
            for j in 0..NT {
                let a = &x[(t0 + j) * nb + bi];
                let y = _mm256_loadu_si256(a.qs.as_ptr() as *const __m256i);
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(y, w)), ones);
                acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * a.d), acc[j]);
            }
        }
        let mut out = [0f32; NT];
        for j in 0..NT {
            out[j] = hsum(acc[j]);
        }
        out
    }
}

macro_rules! matmul_tiled {
    ($name:ident, $block:ty, $row:ident) => {
        pub fn $name(w: &[$block], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
            let nb = w.len() / rows;
            let mut t0 = 0;
            while t0 < ntok {
                let nt = (ntok - t0).min(4);
                for r in 0..rows {
                    let wr = &w[r * nb..(r + 1) * nb];
                    match nt {
                        4 => {
                            let v = $row::<4>(wr, x, t0, nb);
                            for j in 0..4 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        3 => {
                            let v = $row::<3>(wr, x, t0, nb);
                            for j in 0..3 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        2 => {
                            let v = $row::<2>(wr, x, t0, nb);
                            for j in 0..2 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        _ => out[t0 * rows + r] = $row::<1>(wr, x, t0, nb)[0],
                    }
                }
                t0 += nt;
            }
        }
    };
}

matmul_tiled!(matmul_q4_1, BlockQ4_1, row_q4_1);
matmul_tiled!(matmul_q8_0, BlockQ8_0, row_q8_0);

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut i = 0;
    let mut s;
    unsafe {
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i)), _mm256_loadu_ps(b.as_ptr().add(i)), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a.as_ptr().add(i + 8)), _mm256_loadu_ps(b.as_ptr().add(i + 8)), acc1);
            i += 16;
        }
        s = hsum(_mm256_add_ps(acc0, acc1));
    }
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let mut i = 0;
    unsafe {
        let av = _mm256_set1_ps(a);
        while i + 8 <= n {
            let p = y.as_mut_ptr().add(i);
            _mm256_storeu_ps(p, _mm256_fmadd_ps(av, _mm256_loadu_ps(x.as_ptr().add(i)), _mm256_loadu_ps(p)));
            i += 8;
        }
    }
    while i < n {
        y[i] += a * x[i];
        i += 1;
    }
}
