//! The 32-value types: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (layouts in mod.rs), their dequantization
//! as ggml's reference computes it, and the kernel set of this build for each (scalar.rs,
//! simd128/, avx2.rs).

use super::{arch, f16_is_finite, f16_to_f32, f32_to_f16, scalar, Acts, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockView, Kernel, Quant};
use crate::gguf::GgmlType;

impl Quant for BlockQ4_0 {
    const TYPE: GgmlType = GgmlType::Q4_0;
    const QK: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml's dequantize_row_q4_0: (q - 8) in integers, then times d.
        let d = f16_to_f32(self.d);
        for j in 0..16 {
            out[j] = ((self.qs[j] & 0x0f) as i32 - 8) as f32 * d;
            out[j + 16] = ((self.qs[j] >> 4) as i32 - 8) as f32 * d;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d))],
            sub_len: 32,
            codes: codes4(&self.qs).to_vec(),
            code_bits: 4,
            formula: "d · (q − 8)",
            ..BlockView::default()
        }
    }
}

impl Kernel for BlockQ4_0 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q4_0(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q4_0(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ4_0::default();
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.02 + 1e-4) };
        b
    }
}

impl Quant for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const QK: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        let m = f16_to_f32(self.m);
        for j in 0..16 {
            out[j] = (self.qs[j] & 0x0f) as f32 * d + m;
            out[j + 16] = (self.qs[j] >> 4) as f32 * d + m;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d) && f16_is_finite(self.m)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d)), ("m", f16_to_f32(self.m))],
            sub_len: 32,
            codes: codes4(&self.qs).to_vec(),
            code_bits: 4,
            formula: "d · q + m",
            ..BlockView::default()
        }
    }
}

impl Kernel for BlockQ4_1 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q4_1(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q4_1(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ4_1::default();
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.02 + 1e-4) };
        b.m = if unit { 0 } else { f32_to_f16(-unit_f32(next()) * 0.2) };
        b
    }
}

impl Quant for BlockQ5_0 {
    const TYPE: GgmlType = GgmlType::Q5_0;
    const QK: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml's dequantize_row_q5_0: (q - 16) in integers, then times d.
        let d = f16_to_f32(self.d);
        for (o, q) in out.iter_mut().zip(codes5(&self.qs, self.qh)) {
            *o = (q - 16) as f32 * d;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d))],
            sub_len: 32,
            codes: codes5(&self.qs, self.qh).to_vec(),
            code_bits: 5,
            formula: "d · (q − 16)",
            ..BlockView::default()
        }
    }
}

impl Kernel for BlockQ5_0 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q5_0(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q5_0(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ5_0::default();
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        b.qh = (next() as u32).to_le_bytes();
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.01 + 1e-4) };
        b
    }
}

impl Quant for BlockQ5_1 {
    const TYPE: GgmlType = GgmlType::Q5_1;
    const QK: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        // ggml's dequantize_row_q5_1: q · d + m.
        let d = f16_to_f32(self.d);
        let m = f16_to_f32(self.m);
        for (o, q) in out.iter_mut().zip(codes5(&self.qs, self.qh)) {
            *o = q as f32 * d + m;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d) && f16_is_finite(self.m)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d)), ("m", f16_to_f32(self.m))],
            sub_len: 32,
            codes: codes5(&self.qs, self.qh).to_vec(),
            code_bits: 5,
            formula: "d · q + m",
            ..BlockView::default()
        }
    }
}

impl Kernel for BlockQ5_1 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q5_1(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q5_1(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ5_1::default();
        for q in b.qs.iter_mut() {
            *q = next() as u8;
        }
        b.qh = (next() as u32).to_le_bytes();
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.01 + 1e-4) };
        b.m = if unit { 0 } else { f32_to_f16(-unit_f32(next()) * 0.2) };
        b
    }
}

impl Quant for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const QK: usize = 32;
    fn dequantize(&self, out: &mut [f32]) {
        let d = f16_to_f32(self.d);
        for j in 0..32 {
            out[j] = self.qs[j] as f32 * d;
        }
    }
    fn finite(&self) -> bool {
        f16_is_finite(self.d)
    }
    fn view(&self) -> BlockView {
        BlockView {
            scales: vec![("d", f16_to_f32(self.d))],
            sub_len: 32,
            codes: self.qs.iter().map(|&q| q as i32).collect(),
            code_bits: 8,
            formula: "d · q",
            ..BlockView::default()
        }
    }
}

impl Kernel for BlockQ8_0 {
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        arch::matmul_q8_0(w, rows, x, out)
    }
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]) {
        scalar::matmul_q8_0(w, rows, x, out)
    }
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self {
        let mut b = BlockQ8_0::default();
        for q in b.qs.iter_mut() {
            // ggml's quantizer writes -127..127; a file may hold -128 too, which every kernel
            // must multiply exactly.
            *q = ((next() % 256) as i32 - 128) as i8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.01 + 1e-4) };
        b
    }
}

/// The 32 codes of a 4-bit block, 0..15 (weight j in the low nibble of qs[j], weight j + 16 in
/// its high nibble).
fn codes4(qs: &[u8; 16]) -> [i32; 32] {
    std::array::from_fn(|j| if j < 16 { (qs[j] & 0x0f) as i32 } else { (qs[j - 16] >> 4) as i32 })
}

/// The 32 codes of a 5-bit block, 0..31: codes4's low bits, bit 4 of weight j in bit j of qh
/// (little-endian u32).
fn codes5(qs: &[u8; 16], qh: [u8; 4]) -> [i32; 32] {
    let qh = u32::from_le_bytes(qh);
    let lo = codes4(qs);
    std::array::from_fn(|j| lo[j] | (((qh >> j) & 1) << 4) as i32)
}

/// A float in [0, 1) from 64 random bits.
pub(crate) fn unit_f32(bits: u64) -> f32 {
    (bits >> 40) as f32 / (1u64 << 24) as f32
}
