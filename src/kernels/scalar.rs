//! The reference kernels: plain Rust, no SIMD. Every SIMD kernel is tested against these.
//!
//! The float arithmetic follows one fixed order that every instruction set reproduces exactly,
//! so that the browser and the native build compute the same logits bit for bit:
//! - quantized dot products: each block's integer sum is exact; block b's term
//!   `sumi·(d_w·d_x) + m_w·s_x` is added to accumulator b mod 4; the result is
//!   `(acc0 + acc1) + (acc2 + acc3)`;
//! - f32 dot products: element i is added to accumulator i mod 16 (16 = four 4-lane vectors);
//!   `t_j = (acc_j + acc_{4+j}) + (acc_{8+j} + acc_{12+j})`, then `(t0 + t1) + (t2 + t3)`,
//!   then the tail one by one. No fused multiply-add anywhere;
//! - attention: per head, scores by that dot product, softmax with exp_f32, then the values
//!   added position by position to a zeroed output (`attention_group` below).

use super::{f16_to_f32, Acts, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// The scalar kernels read the blocks as they are: nothing to prepare. (Used only where scalar.rs
/// is the kernel set, mod.rs's `arch`.)
#[allow(dead_code)]
#[derive(Default)]
pub(crate) struct Prepared;

#[allow(dead_code)]
pub(crate) fn prepare(_: &mut Prepared, _: &[BlockQ8_1], _: usize, _: usize) {}

pub fn vec_dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 4];
    for (i, (b, a)) in w.iter().zip(x).enumerate() {
        let mut si = 0i32;
        for j in 0..16 {
            si += (b.qs[j] & 0x0f) as i32 * a.qs[j] as i32;
            si += (b.qs[j] >> 4) as i32 * a.qs[j + 16] as i32;
        }
        acc[i % 4] += si as f32 * (f16_to_f32(b.d) * a.d) + f16_to_f32(b.m) * a.s;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

pub fn vec_dot_q8_0_q8_1(w: &[BlockQ8_0], x: &[BlockQ8_1]) -> f32 {
    let mut acc = [0f32; 4];
    for (i, (b, a)) in w.iter().zip(x).enumerate() {
        let mut si = 0i32;
        for j in 0..32 {
            si += b.qs[j] as i32 * a.qs[j] as i32;
        }
        acc[i % 4] += si as f32 * (f16_to_f32(b.d) * a.d) + 0.0;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

pub fn matmul_q4_1(w: &[BlockQ4_1], rows: usize, x: &Acts, out: &mut [f32]) {
    super::check_matmul(w.len(), rows, x, out.len());
    let (nb, xb) = (x.nb, &x.blocks);
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = vec_dot_q4_1_q8_1(wr, &xb[t * nb..(t + 1) * nb]);
        }
    }
}

pub fn matmul_q8_0(w: &[BlockQ8_0], rows: usize, x: &Acts, out: &mut [f32]) {
    super::check_matmul(w.len(), rows, x, out.len());
    let (nb, xb) = (x.nb, &x.blocks);
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = vec_dot_q8_0_q8_1(wr, &xb[t * nb..(t + 1) * nb]);
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
