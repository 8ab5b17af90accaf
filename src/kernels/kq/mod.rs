//! The K-quants Q4_K, Q5_K and Q6_K (layouts in kernels/mod.rs) against Q8_K activations.

use crate::kernels::{Acts, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, BlockView, Kernel, Quant};
use crate::gguf::GgmlType;

/// What this build's K-quant kernels derive from the Q8_K activations once per quantization.
#[derive(Default)]
pub(crate) struct Prepared;

pub(crate) fn prepare(_: &mut Prepared, _: &[BlockQ8K], _: usize, _: usize) {}

// TODO(helper B)
macro_rules! todo_type {
    ($t:ty, $g:ident) => {
        impl Quant for $t {
            const TYPE: GgmlType = GgmlType::$g;
            const QK: usize = 256;
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
todo_type!(BlockQ4K, Q4K);
todo_type!(BlockQ5K, Q5K);
todo_type!(BlockQ6K, Q6K);
