//! The K-quants Q2_K and Q3_K (layouts in kernels/mod.rs) against Q8_K activations.

use crate::kernels::{Acts, BlockQ2K, BlockQ3K, BlockView, Kernel, Quant};
use crate::gguf::GgmlType;

// TODO(helper C)
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
todo_type!(BlockQ2K, Q2K);
todo_type!(BlockQ3K, Q3K);
