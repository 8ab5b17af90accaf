//! Q2_K and Q3_K × Q8_K with WebAssembly SIMD128: the same results as the scalar kernels of
//! kq23/mod.rs, bit for bit (the float part four super-blocks wide in the fixed order).
//!
//! One sub-block (16 codes, 16 activation bytes) at a time, into four exact i32 sums (sub_dot).
//! Built with relaxed-simd: the 16 byte products summed in pairs by one
//! i16x8.relaxed_dot_i8x16_i7x16, exact because the codes are the 7-bit operand (Q2_K 0..3;
//! Q3_K taken as q + 4 in 0..7), then i32x4.dot_i16x8 with the sub-block's scale in every lane.
//! Plain SIMD128 has no 8-bit multiply-add: the codes of even and odd bytes, times the scale, as
//! i16 lanes (once per weight block), against x's even and odd bytes sign-extended in place, two
//! i32x4.dot_i16x8 per sub-block. Q3_K's 4·Σ_j sc_j·bsums_j
//! is then taken off the integer sum; Q2_K's minimums are Σ_j m_j·bsums_j. Each super-block's
//! sums are reduced to one i32 exactly, four super-blocks in four lanes, and only then scaled.
//! Up to four tokens share each decoded super-block.
//!
//! The arithmetic intrinsics are safe (simd128 is enabled for the whole build); the loads through
//! raw pointers are the unsafe part, and each says why it stays in bounds.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::wasm32::*;

use super::scales3;
use crate::kernels::{check_matmul_k, for_tiles, pad4, Acts, BlockQ2K, BlockQ3K, BlockQ8K};

/// 16 bytes at `p + at`.
///
/// # Safety
/// `p + at .. p + at + 16` must lie inside one allocation.
#[inline(always)]
unsafe fn ld(p: *const u8, at: usize) -> v128 {
    // SAFETY: the caller's contract; v128_load needs no alignment.
    unsafe { v128_load(p.add(at) as *const v128) }
}

/// [a0+a1, a2+a3, b0+b1, b2+b3]; twice over four vectors, their four exact sums in four lanes.
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

/// Lane K of eight i16 in every lane.
#[inline(always)]
fn lane16<const K: usize>(v: v128) -> v128 {
    i16x8_shuffle::<K, K, K, K, K, K, K, K>(v, v)
}

/// The 16 sub-block scales (i16: sub-blocks 0..8 in `lo`, 8..16 in `hi`), each in all 8 lanes.
#[inline(always)]
fn splat_scales(lo: v128, hi: v128) -> [v128; 16] {
    [
        lane16::<0>(lo),
        lane16::<1>(lo),
        lane16::<2>(lo),
        lane16::<3>(lo),
        lane16::<4>(lo),
        lane16::<5>(lo),
        lane16::<6>(lo),
        lane16::<7>(lo),
        lane16::<0>(hi),
        lane16::<1>(hi),
        lane16::<2>(hi),
        lane16::<3>(hi),
        lane16::<4>(hi),
        lane16::<5>(hi),
        lane16::<6>(hi),
        lane16::<7>(hi),
    ]
}

/// A sub-block's 16 codes c (0..7) and its scale (i16, in every lane), as `sub_dot` takes them.
/// Relaxed: as they are. Plain SIMD128: the codes of the even and of the odd bytes as i16 lanes,
/// times the scale (at most 7·32 in magnitude: exact), made once per weight block for all tokens.
#[inline(always)]
fn sub_prep(c: v128, scv: v128) -> [v128; 2] {
    #[cfg(target_feature = "relaxed-simd")]
    return [c, scv];
    #[cfg(not(target_feature = "relaxed-simd"))]
    return [i16x8_mul(v128_and(c, u16x8_splat(0x00ff)), scv), i16x8_mul(u16x8_shr(c, 8), scv)];
}

/// sc · Σ c_i·x_i over one sub-block, as four exact i32 partial sums. Relaxed: the 16 byte
/// products summed in pairs by i16x8.relaxed_dot_i8x16_i7x16 (exact: the codes are the 7-bit
/// operand, the pair sums at most 2·7·127), then i32x4.dot_i16x8 with the scale. Plain: x's even
/// and odd bytes sign-extended in place to i16 lanes, then i32x4.dot_i16x8 with the scaled codes.
#[inline(always)]
fn sub_dot(p: &[v128; 2], x: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(x, p[0]), p[1]);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return i32x4_add(i32x4_dot_i16x8(p[0], i16x8_shr(i16x8_shl(x, 8), 8)), i32x4_dot_i16x8(p[1], i16x8_shr(x, 8)));
}

/// Bits 2j, 2j + 1 of each byte of q. Shifted as u16 lanes (one instruction where u8 lanes take
/// two): what comes down from the byte above lands at bit 8 − 2j >= 2 and is masked off.
#[inline(always)]
fn two_bits(q: v128, j: usize) -> v128 {
    v128_and(u16x8_shr(q, 2 * j as u32), u8x16_splat(3))
}

/// Σ_j sc_j · Σ_{i in j} code_i·x_i over the super-block, four i32 partial sums per token.
/// `codes(h, j, s, q)` gives sub-block 8h + 2j + s's 16 codes from the 16 qs bytes q of (h, s).
#[inline(always)]
fn products<const NT: usize>(qs: &[u8; 64], sc: &[v128; 16], x: &[&BlockQ8K; NT], codes: impl Fn(usize, usize, usize, v128) -> v128) -> [v128; NT] {
    let mut acc = [i32x4_splat(0); NT];
    for h in 0..2 {
        for s in 0..2 {
            // SAFETY: qs is 64 bytes and 32h + 16s + 16 <= 64.
            let q = unsafe { ld(qs.as_ptr(), 32 * h + 16 * s) };
            for j in 0..4 {
                let p = sub_prep(codes(h, j, s, q), sc[8 * h + 2 * j + s]);
                let at = 128 * h + 32 * j + 16 * s;
                for t in 0..NT {
                    // SAFETY: x's qs is 256 bytes and at + 16 <= 128 + 96 + 16 + 16 = 256.
                    let xv = unsafe { ld(x[t].qs.as_ptr() as *const u8, at) };
                    acc[t] = i32x4_add(acc[t], sub_dot(&p, xv));
                }
            }
        }
    }
    acc
}

/// Σ_j s_j · bsums_j (four i32 partial sums), s the 16 sub-block integers as i16 in lo and hi.
#[inline(always)]
fn with_bsums(lo: v128, hi: v128, x: &BlockQ8K) -> v128 {
    let p = x.bsums.as_ptr() as *const u8;
    // SAFETY: bsums is 16 i16, 32 bytes: two loads at 0 and 16.
    let (b0, b1) = unsafe { (ld(p, 0), ld(p, 16)) };
    i32x4_add(i32x4_dot_i16x8(lo, b0), i32x4_dot_i16x8(hi, b1))
}

/// A K-quant super-block type: its exact products with NT activation blocks, as four i32 partial
/// sums each (sumi, and summ for the types with minimums), and its f16 scale bits d | dmin << 16.
trait KBlock {
    const HAS_MIN: bool;
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([v128; NT], [v128; NT]);
    fn scale_bits(&self) -> u32;
}

impl KBlock for BlockQ2K {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([v128; NT], [v128; NT]) {
        // SAFETY: scales is 16 bytes.
        let sv = unsafe { ld(self.scales.as_ptr(), 0) };
        let sc8 = v128_and(sv, u8x16_splat(0x0f));
        let mn8 = u8x16_shr(sv, 4);
        let sc = splat_scales(u16x8_extend_low_u8x16(sc8), u16x8_extend_high_u8x16(sc8));
        let (mlo, mhi) = (u16x8_extend_low_u8x16(mn8), u16x8_extend_high_u8x16(mn8));
        let acc = products(&self.qs, &sc, x, |_, j, _, q| two_bits(q, j));
        let mut sm = [i32x4_splat(0); NT];
        for t in 0..NT {
            sm[t] = with_bsums(mlo, mhi, x[t]);
        }
        (acc, sm)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32 | (self.dmin as u32) << 16
    }
}

impl KBlock for BlockQ3K {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn dots<const NT: usize>(&self, x: &[&BlockQ8K; NT]) -> ([v128; NT], [v128; NT]) {
        let s6 = scales3(&self.scales);
        // SAFETY: s6 is 16 bytes.
        let sv = i8x16_sub(unsafe { ld(s6.as_ptr(), 0) }, i8x16_splat(32));
        let (slo, shi) = (i16x8_extend_low_i8x16(sv), i16x8_extend_high_i8x16(sv));
        let sc = splat_scales(slo, shi);
        // SAFETY: hmask is 32 bytes: two loads at 0 and 16.
        let hm = unsafe { [ld(self.hmask.as_ptr(), 0), ld(self.hmask.as_ptr(), 16)] };
        let four = u8x16_splat(4);
        // Code = low 2 bits | hmask bit (4h + j) moved to bit 2. Shifted as u16 lanes: of each
        // byte, the kept bit 2 comes from the same byte (the shifts are at most 5 right, 2 left).
        let acc = products(&self.qs, &sc, x, |h, j, s, q| {
            let b = (4 * h + j) as u32;
            let hb = if b >= 2 { u16x8_shr(hm[s], b - 2) } else { i16x8_shl(hm[s], 2 - b) };
            v128_or(two_bits(q, j), v128_and(hb, four))
        });
        let mut si = [i32x4_splat(0); NT];
        for t in 0..NT {
            // The codes were q + 4: take 4·Σ_j sc_j·bsums_j off.
            si[t] = i32x4_sub(acc[t], i32x4_shl(with_bsums(slo, shi, x[t]), 2));
        }
        (si, [i32x4_splat(0); NT])
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        self.d as u32
    }
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four super-blocks, then the rest.
#[inline(always)]
fn row<B: KBlock, const NT: usize>(wr: &[B], x: &[BlockQ8K], t0: usize) -> [f32; NT] {
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
fn block<B: KBlock, const NT: usize, const CNT: usize, const K: usize>(wr: &[B], x: &[BlockQ8K], t0: usize, g: usize, si: &mut [[v128; 4]; NT], sm: &mut [[v128; 4]; NT]) {
    if K >= CNT {
        return;
    }
    let nb = wr.len();
    let xs: [&BlockQ8K; NT] = core::array::from_fn(|j| &x[(t0 + j) * nb + g + K]);
    let (a, m) = wr[g + K].dots(&xs);
    for j in 0..NT {
        si[j][K] = a[j];
        sm[j][K] = m[j];
    }
}

/// CNT (1 to 4) super-blocks starting at g, into the four lanes of each token's accumulator
/// (absent ones add exactly +0). The four are written out one by one (block::<K>): as a loop,
/// LLVM kept their sums in memory.
#[inline(always)]
fn group<B: KBlock, const NT: usize, const CNT: usize>(wr: &[B], x: &[BlockQ8K], t0: usize, g: usize, acc: &mut [v128; NT]) {
    let nb = wr.len();
    let mut si = [[i32x4_splat(0); 4]; NT];
    let mut sm = [[i32x4_splat(0); 4]; NT];
    block::<B, NT, CNT, 0>(wr, x, t0, g, &mut si, &mut sm);
    block::<B, NT, CNT, 1>(wr, x, t0, g, &mut si, &mut sm);
    block::<B, NT, CNT, 2>(wr, x, t0, g, &mut si, &mut sm);
    block::<B, NT, CNT, 3>(wr, x, t0, g, &mut si, &mut sm);
    let sb = |k: usize| if k < CNT { wr[g + k].scale_bits() } else { 0 };
    let bits = u32x4(sb(0), sb(1), sb(2), sb(3));
    let d4 = f16x4(bits);
    let dm4 = f16x4(u32x4_shr(bits, 16));
    for j in 0..NT {
        let xd = |k: usize| if k < CNT { x[(t0 + j) * nb + g + k].d } else { 0.0 };
        let dx = f32x4(xd(0), xd(1), xd(2), xd(3));
        let s = &si[j];
        let sums = f32x4_convert_i32x4(hadd(hadd(s[0], s[1]), hadd(s[2], s[3])));
        let mut t = f32x4_mul(sums, f32x4_mul(d4, dx));
        if B::HAS_MIN {
            let m = &sm[j];
            let mins = f32x4_convert_i32x4(hadd(hadd(m[0], m[1]), hadd(m[2], m[3])));
            t = f32x4_sub(t, f32x4_mul(mins, f32x4_mul(dm4, dx)));
        }
        acc[j] = f32x4_add(acc[j], t);
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
