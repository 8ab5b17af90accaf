//! The activations of the matrix products: each row quantized once, into every form a weight
//! type may ask for (Q8_1 blocks of 32, ggml's Q8_K blocks of 256, the f32 values), plus what the
//! instruction set derives from them once. Moved from kernels/mod.rs as it was.

use super::{arch, kq, BlockQ8K, BlockQ8_1, QK, QK_K};

/// Quantizes `x` (a multiple of 32 long) into `out`, as ggml's quantize_row_q8_1 (and q8_0: the
/// same codes and d) but keeping f32 scales: d = amax / 127, codes x / d rounded half to even (as
/// its x86 SIMD version rounds), s = d · Σ codes. (Rounding d and s to f16 as ggml stores them was
/// measured on the requantized files of tests/quants.rs: further from llama.cpp's logits, not
/// closer.)
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

/// quantize_q8_1 as this build runs it: the WebAssembly SIMD twin (the same blocks bit for bit:
/// simd128/quantize.rs; kernels::selftest checks it), or the function above.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use super::simd128::quantize_q8_1 as quantize_q8_1_arch;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
pub(crate) use quantize_q8_1 as quantize_q8_1_arch;

/// ggml's nearest_int: round half to even by the 1.5 · 2^23 trick (exact for |x| < 2^22; here
/// |x| <= 127).
#[inline(always)]
fn nearest_int(x: f32) -> i32 {
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// Quantizes `x` (a multiple of 256 long) into `out` for the K-quants exactly as ggml's
/// quantize_row_q8_K_ref: `max` the value of largest magnitude (its sign kept), iscale =
/// -127 / max, codes nearest_int(iscale · x) capped at 127, d = 1 / iscale (negative when max is
/// positive: the codes carry the other sign), and the 16-value sums. A block that is all zero, or
/// whose scale would not be finite, gets d = 0 and zero codes.
pub fn quantize_q8_k(x: &[f32], out: &mut [BlockQ8K]) {
    debug_assert_eq!(x.len(), out.len() * QK_K);
    for (xb, b) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let iscale = -127.0 / max;
        if !(amax > 0.0 && iscale.is_finite() && (1.0 / iscale).is_normal()) {
            b.d = 0.0;
            b.qs = [0; QK_K];
            b.bsums = [0; 16];
            continue;
        }
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (j, s) in b.bsums.iter_mut().enumerate() {
            *s = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum();
        }
        b.d = 1.0 / iscale;
    }
}

/// Quantizes rows of `k` values of `x` into `per_row` blocks each with `q`, the rows split across
/// the thread pool when there are many (a prefill): each row by one task with `q` itself, so the
/// same bits for any thread count.
fn quantize_rows<B: Send>(x: &[f32], k: usize, out: &mut [B], per_row: usize, q: fn(&[f32], &mut [B])) {
    let ntok = x.len() / k;
    // A decode step's row: the split would cost more than it saves.
    if x.len() < crate::pool::SPLIT_MIN_VALUES {
        return q(x, out);
    }
    if ntok.min(2 * crate::pool::threads()) > 1 {
        let parts = crate::pool::Parts::new(&mut out[..ntok * per_row]);
        let r = crate::pool::run_runs(ntok, &|t0, t1| {
            // SAFETY: each run of rows t0..t1 is one call's (run_runs: disjoint), and so are their blocks.
            q(&x[t0 * k..t1 * k], unsafe { parts.get(t0 * per_row..t1 * per_row) });
        });
        if r.is_ok() {
            return;
        }
    }
    // One thread, or a poisoned pool (the forward pass reports that at its next product).
    crate::pool::unsplit(|| q(x, out));
}

/// The forms of the activations that weight types read (`WeightType::forms`): Q8_1 blocks of
/// 32 (the 32-value types), Q8_K blocks of 256 (the K-quants), the f32 values (the float types).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forms(u8);

impl Forms {
    pub const NONE: Forms = Forms(0);
    pub const Q8_1: Forms = Forms(1);
    pub const Q8_K: Forms = Forms(2);
    pub const F32: Forms = Forms(4);
    pub const ALL: Forms = Forms(7);

    pub fn contains(self, other: Forms) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for Forms {
    type Output = Forms;
    fn bitor(self, other: Forms) -> Forms {
        Forms(self.0 | other.0)
    }
}

/// Activations for the matrix products, `ntok` rows of `k` values, in the forms the weight types
/// that read them ask for (`Forms`), made once per input and shared by the matrix products that
/// read it (q, k and v; gate and up): Q8_1 blocks of 32, Q8_K blocks of 256 when k is a
/// multiple of 256, and the f32 values themselves; plus what the instruction set derives from
/// them once (`arch::Prepared`, `kq::Prepared`). A form not asked for is not made (a SmolLM2
/// Q4_1 file needs Q8_1 only): kernels::matmul refuses a product whose form is absent. Kept in
/// the run state and refilled in place: once grown to the largest chunk it allocates nothing.
#[derive(Default)]
pub struct Acts {
    pub(crate) blocks: Vec<BlockQ8_1>,
    pub(crate) nb: usize,
    pub(crate) ntok: usize,
    pub(crate) prep: arch::Prepared,
    /// Q8_K blocks, `knb` per row; knb = 0 when k is not a multiple of 256.
    pub(crate) kblocks: Vec<BlockQ8K>,
    pub(crate) knb: usize,
    pub(crate) kprep: kq::Prepared,
    /// The values, rows of `k`.
    pub(crate) f: Vec<f32>,
    pub(crate) k: usize,
    /// The forms made by the last quantize.
    pub(crate) forms: Forms,
}

impl Acts {
    pub fn new() -> Acts {
        Acts::default()
    }

    /// Quantizes `x`, rows of `k` values each (k a multiple of 32; the model's shapes are), into
    /// every form.
    pub fn quantize(&mut self, x: &[f32], k: usize) {
        self.quantize_for(x, k, Forms::ALL)
    }

    /// Quantizes `x` into the forms `forms` only (the union of `WeightType::forms` of the
    /// matrices that will read it); the others are left empty.
    pub fn quantize_for(&mut self, x: &[f32], k: usize, forms: Forms) {
        assert!(k > 0 && k.is_multiple_of(QK) && x.len().is_multiple_of(k), "{} values are not whole rows of {k} (a multiple of {QK})", x.len());
        self.ntok = x.len() / k;
        self.k = k;
        self.forms = forms;
        self.nb = if forms.contains(Forms::Q8_1) { k / QK } else { 0 };
        self.blocks.resize(self.ntok * self.nb, BlockQ8_1::default());
        if self.nb > 0 {
            quantize_rows(x, k, &mut self.blocks, self.nb, quantize_q8_1_arch);
            arch::prepare(&mut self.prep, &self.blocks, self.nb, self.ntok);
        }
        self.knb = if forms.contains(Forms::Q8_K) && k.is_multiple_of(QK_K) { k / QK_K } else { 0 };
        self.kblocks.resize(self.ntok * self.knb, BlockQ8K::default());
        if self.knb > 0 {
            quantize_rows(x, k, &mut self.kblocks, self.knb, quantize_q8_k);
            kq::prepare(&mut self.kprep, &self.kblocks, self.knb, self.ntok);
        }
        self.f.clear();
        if forms.contains(Forms::F32) {
            self.f.extend_from_slice(x);
        }
    }

    /// The forms made by the last quantize.
    pub fn forms(&self) -> Forms {
        self.forms
    }

    pub fn blocks(&self) -> &[BlockQ8_1] {
        &self.blocks
    }

    pub fn kblocks(&self) -> &[BlockQ8K] {
        &self.kblocks
    }

    pub fn values(&self) -> &[f32] {
        &self.f
    }

    /// Rows (tokens).
    pub fn ntok(&self) -> usize {
        self.ntok
    }

    /// Q8_1 blocks per row.
    pub fn nb(&self) -> usize {
        self.nb
    }

    /// Q8_K blocks per row (0 when the row length is not a multiple of 256).
    pub fn knb(&self) -> usize {
        self.knb
    }

    /// Values per row.
    pub fn k(&self) -> usize {
        self.k
    }
}
