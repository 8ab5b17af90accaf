//! The hot kernels: quantized matrix products, the f32 vector operations of attention, and the
//! block layouts they read.
//!
//! One file per instruction set with the same function names in each (`scalar.rs`, the
//! reference; `simd128.rs` for WebAssembly; `avx2.rs` natively), chosen here at compile time.
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

pub use arch::{matmul_q4_1, matmul_q8_0};

use crate::Error;

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
// Block layouts (ggml's, byte for byte; the f16 scales are kept as their bits)
// ------------------------------------------------------------------------------------------------

/// Q4_1: 32 weights = d * code + m, codes 0..15; `qs[j]` holds weight j in its low nibble and
/// weight j + 16 in its high nibble.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; 16],
}

/// Q8_0: 32 weights = d * code, codes -127..127.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; 32],
}

/// The activations, quantized: x ≈ d * qs, and s = d * Σ qs (used by Q4_1's minimum).
/// Unlike ggml's block_q8_1 the scales stay f32: they live only in memory, never in a file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlockQ8_1 {
    pub d: f32,
    pub s: f32,
    pub qs: [i8; 32],
}

const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 40);
const _: () = assert!(std::mem::align_of::<BlockQ4_1>() == 2);
const _: () = assert!(std::mem::align_of::<BlockQ8_0>() == 2);

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
    impl Sealed for super::BlockQ4_1 {}
    impl Sealed for super::BlockQ8_0 {}
    impl Sealed for super::BlockQ8_1 {}
    impl Sealed for f32 {}
}

/// A plain block type that bytes can be read as in place: `Copy`, no padding, no pointers, and
/// every bit pattern a valid value. Sealed: only the types of this module implement it.
///
/// # Safety
/// An implementor must be a `repr(C)` (or primitive) type of integers and floats only, with no
/// padding bytes (the size asserts above check that for the blocks), so that any `size_of::<T>()`
/// initialised bytes at an address aligned for `T` are a valid `T`.
pub unsafe trait Block: sealed::Sealed + Copy + 'static {}

// SAFETY: repr(C) { u16, u16, [u8; 16] }: 20 bytes, no padding (asserted), any bits valid.
unsafe impl Block for BlockQ4_1 {}
// SAFETY: repr(C) { u16, [i8; 32] }: 34 bytes, no padding (asserted), any bits valid.
unsafe impl Block for BlockQ8_0 {}
// SAFETY: repr(C) { f32, f32, [i8; 32] }: 40 bytes, no padding (asserted), any bits valid.
unsafe impl Block for BlockQ8_1 {}
// SAFETY: a primitive: 4 bytes, any bits valid (a NaN is a valid f32).
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
// Activations and dequantization (cheap, shared by every instruction set)
// ------------------------------------------------------------------------------------------------

/// Quantizes `x` (a multiple of 32 long) into `out`, as ggml's quantize_row_q8_1 but rounding
/// half to even (as its x86 SIMD version does) and keeping f32 scales.
pub fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    debug_assert_eq!(x.len(), out.len() * QK);
    for (xb, b) in x.chunks_exact(QK).zip(out.iter_mut()) {
        let amax = xb.iter().fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
        let d = amax / 127.0;
        // A subnormal d has no finite inverse: such a row is all but zero and quantizes to zeros.
        let id = if d.is_normal() { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            let r = (v * id).round_ties_even() as i32;
            *q = r as i8;
            sum += r;
        }
        b.d = d;
        b.s = d * sum as f32;
    }
}

/// Activations quantized for the matrix products: `ntok` rows of `nb` Q8_1 blocks, plus what the
/// instruction set derives from them once (`arch::Prepared`: scales padded to whole groups of
/// four blocks, codes widened for plain SIMD128), so that the matrix products reading the same
/// activations (q, k and v; gate and up) share one quantization. Kept in the run state and
/// refilled in place: once grown to the largest chunk it allocates nothing.
#[derive(Default)]
pub struct Acts {
    pub(crate) blocks: Vec<BlockQ8_1>,
    pub(crate) nb: usize,
    pub(crate) ntok: usize,
    pub(crate) prep: arch::Prepared,
}

impl Acts {
    pub fn new() -> Acts {
        Acts::default()
    }

    /// Quantizes `x`, rows of `k` values each (k a multiple of 32; the model's shapes are).
    pub fn quantize(&mut self, x: &[f32], k: usize) {
        assert!(k > 0 && k.is_multiple_of(QK) && x.len().is_multiple_of(k), "{} values are not whole rows of {k} (a multiple of {QK})", x.len());
        self.ntok = x.len() / k;
        self.nb = k / QK;
        self.blocks.resize(self.ntok * self.nb, BlockQ8_1::default());
        quantize_q8_1(x, &mut self.blocks);
        arch::prepare(&mut self.prep, &self.blocks, self.nb, self.ntok);
    }

    /// Takes already quantized blocks, rows of `nb` each (the self-test's random activations).
    pub fn set_blocks(&mut self, blocks: &[BlockQ8_1], nb: usize) {
        assert!(nb > 0 && blocks.len().is_multiple_of(nb), "{} blocks are not whole rows of {nb}", blocks.len());
        self.ntok = blocks.len() / nb;
        self.nb = nb;
        self.blocks.clear();
        self.blocks.extend_from_slice(blocks);
        arch::prepare(&mut self.prep, &self.blocks, self.nb, self.ntok);
    }

    pub fn blocks(&self) -> &[BlockQ8_1] {
        &self.blocks
    }

    /// Rows (tokens).
    pub fn ntok(&self) -> usize {
        self.ntok
    }

    /// Blocks per row.
    pub fn nb(&self) -> usize {
        self.nb
    }
}

pub fn dequantize_q4_1(b: &BlockQ4_1, out: &mut [f32]) {
    let d = f16_to_f32(b.d);
    let m = f16_to_f32(b.m);
    for j in 0..16 {
        out[j] = (b.qs[j] & 0x0f) as f32 * d + m;
        out[j + 16] = (b.qs[j] >> 4) as f32 * d + m;
    }
}

pub fn dequantize_q8_0(b: &BlockQ8_0, out: &mut [f32]) {
    let d = f16_to_f32(b.d);
    for j in 0..32 {
        out[j] = b.qs[j] as f32 * d;
    }
}

/// Multiplies a quantized weight matrix (`rows` rows of `k`) by the `x.ntok()` rows of
/// activations: `out[t * rows + r] = W[r] · x[t]`.
pub enum QWeights<'a> {
    Q4_1(&'a [BlockQ4_1]),
    Q8_0(&'a [BlockQ8_0]),
}

pub fn matmul(w: &QWeights, rows: usize, x: &Acts, out: &mut [f32]) {
    match w {
        QWeights::Q4_1(b) => matmul_q4_1(b, rows, x, out),
        QWeights::Q8_0(b) => matmul_q8_0(b, rows, x, out),
    }
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

// ------------------------------------------------------------------------------------------------
// Attention over the KV cache, one query head
// ------------------------------------------------------------------------------------------------

/// Attention of the `group` query heads that share one KV head (grouped-query attention):
/// for each head h, softmax(q_h · K / sqrt(d)) · V. `q` holds the group's heads one after the
/// other (`hd` floats each); `keys` and `values` hold `n` positions with `stride` floats between
/// them, this KV head's `hd` floats at the start of each. `scores` receives the attention weights
/// (group × n; the page draws them), `out` the group's outputs (group × hd).
///
/// Each head is computed in the order scalar.rs states (its dot product order, then softmax with
/// exp_f32, then the values added position by position), whatever the instruction set.
#[allow(clippy::too_many_arguments)]
pub fn attention_group(q: &[f32], hd: usize, keys: &[f32], values: &[f32], stride: usize, n: usize, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    // The model passes shapes from its config (checked when it was loaded): a failure here is a
    // bug in the caller, not in a file. The SIMD kernels' loads rely on this check.
    let group = q.len() / hd;
    let kv_need = if n == 0 { 0 } else { (n - 1) * stride + hd };
    assert!(
        scores.len() >= group * n && out.len() >= group * hd && keys.len() >= kv_need && values.len() >= kv_need,
        "attention shapes: {group} heads of {hd} over {n} positions (stride {stride}) need {} scores, {} outputs and {kv_need} keys and values; got {}, {}, {} and {}",
        group * n, group * hd, scores.len(), out.len(), keys.len(), values.len()
    );
    #[cfg(any(
        all(target_arch = "wasm32", target_feature = "simd128"),
        all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")
    ))]
    if hd == 64 {
        match group {
            // SAFETY: attention64's contract is the assert above with hd = 64 and group = G
            // (q holds q.len() / 64 >= G heads).
            1 => return unsafe { arch::attention64::<1>(q, keys, values, stride, n, scale, scores, out) },
            // SAFETY: as for 1.
            2 => return unsafe { arch::attention64::<2>(q, keys, values, stride, n, scale, scores, out) },
            // SAFETY: as for 1.
            3 => return unsafe { arch::attention64::<3>(q, keys, values, stride, n, scale, scores, out) },
            // SAFETY: as for 1.
            4 => return unsafe { arch::attention64::<4>(q, keys, values, stride, n, scale, scores, out) },
            _ => {}
        }
    }
    // Any other shape: the reference itself (same order, so the same numbers).
    scalar::attention_group(q, hd, keys, values, stride, n, scale, scores, out)
}

/// The softmax step shared by every instruction set: scores (already scaled) to weights.
#[inline(always)]
pub(crate) fn softmax_in_place(scores: &mut [f32]) {
    let max = max_f32(scores);
    for s in scores.iter_mut() {
        *s = exp_f32(*s - max);
    }
    let mut sum = 0f32;
    for s in scores.iter() {
        sum += *s;
    }
    let inv = 1.0 / sum;
    for s in scores.iter_mut() {
        *s *= inv;
    }
}

/// The largest value (NEG_INFINITY for none; NaNs are passed over). A compare and a select,
/// where `f32::max` would be a call to fmaxf in WebAssembly.
#[inline(always)]
pub fn max_f32(x: &[f32]) -> f32 {
    x.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// e^x in plain f32 arithmetic (Cephes' expf: x = n·ln 2 + r, a degree-6 polynomial in r,
/// 2^n put into the exponent; within 2 ulp), so that the compiler can vectorise it and every
/// build rounds alike. Below -87.3 it is 0 (the smallest normal is e^-87.3).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published (the f32 values are what count)
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E; // 1.442695, the same f32 as Cephes' literal
    const C1: f32 = 0.693_359_4; // ln 2 = C1 - C2, C1 exact in few bits
    const C2: f32 = -2.121_944_4e-4;
    if x < -87.33 {
        return 0.0;
    }
    let x = if x > 88.72 { 88.72 } else { x };
    let n = (x * LOG2E).round_ties_even();
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e = p * (r * r) + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}
