//! The reference kernels: plain Rust, no SIMD. Every SIMD kernel is tested against these.
//!
//! The float arithmetic follows one fixed order that every instruction set reproduces exactly,
//! so that the browser and the native build compute the same logits bit for bit:
//! - quantized dot products: each block's integer sum is exact (Σ code·x, with the code as the
//!   type means it: q - 8 for Q4_0, q - 16 for Q5_0); block b's term `sumi·(d_w·d_x) + m_w·s_x`
//!   (Q4_1, Q5_1) or `sumi·(d_w·d_x) + 0` (Q4_0, Q5_0, Q8_0) is added to accumulator b mod 4;
//!   the result is `(acc0 + acc1) + (acc2 + acc3)`;
//! - f32 dot products (attention, and the float weight types with each weight converted exactly
//!   to f32 first): element i's product is added to accumulator i mod 16 (16 = four 4-lane vectors);
//!   `t_j = (acc_j + acc_{4+j}) + (acc_{8+j} + acc_{12+j})`, then `(t0 + t1) + (t2 + t3)`,
//!   then the tail one by one. No fused multiply-add anywhere;
//! - attention: per head, scores by that dot product, softmax with exp_f32, then the values
//!   added position by position to a zeroed output (`attention_group` below).

use super::{f16_to_f32, Acts, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// The scalar kernels read the blocks as they are: nothing to prepare. (Used only where scalar.rs
/// is the kernel set, mod.rs's `arch`.)
#[allow(dead_code)]
#[derive(Default)]
pub(crate) struct Prepared;

#[allow(dead_code)]
pub(crate) fn prepare(_: &mut Prepared, _: &[BlockQ8_1], _: usize, _: usize) {}

/// The fixed order of the 32-value types: block b's term (from its exact integer sum) added to
/// acc[b % 4], then `(acc0 + acc1) + (acc2 + acc3)`.
#[inline(always)]
fn dot_blocks<W>(w: &[W], x: &[BlockQ8_1], term: impl Fn(&W, &BlockQ8_1) -> f32) -> f32 {
    let mut acc = [0f32; 4];
    for (i, (b, a)) in w.iter().zip(x).enumerate() {
        acc[i % 4] += term(b, a);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Σ code·x over a 4-bit block (qs[j]: weight j low, weight j + 16 high), codes minus `off`.
#[inline(always)]
fn sum4(qs: &[u8; 16], off: i32, x: &[i8; 32]) -> i32 {
    let mut si = 0i32;
    for j in 0..16 {
        si += ((qs[j] & 0x0f) as i32 - off) * x[j] as i32;
        si += ((qs[j] >> 4) as i32 - off) * x[j + 16] as i32;
    }
    si
}

/// Σ code·x over a 5-bit block (the low 4 bits as sum4, bit 4 of weight j in bit j of qh),
/// codes minus `off`.
#[inline(always)]
fn sum5(qs: &[u8; 16], qh: [u8; 4], off: i32, x: &[i8; 32]) -> i32 {
    let qh = u32::from_le_bytes(qh);
    let mut si = 0i32;
    for j in 0..16 {
        let lo = (qs[j] & 0x0f) as i32 | (((qh >> j) & 1) << 4) as i32;
        let hi = (qs[j] >> 4) as i32 | (((qh >> (j + 16)) & 1) << 4) as i32;
        si += (lo - off) * x[j] as i32;
        si += (hi - off) * x[j + 16] as i32;
    }
    si
}

pub fn vec_dot_q4_0_q8_1(w: &[BlockQ4_0], x: &[BlockQ8_1]) -> f32 {
    dot_blocks(w, x, |b, a| sum4(&b.qs, 8, &a.qs) as f32 * (f16_to_f32(b.d) * a.d) + 0.0)
}

pub fn vec_dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    dot_blocks(w, x, |b, a| sum4(&b.qs, 0, &a.qs) as f32 * (f16_to_f32(b.d) * a.d) + f16_to_f32(b.m) * a.s)
}

pub fn vec_dot_q5_0_q8_1(w: &[BlockQ5_0], x: &[BlockQ8_1]) -> f32 {
    dot_blocks(w, x, |b, a| sum5(&b.qs, b.qh, 16, &a.qs) as f32 * (f16_to_f32(b.d) * a.d) + 0.0)
}

pub fn vec_dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    dot_blocks(w, x, |b, a| sum5(&b.qs, b.qh, 0, &a.qs) as f32 * (f16_to_f32(b.d) * a.d) + f16_to_f32(b.m) * a.s)
}

pub fn vec_dot_q8_0_q8_1(w: &[BlockQ8_0], x: &[BlockQ8_1]) -> f32 {
    dot_blocks(w, x, |b, a| {
        let mut si = 0i32;
        for j in 0..32 {
            si += b.qs[j] as i32 * a.qs[j] as i32;
        }
        si as f32 * (f16_to_f32(b.d) * a.d) + 0.0
    })
}

/// Every row against every token with a row dot product.
#[inline(always)]
fn matmul_rows<W>(w: &[W], rows: usize, x: &Acts, out: &mut [f32], dot: impl Fn(&[W], &[BlockQ8_1]) -> f32) {
    super::check_matmul(w.len(), rows, x, out.len());
    let (nb, xb) = (x.nb, &x.blocks);
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = dot(wr, &xb[t * nb..(t + 1) * nb]);
        }
    }
}

pub fn matmul_q4_0(w: &[BlockQ4_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul_rows(w, rows, x, out, vec_dot_q4_0_q8_1)
}

pub fn matmul_q4_1(w: &[BlockQ4_1], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul_rows(w, rows, x, out, vec_dot_q4_1_q8_1)
}

pub fn matmul_q5_0(w: &[BlockQ5_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul_rows(w, rows, x, out, vec_dot_q5_0_q8_1)
}

pub fn matmul_q5_1(w: &[BlockQ5_1], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul_rows(w, rows, x, out, vec_dot_q5_1_q8_1)
}

pub fn matmul_q8_0(w: &[BlockQ8_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul_rows(w, rows, x, out, vec_dot_q8_0_q8_1)
}

/// The float weight types' reference: dot_f32's order, each weight converted by `f` (exactly:
/// an f32 itself, f16 by kernels::f16_to_f32, bf16 by a shift).
pub fn dot_conv<T: Copy>(w: &[T], x: &[f32], f: impl Fn(T) -> f32) -> f32 {
    let n = w.len().min(x.len());
    let mut acc = [0f32; 16];
    let mut i = 0;
    while i + 16 <= n {
        for j in 0..16 {
            acc[j] += f(w[i + j]) * x[i + j];
        }
        i += 16;
    }
    let t: [f32; 4] = std::array::from_fn(|j| (acc[j] + acc[4 + j]) + (acc[8 + j] + acc[12 + j]));
    let mut s = (t[0] + t[1]) + (t[2] + t[3]);
    while i < n {
        s += f(w[i]) * x[i];
        i += 1;
    }
    s
}

/// Every row of a float matrix (`x.k` weights each) against every token, in dot_conv's order.
pub fn matmul_f<T: Copy>(w: &[T], rows: usize, x: &Acts, out: &mut [f32], f: impl Fn(T) -> f32 + Copy) {
    super::check_matmul_f(w.len(), rows, x, out.len());
    let k = x.k;
    for r in 0..rows {
        for t in 0..x.ntok {
            out[t * rows + r] = dot_conv(&w[r * k..(r + 1) * k], &x.f[t * k..(t + 1) * k], f);
        }
    }
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; 16];
    let mut i = 0;
    while i + 16 <= n {
        for j in 0..16 {
            acc[j] += a[i + j] * b[i + j];
        }
        i += 16;
    }
    let t: Vec<f32> = (0..4).map(|j| (acc[j] + acc[4 + j]) + (acc[8 + j] + acc[12 + j])).collect();
    let mut s = (t[0] + t[1]) + (t[2] + t[3]);
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

/// The reference for every instruction set's attention_group (see kernels::attention_group).
#[allow(clippy::too_many_arguments)]
pub fn attention_group(q: &[f32], hd: usize, keys: &[f32], values: &[f32], stride: usize, n: usize, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    for (h, qh) in q.chunks_exact(hd).enumerate() {
        let sc = &mut scores[h * n..(h + 1) * n];
        for t in 0..n {
            sc[t] = dot_f32(qh, &keys[t * stride..t * stride + hd]) * scale;
        }
        super::softmax_in_place(sc);
        let o = &mut out[h * hd..(h + 1) * hd];
        o.fill(0.0);
        for t in 0..n {
            axpy_f32(o, sc[t], &values[t * stride..t * stride + hd]);
        }
    }
}

/// y += a·x
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}
