//! The 32-value types: Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 (layouts in mod.rs), their dequantization
//! as ggml's reference computes it, and the kernel set of this build for each (scalar.rs,
//! simd128.rs, avx2.rs).

use super::{arch, f16_is_finite, f16_to_f32, f32_to_f16, scalar, Acts, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockView, Kernel, Quant};
use crate::gguf::GgmlType;

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
            codes: (0..32).map(|j| if j < 16 { (self.qs[j] & 0x0f) as i32 } else { (self.qs[j - 16] >> 4) as i32 }).collect(),
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
            // ggml's quantizer writes -127..127
            *q = ((next() % 255) as i32 - 127) as i8;
        }
        b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(unit_f32(next()) * 0.01 + 1e-4) };
        b
    }
}

/// A float in [0, 1) from 64 random bits.
pub(crate) fn unit_f32(bits: u64) -> f32 {
    (bits >> 40) as f32 / (1u64 << 24) as f32
}

// TODO(helper A): Q4_0, Q5_0, Q5_1.
macro_rules! todo_type {
    ($t:ty, $g:ident) => {
        impl Quant for $t {
            const TYPE: GgmlType = GgmlType::$g;
            const QK: usize = 32;
            fn dequantize(&self, _: &mut [f32]) { todo!() }
            fn finite(&self) -> bool { todo!() }
            fn view(&self) -> BlockView { todo!() }
        }
        impl Kernel for $t {
            fn matmul(_: &[Self], _: usize, _: &Acts, _: &mut [f32]) { todo!() }
            fn matmul_ref(_: &[Self], _: usize, _: &Acts, _: &mut [f32]) { todo!() }
            fn random(_: &mut dyn FnMut() -> u64, _: bool) -> Self { todo!() }
        }
    };
}
todo_type!(BlockQ4_0, Q4_0);
todo_type!(BlockQ5_0, Q5_0);
todo_type!(BlockQ5_1, Q5_1);
