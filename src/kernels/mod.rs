//! The hot kernels: quantized matrix products, the f32 vector operations of attention, and the
//! block layouts they read.
//!
//! One file per instruction set with the same function names in each (`scalar.rs`, the
//! reference; `simd128/` for WebAssembly; `avx2.rs` natively), chosen here at compile time.
//! Every SIMD kernel has its scalar twin and a test that compares them (tests/kernels.rs, and
//! the same in the browser).
//!
//! Matrix products follow llama.cpp: the activations are quantized once per row to 8 bits in
//! blocks of 32 (`BlockQ8_1`, with the block's sum so that Q4_1's minimum costs one multiply per
//! block), then each weight block is multiplied in integers and scaled once.
//!
//! Unsafe code lives here and in the per-instruction-set files only: the casts of file bytes to
//! blocks (bounded by the sealed `Block` trait and checked) and the SIMD loads (each block says
//! why it stays in bounds).
#![deny(unsafe_op_in_unsafe_fn)]
// The kernels index several arrays in step (accumulators, lanes, blocks) in the order scalar.rs
// states; index loops say that order more plainly than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub(crate) mod scalar;
pub mod selftest;
mod q32;
mod float;
pub mod kq;
mod kq23;
mod split;
mod attention;
mod acts;
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

use crate::gguf::GgmlType;
use crate::Error;
use split::split_rows;
pub use split::{matmul_group, row_tasks, Product};
pub use attention::{attention_group, exp_f32, max_f32, softmax_sums};
pub use acts::{quantize_q8_1, quantize_q8_k, Acts, Forms};
pub(crate) use attention::softmax_in_place;

/// Which kernel set this build runs.
pub const ARCH: &str = if cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")) {
    "simd128+relaxed"
} else if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
    "simd128"
} else if cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")) {
    "avx2"
} else {
    "scalar"
};

pub const QK: usize = 32;

// ------------------------------------------------------------------------------------------------
// Block layouts: ggml's (ggml-common.h), byte for byte; the f16 scales are kept as their bits
// ------------------------------------------------------------------------------------------------

/// Values per K-quant super-block.
pub const QK_K: usize = 256;

/// Q4_0: 32 weights = d * (code - 8), codes 0..15; `qs[j]` holds weight j in its low nibble and
/// weight j + 16 in its high nibble.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ4_0 {
    pub d: u16,
    pub qs: [u8; 16],
}

/// Q4_1: 32 weights = d * code + m, codes 0..15, nibbles as Q4_0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; 16],
}

/// Q5_0: 32 weights = d * (code - 16), codes 0..31: the low 4 bits as Q4_0, bit 4 of weight j
/// in bit j of `qh` (little-endian u32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ5_0 {
    pub d: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Q5_1: 32 weights = d * code + m, codes 0..31 stored as Q5_0's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ5_1 {
    pub d: u16,
    pub m: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}

/// Q8_0: 32 weights = d * code, codes -127..127.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; 32],
}

/// Q2_K: 256 weights in 16 sub-blocks of 16; weight = d * (scales[j] & 15) * code
/// - dmin * (scales[j] >> 4), codes 0..3 (2 bits each in `qs`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ2K {
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: u16,
    pub dmin: u16,
}

/// Q3_K: 256 weights in 16 sub-blocks of 16; weight = d * (scale_j - 32) * (code - 4·(hmask bit
/// clear)), the low 2 bits in `qs`, the third in `hmask`, 16 scales of 6 bits packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    pub scales: [u8; 12],
    pub d: u16,
}

/// Q4_K: 256 weights in 8 sub-blocks of 32; weight = d * sc_j * code - dmin * m_j, codes 0..15,
/// 8 scales and 8 minimums of 6 bits packed in 12 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}

/// Q5_K: as Q4_K with a fifth bit per weight in `qh`, codes 0..31.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ5K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}

/// Q6_K: 256 weights in 16 sub-blocks of 16; weight = d * scales[j] * (code - 32), codes 0..63:
/// the low 4 bits in `ql`, the high 2 in `qh`; scales are signed bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: u16,
}

/// An F16 weight (its bits).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct F16(pub u16);

/// A BF16 weight (its bits: the top half of an f32).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bf16(pub u16);

/// The activations of the 32-value types, quantized: x ≈ d * qs, and s = d * Σ qs (used by the
/// minimums of Q4_1 and Q5_1). Unlike ggml's block_q8_1 the scales stay f32: they live only in
/// memory, never in a file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ8_1 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

/// The activations of the K-quants (ggml's block_q8_K): x ≈ d * qs over 256 values, and
/// `bsums[j]` = Σ qs[16j..16j + 16] (used by the minimums and offsets).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}

impl Default for BlockQ8K {
    fn default() -> Self {
        BlockQ8K { d: 0.0, qs: [0; 256], bsums: [0; 16] }
    }
}

const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18 && std::mem::align_of::<BlockQ4_0>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20 && std::mem::align_of::<BlockQ4_1>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22 && std::mem::align_of::<BlockQ5_0>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24 && std::mem::align_of::<BlockQ5_1>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34 && std::mem::align_of::<BlockQ8_0>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84 && std::mem::align_of::<BlockQ2K>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110 && std::mem::align_of::<BlockQ3K>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144 && std::mem::align_of::<BlockQ4K>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176 && std::mem::align_of::<BlockQ5K>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210 && std::mem::align_of::<BlockQ6K>() == 2);
const _: () = assert!(std::mem::size_of::<F16>() == 2 && std::mem::size_of::<Bf16>() == 2);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 40);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

/// f16 bits to f32, exact for every finite value (normal and subnormal): shift the exponent
/// and mantissa into place and rescale by 2^112. Infinities and NaNs are refused when a model
/// is loaded, so they never reach this.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let mag = f32::from_bits(((h & 0x7fff) as u32) << 13) * f32::from_bits(0x7780_0000); // 2^112
    f32::from_bits(mag.to_bits() | (((h & 0x8000) as u32) << 16))
}

pub fn f16_is_finite(h: u16) -> bool {
    h & 0x7c00 != 0x7c00
}

pub fn f32_to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

// ------------------------------------------------------------------------------------------------
// Reading file bytes as blocks, in place
// ------------------------------------------------------------------------------------------------

// The blocks are read in place from a little-endian file.
const _: () = assert!(cfg!(target_endian = "little"), "the block layouts are read in place from little-endian GGUF files");

mod sealed {
    pub trait Sealed {}
    macro_rules! sealed { ($($t:ty),*) => { $(impl Sealed for $t {})* } }
    use super::*;
    sealed!(BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, F16, Bf16, BlockQ8_1, BlockQ8K, f32);
}

/// A plain block type that bytes can be read as in place: `Copy`, no padding, no pointers, and
/// every bit pattern a valid value. Sealed: only the types of this module implement it.
///
/// # Safety
/// An implementor must be a `repr(C)` (or primitive) type of integers and floats only, with no
/// padding bytes (the size asserts above check that for the blocks), so that any `size_of::<T>()`
/// initialised bytes at an address aligned for `T` are a valid `T`.
pub unsafe trait Block: sealed::Sealed + Copy + 'static {}

// SAFETY (all of these): repr(C) or repr(transparent) structs of u8/i8/u16/i16/f32 fields and
// arrays whose sizes are asserted above to be the sum of their fields (no padding), so any bits
// of that size are a valid value; and f32, a primitive (a NaN is a valid f32).
unsafe impl Block for BlockQ4_0 {}
unsafe impl Block for BlockQ4_1 {}
unsafe impl Block for BlockQ5_0 {}
unsafe impl Block for BlockQ5_1 {}
unsafe impl Block for BlockQ8_0 {}
unsafe impl Block for BlockQ2K {}
unsafe impl Block for BlockQ3K {}
unsafe impl Block for BlockQ4K {}
unsafe impl Block for BlockQ5K {}
unsafe impl Block for BlockQ6K {}
unsafe impl Block for F16 {}
unsafe impl Block for Bf16 {}
unsafe impl Block for BlockQ8_1 {}
unsafe impl Block for BlockQ8K {}
unsafe impl Block for f32 {}

/// Reads bytes in place as blocks of `T`. An error, never a panic, if the bytes are not a whole
/// number of blocks or not aligned for `T`: the loader's checks (whole blocks per row, tensor
/// offsets multiples of 8 in an 8-byte aligned `ModelFile`) make that unreachable from a file,
/// but the cast does not rely on them.
///
/// Only plain block types can be cast to; anything else does not compile:
/// ```compile_fail
/// let _ = plumbing::kernels::cast_blocks::<bool>(&[2u8]);
/// ```
pub fn cast_blocks<T: Block>(bytes: &[u8]) -> Result<&[T], Error> {
    let (size, align) = (std::mem::size_of::<T>(), std::mem::align_of::<T>());
    if !bytes.len().is_multiple_of(size) {
        return Err(Error::Format(format!("{} bytes are not a whole number of {size}-byte blocks", bytes.len())));
    }
    if !(bytes.as_ptr() as usize).is_multiple_of(align) {
        return Err(Error::Format(format!("block data at address {:#x} is not aligned to {align} bytes", bytes.as_ptr() as usize)));
    }
    // SAFETY: T: Block, so any initialised bytes of T's size are a valid T; the pointer is
    // aligned for T and the length is a whole number of T (both checked above); the result
    // borrows `bytes`, so it lives no longer than they do and they cannot change meanwhile.
    Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, bytes.len() / size) })
}

/// Reads bytes in place as f32 (see cast_blocks).
pub fn cast_f32(bytes: &[u8]) -> Result<&[f32], Error> {
    cast_blocks::<f32>(bytes)
}

// ------------------------------------------------------------------------------------------------
// The weight types: one trait each block type implements, one enum the model decides once
// ------------------------------------------------------------------------------------------------

/// A weight block type of a GGUF file, read in place. Implemented in the family files: q32.rs
/// (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), kq/ (Q4_K, Q5_K, Q6_K), kq23/ (Q2_K, Q3_K), float.rs (F32,
/// F16, BF16; one value per "block").
pub trait Quant: Block {
    /// ggml's type.
    const TYPE: GgmlType;
    /// Values per block: 32, 256 for the K-quants, 1 for the float types.
    const QK: usize;
    /// The block's `QK` values, computed exactly as ggml's dequantize_row_* computes them (the
    /// same float operations in the same order, so that candle-core and the gguf package agree
    /// bit for bit: tests/dequant.rs).
    fn dequantize(&self, out: &mut [f32]);
    /// Whether every scale of the block is finite (a file with an infinite or NaN scale is
    /// refused when loaded: the kernels' fast f16 conversion assumes finite ones). For the float
    /// types, whether the value is finite.
    fn finite(&self) -> bool;
    /// The block's parts as stored, for the inspector.
    fn view(&self) -> BlockView;
}

/// A block's parts as stored, for the page (inspect::tensor_block): its f16 scales decoded, its
/// sub-blocks' integer scales and minimums (K-quants), and each value's code.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct BlockView {
    /// The block's float scales by name, decoded from f16: ("d", ..), and ("m", ..) for Q4_1
    /// and Q5_1, ("dmin", ..) for Q2_K, Q4_K and Q5_K. Empty for the float types.
    pub scales: Vec<(&'static str, f32)>,
    /// Values per sub-block: 16 or 32 for the K-quants, QK for the others.
    pub sub_len: usize,
    /// The sub-blocks' scales as stored (the integers the file holds: 6 bits for Q4_K, 4 for
    /// Q2_K, signed 8 for Q6_K, ...); empty where the type has one scale per block.
    pub sub_scales: Vec<i32>,
    /// The sub-blocks' minimums as stored; empty where the type has none.
    pub sub_mins: Vec<i32>,
    /// Each value's code as stored, unsigned (0..15 for 4 bits, 0..63 for Q6_K; Q8_0 codes are
    /// signed, -127..127); empty for the float types.
    pub codes: Vec<i32>,
    /// Bits per code (0 for the float types).
    pub code_bits: u32,
    /// How a value is decoded from these parts, e.g. "d · sc · q − dmin · m".
    pub formula: &'static str,
}

/// A weight block type the matrix products run. Implemented beside each Quant impl.
pub trait Kernel: Quant {
    /// `out[t * rows + r] = W[r] · x[t]` for the `x.ntok()` rows of activations, with this build's
    /// kernel set (SIMD where the build has it).
    fn matmul(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]);
    /// The same with the scalar reference, the fixed float order every build reproduces.
    fn matmul_ref(w: &[Self], rows: usize, x: &Acts, out: &mut [f32]);
    /// A random block that a quantizer could have written (finite scales, codes in range), for
    /// the self-test. `unit` asks for unit scales and no minimums (integer-only results).
    fn random(next: &mut dyn FnMut() -> u64, unit: bool) -> Self;
}

/// The weight types the kernels multiply with, decided once per matrix when the model is loaded.
/// Every `match` on it is exhaustive, with no catch-all arm (`with_type!` is the one match that
/// names the block types): a type added here does not compile until everything handles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WeightType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
}

/// Runs `$body` with `$B` the block type of the WeightType `$ty`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_type {
    ($ty:expr, $B:ident => $body:expr) => {{
        use $crate::kernels as k;
        match $ty {
            k::WeightType::F32 => { type $B = f32; $body }
            k::WeightType::F16 => { type $B = k::F16; $body }
            k::WeightType::BF16 => { type $B = k::Bf16; $body }
            k::WeightType::Q4_0 => { type $B = k::BlockQ4_0; $body }
            k::WeightType::Q4_1 => { type $B = k::BlockQ4_1; $body }
            k::WeightType::Q5_0 => { type $B = k::BlockQ5_0; $body }
            k::WeightType::Q5_1 => { type $B = k::BlockQ5_1; $body }
            k::WeightType::Q8_0 => { type $B = k::BlockQ8_0; $body }
            k::WeightType::Q2K => { type $B = k::BlockQ2K; $body }
            k::WeightType::Q3K => { type $B = k::BlockQ3K; $body }
            k::WeightType::Q4K => { type $B = k::BlockQ4K; $body }
            k::WeightType::Q5K => { type $B = k::BlockQ5K; $body }
            k::WeightType::Q6K => { type $B = k::BlockQ6K; $body }
        }
    }};
}
pub use with_type;

impl WeightType {
    /// Every type, in the order the error message lists them.
    pub const ALL: [WeightType; 13] = [
        WeightType::F32,
        WeightType::F16,
        WeightType::BF16,
        WeightType::Q4_0,
        WeightType::Q4_1,
        WeightType::Q5_0,
        WeightType::Q5_1,
        WeightType::Q8_0,
        WeightType::Q2K,
        WeightType::Q3K,
        WeightType::Q4K,
        WeightType::Q5K,
        WeightType::Q6K,
    ];

    /// The kernel type for a ggml type, or None if the kernels do not run it. Exhaustive too, so
    /// that a type added to the reader is decided here.
    pub fn of(t: GgmlType) -> Option<WeightType> {
        use GgmlType::*;
        match t {
            F32 => Some(WeightType::F32),
            F16 => Some(WeightType::F16),
            BF16 => Some(WeightType::BF16),
            Q4_0 => Some(WeightType::Q4_0),
            Q4_1 => Some(WeightType::Q4_1),
            Q5_0 => Some(WeightType::Q5_0),
            Q5_1 => Some(WeightType::Q5_1),
            Q8_0 => Some(WeightType::Q8_0),
            Q2K => Some(WeightType::Q2K),
            Q3K => Some(WeightType::Q3K),
            Q4K => Some(WeightType::Q4K),
            Q5K => Some(WeightType::Q5K),
            Q6K => Some(WeightType::Q6K),
            // Q8_1 and Q8_K are activation formats, never a file's weights; the rest are not run.
            Q8_1 | Q8K | IQ2XXS | IQ2XS | IQ3XXS | IQ1S | IQ4NL | IQ3S | IQ2S | IQ4XS | I8 | I16 | I32 | I64 | F64 | IQ1M | TQ1_0 | TQ2_0 | MXFP4 => None,
        }
    }

    pub fn ggml(self) -> GgmlType {
        with_type!(self, B => <B as Quant>::TYPE)
    }

    /// The form of the activations this type's products read (Acts::quantize_for).
    pub fn forms(self) -> Forms {
        use WeightType::*;
        match self {
            F32 | F16 | BF16 => Forms::F32,
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 => Forms::Q8_1,
            Q2K | Q3K | Q4K | Q5K | Q6K => Forms::Q8_K,
        }
    }

    /// Values per block.
    pub fn qk(self) -> usize {
        with_type!(self, B => <B as Quant>::QK)
    }

    /// "F32, F16, BF16, Q4_0, ..." for error messages.
    pub fn names() -> String {
        WeightType::ALL.iter().map(|t| t.ggml().name()).collect::<Vec<_>>().join(", ")
    }
}

/// `rows` rows of weights of type `ty` in `bytes` (read in place) times the activations:
/// `out[t * rows + r] = W[r] · x[t]`; the rows split across the thread pool (split_rows).
pub fn matmul(ty: WeightType, bytes: &[u8], rows: usize, x: &Acts, out: &mut [f32]) -> Result<(), Error> {
    check_forms(ty, x)?;
    with_type!(ty, B => split_rows(cast_blocks::<B>(bytes)?, rows, x, out, <B as Kernel>::matmul))
}

/// The same with the scalar reference kernels.
pub fn matmul_ref(ty: WeightType, bytes: &[u8], rows: usize, x: &Acts, out: &mut [f32]) -> Result<(), Error> {
    check_forms(ty, x)?;
    with_type!(ty, B => split_rows(cast_blocks::<B>(bytes)?, rows, x, out, <B as Kernel>::matmul_ref))
}

/// An error (not the kernels' shape assertions) when `x` lacks the form a `ty` matrix reads:
/// quantized for other types (Acts::quantize_for).
pub(crate) fn check_forms(ty: WeightType, x: &Acts) -> Result<(), Error> {
    if x.forms.contains(ty.forms()) {
        return Ok(());
    }
    Err(Error::Limit(format!("a {} matrix reads activations in a form they were not quantized to ({:?} made, {:?} needed)", ty.ggml().name(), x.forms, ty.forms())))
}

/// Decodes whole blocks of type `ty` (bytes of one row, or any whole number of blocks) into
/// `out`, which must hold exactly their values.
pub fn dequantize(ty: WeightType, bytes: &[u8], out: &mut [f32]) -> Result<(), Error> {
    with_type!(ty, B => {
        let blocks = cast_blocks::<B>(bytes)?;
        if blocks.len() * B::QK != out.len() {
            return Err(Error::Limit(format!("{} {} blocks hold {} values, not {}", blocks.len(), B::TYPE, blocks.len() * B::QK, out.len())));
        }
        for (b, o) in blocks.iter().zip(out.chunks_exact_mut(B::QK)) {
            b.dequantize(o);
        }
    });
    Ok(())
}

/// The index of the first block of type `ty` in `bytes` with an infinite or NaN scale (or value).
pub fn first_non_finite(ty: WeightType, bytes: &[u8]) -> Result<Option<usize>, Error> {
    Ok(with_type!(ty, B => cast_blocks::<B>(bytes)?.iter().position(|b| !b.finite())))
}

/// The parts of the first block of `bytes`, which must be exactly one block of type `ty`.
pub fn view(ty: WeightType, bytes: &[u8]) -> Result<BlockView, Error> {
    with_type!(ty, B => match cast_blocks::<B>(bytes)? {
        [b] => Ok(b.view()),
        other => Err(Error::Limit(format!("{} bytes are {} {} blocks, not one", bytes.len(), other.len(), B::TYPE))),
    })
}

/// The shapes every instruction set's matmul needs (the SIMD ones rely on them for their
/// unchecked loads): `rows` rows of `x.nb` blocks, and room for `x.ntok` rows of output. The
/// model's shapes come from its config, checked when it was loaded: a failure here is a bug in
/// the caller, not in a file.
#[inline(always)]
pub(crate) fn check_matmul(w_blocks: usize, rows: usize, x: &Acts, out: usize) {
    assert!(
        w_blocks == rows * x.nb && x.blocks.len() == x.ntok * x.nb && out >= x.ntok * rows,
        "matmul shapes: {w_blocks} weight blocks in {rows} rows, {} rows of {} activation blocks, {out} outputs",
        x.ntok, x.nb
    );
}

/// As check_matmul for the K-quants: `rows` rows of `x.knb` super-blocks (knb > 0: the row
/// length is a multiple of 256; the loader refuses K-quant matrices whose rows are not).
#[inline(always)]
pub(crate) fn check_matmul_k(w_blocks: usize, rows: usize, x: &Acts, out: usize) {
    assert!(
        x.knb > 0 && w_blocks == rows * x.knb && x.kblocks.len() == x.ntok * x.knb && out >= x.ntok * rows,
        "matmul shapes: {w_blocks} weight super-blocks in {rows} rows, {} rows of {} activation super-blocks, {out} outputs",
        x.ntok, x.knb
    );
}

/// As check_matmul for the float types: `rows` rows of `x.k` values.
#[inline(always)]
pub(crate) fn check_matmul_f(w_values: usize, rows: usize, x: &Acts, out: usize) {
    assert!(
        w_values == rows * x.k && x.f.len() == x.ntok * x.k && out >= x.ntok * rows,
        "matmul shapes: {w_values} weights in {rows} rows, {} rows of {} activations, {out} outputs",
        x.ntok, x.k
    );
}

/// How far ahead of a decode step's weight row the wasm kernels ask for its lines, in bytes
/// (measured in Chromium on Gemma 3, in-page A/B: decode 1.34× with 2 KiB against none; 1 KiB and 4 KiB 1.12× over 2 KiB, 8 KiB 1.08×),
/// when they read ahead at all (`set_read_ahead`). The AVX2 kernels prefetch as far ahead.
#[cfg(any(target_arch = "wasm32", all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
pub(crate) const AHEAD: usize = 4096;

/// The bytes of a slice of weight blocks (their file's bytes, cast back).
#[cfg(any(target_arch = "wasm32", all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")))]
#[inline(always)]
pub(crate) fn block_bytes<B: Block>(w: &[B]) -> &[u8] {
    // SAFETY: a Block has no padding (its contract, above), so its bytes are initialised.
    unsafe { core::slice::from_raw_parts(w.as_ptr() as *const u8, core::mem::size_of_val(w)) }
}

/// Whether the wasm kernels read ahead of a decode step's rows (`touch_lines`). A load is not a
/// prefetch: it cannot retire before its line arrives. Measured in Chromium, the read-ahead made
/// Gemma 3's decode 1.34× faster on a 2 × Intel Xeon (2026-12-02) and 0.88–0.90× as fast on a
/// 2 × AMD EPYC (Zen 3, 2026-12-07), where the hardware's own prefetcher already streams the
/// rows; so the engine tries both on its first decode steps and keeps the faster (wasm.rs,
/// ReadAheadTrial). Off until then. It changes no number, only the loads issued.
static READ_AHEAD: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns the wasm kernels' read-ahead on or off (every thread: the flag is in shared memory in
/// the threads build). No effect natively, where the AVX2 kernels prefetch.
pub fn set_read_ahead(on: bool) {
    READ_AHEAD.store(on, core::sync::atomic::Ordering::Relaxed);
}

/// Whether the wasm kernels read ahead (`set_read_ahead`).
pub fn read_ahead() -> bool {
    READ_AHEAD.load(core::sync::atomic::Ordering::Relaxed)
}

/// Reads one byte of every 64-byte line of `bytes[from..from + len]` (what of it exists) into
/// `sink`. In wasm, which has no prefetch instruction, a load ahead of the kernel's stands in for
/// one: the line is on its way from memory by the time the kernel gets to it. No result depends
/// on the bytes read.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub(crate) fn touch_lines(bytes: &[u8], from: usize, len: usize, sink: &mut u8) {
    let end = from.saturating_add(len).min(bytes.len());
    let mut i = from;
    while i < end {
        *sink ^= bytes[i];
        i += 64;
    }
}

/// Prefetches every 64-byte line of `bytes[from..from + len]` (what of it exists): the x86 twin
/// of `touch_lines`, with the instruction wasm lacks. No result depends on it.
#[cfg(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma"))]
#[inline(always)]
pub(crate) fn prefetch_lines(bytes: &[u8], from: usize, len: usize) {
    use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let end = from.saturating_add(len).min(bytes.len());
    let mut i = from;
    while i < end {
        // SAFETY: SSE, enabled for this build; `i` is inside `bytes`, and a prefetch reads nothing
        // the program sees.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().add(i) as *const i8) };
        i += 64;
    }
}

/// Drives a row kernel over a matrix product: for every weight row, `tile(row, t0, nt)` gives
/// the row's products with tokens t0..t0+nt (nt <= 4), written to `out[t * rows + row]`.
#[inline(always)]
pub(crate) fn for_tiles(rows: usize, ntok: usize, out: &mut [f32], mut tile: impl FnMut(usize, usize, usize) -> [f32; 4]) {
    let mut t0 = 0;
    while t0 < ntok {
        let nt = (ntok - t0).min(4);
        for r in 0..rows {
            let v = tile(r, t0, nt);
            for j in 0..nt {
                out[(t0 + j) * rows + r] = v[j];
            }
        }
        t0 += nt;
    }
}

/// A row kernel's N results in the 4 slots for_tiles takes.
#[inline(always)]
pub(crate) fn pad4<const N: usize>(a: [f32; N]) -> [f32; 4] {
    let mut o = [0f32; 4];
    o[..N].copy_from_slice(&a);
    o
}
