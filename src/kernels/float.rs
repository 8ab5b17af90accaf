//! The float types: F32, F16 and BF16 matrices against the f32 activations.

use super::{Acts, Bf16, BlockView, Kernel, Quant, F16};
use crate::gguf::GgmlType;

// TODO(helper A)
macro_rules! todo_type {
    ($t:ty, $g:ident) => {
        impl Quant for $t {
            const TYPE: GgmlType = GgmlType::$g;
            const QK: usize = 1;
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
todo_type!(f32, F32);
todo_type!(F16, F16);
todo_type!(Bf16, BF16);
