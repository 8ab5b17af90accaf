//! The K-quants Q2_K and Q3_K (layouts in kernels/mod.rs) against Q8_K activations: their
//! dequantization as ggml's reference computes it (dequantize_row_q2_K / q3_K in ggml-quants.c),
//! the scalar reference kernels, and this build's kernel set (simd128.rs, avx2.rs).
//!
//! Both types have 16 sub-blocks of 16 values. Value i of a super-block lives in byte
//! `qs[32·(i / 128) + i % 32]`, bits `2·((i % 128) / 32)` (2 bits); Q3_K's third bit is bit
//! `i / 32` of `hmask[i % 32]`. So sub-block j is values 16j..16j + 16, the same 16 activations
//! as `BlockQ8K::bsums[j]`.
//!
//! The fixed float order (kernels/mod.rs, common to every instruction set): per super-block b,
//! the exact i32 sums `sumi` = Σ_j sc_j · Σ_{i in j} q_i·x_i and, for Q2_K, `summ` = Σ_j m_j ·
//! bsums_j; then `t = sumi as f32 * (d·dx)`, for Q2_K `t = t - summ as f32 * (dmin·dx)`, added to
//! acc[b % 4]; the result is (acc0 + acc1) + (acc2 + acc3). Q2_K: q in 0..3, sc and m in 0..15;
//! Q3_K: q in -4..3, sc in -32..31. |sumi| <= 16·16·4·127·32 < 2^23: exact in i32 and in f32.

#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
mod avx2;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128;

use super::q32::unit_f32;
use super::{check_matmul_k, f16_is_finite, f16_to_f32, f32_to_f16, Acts, BlockQ2K, BlockQ3K, BlockQ8K, BlockView, Kernel, Quant, QK_K};
use crate::gguf::GgmlType;

// ------------------------------------------------------------------------------------------------
// Codes and scales as stored
// ------------------------------------------------------------------------------------------------

/// The 2-bit code of value i (0..256) of a super-block's `qs` (Q2_K's code, Q3_K's low 2 bits).
#[inline(always)]
fn low2(qs: &[u8; 64], i: usize) -> u8 {
    (qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3
}

/// Q3_K's stored code of value i: the low 2 bits, and the hmask bit as bit 2 (0..7; the value
/// is code − 4).
#[inline(always)]
fn code3(b: &BlockQ3K, i: usize) -> u8 {
    low2(&b.qs, i) | (((b.hmask[i % 32] >> (i / 32)) & 1) << 2)
}

/// Q3_K's 16 six-bit scales as stored (0..63; the scale is this − 32), unpacked as ggml's
/// dequantize_row_q3_K does: the low 4 bits in bytes 0..8 (low nibbles: sub-blocks 0..8, high
/// nibbles: 8..16), the high 2 bits in bytes 8..12 (sub-block j: bits 2·(j / 4) of byte 8 + j % 4).
#[inline(always)]
pub(crate) fn scales3(s: &[u8; 12]) -> [u8; 16] {
    const KMASK1: u32 = 0x0303_0303;
    const KMASK2: u32 = 0x0f0f_0f0f;
    let w = |k: usize| u32::from_le_bytes([s[4 * k], s[4 * k + 1], s[4 * k + 2], s[4 * k + 3]]);
    let (a0, a1, tmp) = (w(0), w(1), w(2));
    let aux = [
        (a0 & KMASK2) | ((tmp & KMASK1) << 4),
        (a1 & KMASK2) | (((tmp >> 2) & KMASK1) << 4),
        ((a0 >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4),
        ((a1 >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4),
    ];
    let mut out = [0u8; 16];
    for (k, a) in aux.iter().enumerate() {
        out[4 * k..4 * k + 4].copy_from_slice(&a.to_le_bytes());
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Q2_K
// ------------------------------------------------------------------------------------------------

impl Quant for BlockQ2K {
    const TYPE: GgmlType = GgmlType::Q2K;
    const QK: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml's dequantize_row_q2_K: dl = d·sc, ml = dmin·m per sub-block, then dl·q − ml.
        let d = f16_to_f32(self.d);
        let min = f16_to_f32(self.dmin);
        for (j, o) in out.chunks_exact_mut(16).take(16).enumerate() {
            let sc = self.scales[j];
            let dl = d * (sc & 0x0f) as f32;
            let ml = min * (sc >> 4) as f32;
            for (l, y) in o.iter_mut().enumerate() {
                *y = dl * low2(&self.qs, 16 * j + l) as f32 - ml;
            }
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d) && f16_is_finite(self.dmin)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d)), ("dmin", f16_to_f32(self.dmin))],
            sub_len: 16,
            sub_scales: self.scales.iter().map(|&s| (s & 0x0f) as i32).collect(),
            sub_mins: self.scales.iter().map(|&s| (s >> 4) as i32).collect(),
            codes: (0..QK_K).map(|i| low2(&self.qs, i) as i32).collect(),
            code_bits: 2,
            formula: "d · sc · q − dmin · m",
        }
    }
}

/// Super-block products of Q2_K: (sumi, summ), exact.
#[inline(always)]
fn sums_q2k(w: &BlockQ2K, x: &BlockQ8K) -> (i32, i32) {
    let (mut sumi, mut summ) = (0i32, 0i32);
    for j in 0..16 {
        let mut s = 0i32;
        for i in 16 * j..16 * j + 16 {
            s += low2(&w.qs, i) as i32 * x.qs[i] as i32;
        }
        sumi += (w.scales[j] & 0x0f) as i32 * s;
        summ += (w.scales[j] >> 4) as i32 * x.bsums[j] as i32;
    }
    (sumi, summ)
}

/// One row of Q2_K super-blocks times one row of Q8_K blocks, in the fixed order.
pub fn vec_dot_q2k_q8k(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (wb, xb)) in w.iter().zip(x).enumerate() {
        let (sumi, summ) = sums_q2k(wb, xb);
        let mut t = sumi as f32 * (f16_to_f32(wb.d) * xb.d);
        t -= summ as f32 * (f16_to_f32(wb.dmin) * xb.d);
        acc[b % 4] += t;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

pub fn matmul_ref_q2k(w: &[BlockQ2K], rows: usize, x: &Acts, out: &mut [f32]) {
    check_matmul_k(w.len(), rows, x, out.len());
    let (nb, xb) = (x.knb, &x.kblocks);
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = vec_dot_q2k_q8k(wr, &xb[t * nb..(t + 1) * nb]);
        }
    }
}

impl Kernel for BlockQ2K {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        simd128::matmul_q2k(w, rows, x, out);
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
        avx2::matmul_q2k(w, rows, x, out);
        #[cfg(not(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
        )))]
        matmul_ref_q2k(w, rows, x, out);
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        matmul_ref_q2k(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ2K { scales: [0; 16], qs: [0; 64], d: 0, dmin: 0 };
        for s in b.scales.iter_mut() {
            *s = next() as u8;
        }
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.002 + 1e-5) };
        b.dmin = if unit { 0 } else { f32_to_f16(unit_f32(next()) * 0.002) };
        b
    }
}

// ------------------------------------------------------------------------------------------------
// Q3_K
// ------------------------------------------------------------------------------------------------

impl Quant for BlockQ3K {
    const TYPE: GgmlType = GgmlType::Q3K;
    const QK: usize = QK_K;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml's dequantize_row_q3_K: dl = d·(sc − 32) per sub-block, then dl·(q − 4·(hmask bit
        // clear)), the code in integers.
        let d_all = f16_to_f32(self.d);
        let sc = scales3(&self.scales);
        for (j, o) in out.chunks_exact_mut(16).take(16).enumerate() {
            let dl = d_all * (sc[j] as i32 - 32) as f32;
            for (l, y) in o.iter_mut().enumerate() {
                *y = dl * (code3(self, 16 * j + l) as i32 - 4) as f32;
            }
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d))],
            sub_len: 16,
            sub_scales: scales3(&self.scales).iter().map(|&s| s as i32).collect(),
            sub_mins: Vec::new(),
            codes: (0..QK_K).map(|i| code3(self, i) as i32).collect(),
            code_bits: 3,
            formula: "d · (sc − 32) · (q − 4)",
        }
    }
}

/// Super-block product of Q3_K: sumi, exact.
#[inline(always)]
fn sumi_q3k(w: &BlockQ3K, x: &BlockQ8K) -> i32 {
    let sc = scales3(&w.scales);
    let mut sumi = 0i32;
    for j in 0..16 {
        let mut s = 0i32;
        for i in 16 * j..16 * j + 16 {
            s += (code3(w, i) as i32 - 4) * x.qs[i] as i32;
        }
        sumi += (sc[j] as i32 - 32) * s;
    }
    sumi
}

/// One row of Q3_K super-blocks times one row of Q8_K blocks, in the fixed order.
pub fn vec_dot_q3k_q8k(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    let mut acc = [0f32; 4];
    for (b, (wb, xb)) in w.iter().zip(x).enumerate() {
        acc[b % 4] += sumi_q3k(wb, xb) as f32 * (f16_to_f32(wb.d) * xb.d);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

pub fn matmul_ref_q3k(w: &[BlockQ3K], rows: usize, x: &Acts, out: &mut [f32]) {
    check_matmul_k(w.len(), rows, x, out.len());
    let (nb, xb) = (x.knb, &x.kblocks);
    for r in 0..rows {
        let wr = &w[r * nb..(r + 1) * nb];
        for t in 0..x.ntok {
            out[t * rows + r] = vec_dot_q3k_q8k(wr, &xb[t * nb..(t + 1) * nb]);
        }
    }
}

impl Kernel for BlockQ3K {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        simd128::matmul_q3k(w, rows, x, out);
        #[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
        avx2::matmul_q3k(w, rows, x, out);
        #[cfg(not(any(
            all(target_arch = "wasm32", target_feature = "simd128"),
            all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
        )))]
        matmul_ref_q3k(w, rows, x, out);
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        matmul_ref_q3k(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ3K { hmask: [0; 32], qs: [0; 64], scales: [0; 12], d: 0 };
        for h in b.hmask.iter_mut() {
            *h = next() as u8;
        }
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        for s in b.scales.iter_mut() {
            *s = next() as u8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.002 + 1e-5) };
        b
    }
}
