//! The reference K-quant kernels: plain Rust, the fixed float order of kq/mod.rs written out.
//! Every SIMD kernel (simd128.rs, avx2.rs) is tested against these.

use super::{bsums32, scale_min_k4, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::kernels::{check_matmul_k, f16_to_f32, Acts};

/// The scalar kernels read the blocks as they are: nothing to prepare. (Used only where scalar.rs
/// is the kernel set, kq/mod.rs's `arch`.)
#[allow(dead_code)]
#[derive(Default)]
pub(crate) struct Prepared;

#[allow(dead_code)]
pub(crate) fn prepare(_: &mut Prepared, _: &[BlockQ8K], _: usize, _: usize) {}

/// One super-block's term: `t = sumi·(d·dx)`, then `t − summ·(dmin·dx)` for the types with
/// minimums (no fused multiply-add).
#[inline(always)]
fn term(sumi: i32, summ: Option<i32>, d: f32, dmin: f32, dx: f32) -> f32 {
    let mut t = sumi as f32 * (d * dx);
    if let Some(s) = summ {
        t -= s as f32 * (dmin * dx);
    }
    t
}

/// Q4_K and Q5_K: codes in value order, 8 sub-blocks of 32 with 6-bit scales and minimums.
fn dot_k4(q: &[u8; 256], scales: &[u8; 12], d: u16, dmin: u16, x: &BlockQ8K) -> f32 {
    let bs = bsums32(x);
    let (mut sumi, mut summ) = (0i32, 0i32);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, scales);
        let mut s = 0i32;
        for i in 32 * j..32 * j + 32 {
            s += q[i] as i32 * x.qs[i] as i32;
        }
        sumi += sc as i32 * s;
        summ += m as i32 * bs[j] as i32;
    }
    term(sumi, Some(summ), f16_to_f32(d), f16_to_f32(dmin), x.d)
}

pub fn vec_dot_q4k_q8k(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (wb, xb)) in w.iter().zip(x).enumerate() {
        acc[b % 4] += dot_k4(&wb.codes(), &wb.scales, wb.d, wb.dmin, xb);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

pub fn vec_dot_q5k_q8k(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (wb, xb)) in w.iter().zip(x).enumerate() {
        acc[b % 4] += dot_k4(&wb.codes(), &wb.scales, wb.d, wb.dmin, xb);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Q6_K: codes q − 32 in −32..31, 16 sub-blocks of 16 with signed byte scales, no minimums.
pub fn vec_dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (wb, xb)) in w.iter().zip(x).enumerate() {
        let q = wb.codes();
        let mut sumi = 0i32;
        for j in 0..16 {
            let mut s = 0i32;
            for i in 16 * j..16 * j + 16 {
                s += (q[i] as i32 - 32) * xb.qs[i] as i32;
            }
            sumi += wb.scales[j] as i32 * s;
        }
        acc[b % 4] += term(sumi, None, f16_to_f32(wb.d), 0.0, xb.d);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

fn matmul<B>(w: &[B], rows: usize, x: &Acts, out: &mut [f32], dot: fn(&[B], &[BlockQ8K]) -> f32) {
    check_matmul_k(w.len(), rows, x, out.len());
    let nb = x.knb;
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = dot(wr, &x.kblocks[t * nb..(t + 1) * nb]);
        }
    }
}

pub fn matmul_q4k(w: &[BlockQ4K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out, vec_dot_q4k_q8k)
}

pub fn matmul_q5k(w: &[BlockQ5K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out, vec_dot_q5k_q8k)
}

pub fn matmul_q6k(w: &[BlockQ6K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out, vec_dot_q6k_q8k)
}
