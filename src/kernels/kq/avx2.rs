//! x86-64 AVX2 K-quant kernels: the same results as kq/scalar.rs, bit for bit.
//!
//! As llama.cpp's ggml-cpu AVX2 dot products for q4_K, q5_K and q6_K: vpmaddubsw multiplies the
//! unsigned codes (0..15, 0..31, 0..63: at most 2·63·127 per pair, no i16 saturation) with the
//! signed activation bytes, and vpmaddwd with the sub-block's scale broadcast to every i16 lane
//! gives sc·Σq·x in i32 lanes. Q6_K's offset of 32 is taken off once per super-block with the
//! activations' 16-value sums: Σ sc_j·Σ(q − 32)x = Σ sc_j·Σqx − 32·Σ sc_j·bsum_j. The minimums of
//! Q4_K and Q5_K are one vpmaddwd of the 8 minimums with the 32-value sums (prepared once per
//! quantization). Four super-blocks fill the four lanes of the float part, in kq/mod.rs's order,
//! without fused multiply-add; up to four tokens share each decoded super-block.
//!
//! Unsafe here is of two kinds, and every block says which: calling the intrinsics, sound because
//! this file is compiled only when the whole build enables AVX2 and FMA (the cfg in kq/mod.rs);
//! and loads through raw pointers, each bounded as its comment says.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::{bsums32, unpack_k4, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::kernels::{check_matmul_k, for_tiles, pad4, Acts};

/// The activations' d per super-block, each token's row padded with zeros to a multiple of four
/// super-blocks, and the 32-value sums of their codes (Q4_K and Q5_K minimums), 8 i16 per
/// super-block.
#[derive(Default)]
pub(crate) struct Prepared {
    d: Vec<f32>,
    b32: Vec<[i16; 8]>,
    nbp: usize,
}

pub(crate) fn prepare(p: &mut Prepared, x: &[BlockQ8K], knb: usize, ntok: usize) {
    let nbp = knb.div_ceil(4) * 4;
    p.nbp = nbp;
    p.d.resize(ntok * nbp, 0.0);
    p.b32.resize(ntok * knb, [0; 8]);
    for t in 0..ntok {
        for k in 0..nbp {
            p.d[t * nbp + k] = if k < knb { x[t * knb + k].d } else { 0.0 };
        }
        for k in 0..knb {
            p.b32[t * knb + k] = bsums32(&x[t * knb + k]);
        }
    }
}

/// 32 bytes from `p`.
///
/// # Safety
/// `p .. p + 32` must be inside one allocation.
#[inline(always)]
unsafe fn ld(p: *const u8) -> __m256i {
    // SAFETY: AVX, enabled for this build; the caller's bounds; unaligned load.
    unsafe { _mm256_loadu_si256(p as *const __m256i) }
}

/// Four f16 values (in the low half of u32 lanes) to f32, exactly as kernels::f16_to_f32.
#[inline(always)]
fn f16x4(h: __m128i) -> __m128 {
    // SAFETY: SSE2, enabled for this build; registers only.
    unsafe {
        let mag = _mm_mul_ps(_mm_castsi128_ps(_mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x7fff)), 13)), _mm_set1_ps(f32::from_bits(0x7780_0000)));
        _mm_or_ps(mag, _mm_castsi128_ps(_mm_slli_epi32(_mm_and_si128(h, _mm_set1_epi32(0x8000)), 16)))
    }
}

#[inline(always)]
fn finish(acc: __m128) -> f32 {
    let mut l = [0f32; 4];
    // SAFETY: SSE, enabled for this build; l has room for the 4 floats, unaligned store.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), acc) };
    (l[0] + l[1]) + (l[2] + l[3])
}

/// The sum of a 256-bit vector's two 128-bit halves.
#[inline(always)]
fn fold(v: __m256i) -> __m128i {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe { _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)) }
}

/// A K-quant super-block type: its integer sums with NT tokens' activations, and its f16 scales.
trait KBlock {
    const HAS_MIN: bool;
    /// Per token: i32 lanes summing to `sumi`, and (types with minimums) to `summ`.
    fn sums<const NT: usize>(&self, x: [&BlockQ8K; NT], b32: [&[i16; 8]; NT]) -> ([__m128i; NT], [__m128i; NT]);
    /// d, and dmin << 16.
    fn scale_bits(&self) -> u32;
}

/// Q4_K and Q5_K: the scales as i16 in both 128-bit halves (for the sub-block broadcasts) and the
/// minimums as 8 i16.
#[inline(always)]
fn scales_k4(q: &[u8; 12]) -> (__m256i, __m128i) {
    let u = unpack_k4(q);
    // SAFETY: AVX2, enabled for this build; registers only (built from the four words, not
    // through memory: a 16-byte load of four 4-byte stores would stall store forwarding).
    unsafe {
        let sm = _mm256_cvtepu8_epi16(_mm_set_epi32(u[3] as i32, u[2] as i32, u[1] as i32, u[0] as i32));
        (_mm256_permute2x128_si256(sm, sm, 0x00), _mm256_extracti128_si256(sm, 1))
    }
}

/// Sub-block j's scale (i16 lane j of `sc`) in every i16 lane.
#[inline(always)]
fn bcast16(sc: __m256i, j: usize) -> __m256i {
    let b = (2 * j) as i16;
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe { _mm256_shuffle_epi8(sc, _mm256_set1_epi16(((b + 1) << 8) | b)) }
}

/// Σ sc·Σ q·x of one 32-value sub-block, in 8 i32 lanes.
#[inline(always)]
fn dot32(q: __m256i, sc: __m256i, x: *const u8) -> __m256i {
    // SAFETY: AVX2, enabled for this build; x points to 32 codes of a BlockQ8K (the callers
    // pass qs.as_ptr() + 32j, j < 8).
    unsafe { _mm256_madd_epi16(sc, _mm256_maddubs_epi16(q, ld(x))) }
}

/// Q4_K and Q5_K share everything but the fifth bit: `hi` gives chunk c's bits 4 (None for Q4_K).
#[inline(always)]
fn sums_k4<const NT: usize, const FIVE: bool>(qs: &[u8; 128], qh: &[u8; 32], scales: &[u8; 12], x: [&BlockQ8K; NT], b32: [&[i16; 8]; NT]) -> ([__m128i; NT], [__m128i; NT]) {
    let (sc, mins) = scales_k4(scales);
    // SAFETY: AVX2, enabled for this build; the loads are of qs (4 × 32 bytes), qh (32 bytes),
    // x[j].qs (8 × 32 bytes, in dot32) and b32[j] (16 bytes), all inside those arrays.
    unsafe {
        let m4 = _mm256_set1_epi8(0x0f);
        let m10 = _mm256_set1_epi8(0x10);
        let mut hb = if FIVE { ld(qh.as_ptr()) } else { _mm256_setzero_si256() };
        let mut acc = [_mm256_setzero_si256(); NT];
        for c in 0..4 {
            let q = ld(qs.as_ptr().add(32 * c));
            let mut lo = _mm256_and_si256(q, m4);
            let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if FIVE {
                // bits 2c and 2c + 1 of qh are bits 0 and 1 of hb (shifted by 2 per chunk; the
                // bits that cross bytes land above bit 1 and are masked off).
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), m10));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), m10));
                hb = _mm256_srli_epi16(hb, 2);
            }
            let (s_lo, s_hi) = (bcast16(sc, 2 * c), bcast16(sc, 2 * c + 1));
            for j in 0..NT {
                let xp = x[j].qs.as_ptr() as *const u8;
                acc[j] = _mm256_add_epi32(acc[j], _mm256_add_epi32(dot32(lo, s_lo, xp.add(64 * c)), dot32(hi, s_hi, xp.add(64 * c + 32))));
            }
        }
        let mut si = [_mm_setzero_si128(); NT];
        let mut sm = [_mm_setzero_si128(); NT];
        for j in 0..NT {
            si[j] = fold(acc[j]);
            sm[j] = _mm_madd_epi16(mins, _mm_loadu_si128(b32[j].as_ptr() as *const __m128i));
        }
        (si, sm)
    }
}

impl KBlock for BlockQ4K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: [&BlockQ8K; NT], b32: [&[i16; 8]; NT]) -> ([__m128i; NT], [__m128i; NT]) {
        sums_k4::<NT, false>(&self.qs, &[0; 32], &self.scales, x, b32)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32 | (self.dmin as u32) << 16
    }
}

impl KBlock for BlockQ5K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: [&BlockQ8K; NT], b32: [&[i16; 8]; NT]) -> ([__m128i; NT], [__m128i; NT]) {
        sums_k4::<NT, true>(&self.qs, &self.qh, &self.scales, x, b32)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32 | (self.dmin as u32) << 16
    }
}

impl KBlock for BlockQ6K {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: [&BlockQ8K; NT], _: [&[i16; 8]; NT]) -> ([__m128i; NT], [__m128i; NT]) {
        // SAFETY: AVX2, enabled for this build; the loads are of scales (16 bytes), ql (2 × 64
        // bytes), qh (2 × 32 bytes), x[j].bsums (32 bytes) and x[j].qs (8 × 32 bytes), all inside
        // those arrays.
        unsafe {
            let sc8 = _mm_loadu_si128(self.scales.as_ptr() as *const __m128i);
            let sc16 = _mm256_cvtepi8_epi16(sc8);
            let mut acc = [_mm256_setzero_si256(); NT];
            for j in 0..NT {
                // −32·Σ sc_j·bsum_j: |sc·bsum| <= 128·2032, a pair of them fits i32.
                let corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256(x[j].bsums.as_ptr() as *const __m256i));
                acc[j] = _mm256_sub_epi32(acc[j], _mm256_slli_epi32(corr, 5));
            }
            let m4 = _mm256_set1_epi8(0x0f);
            let m30 = _mm256_set1_epi8(0x30);
            for h in 0..2 {
                let q1 = ld(self.ql.as_ptr().add(64 * h));
                let q2 = ld(self.ql.as_ptr().add(64 * h + 32));
                let hb = ld(self.qh.as_ptr().add(32 * h));
                // values 128h + 32k .. + 32 (bits 4-5 from bits 2k, 2k+1 of hb; the bits that
                // cross bytes in the 16-bit shifts are masked off)
                let codes = [
                    _mm256_or_si256(_mm256_and_si256(q1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30)),
                    _mm256_or_si256(_mm256_and_si256(q2, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q1, 4), m4), _mm256_and_si256(hb, m30)),
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30)),
                ];
                for k in 0..4 {
                    // sub-blocks 2p and 2p + 1 (p = 4h + k): their scales in the low and high 8
                    // i16 lanes, as the bytes of the two 16-value halves are.
                    let p = (4 * h + k) as i8;
                    let s = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, _mm_set_epi64x(0x0101_0101_0101_0101 * (2 * p + 1) as i64, 0x0101_0101_0101_0101 * (2 * p) as i64)));
                    for j in 0..NT {
                        let xp = x[j].qs.as_ptr() as *const u8;
                        acc[j] = _mm256_add_epi32(acc[j], dot32(codes[k], s, xp.add(128 * h + 32 * k)));
                    }
                }
            }
            let mut si = [_mm_setzero_si128(); NT];
            for j in 0..NT {
                si[j] = fold(acc[j]);
            }
            (si, [_mm_setzero_si128(); NT])
        }
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32
    }
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four super-blocks, then the rest.
#[inline(always)]
fn row<B: KBlock, const NT: usize>(wr: &[B], x: &Acts, t0: usize) -> [f32; NT] {
    let nb = wr.len();
    let full = nb / 4 * 4;
    // SAFETY: SSE, enabled for this build; registers only.
    let mut acc = [unsafe { _mm_setzero_ps() }; NT];
    let mut g = 0;
    while g < full {
        group::<B, NT, 4>(wr, x, t0, g, &mut acc);
        g += 4;
    }
    match nb - full {
        1 => group::<B, NT, 1>(wr, x, t0, g, &mut acc),
        2 => group::<B, NT, 2>(wr, x, t0, g, &mut acc),
        3 => group::<B, NT, 3>(wr, x, t0, g, &mut acc),
        _ => {}
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = finish(acc[j]);
    }
    out
}

/// Super-block K of a group (if K < CNT) with each token: its sums into si[j][K] and sm[j][K].
#[inline(always)]
fn block<B: KBlock, const NT: usize, const CNT: usize, const K: usize>(wr: &[B], x: &Acts, t0: usize, g: usize, si: &mut [[__m128i; 4]; NT], sm: &mut [[__m128i; 4]; NT]) {
    if K >= CNT {
        return;
    }
    let (nb, p) = (x.knb, &x.kprep);
    let xs: [&BlockQ8K; NT] = core::array::from_fn(|j| &x.kblocks[(t0 + j) * nb + g + K]);
    let bs: [&[i16; 8]; NT] = core::array::from_fn(|j| &p.b32[(t0 + j) * nb + g + K]);
    let (a, b) = wr[g + K].sums(xs, bs);
    for j in 0..NT {
        si[j][K] = a[j];
        sm[j][K] = b[j];
    }
}

/// CNT (1 to 4) super-blocks starting at g, into the four lanes of each token's accumulator
/// (absent ones add exactly +0).
#[inline(always)]
fn group<B: KBlock, const NT: usize, const CNT: usize>(wr: &[B], x: &Acts, t0: usize, g: usize, acc: &mut [__m128; NT]) {
    let p = &x.kprep;
    // SAFETY: SSE/SSSE3/SSE4.1, enabled for this build; the only memory access is the load of
    // d4, a slice of exactly 4 floats (bounds-checked where it is sliced).
    unsafe {
        let z = _mm_setzero_si128();
        let mut si = [[z; 4]; NT];
        let mut sm = [[z; 4]; NT];
        // The four one by one (LLVM may keep a loop, and its sums on the stack).
        block::<B, NT, CNT, 0>(wr, x, t0, g, &mut si, &mut sm);
        block::<B, NT, CNT, 1>(wr, x, t0, g, &mut si, &mut sm);
        block::<B, NT, CNT, 2>(wr, x, t0, g, &mut si, &mut sm);
        block::<B, NT, CNT, 3>(wr, x, t0, g, &mut si, &mut sm);
        let sb = |k: usize| if k < CNT { wr[g + k].scale_bits() as i32 } else { 0 };
        let bits = _mm_setr_epi32(sb(0), sb(1), sb(2), sb(3));
        let dw4 = f16x4(bits);
        let mw4 = f16x4(_mm_srli_epi32(bits, 16));
        for j in 0..NT {
            // hadd twice: the four super-blocks' exact integer sums in four lanes.
            let s = &si[j];
            let sumi = _mm_cvtepi32_ps(_mm_hadd_epi32(_mm_hadd_epi32(s[0], s[1]), _mm_hadd_epi32(s[2], s[3])));
            let i = (t0 + j) * p.nbp + g;
            let d4 = &p.d[i..i + 4];
            let dx = _mm_loadu_ps(d4.as_ptr());
            let mut t = _mm_mul_ps(sumi, _mm_mul_ps(dw4, dx));
            if B::HAS_MIN {
                let m = &sm[j];
                let summ = _mm_cvtepi32_ps(_mm_hadd_epi32(_mm_hadd_epi32(m[0], m[1]), _mm_hadd_epi32(m[2], m[3])));
                t = _mm_sub_ps(t, _mm_mul_ps(summ, _mm_mul_ps(mw4, dx)));
            }
            acc[j] = _mm_add_ps(acc[j], t);
        }
    }
}

fn matmul<B: KBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    check_matmul_k(w.len(), rows, x, out.len());
    let nb = x.knb;
    for_tiles(rows, x.ntok, out, |r, t0, nt| {
        let wr = &w[r * nb..(r + 1) * nb];
        match nt {
            4 => row::<B, 4>(wr, x, t0),
            3 => pad4(row::<B, 3>(wr, x, t0)),
            2 => pad4(row::<B, 2>(wr, x, t0)),
            _ => pad4(row::<B, 1>(wr, x, t0)),
        }
    });
}

pub fn matmul_q4k(w: &[BlockQ4K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q5k(w: &[BlockQ5K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q6k(w: &[BlockQ6K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}
