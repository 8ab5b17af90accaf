//! WebAssembly SIMD128 kernels. Same names and results as scalar.rs (integer parts bit-exact,
//! float sums within rounding).
//!
//! WebAssembly has no 8-bit multiply-add, so products go through i32x4.dot_i16x8_s: 4-bit
//! codes are widened to i16 per weight block, and the activations are widened to i16 once per
//! matrix product (not once per weight row). Several tokens share each decoded weight block,
//! which is what makes prefill a matrix × matrix product rather than a loop of dot products.

use core::arch::wasm32::*;

use super::{f16_to_f32, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Activations widened to i16: four i16x8 vectors per block of 32, with the block's d and s.
struct Wide {
    v: Vec<v128>,
    d: Vec<f32>,
    s: Vec<f32>,
}

fn widen(x: &[BlockQ8_1]) -> Wide {
    let mut v = Vec::with_capacity(x.len() * 4);
    let mut d = Vec::with_capacity(x.len());
    let mut s = Vec::with_capacity(x.len());
    for b in x {
        // SAFETY: qs is 32 bytes; v128_load has no alignment requirement.
        let (lo, hi) = unsafe { (v128_load(b.qs.as_ptr() as *const v128), v128_load(b.qs.as_ptr().add(16) as *const v128)) };
        v.push(i16x8_extend_low_i8x16(lo));
        v.push(i16x8_extend_high_i8x16(lo));
        v.push(i16x8_extend_low_i8x16(hi));
        v.push(i16x8_extend_high_i8x16(hi));
        d.push(b.d);
        s.push(b.s);
    }
    Wide { v, d, s }
}

#[inline(always)]
fn hsum(v: v128) -> f32 {
    f32x4_extract_lane::<0>(v) + f32x4_extract_lane::<1>(v) + f32x4_extract_lane::<2>(v) + f32x4_extract_lane::<3>(v)
}

#[inline(always)]
fn dot4(w: &[v128; 4], a: &[v128]) -> v128 {
    i32x4_add(
        i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1])),
        i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3])),
    )
}

#[inline(always)]
fn decode_q4_1(b: &BlockQ4_1) -> [v128; 4] {
    // SAFETY: qs is 16 bytes.
    let q = unsafe { v128_load(b.qs.as_ptr() as *const v128) };
    let lo = v128_and(q, u8x16_splat(0x0f));
    let hi = u8x16_shr(q, 4);
    [u16x8_extend_low_u8x16(lo), u16x8_extend_high_u8x16(lo), u16x8_extend_low_u8x16(hi), u16x8_extend_high_u8x16(hi)]
}

#[inline(always)]
fn decode_q8_0(b: &BlockQ8_0) -> [v128; 4] {
    // SAFETY: qs is 32 bytes.
    let (lo, hi) = unsafe { (v128_load(b.qs.as_ptr() as *const v128), v128_load(b.qs.as_ptr().add(16) as *const v128)) };
    [i16x8_extend_low_i8x16(lo), i16x8_extend_high_i8x16(lo), i16x8_extend_low_i8x16(hi), i16x8_extend_high_i8x16(hi)]
}

/// NT tokens against one weight row; each weight block is decoded once for all of them.
#[inline(always)]
fn row_q4_1<const NT: usize>(wr: &[BlockQ4_1], x: &Wide, t0: usize, nb: usize) -> [f32; NT] {
    let mut acc = [f32x4_splat(0.0); NT];
    let mut macc = [0f32; NT];
    for (bi, b) in wr.iter().enumerate() {
        let w = decode_q4_1(b);
        let dw = f16_to_f32(b.d);
        let mw = f16_to_f32(b.m);
        for j in 0..NT {
            let i = (t0 + j) * nb + bi;
            let p = dot4(&w, &x.v[i * 4..i * 4 + 4]);
            acc[j] = f32x4_add(acc[j], f32x4_mul(f32x4_convert_i32x4(p), f32x4_splat(dw * x.d[i])));
            macc[j] += mw * x.s[i];
        }
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = hsum(acc[j]) + macc[j];
    }
    out
}

#[inline(always)]
fn row_q8_0<const NT: usize>(wr: &[BlockQ8_0], x: &Wide, t0: usize, nb: usize) -> [f32; NT] {
    let mut acc = [f32x4_splat(0.0); NT];
    for (bi, b) in wr.iter().enumerate() {
        let w = decode_q8_0(b);
        let dw = f16_to_f32(b.d);
        for j in 0..NT {
            let i = (t0 + j) * nb + bi;
            let p = dot4(&w, &x.v[i * 4..i * 4 + 4]);
            acc[j] = f32x4_add(acc[j], f32x4_mul(f32x4_convert_i32x4(p), f32x4_splat(dw * x.d[i])));
        }
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = hsum(acc[j]);
    }
    out
}

macro_rules! matmul_tiled {
    ($name:ident, $block:ty, $row:ident) => {
        pub fn $name(w: &[$block], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
            let nb = w.len() / rows;
            let wide = widen(x);
            let mut t0 = 0;
            while t0 < ntok {
                let nt = (ntok - t0).min(4);
                for r in 0..rows {
                    let wr = &w[r * nb..(r + 1) * nb];
                    match nt {
                        4 => {
                            let v = $row::<4>(wr, &wide, t0, nb);
                            for j in 0..4 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        3 => {
                            let v = $row::<3>(wr, &wide, t0, nb);
                            for j in 0..3 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        2 => {
                            let v = $row::<2>(wr, &wide, t0, nb);
                            for j in 0..2 {
                                out[(t0 + j) * rows + r] = v[j];
                            }
                        }
                        _ => out[t0 * rows + r] = $row::<1>(wr, &wide, t0, nb)[0],
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
    let mut acc = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for k in 0..4 {
            // SAFETY: i + 16 <= n, within both slices.
            let (x, y) = unsafe { (v128_load(a.as_ptr().add(i + 4 * k) as *const v128), v128_load(b.as_ptr().add(i + 4 * k) as *const v128)) };
            acc[k] = f32x4_add(acc[k], f32x4_mul(x, y));
        }
        i += 16;
    }
    let mut s = hsum(f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3])));
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let av = f32x4_splat(a);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, within both slices.
        unsafe {
            let p = y.as_mut_ptr().add(i) as *mut v128;
            v128_store(p, f32x4_add(v128_load(p), f32x4_mul(av, v128_load(x.as_ptr().add(i) as *const v128))));
        }
        i += 4;
    }
    while i < n {
        y[i] += a * x[i];
        i += 1;
    }
}
