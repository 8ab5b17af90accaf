//! Q2_K and Q3_K × Q8_K with AVX2: the same results as the scalar kernels of kq23/mod.rs, bit for
//! bit (the float part four super-blocks wide in the fixed order, no fused multiply-add).
//!
//! As ggml-cpu's AVX2 ggml_vec_dot_q2_K_q8_K / q3_K: 32 codes at a time (two sub-blocks) times
//! 32 activation bytes with vpmaddubsw (unsigned codes × signed bytes, pairs summed in i16: at
//! most 2·7·127, no saturation), then vpmaddwd with the two sub-blocks' scales (i32). Q3_K's code
//! is taken unsigned, q + 4 in 0..7 (the hmask bit as bit 2), and 4·Σ_j sc_j·bsums_j is taken off
//! the integer sum; Q2_K's minimums are Σ_j m_j·bsums_j, one vpmaddwd. Each super-block's
//! sums are reduced to one i32 exactly, four super-blocks in four lanes, and only then scaled.
//! Up to four tokens share each decoded super-block.
//!
//! Unsafe here is of two kinds, and every block says which: calling the intrinsics, sound because
//! this file is compiled only when the whole build enables AVX2 and FMA (the cfg in
//! kernels/kq23/mod.rs); and loads through raw pointers, each bounded as its comment says.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::scales3;
use crate::kernels::{check_matmul_k, f16_to_f32, for_tiles, pad4, Acts, BlockQ2K, BlockQ3K, BlockQ8K};

/// vpshufb patterns that spread i16 scale 2j over the low 128-bit lane and 2j + 1 over the high
/// one, from 8 i16 scales repeated in both lanes.
const SHUF: [[u8; 32]; 4] = {
    let mut t = [[0u8; 32]; 4];
    let mut j = 0;
    while j < 4 {
        let mut b = 0;
        while b < 16 {
            t[j][b] = (4 * j + b % 2) as u8;
            t[j][16 + b] = (4 * j + 2 + b % 2) as u8;
            b += 1;
        }
        j += 1;
    }
    t
};

#[inline(always)]
fn load256(p: &[u8; 32]) -> __m256i {
    // SAFETY: AVX, enabled for this build; 32 bytes, one unaligned 256-bit load.
    unsafe { _mm256_loadu_si256(p.as_ptr() as *const __m256i) }
}

/// 32 activation bytes at value `at` (a multiple of 32, below 256).
#[inline(always)]
fn x32(x: &BlockQ8K, at: usize) -> __m256i {
    debug_assert!(at + 32 <= 256);
    // SAFETY: AVX, enabled for this build; qs is 256 bytes and at + 32 <= 256 (the callers pass
    // 128h + 32j with h < 2, j < 4).
    unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(at) as *const __m256i) }
}

/// The 16 bsums as i16.
#[inline(always)]
fn bsums(x: &BlockQ8K) -> __m256i {
    // SAFETY: AVX, enabled for this build; bsums is 16 i16, 32 bytes.
    unsafe { _mm256_loadu_si256(x.bsums.as_ptr() as *const __m256i) }
}

/// Eight i32 lanes to four (exact).
#[inline(always)]
fn fold(v: __m256i) -> __m128i {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe { _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v)) }
}

#[inline(always)]
fn finish(acc: __m128) -> f32 {
    let mut l = [0f32; 4];
    // SAFETY: SSE, enabled for this build; l has room for the 4 floats, no alignment needed.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), acc) };
    (l[0] + l[1]) + (l[2] + l[3])
}

/// A K-quant super-block type: its exact products with NT activation blocks, as four i32 partial
/// sums each (sumi, and summ for the types with minimums), and its float scales.
trait KBlock {
    const HAS_MIN: bool;
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([__m128i; NT], [__m128i; NT]);
    fn d(&self) -> f32;
    fn dmin(&self) -> f32;
}

/// The 16 sub-block scales (i16, in sub-block order) as the two vectors the products use: scales
/// 0..8 repeated in both 128-bit lanes, and 8..16.
#[inline(always)]
fn scale_reps(s16: __m256i) -> [__m256i; 2] {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe {
        let lo = _mm256_castsi256_si128(s16);
        let hi = _mm256_extracti128_si256::<1>(s16);
        [_mm256_set_m128i(lo, lo), _mm256_set_m128i(hi, hi)]
    }
}

/// Σ over the 8 steps (h, j) of sc · (codes · x): `codes(h, j, q)` gives the 32 unsigned codes
/// of values 128h + 32j .. + 32 from the 32 qs bytes of half h.
#[inline(always)]
fn products<const NT: usize>(qs: &[u8; 64], reps: &[__m256i; 2], x: &[&BlockQ8K; NT], codes: impl Fn(usize, usize, __m256i) -> __m256i) -> [__m256i; NT] {
    // SAFETY: AVX2, enabled for this build; the one load here says why it is in bounds.
    unsafe {
        let mut acc = [_mm256_setzero_si256(); NT];
        for h in 0..2 {
            // SAFETY (the load): qs is 64 bytes and 32h + 32 <= 64 (h < 2).
            let q = _mm256_loadu_si256(qs.as_ptr().add(32 * h) as *const __m256i);
            for j in 0..4 {
                let c = codes(h, j, q);
                let sc = _mm256_shuffle_epi8(reps[h], load256(&SHUF[j]));
                for t in 0..NT {
                    let p = _mm256_madd_epi16(sc, _mm256_maddubs_epi16(c, x32(x[t], 128 * h + 32 * j)));
                    acc[t] = _mm256_add_epi32(acc[t], p);
                }
            }
        }
        acc
    }
}

/// Bits 2j.. of each byte of q, masked to 2 bits.
#[inline(always)]
fn two_bits(q: __m256i, j: usize) -> __m256i {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe { _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j as i32)), _mm256_set1_epi8(3)) }
}

impl KBlock for BlockQ2K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([__m128i; NT], [__m128i; NT]) {
        // SAFETY: AVX2, enabled for this build; scales is 16 bytes, one unaligned 128-bit load.
        unsafe {
            let sv = _mm_loadu_si128(self.scales.as_ptr() as *const __m128i);
            let m4 = _mm_set1_epi8(0x0f);
            let sc = _mm256_cvtepu8_epi16(_mm_and_si128(sv, m4));
            let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(sv), m4));
            let reps = scale_reps(sc);
            let acc = products(&self.qs, &reps, x, |_, j, q| two_bits(q, j));
            let mut si = [_mm_setzero_si128(); NT];
            let mut sm = [_mm_setzero_si128(); NT];
            for t in 0..NT {
                si[t] = fold(acc[t]);
                sm[t] = fold(_mm256_madd_epi16(mins, bsums(x[t])));
            }
            (si, sm)
        }
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn dmin(&self) -> f32 {
        f16_to_f32(self.dmin)
    }
}

impl KBlock for BlockQ3K {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([__m128i; NT], [__m128i; NT]) {
        let s6 = scales3(&self.scales);
        // SAFETY: AVX2, enabled for this build; s6 is 16 bytes, one unaligned 128-bit load.
        unsafe {
            let sc = _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_loadu_si128(s6.as_ptr() as *const __m128i), _mm_set1_epi8(32)));
            let reps = scale_reps(sc);
            let hm = load256(&self.hmask);
            let four = _mm256_set1_epi8(4);
            // Code = low 2 bits | hmask bit (4h + j) moved to bit 2.
            let acc = products(&self.qs, &reps, x, |h, j, q| {
                let b = (4 * h + j) as i32;
                let hb = if b >= 2 { _mm256_srl_epi16(hm, _mm_cvtsi32_si128(b - 2)) } else { _mm256_sll_epi16(hm, _mm_cvtsi32_si128(2 - b)) };
                _mm256_or_si256(two_bits(q, j), _mm256_and_si256(hb, four))
            });
            let mut si = [_mm_setzero_si128(); NT];
            for t in 0..NT {
                // The codes were q + 4: take 4·Σ_j sc_j·bsums_j off.
                let corr = _mm256_slli_epi32::<2>(_mm256_madd_epi16(sc, bsums(x[t])));
                si[t] = fold(_mm256_sub_epi32(acc[t], corr));
            }
            (si, [_mm_setzero_si128(); NT])
        }
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn dmin(&self) -> f32 {
        0.0
    }
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four super-blocks, then the rest.
#[inline(always)]
fn row<B: KBlock, const NT: usize>(wr: &[B], x: &[BlockQ8K], t0: usize) -> [f32; NT] {
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

/// CNT (1 to 4) super-blocks starting at g, into the four lanes of each token's accumulator
/// (absent ones add exactly +0).
#[inline(always)]
fn group<B: KBlock, const NT: usize, const CNT: usize>(wr: &[B], x: &[BlockQ8K], t0: usize, g: usize, acc: &mut [__m128; NT]) {
    let nb = wr.len();
    // SAFETY: SSE4.1/AVX2, enabled for this build; registers only.
    unsafe {
        let mut si = [[_mm_setzero_si128(); 4]; NT];
        let mut sm = [[_mm_setzero_si128(); 4]; NT];
        for k in 0..CNT {
            let xs: [&BlockQ8K; NT] = core::array::from_fn(|j| &x[(t0 + j) * nb + g + k]);
            let (a, m) = wr[g + k].dots(&xs);
            for j in 0..NT {
                si[j][k] = a[j];
                sm[j][k] = m[j];
            }
        }
        let sd = |k: usize| if k < CNT { wr[g + k].d() } else { 0.0 };
        let sdm = |k: usize| if k < CNT { wr[g + k].dmin() } else { 0.0 };
        let d4 = _mm_setr_ps(sd(0), sd(1), sd(2), sd(3));
        let dm4 = _mm_setr_ps(sdm(0), sdm(1), sdm(2), sdm(3));
        for j in 0..NT {
            let xd = |k: usize| if k < CNT { x[(t0 + j) * nb + g + k].d } else { 0.0 };
            let dx = _mm_setr_ps(xd(0), xd(1), xd(2), xd(3));
            let s = &si[j];
            let sums = _mm_cvtepi32_ps(_mm_hadd_epi32(_mm_hadd_epi32(s[0], s[1]), _mm_hadd_epi32(s[2], s[3])));
            let mut t = _mm_mul_ps(sums, _mm_mul_ps(d4, dx));
            if B::HAS_MIN {
                let m = &sm[j];
                let mins = _mm_cvtepi32_ps(_mm_hadd_epi32(_mm_hadd_epi32(m[0], m[1]), _mm_hadd_epi32(m[2], m[3])));
                t = _mm_sub_ps(t, _mm_mul_ps(mins, _mm_mul_ps(dm4, dx)));
            }
            acc[j] = _mm_add_ps(acc[j], t);
        }
    }
}

fn matmul<B: KBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    check_matmul_k(w.len(), rows, x, out.len());
    let (nb, xb) = (x.knb, &x.kblocks[..]);
    for_tiles(rows, x.ntok, out, |r, t0, nt| {
        let wr = &w[r * nb..(r + 1) * nb];
        match nt {
            4 => row::<B, 4>(wr, xb, t0),
            3 => pad4(row::<B, 3>(wr, xb, t0)),
            2 => pad4(row::<B, 2>(wr, xb, t0)),
            _ => pad4(row::<B, 1>(wr, xb, t0)),
        }
    });
}

pub(super) fn matmul_q2k(w: &[BlockQ2K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub(super) fn matmul_q3k(w: &[BlockQ3K], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}
