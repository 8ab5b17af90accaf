//! The K-quants Q4_K, Q5_K and Q6_K (layouts in kernels/mod.rs) against Q8_K activations: their
//! dequantization as ggml's reference computes it (ggml-quants.c: dequantize_row_q4_K, _q5_K,
//! _q6_K) and the kernel set of this build for each (scalar.rs, the reference; simd128.rs;
//! avx2.rs).
//!
//! A super-block holds 256 weights in sub-blocks of 32 (Q4_K, Q5_K: a 6-bit scale and a 6-bit
//! minimum each, packed in 12 bytes) or 16 (Q6_K: a signed byte scale each). Every kernel computes,
//! per super-block b, the exact integer sums `sumi` = Σ_j sc_j · Σ_{i in j} q_i·x_i (q the code as
//! the type means it: unsigned for Q4_K and Q5_K, q − 32 for Q6_K) and, for the types with
//! minimums, `summ` = Σ_j m_j · (sum of the x codes of sub-block j, from the Q8_K bsums); then
//! `t = sumi·(d·dx)`, `t = t − summ·(dmin·dx)`, added to accumulator b mod 4; the result is
//! `(acc0 + acc1) + (acc2 + acc3)` (scalar.rs is that order written out).

use super::q32::unit_f32;
use super::{f16_is_finite, f16_to_f32, f32_to_f16, Acts, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, BlockView, Kernel, Quant};
use crate::gguf::GgmlType;

pub(crate) mod scalar;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod simd128;
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
pub(crate) mod avx2;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use simd128 as arch;
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
use avx2 as arch;
#[cfg(not(any(
    all(target_arch = "wasm32", target_feature = "simd128"),
    all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
)))]
use scalar as arch;

/// What this build's K-quant kernels derive from the Q8_K activations once per quantization
/// (kernels::Acts keeps it, refilled in place): see each instruction set's file.
pub(crate) use arch::{prepare, Prepared};

// ------------------------------------------------------------------------------------------------
// The 6-bit scales and minimums of Q4_K and Q5_K
// ------------------------------------------------------------------------------------------------

/// Sub-block j's scale and minimum (0..63), exactly ggml's get_scale_min_k4: scales 0..3 and
/// minimums 0..3 in the low 6 bits of bytes 0..3 and 4..7; scales and minimums 4..7 as a low
/// nibble in bytes 8..11 and their top 2 bits in the top bits of bytes 0..3 and 4..7.
#[inline(always)]
pub(crate) fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// All 8 scales and 8 minimums at once, as four little-endian u32 words: bytes 0..7 the scales,
/// 8..15 the minimums (ggml's utmp shuffle in its SIMD dot products; equal to scale_min_k4).
#[inline(always)]
pub(crate) fn unpack_k4(q: &[u8; 12]) -> [u32; 4] {
    const M6: u32 = 0x3f3f_3f3f;
    const M4: u32 = 0x0f0f_0f0f;
    const M2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes([q[4 * i], q[4 * i + 1], q[4 * i + 2], q[4 * i + 3]]);
    let (a0, a1, a2) = (w(0), w(1), w(2));
    [a0 & M6, (a2 & M4) | (((a0 >> 6) & M2) << 4), a1 & M6, ((a2 >> 4) & M4) | (((a1 >> 6) & M2) << 4)]
}

// ------------------------------------------------------------------------------------------------
// Codes in value order (the scalar kernels and the inspector)
// ------------------------------------------------------------------------------------------------

impl BlockQ4K {
    /// The 256 codes (0..15) in value order: chunk c of 32 bytes holds values 64c..64c+32 in its
    /// low nibbles and 64c+32..64c+64 in its high ones.
    pub(crate) fn codes(&self) -> [u8; 256] {
        let mut q = [0u8; 256];
        for c in 0..4 {
            for l in 0..32 {
                q[64 * c + l] = self.qs[32 * c + l] & 0xf;
                q[64 * c + 32 + l] = self.qs[32 * c + l] >> 4;
            }
        }
        q
    }
}

impl BlockQ5K {
    /// The 256 codes (0..31) in value order: Q4_K's nibbles, and bit 4 of value 64c + l in bit 2c
    /// of qh[l], of value 64c + 32 + l in bit 2c + 1.
    pub(crate) fn codes(&self) -> [u8; 256] {
        let mut q = [0u8; 256];
        for c in 0..4 {
            for l in 0..32 {
                q[64 * c + l] = (self.qs[32 * c + l] & 0xf) | (((self.qh[l] >> (2 * c)) & 1) << 4);
                q[64 * c + 32 + l] = (self.qs[32 * c + l] >> 4) | (((self.qh[l] >> (2 * c + 1)) & 1) << 4);
            }
        }
        q
    }
}

impl BlockQ6K {
    /// The 256 codes (0..63, the weight is d·sc·(q − 32)) in value order: per half h of 128
    /// values, the low 4 bits of values 128h + l, +32, +64, +96 (l < 32) are the low nibbles of
    /// ql[64h + l] and ql[64h + 32 + l], then their high nibbles; the top 2 bits are bits 0-1,
    /// 2-3, 4-5 and 6-7 of qh[32h + l].
    pub(crate) fn codes(&self) -> [u8; 256] {
        let mut q = [0u8; 256];
        for h in 0..2 {
            let (ql, qh) = (&self.ql[64 * h..64 * h + 64], &self.qh[32 * h..32 * h + 32]);
            for l in 0..32 {
                q[128 * h + l] = (ql[l] & 0xf) | ((qh[l] & 3) << 4);
                q[128 * h + 32 + l] = (ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4);
                q[128 * h + 64 + l] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                q[128 * h + 96 + l] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
            }
        }
        q
    }
}

// ------------------------------------------------------------------------------------------------
// Quant: dequantization exactly as ggml's, the inspector's view
// ------------------------------------------------------------------------------------------------

impl Quant for BlockQ4K {
    const TYPE: GgmlType = GgmlType::Q4K;
    const QK: usize = 256;
    /// ggml's dequantize_row_q4_K: `d1 = d·sc`, `m1 = dmin·m`, value `d1·q − m1`.
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let min = f16_to_f32(self.dmin);
        for c in 0..4 {
            let (sc, m) = scale_min_k4(2 * c, &self.scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(2 * c + 1, &self.scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            let q = &self.qs[32 * c..32 * c + 32];
            for l in 0..32 {
                out[64 * c + l] = d1 * (q[l] & 0xf) as f32 - m1;
            }
            for l in 0..32 {
                out[64 * c + 32 + l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d) && f16_is_finite(self.dmin)
    }
    fn view(&self) -> BlockView {
        let sm: Vec<(u8, u8)> = (0..8).map(|j| scale_min_k4(j, &self.scales)).collect();
        BlockView {
            scales: vec![("d", f16_to_f32(self.d)), ("dmin", f16_to_f32(self.dmin))],
            sub_len: 32,
            sub_scales: sm.iter().map(|&(s, _)| s as i32).collect(),
            sub_mins: sm.iter().map(|&(_, m)| m as i32).collect(),
            codes: self.codes().iter().map(|&q| q as i32).collect(),
            code_bits: 4,
            formula: "d · sc · q − dmin · m",
        }
    }
}

impl Quant for BlockQ5K {
    const TYPE: GgmlType = GgmlType::Q5K;
    const QK: usize = 256;
    /// ggml's dequantize_row_q5_K: as Q4_K with the fifth bit adding 16 to the code.
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let min = f16_to_f32(self.dmin);
        for c in 0..4 {
            let (sc, m) = scale_min_k4(2 * c, &self.scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(2 * c + 1, &self.scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            let (u1, u2) = (1u8 << (2 * c), 2u8 << (2 * c));
            let ql = &self.qs[32 * c..32 * c + 32];
            for l in 0..32 {
                let q = (ql[l] & 0xf) as i32 + if self.qh[l] & u1 != 0 { 16 } else { 0 };
                out[64 * c + l] = d1 * q as f32 - m1;
            }
            for l in 0..32 {
                let q = (ql[l] >> 4) as i32 + if self.qh[l] & u2 != 0 { 16 } else { 0 };
                out[64 * c + 32 + l] = d2 * q as f32 - m2;
            }
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d) && f16_is_finite(self.dmin)
    }
    fn view(&self) -> BlockView {
        let sm: Vec<(u8, u8)> = (0..8).map(|j| scale_min_k4(j, &self.scales)).collect();
        BlockView {
            scales: vec![("d", f16_to_f32(self.d)), ("dmin", f16_to_f32(self.dmin))],
            sub_len: 32,
            sub_scales: sm.iter().map(|&(s, _)| s as i32).collect(),
            sub_mins: sm.iter().map(|&(_, m)| m as i32).collect(),
            codes: self.codes().iter().map(|&q| q as i32).collect(),
            code_bits: 5,
            formula: "d · sc · q − dmin · m",
        }
    }
}

impl Quant for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6K;
    const QK: usize = 256;
    /// ggml's dequantize_row_q6_K: value `d · sc · (q − 32)`, evaluated left to right.
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let q = self.codes();
        for (i, o) in out[..256].iter_mut().enumerate() {
            *o = d * self.scales[i / 16] as f32 * (q[i] as i32 - 32) as f32;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d))],
            sub_len: 16,
            sub_scales: self.scales.iter().map(|&s| s as i32).collect(),
            sub_mins: Vec::new(),
            codes: self.codes().iter().map(|&q| q as i32).collect(),
            code_bits: 6,
            formula: "d · sc · (q − 32)",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Kernel: this build's matrix product, the scalar twin, random blocks for the self-test
// ------------------------------------------------------------------------------------------------

fn random_bytes<const N: usize>(next: &mut dyn FnMut() -> u64) -> [u8; N] {
    let mut b = [0u8; N];
    for v in b.iter_mut() {
        *v = next() as u8;
    }
    b
}

/// A positive f16 scale (small, as a quantizer writes) or 1 for `unit`.
fn rand_scale(next: &mut dyn FnMut() -> u64, unit: bool, size: f32) -> u16 {
    if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * size + 1e-5) }
}

impl Kernel for BlockQ4K {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q4k(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q4k(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        BlockQ4K {
            d: rand_scale(next, unit, 0.002),
            dmin: if unit { 0 } else { rand_scale(next, false, 0.002) },
            scales: random_bytes(next),
            qs: random_bytes(next),
        }
    }
}

impl Kernel for BlockQ5K {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q5k(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q5k(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        BlockQ5K {
            d: rand_scale(next, unit, 0.001),
            dmin: if unit { 0 } else { rand_scale(next, false, 0.001) },
            scales: random_bytes(next),
            qh: random_bytes(next),
            qs: random_bytes(next),
        }
    }
}

impl Kernel for BlockQ6K {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q6k(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q6k(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut scales = [0i8; 16];
        for s in scales.iter_mut() {
            *s = next() as i8; // any byte, -128 included (ggml's quantizer writes it)
        }
        // d = 1 / (-128 / max_scale) in ggml's quantizer: either sign.
        let d = if unit { f32_to_f16(1.0) } else { rand_scale(next, false, 0.0005) | ((next() & 1) << 15) as u16 };
        BlockQ6K { ql: random_bytes(next), qh: random_bytes(next), scales, d }
    }
}

/// The 16-value sums of the activation codes as 8 sums of 32 (the sub-blocks of Q4_K and Q5_K):
/// |sum| <= 32 · 127, an i16.
#[inline(always)]
pub(crate) fn bsums32(x: &BlockQ8K) -> [i16; 8] {
    let mut s = [0i16; 8];
    for j in 0..8 {
        s[j] = x.bsums[2 * j] + x.bsums[2 * j + 1];
    }
    s
}
