//! WebAssembly SIMD128 K-quant kernels: the same results as kq/scalar.rs, bit for bit.
//!
//! Plain SIMD128 has no 8-bit multiply-add: the codes are widened to i16 per super-block and the
//! activations once per quantization (Prepared), i32x4.dot_i16x8_s gives each sub-block's Σ q·x
//! in four i32 lanes, and an i32x4.mul by its scale (once per sub-block and token). Built with
//! relaxed-simd, i16x8.relaxed_dot_i8x16_i7x16_s takes the bytes as they are (exact here because
//! the codes, its second operand, are unsigned and below 128: 0..15, 0..31, 0..63) and gives i16
//! pair sums; one i32x4.dot_i16x8_s with the scale in every i16 lane makes them sc·Σ q·x in i32
//! lanes (ggml's AVX2 maddubs + madd). Either way the sub-blocks are summed per super-block; Q6_K's offset of 32 is
//! taken off once per super-block with the activations' 16-value sums
//! (Σ sc_j·Σ(q − 32)x = Σ sc_j·Σqx − 32·Σ sc_j·bsum_j), and the minimums of Q4_K and Q5_K are one
//! i32x4.dot_i16x8_s of the 8 minimums with the 32-value sums. Four super-blocks fill the four
//! lanes of the float part, in kq/mod.rs's order; up to four tokens share each decoded
//! super-block.
//!
//! The arithmetic intrinsics are safe (simd128 is enabled for the whole build); the loads through
//! raw pointers are the unsafe part, and each says why it stays in bounds.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::wasm32::*;

use super::{bsums32, unpack_k4, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::kernels::simd128::order_point;
use crate::kernels::{check_matmul_k, for_tiles, pad4, Acts};

/// The activations as the kernels want them: d per super-block (each token's row padded with
/// zeros to a multiple of four super-blocks), the 32-value sums of the codes as 8 i16 per
/// super-block (Q4_K and Q5_K minimums), and for plain SIMD128 the codes widened to i16 (32
/// i16x8 per super-block). With relaxed-simd the codes are read from the Q8_K blocks themselves.
#[derive(Default)]
pub(crate) struct Prepared {
    d: Vec<f32>,
    b32: Vec<v128>,
    #[cfg(not(target_feature = "relaxed-simd"))]
    xw: Vec<v128>,
    nbp: usize,
}

pub(crate) fn prepare(p: &mut Prepared, x: &[BlockQ8K], knb: usize, ntok: usize) {
    let nbp = knb.div_ceil(4) * 4;
    p.nbp = nbp;
    p.d.resize(ntok * nbp, 0.0);
    p.b32.resize(ntok * knb, i16x8_splat(0));
    #[cfg(not(target_feature = "relaxed-simd"))]
    p.xw.resize(ntok * knb * 32, i16x8_splat(0));
    for t in 0..ntok {
        for k in 0..nbp {
            p.d[t * nbp + k] = if k < knb { x[t * knb + k].d } else { 0.0 };
        }
        for k in 0..knb {
            let i = t * knb + k;
            let b = &x[i];
            let s = bsums32(b);
            p.b32[i] = i16x8(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
            #[cfg(not(target_feature = "relaxed-simd"))]
            for c in 0..16 {
                // SAFETY: qs is 256 bytes and 16c + 16 <= 256; v128_load needs no alignment.
                let v = unsafe { v128_load(b.qs.as_ptr().add(16 * c) as *const v128) };
                p.xw[i * 32 + 2 * c] = i16x8_extend_low_i8x16(v);
                p.xw[i * 32 + 2 * c + 1] = i16x8_extend_high_i8x16(v);
            }
        }
    }
}

/// 16 bytes from `p`.
///
/// # Safety
/// `p .. p + 16` must be inside one allocation.
#[inline(always)]
unsafe fn ld(p: *const u8) -> v128 {
    // SAFETY: the caller's bounds; v128_load needs no alignment.
    unsafe { v128_load(p as *const v128) }
}

/// [a0+a1, a2+a3, b0+b1, b2+b3]; applied twice to four super-blocks' partial sums it gives
/// their exact integer sums in four lanes.
#[inline(always)]
fn hadd(a: v128, b: v128) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(a, b), i32x4_shuffle::<1, 3, 5, 7>(a, b))
}

/// Four f16 values (in the low half of u32 lanes) to f32, exactly as kernels::f16_to_f32.
#[inline(always)]
fn f16x4(h: v128) -> v128 {
    let mag = f32x4_mul(i32x4_shl(v128_and(h, u32x4_splat(0x7fff)), 13), f32x4_splat(f32::from_bits(0x7780_0000)));
    v128_or(mag, i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16))
}

#[inline(always)]
fn finish(acc: v128) -> f32 {
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
}

/// The activations as the products read them: slices and lengths as values, not behind a
/// reference (the kernels' stores, order_point's among them, made LLVM load the Vecs' pointers
/// again for every super-block).
#[derive(Clone, Copy)]
struct View<'a> {
    kblocks: &'a [BlockQ8K],
    #[cfg(not(target_feature = "relaxed-simd"))]
    xw: &'a [v128],
    b32: &'a [v128],
    d: &'a [f32],
    knb: usize,
    nbp: usize,
}

fn view(x: &Acts) -> View<'_> {
    let p = &x.kprep;
    View {
        kblocks: &x.kblocks,
        #[cfg(not(target_feature = "relaxed-simd"))]
        xw: &p.xw,
        b32: &p.b32,
        d: &p.d,
        knb: x.knb,
        nbp: p.nbp,
    }
}

/// One token's activations for one super-block: the Q8_K block, its widened codes (plain
/// SIMD128) and its 32-value sums.
#[derive(Clone, Copy)]
struct X<'a> {
    #[cfg(target_feature = "relaxed-simd")]
    q: &'a BlockQ8K,
    #[cfg(not(target_feature = "relaxed-simd"))]
    w: &'a [v128],
    b32: v128,
    bsums: &'a [i16; 16],
}

/// 16 codes (bytes 0..127) times 16 activation codes: 8 i16 lanes, each the sum of two products
/// (at most 2·63·127, no saturation).
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn pairs16(q: v128, x: &BlockQ8K, at: usize) -> v128 {
    debug_assert!(at + 16 <= 256);
    // SAFETY: the callers pass at = 16i < 256 (constant offsets inside the super-block), so the
    // 16 bytes at `at` are inside qs (256 bytes).
    i16x8_relaxed_dot_i8x16_i7x16(unsafe { ld(x.qs.as_ptr().add(at) as *const u8) }, q)
}

/// Σ q·x of 16 codes with 16 activation codes widened to i16 (w[at/8], w[at/8 + 1]): four i32
/// lanes.
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
fn dot16(q: v128, w: &[v128], at: usize) -> v128 {
    i32x4_add(i32x4_dot_i16x8(u16x8_extend_low_u8x16(q), w[at / 8]), i32x4_dot_i16x8(u16x8_extend_high_u8x16(q), w[at / 8 + 1]))
}

/// A sub-block's scale as the products below take it: in every i32 lane (plain SIMD128: an
/// i32x4.mul of the sums) or every i16 lane (relaxed: an i32x4.dot_i16x8 of the pair sums).
#[inline(always)]
fn splat_scale(s: i32) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return i16x8_splat(s as i16);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return i32x4_splat(s);
}

/// sc·Σ q·x of 32 values, four i32 lanes: codes q0 (values at..at+16) and q1 (at+16..at+32).
/// Relaxed: the two halves' i16 pair sums added (at most 4·31·127, an i16), then one dot with
/// the scale.
#[inline(always)]
fn scaled32(q0: v128, q1: v128, x: &X, at: usize, s: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_dot_i16x8(i16x8_add(pairs16(q0, x.q, at), pairs16(q1, x.q, at + 16)), s);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return i32x4_mul(i32x4_add(dot16(q0, x.w, at), dot16(q1, x.w, at + 16)), s);
}

/// sc·Σ q·x of 16 values (codes q, values at..at+16), four i32 lanes.
#[inline(always)]
fn scaled16(q: v128, x: &X, at: usize, s: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_dot_i16x8(pairs16(q, x.q, at), s);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return i32x4_mul(dot16(q, x.w, at), s);
}

/// A K-quant super-block type: its integer sums with NT tokens' activations, and its f16 scales.
trait KBlock {
    const HAS_MIN: bool;
    /// Per token: i32 lanes summing to `sumi`, and (types with minimums) to `summ`.
    /// order_point() takes each chunk's sums through `sink`.
    fn sums<const NT: usize>(&self, x: &[X; NT], sink: &mut v128) -> ([v128; NT], [v128; NT]);
    /// d, and dmin << 16.
    fn scale_bits(&self) -> u32;
}

/// Q4_K and Q5_K share everything but the fifth bit (FIVE: from qh).
#[inline(always)]
fn sums_k4<const NT: usize, const FIVE: bool>(qs: &[u8; 128], qh: &[u8; 32], scales: &[u8; 12], x: &[X; NT], sink: &mut v128) -> ([v128; NT], [v128; NT]) {
    let u = unpack_k4(scales);
    let mins = u16x8_extend_high_u8x16(u32x4(u[0], u[1], u[2], u[3]));
    let sc = |j: usize| splat_scale(((u[j / 4] >> (8 * (j % 4))) & 0xff) as i32);
    let m4 = u8x16_splat(0x0f);
    let m10 = u8x16_splat(0x10);
    // SAFETY: qh is 32 bytes.
    let (mut h0, mut h1) = if FIVE { unsafe { (ld(qh.as_ptr()), ld(qh.as_ptr().add(16))) } } else { (m4, m4) };
    let mut acc = [i32x4_splat(0); NT];
    for c in 0..4 {
        // SAFETY: qs is 128 bytes and 32c + 32 <= 128.
        let (q0, q1) = unsafe { (ld(qs.as_ptr().add(32 * c)), ld(qs.as_ptr().add(32 * c + 16))) };
        // values 64c + 0..16, 16..32 (low nibbles), 32..48, 48..64 (high nibbles)
        let mut w = [v128_and(q0, m4), v128_and(q1, m4), v128_and(u16x8_shr(q0, 4), m4), v128_and(u16x8_shr(q1, 4), m4)];
        if FIVE {
            // bits 2c and 2c + 1 of qh are bits 0 and 1 of h0, h1 (shifted by 2 per chunk; the
            // bits that cross bytes in the 16-bit shifts land above bit 1 and are masked off).
            w[0] = v128_or(w[0], v128_and(i16x8_shl(h0, 4), m10));
            w[1] = v128_or(w[1], v128_and(i16x8_shl(h1, 4), m10));
            w[2] = v128_or(w[2], v128_and(i16x8_shl(h0, 3), m10));
            w[3] = v128_or(w[3], v128_and(i16x8_shl(h1, 3), m10));
            h0 = u16x8_shr(h0, 2);
            h1 = u16x8_shr(h1, 2);
        }
        let (s_lo, s_hi) = (sc(2 * c), sc(2 * c + 1));
        for j in 0..NT {
            let lo = scaled32(w[0], w[1], &x[j], 64 * c, s_lo);
            let hi = scaled32(w[2], w[3], &x[j], 64 * c + 32, s_hi);
            acc[j] = i32x4_add(acc[j], i32x4_add(lo, hi));
            order_point(acc[j], sink);
        }
    }
    let mut sm = [i32x4_splat(0); NT];
    for j in 0..NT {
        sm[j] = i32x4_dot_i16x8(mins, x[j].b32);
    }
    (acc, sm)
}

impl KBlock for BlockQ4K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: &[X; NT], sink: &mut v128) -> ([v128; NT], [v128; NT]) {
        sums_k4::<NT, false>(&self.qs, &[0; 32], &self.scales, x, sink)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32 | (self.dmin as u32) << 16
    }
}

impl KBlock for BlockQ5K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: &[X; NT], sink: &mut v128) -> ([v128; NT], [v128; NT]) {
        sums_k4::<NT, true>(&self.qs, &self.qh, &self.scales, x, sink)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32 | (self.dmin as u32) << 16
    }
}

impl KBlock for BlockQ6K {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn sums<const NT: usize>(&self, x: &[X; NT], sink: &mut v128) -> ([v128; NT], [v128; NT]) {
        // SAFETY: scales is 16 bytes.
        let scb = unsafe { ld(self.scales.as_ptr() as *const u8) };
        let (sclo, schi) = (i16x8_extend_low_i8x16(scb), i16x8_extend_high_i8x16(scb));
        let mut acc = [i32x4_splat(0); NT];
        for j in 0..NT {
            // −32·Σ sc_j·bsum_j: |sc·bsum| <= 128·2032, a pair of them fits i32.
            // SAFETY: bsums is 16 i16, 32 bytes.
            let (b0, b1) = unsafe { (ld(x[j].bsums.as_ptr() as *const u8), ld((x[j].bsums.as_ptr() as *const u8).add(16))) };
            let corr = i32x4_add(i32x4_dot_i16x8(sclo, b0), i32x4_dot_i16x8(schi, b1));
            acc[j] = i32x4_sub(acc[j], i32x4_shl(corr, 5));
        }
        let m4 = u8x16_splat(0x0f);
        let m30 = u8x16_splat(0x30);
        for h in 0..2 {
            // SAFETY: ql is 128 bytes (64h + 64 <= 128), qh 64 (32h + 32 <= 64).
            let (l, q) = unsafe {
                let (pl, ph) = (self.ql.as_ptr().add(64 * h), self.qh.as_ptr().add(32 * h));
                ([ld(pl), ld(pl.add(16)), ld(pl.add(32)), ld(pl.add(48))], [ld(ph), ld(ph.add(16))])
            };
            let lo4 = |v: v128| v128_and(v, m4);
            let hi4 = |v: v128| v128_and(u16x8_shr(v, 4), m4);
            // sub-block 8h + i: values 128h + 16i .. + 16 (the top bits from bits 2k, 2k+1 of qh;
            // the bits that cross bytes in the 16-bit shifts are masked off). Each made just
            // before its products, so that few codes are live at once.
            let code = |i: usize| match i {
                0 => v128_or(lo4(l[0]), v128_and(i16x8_shl(q[0], 4), m30)),
                1 => v128_or(lo4(l[1]), v128_and(i16x8_shl(q[1], 4), m30)),
                2 => v128_or(lo4(l[2]), v128_and(i16x8_shl(q[0], 2), m30)),
                3 => v128_or(lo4(l[3]), v128_and(i16x8_shl(q[1], 2), m30)),
                4 => v128_or(hi4(l[0]), v128_and(q[0], m30)),
                5 => v128_or(hi4(l[1]), v128_and(q[1], m30)),
                6 => v128_or(hi4(l[2]), v128_and(u16x8_shr(q[0], 2), m30)),
                _ => v128_or(hi4(l[3]), v128_and(u16x8_shr(q[1], 2), m30)),
            };
            for i in 0..8 {
                let c = code(i);
                let s = splat_scale(self.scales[8 * h + i] as i32);
                for j in 0..NT {
                    acc[j] = i32x4_add(acc[j], scaled16(c, &x[j], 128 * h + 16 * i, s));
                    if i % 2 == 1 {
                        order_point(acc[j], sink);
                    }
                }
            }
        }
        (acc, [i32x4_splat(0); NT])
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32
    }
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four super-blocks, then the rest.
#[inline(always)]
fn row<B: KBlock, const NT: usize>(wr: &[B], x: View, t0: usize) -> [f32; NT] {
    let nb = wr.len();
    let full = nb / 4 * 4;
    let mut acc = [f32x4_splat(0.0); NT];
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
fn block<B: KBlock, const NT: usize, const CNT: usize, const K: usize>(
    wr: &[B],
    x: View,
    t0: usize,
    g: usize,
    si: &mut [[v128; 4]; NT],
    sm: &mut [[v128; 4]; NT],
    sink: &mut v128,
) {
    if K >= CNT {
        return;
    }
    let (nb, p) = (x.knb, x);
    let xs: [X; NT] = core::array::from_fn(|j| {
        let i = (t0 + j) * nb + g + K;
        X {
            #[cfg(target_feature = "relaxed-simd")]
            q: &x.kblocks[i],
            #[cfg(not(target_feature = "relaxed-simd"))]
            w: &p.xw[i * 32..i * 32 + 32],
            b32: p.b32[i],
            bsums: &x.kblocks[i].bsums,
        }
    });
    let (a, b) = wr[g + K].sums(&xs, sink);
    for j in 0..NT {
        si[j][K] = a[j];
        sm[j][K] = b[j];
    }
}

/// CNT (1 to 4) super-blocks starting at g, into the four lanes of each token's accumulator
/// (absent ones add exactly +0). The four are written out one by one (block::<K>): as a loop,
/// LLVM kept their sums in memory.
#[inline(always)]
fn group<B: KBlock, const NT: usize, const CNT: usize>(wr: &[B], x: View, t0: usize, g: usize, acc: &mut [v128; NT]) {
    let p = x;
    let z = i32x4_splat(0);
    let mut si = [[z; 4]; NT];
    let mut sm = [[z; 4]; NT];
    // order_point()'s target.
    let mut sink = z;
    block::<B, NT, CNT, 0>(wr, x, t0, g, &mut si, &mut sm, &mut sink);
    block::<B, NT, CNT, 1>(wr, x, t0, g, &mut si, &mut sm, &mut sink);
    block::<B, NT, CNT, 2>(wr, x, t0, g, &mut si, &mut sm, &mut sink);
    block::<B, NT, CNT, 3>(wr, x, t0, g, &mut si, &mut sm, &mut sink);
    // Built in registers (a round trip through memory would stall store forwarding).
    let sb = |k: usize| if k < CNT { wr[g + k].scale_bits() } else { 0 };
    let bits = u32x4(sb(0), sb(1), sb(2), sb(3));
    let dw4 = f16x4(bits);
    let mw4 = f16x4(u32x4_shr(bits, 16));
    for j in 0..NT {
        let s = &si[j];
        let sumi = f32x4_convert_i32x4(hadd(hadd(s[0], s[1]), hadd(s[2], s[3])));
        let i = (t0 + j) * p.nbp + g;
        let d4 = &p.d[i..i + 4];
        // SAFETY: d4 is 4 floats (sliced just above); v128_load needs no alignment.
        let dx = unsafe { v128_load(d4.as_ptr() as *const v128) };
        let mut t = f32x4_mul(sumi, f32x4_mul(dw4, dx));
        if B::HAS_MIN {
            let m = &sm[j];
            let summ = f32x4_convert_i32x4(hadd(hadd(m[0], m[1]), hadd(m[2], m[3])));
            t = f32x4_sub(t, f32x4_mul(summ, f32x4_mul(mw4, dx)));
        }
        acc[j] = f32x4_add(acc[j], t);
    }
}

fn matmul<B: KBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    check_matmul_k(w.len(), rows, x, out.len());
    let (nb, v) = (x.knb, view(x));
    for_tiles(rows, x.ntok, out, |r, t0, nt| {
        let wr = &w[r * nb..(r + 1) * nb];
        match nt {
            4 => row::<B, 4>(wr, v, t0),
            3 => pad4(row::<B, 3>(wr, v, t0)),
            2 => pad4(row::<B, 2>(wr, v, t0)),
            _ => pad4(row::<B, 1>(wr, v, t0)),
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
