//! x86-64 AVX2 kernels, so that the native numbers are honest: the same names and the same
//! results as scalar.rs, bit for bit (the float part runs four lanes wide, in scalar.rs's order,
//! without fused multiply-add, exactly like simd128/).
//!
//! The 8-bit products use vpmaddubsw (unsigned × signed bytes to i16 pairs) as llama.cpp's
//! ggml-cpu does: the 4- and 5-bit codes are unsigned as stored (Q4_0's and Q5_0's offsets, 8
//! and 16, come off the exact integer sums afterwards: Σ (q - o)·x = Σ q·x - o·Σ x, with Σ x per
//! activation block prepared once); for Q8_0 the sign of the weight is moved onto the activation
//! (|w| · sign(w)·x), exact for codes in -127..127, which is what ggml's quantizer writes.
//!
//! Unsafe here is of two kinds, and every block says which: calling the intrinsics, which is
//! sound because this file is compiled only when the whole build enables AVX2 and FMA (the cfg in
//! mod.rs; `-C target-cpu=native` on such a machine); and loads and stores through raw pointers,
//! each bounded as its comment says.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::x86_64::*;

use super::{f16_to_f32, Acts, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

#[inline(always)]
fn finish(acc: __m128) -> f32 {
    let mut l = [0f32; 4];
    // SAFETY: SSE, enabled for this build; l has room for the 4 floats and _mm_storeu_ps needs no
    // alignment.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), acc) };
    (l[0] + l[1]) + (l[2] + l[3])
}

/// 32 bytes in one 256-bit register.
#[inline(always)]
fn load32(b: &[i8; 32]) -> __m256i {
    // SAFETY: AVX, enabled for this build; the array is 32 bytes, one unaligned 256-bit load.
    unsafe { _mm256_loadu_si256(b.as_ptr() as *const __m256i) }
}

/// A weight block type: its products with one activation block (four partial i32 sums) and its
/// per-block float terms.
trait WeightBlock: super::Block {
    const HAS_MIN: bool;
    /// What the codes of `decode` exceed the type's codes by (Q4_0: 8, Q5_0: 16): the integer
    /// sum loses OFFSET·Σx.
    const OFFSET: i32 = 0;
    /// Whether dot8's sums lack the activation block's negative codes' magnitudes (Q8_0): the
    /// one-token path adds them afterwards.
    const NEG_SUM: bool = false;
    type W: Copy;
    fn decode(&self) -> Self::W;
    fn dot(w: Self::W, a: &BlockQ8_1) -> __m128i;
    fn d(&self) -> f32;
    fn m(&self) -> f32;
    /// The block times one activation block for the one-token path (`rows1`): eight partial
    /// i32 sums, not yet added up. `x` the activation codes, `ax` their absolute values.
    fn dot8(&self, x: __m256i, ax: __m256i) -> __m256i;
    /// The f16 bits of d, and of m for Q4_1 and Q5_1 (0 without).
    fn d_bits(&self) -> u16;
    fn m_bits(&self) -> u16 {
        0
    }
}

/// The 32 4-bit codes of a block in byte order of their weights: the low nibbles (weights
/// 0..15) in the low 128 bits, the high nibbles (16..31) in the high 128 bits.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: AVX2, enabled for this build; qs is 16 bytes, one unaligned 128-bit load.
    unsafe {
        let tmp = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp), _mm256_set1_epi8(0x0f))
    }
}

/// The 32 5-bit codes of a block: nibbles() with bit j of qh (little-endian) as bit 4 of byte j
/// (ggml's bytes_from_bits_32: byte j gets qh's byte j / 8, all its bits but bit j % 8 are set,
/// so it is all ones exactly when that bit is).
#[inline(always)]
fn codes5(qs: &[u8; 16], qh: [u8; 4]) -> __m256i {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe {
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(i32::from_le_bytes(qh)), _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0));
        let set = _mm256_cmpeq_epi8(_mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe)), _mm256_set1_epi64x(-1));
        _mm256_or_si256(nibbles(qs), _mm256_and_si256(set, _mm256_set1_epi8(0x10)))
    }
}

/// Unsigned codes (0..31: pairs of products fit i16) times activation codes: eight partial sums.
#[inline(always)]
fn dot8_unsigned(w: __m256i, x: __m256i) -> __m256i {
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)) }
}

/// Unsigned codes (0..31: pairs of products fit i16) times an activation block.
#[inline(always)]
fn dot_unsigned(w: __m256i, a: &BlockQ8_1) -> __m128i {
    let y = load32(&a.qs);
    // SAFETY: AVX2, enabled for this build; registers only.
    unsafe {
        let p = _mm256_madd_epi16(_mm256_maddubs_epi16(w, y), _mm256_set1_epi16(1));
        _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1))
    }
}

impl WeightBlock for BlockQ4_0 {
    const HAS_MIN: bool = false;
    const OFFSET: i32 = 8;
    type W = __m256i;
    #[inline(always)]
    fn decode(&self) -> __m256i {
        nibbles(&self.qs)
    }
    #[inline(always)]
    fn dot(w: __m256i, a: &BlockQ8_1) -> __m128i {
        dot_unsigned(w, a)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn dot8(&self, x: __m256i, _: __m256i) -> __m256i {
        dot8_unsigned(nibbles(&self.qs), x)
    }
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        self.d
    }
}

impl WeightBlock for BlockQ4_1 {
    const HAS_MIN: bool = true;
    type W = __m256i;
    #[inline(always)]
    fn decode(&self) -> __m256i {
        nibbles(&self.qs)
    }
    #[inline(always)]
    fn dot(w: __m256i, a: &BlockQ8_1) -> __m128i {
        dot_unsigned(w, a)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        f16_to_f32(self.m)
    }
    #[inline(always)]
    fn dot8(&self, x: __m256i, _: __m256i) -> __m256i {
        dot8_unsigned(nibbles(&self.qs), x)
    }
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        self.d
    }
    #[inline(always)]
    fn m_bits(&self) -> u16 {
        self.m
    }
}

impl WeightBlock for BlockQ5_0 {
    const HAS_MIN: bool = false;
    const OFFSET: i32 = 16;
    type W = __m256i;
    #[inline(always)]
    fn decode(&self) -> __m256i {
        codes5(&self.qs, self.qh)
    }
    #[inline(always)]
    fn dot(w: __m256i, a: &BlockQ8_1) -> __m128i {
        dot_unsigned(w, a)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn dot8(&self, x: __m256i, _: __m256i) -> __m256i {
        dot8_unsigned(codes5(&self.qs, self.qh), x)
    }
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        self.d
    }
}

impl WeightBlock for BlockQ5_1 {
    const HAS_MIN: bool = true;
    type W = __m256i;
    #[inline(always)]
    fn decode(&self) -> __m256i {
        codes5(&self.qs, self.qh)
    }
    #[inline(always)]
    fn dot(w: __m256i, a: &BlockQ8_1) -> __m128i {
        dot_unsigned(w, a)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        f16_to_f32(self.m)
    }
    #[inline(always)]
    fn dot8(&self, x: __m256i, _: __m256i) -> __m256i {
        dot8_unsigned(codes5(&self.qs, self.qh), x)
    }
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        self.d
    }
    #[inline(always)]
    fn m_bits(&self) -> u16 {
        self.m
    }
}

impl WeightBlock for BlockQ8_0 {
    const HAS_MIN: bool = false;
    type W = __m256i;
    #[inline(always)]
    fn decode(&self) -> __m256i {
        load32(&self.qs)
    }
    #[inline(always)]
    fn dot(w: __m256i, a: &BlockQ8_1) -> __m128i {
        let y = load32(&a.qs);
        // SAFETY: AVX2, enabled for this build; registers only.
        unsafe {
            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w)), _mm256_set1_epi16(1));
            _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1))
        }
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        0.0
    }
    /// Σ w·x as Σ |x|·(w ^ s) + Σ_{x<0} |x|, s the sign mask of x (-1 where x < 0): since
    /// !w = -w - 1, (w ^ s)·|x| = w·x - |x| where x < 0. |x| (0..127) is prepared once per
    /// activation block and shared by every row, so a row costs one xor, not llama.cpp's |w| and
    /// sign(w)·x; exact for every code, -128 included (negating w could overflow; the
    /// complement cannot), and pairs of products fit i16 in maddubs (2·128·127). The mask is
    /// the same for every row (one compare per block, hoisted); NEG_SUM adds the magnitudes.
    const NEG_SUM: bool = true;
    #[inline(always)]
    fn dot8(&self, x: __m256i, ax: __m256i) -> __m256i {
        // SAFETY: AVX2, enabled for this build; registers only.
        unsafe {
            let s = _mm256_cmpgt_epi8(_mm256_setzero_si256(), x);
            _mm256_madd_epi16(_mm256_maddubs_epi16(ax, _mm256_xor_si256(load32(&self.qs), s)), _mm256_set1_epi16(1))
        }
    }
    #[inline(always)]
    fn d_bits(&self) -> u16 {
        self.d
    }
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four blocks, then the rest.
#[inline(always)]
fn row<B: WeightBlock, const NT: usize>(wr: &[B], x: &[BlockQ8_1], ds: &Prepared, t0: usize) -> [f32; NT] {
    let nb = wr.len();
    let full = nb / 4 * 4;
    // SAFETY: SSE, enabled for this build; registers only.
    let mut acc = [unsafe { _mm_setzero_ps() }; NT];
    let mut g = 0;
    while g < full {
        group::<B, NT, 4>(wr, x, ds, t0, g, &mut acc);
        g += 4;
    }
    match nb - full {
        1 => group::<B, NT, 1>(wr, x, ds, t0, g, &mut acc),
        2 => group::<B, NT, 2>(wr, x, ds, t0, g, &mut acc),
        3 => group::<B, NT, 3>(wr, x, ds, t0, g, &mut acc),
        _ => {}
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = finish(acc[j]);
    }
    out
}

/// Block K of a group (if K < CNT) times each token's activation block: p[j][K].
#[inline(always)]
fn block<B: WeightBlock, const NT: usize, const CNT: usize, const K: usize>(wr: &[B], x: &[BlockQ8_1], t0: usize, g: usize, p: &mut [[__m128i; 4]; NT]) {
    if K >= CNT {
        return;
    }
    let nb = wr.len();
    let w = wr[g + K].decode();
    for (j, pj) in p.iter_mut().enumerate() {
        pj[K] = B::dot(w, &x[(t0 + j) * nb + g + K]);
    }
}

/// CNT (1 to 4) blocks starting at block g, into the four lanes of each token's accumulator
/// (absent blocks add exactly +0).
#[inline(always)]
fn group<B: WeightBlock, const NT: usize, const CNT: usize>(wr: &[B], x: &[BlockQ8_1], ds: &Prepared, t0: usize, g: usize, acc: &mut [__m128; NT]) {
    // SAFETY: AVX2, enabled for this build. The only memory accesses are the 4-value loads from
    // d4, s4 and x4, slices of exactly 4 values (bounds-checked where they are sliced).
    unsafe {
        let mut p = [[_mm_setzero_si128(); 4]; NT];
        // The four blocks one by one (LLVM may keep a loop, and its sums on the stack).
        block::<B, NT, CNT, 0>(wr, x, t0, g, &mut p);
        block::<B, NT, CNT, 1>(wr, x, t0, g, &mut p);
        block::<B, NT, CNT, 2>(wr, x, t0, g, &mut p);
        block::<B, NT, CNT, 3>(wr, x, t0, g, &mut p);
        // Built in registers (a round trip through memory would stall store forwarding).
        let sd = |k: usize| if k < CNT { wr[g + k].d() } else { 0.0 };
        let sm = |k: usize| if k < CNT { wr[g + k].m() } else { 0.0 };
        let dw4 = _mm_setr_ps(sd(0), sd(1), sd(2), sd(3));
        let mw4 = _mm_setr_ps(sm(0), sm(1), sm(2), sm(3));
        for j in 0..NT {
            // hadd twice: the four blocks' exact integer sums in four lanes.
            let mut si = _mm_hadd_epi32(_mm_hadd_epi32(p[j][0], p[j][1]), _mm_hadd_epi32(p[j][2], p[j][3]));
            let i = (t0 + j) * ds.nbp + g;
            if B::OFFSET != 0 {
                let x4 = &ds.sx[i..i + 4];
                si = _mm_sub_epi32(si, _mm_mullo_epi32(_mm_loadu_si128(x4.as_ptr() as *const __m128i), _mm_set1_epi32(B::OFFSET)));
            }
            let sums = _mm_cvtepi32_ps(si);
            let (d4, s4) = (&ds.d[i..i + 4], &ds.s[i..i + 4]);
            let (dx, sx) = (_mm_loadu_ps(d4.as_ptr()), _mm_loadu_ps(s4.as_ptr()));
            let mut term = _mm_mul_ps(sums, _mm_mul_ps(dw4, dx));
            term = _mm_add_ps(term, if B::HAS_MIN { _mm_mul_ps(mw4, sx) } else { _mm_setzero_ps() });
            acc[j] = _mm_add_ps(acc[j], term);
        }
    }
}

/// The activations' d and s, and the integer sums of their codes (for Q4_0's and Q5_0's
/// offsets), each token's row padded with zeros to a multiple of four blocks; and the absolute
/// values of the codes and the sums of the negative ones' magnitudes (Q8_0's one-token path),
/// `nb` blocks per token, unpadded. kernels::Acts keeps them, refilled in place.
#[derive(Default)]
pub(crate) struct Prepared {
    d: Vec<f32>,
    s: Vec<f32>,
    sx: Vec<i32>,
    ax: Vec<__m256i>,
    neg: Vec<i32>,
    nbp: usize,
}

pub(crate) fn prepare(p: &mut Prepared, x: &[BlockQ8_1], nb: usize, ntok: usize) {
    let nbp = nb.div_ceil(4) * 4;
    p.nbp = nbp;
    p.d.resize(ntok * nbp, 0.0);
    p.s.resize(ntok * nbp, 0.0);
    p.sx.resize(ntok * nbp, 0);
    p.ax.clear();
    // SAFETY: AVX2, enabled for this build; registers only (load32 bounds its own load).
    p.ax.extend(x[..ntok * nb].iter().map(|b| unsafe { _mm256_abs_epi8(load32(&b.qs)) }));
    p.neg.clear();
    p.neg.extend(x[..ntok * nb].iter().map(|b| b.qs.iter().map(|&q| if q < 0 { -(q as i32) } else { 0 }).sum::<i32>()));
    for t in 0..ntok {
        for k in 0..nbp {
            let (d, s, sx) = if k < nb {
                let b = &x[t * nb + k];
                (b.d, b.s, b.qs.iter().map(|&q| q as i32).sum())
            } else {
                (0.0, 0.0, 0)
            };
            p.d[t * nbp + k] = d;
            p.s[t * nbp + k] = s;
            p.sx[t * nbp + k] = sx;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// One token (decode): four rows at a time
// ------------------------------------------------------------------------------------------------

/// Four f16 values to f32, exactly as kernels::f16_to_f32 (one vcvtph2ps where the build has
/// F16C: the conversion is exact for every finite f16).
#[inline(always)]
fn f16x4(h: [u16; 4]) -> __m128 {
    #[cfg(target_feature = "f16c")]
    // SAFETY: F16C, enabled for this build; registers only.
    return unsafe { _mm_cvtph_ps(_mm_setr_epi16(h[0] as i16, h[1] as i16, h[2] as i16, h[3] as i16, 0, 0, 0, 0)) };
    #[cfg(not(target_feature = "f16c"))]
    // SAFETY: SSE, enabled for this build; registers only.
    return unsafe { _mm_setr_ps(f16_to_f32(h[0]), f16_to_f32(h[1]), f16_to_f32(h[2]), f16_to_f32(h[3])) };
}

/// Block k of R (1 to 4) rows against the token's block k, into `acc` (lane i: row i). The
/// rows' eight partial sums each are added up by one tree of hadds for all four (exact
/// integers), then each row's term `sumi·(d_w·d_x) + m_w·s_x` as scalar.rs writes it. Without a
/// minimum the `+ 0` is left out: it only turns a term of -0 into +0, and an accumulator that
/// starts at +0 never becomes -0 (x + y is -0 only when both are), so adding either gives the
/// same bits.
#[inline(always)]
fn block1<B: WeightBlock, const R: usize>(wr: &[&[B]; R], k: usize, x: &BlockQ8_1, ax: __m256i, sx: i32, neg: i32, acc: &mut __m128) {
    // SAFETY: AVX2, enabled for this build; registers only (load32 bounds its own load).
    unsafe {
        let xq = load32(&x.qs);
        let mut p = [_mm256_setzero_si256(); 4];
        for i in 0..R {
            p[i] = wr[i][k].dot8(xq, ax);
        }
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        let mut si = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        if B::OFFSET != 0 {
            si = _mm_sub_epi32(si, _mm_set1_epi32(B::OFFSET * sx));
        }
        if B::NEG_SUM {
            si = _mm_add_epi32(si, _mm_set1_epi32(neg));
        }
        let bits = |f: &dyn Fn(&B) -> u16| -> [u16; 4] { std::array::from_fn(|i| if i < R { f(&wr[i][k]) } else { 0 }) };
        let dw = f16x4(bits(&|b| b.d_bits()));
        let mut term = _mm_mul_ps(_mm_cvtepi32_ps(si), _mm_mul_ps(dw, _mm_set1_ps(x.d)));
        if B::HAS_MIN {
            term = _mm_add_ps(term, _mm_mul_ps(f16x4(bits(&|b| b.m_bits())), _mm_set1_ps(x.s)));
        }
        *acc = _mm_add_ps(*acc, term);
    }
}

/// CNT (0 to 4) blocks from block k, block k + j into acc[j].
#[inline(always)]
fn blocks1<B: WeightBlock, const R: usize, const CNT: usize>(wr: &[&[B]; R], k: usize, x: &[BlockQ8_1], p: &Prepared, acc: &mut [__m128; 4]) {
    for j in 0..CNT {
        block1::<B, R>(wr, k + j, &x[k + j], p.ax[k + j], p.sx[k + j], p.neg[k + j], &mut acc[j]);
    }
}

/// One token (`x`, its nb blocks) against R rows: block k of every row into accumulator k % 4,
/// lanes the rows; each row's result `(acc0 + acc1) + (acc2 + acc3)`, added lane by lane.
#[inline(always)]
fn rows1<B: WeightBlock, const R: usize>(wr: [&[B]; R], x: &[BlockQ8_1], p: &Prepared, out: &mut [f32]) {
    let nb = x.len();
    // SAFETY: SSE, enabled for this build; registers only.
    let mut acc = [unsafe { _mm_setzero_ps() }; 4];
    let mut k = 0;
    while k + 4 <= nb {
        blocks1::<B, R, 4>(&wr, k, x, p, &mut acc);
        k += 4;
    }
    match nb - k {
        1 => blocks1::<B, R, 1>(&wr, k, x, p, &mut acc),
        2 => blocks1::<B, R, 2>(&wr, k, x, p, &mut acc),
        3 => blocks1::<B, R, 3>(&wr, k, x, p, &mut acc),
        _ => {}
    }
    let mut l = [0f32; 4];
    // SAFETY: SSE, enabled for this build; l has room for the 4 floats, no alignment needed.
    unsafe { _mm_storeu_ps(l.as_mut_ptr(), _mm_add_ps(_mm_add_ps(acc[0], acc[1]), _mm_add_ps(acc[2], acc[3]))) };
    out[..R].copy_from_slice(&l[..R]);
}

/// A matrix product with one token (decode): four rows at a time, then the 1 to 3 left.
fn matmul1<B: WeightBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    let nb = x.nb;
    let (xb, p) = (&x.blocks[..nb], &x.prep);
    let wr = |r: usize| &w[r * nb..(r + 1) * nb];
    // A decode step streams the matrix from memory once: each group of rows asks for the lines
    // AHEAD bytes on (Gemma 3's 178 MB head: 34 ms → 17 ms here, on an AVX2-only EPYC).
    let (bytes, row_bytes) = (super::block_bytes(w), nb * core::mem::size_of::<B>());
    let mut r = 0;
    while r + 4 <= rows {
        super::prefetch_lines(bytes, r * row_bytes + super::AHEAD, 4 * row_bytes);
        rows1::<B, 4>([wr(r), wr(r + 1), wr(r + 2), wr(r + 3)], xb, p, &mut out[r..r + 4]);
        r += 4;
    }
    match rows - r {
        1 => rows1::<B, 1>([wr(r)], xb, p, &mut out[r..]),
        2 => rows1::<B, 2>([wr(r), wr(r + 1)], xb, p, &mut out[r..]),
        3 => rows1::<B, 3>([wr(r), wr(r + 1), wr(r + 2)], xb, p, &mut out[r..]),
        _ => {}
    }
}

fn matmul<B: WeightBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    super::check_matmul(w.len(), rows, x, out.len());
    if x.ntok == 1 {
        return matmul1(w, rows, x, out);
    }
    let (nb, xb, ds) = (x.nb, &x.blocks[..], &x.prep);
    super::for_tiles(rows, x.ntok, out, |r, t0, nt| {
        let wr = &w[r * nb..(r + 1) * nb];
        match nt {
            4 => row::<B, 4>(wr, xb, ds, t0),
            3 => super::pad4(row::<B, 3>(wr, xb, ds, t0)),
            2 => super::pad4(row::<B, 2>(wr, xb, ds, t0)),
            _ => super::pad4(row::<B, 1>(wr, xb, ds, t0)),
        }
    });
}

pub fn matmul_q4_0(w: &[BlockQ4_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q4_1(w: &[BlockQ4_1], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q5_0(w: &[BlockQ5_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q5_1(w: &[BlockQ5_1], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

pub fn matmul_q8_0(w: &[BlockQ8_0], rows: usize, x: &Acts, out: &mut [f32]) {
    matmul(w, rows, x, out)
}

/// attention16's scores of positions t .. t + P for its G heads.
///
/// # Safety
/// attention16's contract, and t + P <= n.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scores16<const G: usize, const P: usize>(q: &[f32], hd: usize, keys: &[f32], stride: usize, n: usize, t: usize, scale: f32, scores: &mut [f32]) {
    // SAFETY: AVX, enabled for this build; every load and store as noted at each one.
    unsafe {
        let mut acc = [[[_mm256_setzero_ps(); 2]; G]; P];
        for c in 0..hd / 16 {
            for (j, acc) in acc.iter_mut().enumerate() {
                // keys: t + j < n and 16c + 15 < hd, so every float read is below
                // (n - 1) × stride + hd.
                let k = keys.as_ptr().add((t + j) * stride + 16 * c);
                let kv = [_mm256_loadu_ps(k), _mm256_loadu_ps(k.add(8))];
                for (h, a) in acc.iter_mut().enumerate() {
                    // q: h < G, so h × hd + 16c + 15 < G × hd.
                    let qh = q.as_ptr().add(h * hd + 16 * c);
                    a[0] = _mm256_add_ps(a[0], _mm256_mul_ps(_mm256_loadu_ps(qh), kv[0]));
                    a[1] = _mm256_add_ps(a[1], _mm256_mul_ps(_mm256_loadu_ps(qh.add(8)), kv[1]));
                }
            }
        }
        for (j, acc) in acc.iter().enumerate() {
            for (h, &[a, b]) in acc.iter().enumerate() {
                let lo = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
                let hi = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps::<1>(b));
                // scores: h × n + t + j < G × n.
                *scores.get_unchecked_mut(h * n + t + j) = finish(_mm_add_ps(lo, hi)) * scale;
            }
        }
    }
}

/// The attention of G query heads sharing one KV head, for any head size hd that is a multiple of
/// 16 (see kernels::attention_group): the heads share each key and value load. A head's 16
/// accumulators of scalar::dot_f32 are two 256-bit registers (lanes 0..8 and 8..16), P positions
/// at a time (independent sums, so that the additions overlap), reduced in dot_f32's order:
/// (a_j + a_4+j) + (a_8+j + a_12+j) is each register's low half plus its high half, then the two
/// added, then finish. The values are added position by position into outputs kept in registers,
/// 16 dimensions at a time, in runs of positions. No fused multiply-add, so every sum rounds as scalar.rs's and
/// simd128/attention.rs's.
///
/// # Safety
/// hd is a multiple of 16; `q` holds at least G × hd floats, `scores` at least G × n, `out` at
/// least G × hd, and, if n > 0, `keys` and `values` at least (n - 1) × stride + hd
/// (kernels::attention_group asserts exactly this before it calls).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn attention16<const G: usize, const P: usize>(q: &[f32], hd: usize, keys: &[f32], values: &[f32], stride: usize, n: usize, scale: f32, scores: &mut [f32], out: &mut [f32]) {
    let chunks = hd / 16;
    // SAFETY: AVX, enabled for this build. Every load and store is inside its slice by the
    // contract above, as noted at each one; softmax_in_place gets a checked slice.
    unsafe {
        let mut t = 0;
        // P positions while they last, then one at a time (the same sums either way).
        while t + P <= n {
            // SAFETY: t + P <= n, hence the contract of scores16.
            scores16::<G, P>(q, hd, keys, stride, n, t, scale, scores);
            t += P;
        }
        while t < n {
            // SAFETY: t < n.
            scores16::<G, 1>(q, hd, keys, stride, n, t, scale, scores);
            t += 1;
        }
        for h in 0..G {
            super::softmax_in_place(&mut scores[h * n..(h + 1) * n]);
        }
        // The values in runs of VALUE_RUN positions (kernels::attention says why), as
        // simd128/attention.rs does.
        for h in 0..G {
            out[h * hd..(h + 1) * hd].fill(0.0);
        }
        let mut t0 = 0;
        while t0 < n {
            let t1 = (t0 + super::attention::VALUE_RUN).min(n);
            for c in 0..chunks {
                // out: h × hd + 16c + 15 < G × hd.
                let mut o: [[__m256; 2]; G] = core::array::from_fn(|h| {
                    let d = out.as_ptr().add(h * hd + 16 * c);
                    [_mm256_loadu_ps(d), _mm256_loadu_ps(d.add(8))]
                });
                for t in t0..t1 {
                    // values: as the keys.
                    let v = values.as_ptr().add(t * stride + 16 * c);
                    let vv = [_mm256_loadu_ps(v), _mm256_loadu_ps(v.add(8))];
                    for (h, o) in o.iter_mut().enumerate() {
                        // scores: h × n + t < G × n.
                        let p = _mm256_set1_ps(*scores.get_unchecked(h * n + t));
                        o[0] = _mm256_add_ps(o[0], _mm256_mul_ps(p, vv[0]));
                        o[1] = _mm256_add_ps(o[1], _mm256_mul_ps(p, vv[1]));
                    }
                }
                for (h, o) in o.iter().enumerate() {
                    // out: as above.
                    let d = out.as_mut_ptr().add(h * hd + 16 * c);
                    _mm256_storeu_ps(d, o[0]);
                    _mm256_storeu_ps(d.add(8), o[1]);
                }
            }
            t0 = t1;
        }
    }
}
