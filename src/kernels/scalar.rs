//! The reference kernels: plain Rust, no SIMD. Every SIMD kernel is tested against these.

use super::{f16_to_f32, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Σ over blocks of d_w·d_x·Σ(code·q) + m_w·s_x (llama.cpp's ggml_vec_dot_q4_1_q8_1).
pub fn vec_dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sum = 0f32;
    for (b, a) in w.iter().zip(x) {
        let mut si = 0i32;
        for j in 0..16 {
            si += (b.qs[j] & 0x0f) as i32 * a.qs[j] as i32;
            si += (b.qs[j] >> 4) as i32 * a.qs[j + 16] as i32;
        }
        sum += si as f32 * (f16_to_f32(b.d) * a.d) + f16_to_f32(b.m) * a.s;
    }
    sum
}

/// Σ over blocks of d_w·d_x·Σ(code·q) (llama.cpp's ggml_vec_dot_q8_0_q8_0).
pub fn vec_dot_q8_0_q8_1(w: &[BlockQ8_0], x: &[BlockQ8_1]) -> f32 {
    let mut sum = 0f32;
    for (b, a) in w.iter().zip(x) {
        let mut si = 0i32;
        for j in 0..32 {
            si += b.qs[j] as i32 * a.qs[j] as i32;
        }
        sum += si as f32 * (f16_to_f32(b.d) * a.d);
    }
    sum
}

pub fn matmul_q4_1(w: &[BlockQ4_1], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
    let nb = w.len() / rows;
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..ntok {
            out[t * rows + r] = vec_dot_q4_1_q8_1(wr, &x[t * nb..(t + 1) * nb]);
        }
    }
}

pub fn matmul_q8_0(w: &[BlockQ8_0], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
    let nb = w.len() / rows;
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..ntok {
            out[t * rows + r] = vec_dot_q8_0_q8_1(wr, &x[t * nb..(t + 1) * nb]);
        }
    }
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// y += a·x
pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}
