//! WebAssembly SIMD128 kernels: the same names and the same results as scalar.rs, bit for bit
//! (scalar.rs states the fixed float order; four blocks fill the four lanes of one f32x4).
//!
//! Plain SIMD128 has no 8-bit multiply-add, so products go through i32x4.dot_i16x8_s: 4-bit
//! codes are widened to i16 per weight block, and the activations are widened to i16 once per
//! matrix product, not once per weight row. Built with relaxed-simd (a second wasm file, which
//! the worker picks where the browser validates it), products use
//! i16x8.relaxed_dot_i8x16_i7x16_s instead (16 byte products summed in pairs: one pmaddubsw),
//! widened to i32 by i32x4.dot_i16x8 with ones; exact here because one side is always 7-bit
//! (the 4- and 5-bit codes as stored, 0..31; |x| for Q8_0, its sign moved onto w: BlockQ8_0's
//! impl). Q4_0's and Q5_0's offsets (8 and 16) come off the exact integer sums afterwards:
//! Σ (q - o)·x = Σ q·x - o·Σ x, with Σ x per activation block prepared once. Up to four tokens
//! share each decoded weight block, which makes prefill a matrix × matrix product rather than a
//! loop of dot products. order_point() keeps V8 from loading a whole group before computing.
//!
//! The arithmetic intrinsics are safe (simd128 is enabled for the whole build); the loads and
//! stores through raw pointers are the unsafe part, and each says why it stays in bounds.
#![deny(unsafe_op_in_unsafe_fn)]

use core::arch::wasm32::*;

use super::{Acts, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

mod attention;
mod quantize;
pub(crate) use attention::{attention16, softmax_sums_chunks};
pub(crate) use quantize::quantize_q8_1;

/// The activations as the products want them, with d, s and the integer sum of the codes (for
/// Q4_0's and Q5_0's offsets); each token's row is padded with zero blocks to a multiple of
/// four. Plain SIMD128: widened to i16 once per quantization (four i16x8 per block). With
/// relaxed-simd: the bytes as they are, their magnitudes and their sign masks (six i8x16 per
/// block), and the sum of the negative codes' magnitudes (for Q8_0). kernels::Acts keeps them,
/// refilled in place.
#[derive(Default)]
pub(crate) struct Prepared {
    v: Vec<v128>,
    d: Vec<f32>,
    s: Vec<f32>,
    sx: Vec<i32>,
    #[cfg(target_feature = "relaxed-simd")]
    neg: Vec<i32>,
    nbp: usize,
}

/// Prepared's arrays as the products read them: slices and the row length as values, not behind
/// a reference (the kernels' stores, order_point's among them, made LLVM load the Vecs' pointers
/// again for every block).
#[derive(Clone, Copy)]
struct View<'a> {
    v: &'a [v128],
    d: &'a [f32],
    s: &'a [f32],
    sx: &'a [i32],
    #[cfg(target_feature = "relaxed-simd")]
    neg: &'a [i32],
    nbp: usize,
}

impl Prepared {
    fn view(&self) -> View<'_> {
        View {
            v: &self.v,
            d: &self.d,
            s: &self.s,
            sx: &self.sx,
            #[cfg(target_feature = "relaxed-simd")]
            neg: &self.neg,
            nbp: self.nbp,
        }
    }
}

#[cfg(not(target_feature = "relaxed-simd"))]
const VPB: usize = 4;
#[cfg(target_feature = "relaxed-simd")]
const VPB: usize = 6;

pub(crate) fn prepare(p: &mut Prepared, x: &[BlockQ8_1], nb: usize, ntok: usize) {
    let nbp = nb.div_ceil(4) * 4;
    p.nbp = nbp;
    p.v.resize(ntok * nbp * VPB, i16x8_splat(0));
    p.d.resize(ntok * nbp, 0.0);
    p.s.resize(ntok * nbp, 0.0);
    p.sx.resize(ntok * nbp, 0);
    #[cfg(target_feature = "relaxed-simd")]
    p.neg.resize(ntok * nbp, 0);
    for t in 0..ntok {
        for k in 0..nbp {
            let i = t * nbp + k;
            if k >= nb {
                p.v[i * VPB..(i + 1) * VPB].fill(i16x8_splat(0));
                p.d[i] = 0.0;
                p.s[i] = 0.0;
                p.sx[i] = 0;
                #[cfg(target_feature = "relaxed-simd")]
                {
                    p.neg[i] = 0;
                }
                continue;
            }
            let b = &x[t * nb + k];
            // SAFETY: qs is 32 bytes; v128_load has no alignment requirement.
            let (lo, hi) = unsafe { (v128_load(b.qs.as_ptr() as *const v128), v128_load(b.qs.as_ptr().add(16) as *const v128)) };
            #[cfg(not(target_feature = "relaxed-simd"))]
            {
                p.v[i * 4] = i16x8_extend_low_i8x16(lo);
                p.v[i * 4 + 1] = i16x8_extend_high_i8x16(lo);
                p.v[i * 4 + 2] = i16x8_extend_low_i8x16(hi);
                p.v[i * 4 + 3] = i16x8_extend_high_i8x16(hi);
            }
            #[cfg(target_feature = "relaxed-simd")]
            {
                // The bytes, their magnitudes and their sign masks (Q8_0's product, below).
                p.v[i * 6] = lo;
                p.v[i * 6 + 1] = hi;
                p.v[i * 6 + 2] = i8x16_abs(lo);
                p.v[i * 6 + 3] = i8x16_abs(hi);
                p.v[i * 6 + 4] = i8x16_shr(lo, 7);
                p.v[i * 6 + 5] = i8x16_shr(hi, 7);
            }
            p.d[i] = b.d;
            p.s[i] = b.s;
            p.sx[i] = b.qs.iter().map(|&q| q as i32).sum();
            #[cfg(target_feature = "relaxed-simd")]
            {
                p.neg[i] = b.qs.iter().map(|&q| if q < 0 { -(q as i32) } else { 0 }).sum();
            }
        }
    }
}

/// [a0+a1, a2+a3, b0+b1, b2+b3]; applied twice to four blocks' partial sums it gives the four
/// blocks' exact integer sums in four lanes.
#[inline(always)]
fn hadd(a: v128, b: v128) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(a, b), i32x4_shuffle::<1, 3, 5, 7>(a, b))
}

/// Four f16 values in the top halves of u32 lanes (the low halves are ignored) to f32, exactly
/// as kernels::f16_to_f32: shifted arithmetically by 3, the sign stays in bit 31 and exponent
/// and mantissa land where an f32 has them (the value times 2^-112, exact; the low halves'
/// bits masked off); times 2^112 it is the f16's value, subnormals included.
#[inline(always)]
pub(crate) fn f16x4_top(h: v128) -> v128 {
    f16x4_top_with(h, u32x4_splat(0x8fff_e000), f32x4_splat(f32::from_bits(0x7780_0000)))
}

/// f16x4_top with its two constants given (Consts).
#[inline(always)]
fn f16x4_top_with(h: v128, mask: v128, scale: v128) -> v128 {
    f32x4_mul(v128_and(i32x4_shr(h, 3), mask), scale)
}

/// The vector constants of the products, made once per matrix product. V8 materializes a
/// `v128.const` at each use, inside the loops (a 64-bit immediate, a move and an insert: three
/// instructions); values that LLVM cannot see through (black_box) stay in registers or come from
/// the stack in one load.
#[derive(Clone, Copy)]
struct Consts {
    /// 0x0f in every byte: a nibble.
    m0f: v128,
    /// 1, 2, 4, … 128 twice: codes5's bit of qh per byte.
    bit: v128,
    /// 0x10 in every byte: a 5-bit code's bit 4.
    m10: v128,
    /// f16x4_top's mask and scale.
    f16_mask: v128,
    f16_scale: v128,
    /// codes5's byte selections of qh: byte 0 eight times, then byte 1 (weights 0..15); bytes 2
    /// and 3 (weights 16..31). A swizzle with these in a register is one instruction in the
    /// relaxed build (relaxed_swizzle: every index is in range, so it means what swizzle means);
    /// a shuffle's pattern is a constant, made at every use.
    #[cfg(target_feature = "relaxed-simd")]
    sel_lo: v128,
    #[cfg(target_feature = "relaxed-simd")]
    sel_hi: v128,
    /// 1 in every i16 lane: i32x4.dot_i16x8 with it adds adjacent lanes (one pmaddwd).
    #[cfg(target_feature = "relaxed-simd")]
    ones: v128,
}

#[inline(always)]
fn consts() -> Consts {
    core::hint::black_box(Consts {
        m0f: u8x16_splat(0x0f),
        bit: u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128),
        m10: u8x16_splat(0x10),
        f16_mask: u32x4_splat(0x8fff_e000),
        f16_scale: f32x4_splat(f32::from_bits(0x7780_0000)),
        #[cfg(target_feature = "relaxed-simd")]
        sel_lo: u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
        #[cfg(target_feature = "relaxed-simd")]
        sel_hi: u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
        #[cfg(target_feature = "relaxed-simd")]
        ones: i16x8_splat(1),
    })
}

#[inline(always)]
fn finish(acc: v128) -> f32 {
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
}

/// A weight block type: its decoded codes, its product with one activation block (four partial
/// i32 sums), and its f16 scale bits (d, and m for Q4_1) packed d | m << 16.
trait WeightBlock: super::Block {
    const HAS_MIN: bool;
    /// What the codes of `decode` exceed the type's codes by (Q4_0: 8, Q5_0: 16): the integer
    /// sum loses OFFSET·Σx.
    const OFFSET: i32 = 0;
    /// Whether `dot`'s sums lack the activations' negative codes' magnitudes (Q8_0 in the
    /// relaxed build): the integer sum gains them afterwards.
    #[cfg(target_feature = "relaxed-simd")]
    const NEG_SUM: bool = false;
    type W: Copy;
    fn decode(&self, k: &Consts) -> Self::W;
    fn dot(w: &Self::W, a: &[v128], k: &Consts) -> v128;
    /// The f16 scale d (group() loads it into a vector lane).
    fn d_ref(&self) -> &u16;
    /// d | m << 16 for the types with a minimum (one 32-bit read); d alone otherwise.
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        *self.d_ref() as u32
    }
}

/// The decoded codes of the 4- and 5-bit types, 0..31 as stored: plain SIMD128 widens them to
/// i16 (four i16x8), relaxed-simd keeps the bytes (two i8x16).
#[cfg(not(target_feature = "relaxed-simd"))]
type Codes = [v128; 4];
#[cfg(target_feature = "relaxed-simd")]
type Codes = [v128; 2];

/// Codes from their bytes: `lo` weights 0..15, `hi` weights 16..31.
#[inline(always)]
fn codes(lo: v128, hi: v128) -> Codes {
    #[cfg(not(target_feature = "relaxed-simd"))]
    return [u16x8_extend_low_u8x16(lo), u16x8_extend_high_u8x16(lo), u16x8_extend_low_u8x16(hi), u16x8_extend_high_u8x16(hi)];
    #[cfg(target_feature = "relaxed-simd")]
    return [lo, hi];
}

/// A 4-bit block's codes, 0..15 (weight j in the low nibble of qs[j], j + 16 in the high one).
#[inline(always)]
fn nibbles(qs: &[u8; 16], k: &Consts) -> (v128, v128) {
    // SAFETY: qs is 16 bytes; v128_load has no alignment requirement.
    let q = unsafe { v128_load(qs.as_ptr() as *const v128) };
    // A 16-bit shift and the mask: wasm's 8-bit shift has no x86 instruction (V8 emits a shift,
    // a mask built from an immediate and an and).
    (v128_and(q, k.m0f), v128_and(u16x8_shr(q, 4), k.m0f))
}

/// A 5-bit block's codes, 0..31: nibbles() with bit j of qh (little-endian) as bit 4 of weight
/// j. Byte j gets qh's byte j / 8 and keeps bit j % 8; compared with that bit it is all ones
/// exactly when the bit is set.
#[inline(always)]
fn codes5(qs: &[u8; 16], qh: [u8; 4], k: &Consts) -> Codes {
    let (lo, hi) = nibbles(qs, k);
    let h = u32x4_splat(u32::from_le_bytes(qh));
    let b4 = |v: v128| v128_and(i8x16_eq(v128_and(v, k.bit), k.bit), k.m10);
    #[cfg(not(target_feature = "relaxed-simd"))]
    let (hl, hh) = (
        b4(i8x16_shuffle::<0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1>(h, h)),
        b4(i8x16_shuffle::<2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3>(h, h)),
    );
    #[cfg(target_feature = "relaxed-simd")]
    let (hl, hh) = (b4(i8x16_relaxed_swizzle(h, k.sel_lo)), b4(i8x16_relaxed_swizzle(h, k.sel_hi)));
    codes(v128_or(lo, hl), v128_or(hi, hh))
}

/// Unsigned codes times one activation block: four partial sums.
#[inline(always)]
#[allow(clippy::needless_return)] // one `return` per build flavour
fn dot_codes(w: &Codes, a: &[v128], k: &Consts) -> v128 {
    #[cfg(not(target_feature = "relaxed-simd"))]
    {
        let _ = k;
        return dot4(w, a);
    }
    // The codes are 0..31, inside the 7 bits where the relaxed dot product is exact; its i16
    // lanes hold two products each (|x| <= 128: at most 2 × 31 × 128 = 7936), two of them added
    // at most 15872, inside i16, and i32x4.dot_i16x8 with ones adds the lanes in pairs. V8 emits
    // one pmaddubsw for each i16x8 dot; i32x4.relaxed_dot_i8x16_i7x16_add cost it five
    // instructions (the ones made anew each time, pmaddubsw, pmaddwd, the add).
    #[cfg(target_feature = "relaxed-simd")]
    return i32x4_dot_i16x8(i16x8_add(i16x8_relaxed_dot_i8x16_i7x16(a[0], w[0]), i16x8_relaxed_dot_i8x16_i7x16(a[1], w[1])), k.ones);
}

/// d and m, adjacent at the start of the block: one 32-bit load.
///
/// # Safety
/// `p` points to a live repr(C) block that starts with its u16 d and u16 m.
#[inline(always)]
unsafe fn d_and_m<B>(p: *const B) -> u32 {
    // SAFETY: the caller's contract (4 bytes); read_unaligned needs no alignment.
    unsafe { core::ptr::read_unaligned(p as *const u32) }
}

impl WeightBlock for BlockQ4_0 {
    const HAS_MIN: bool = false;
    const OFFSET: i32 = 8;
    type W = Codes;
    #[inline(always)]
    fn decode(&self, k: &Consts) -> Codes {
        let (lo, hi) = nibbles(&self.qs, k);
        codes(lo, hi)
    }
    #[inline(always)]
    fn dot(w: &Codes, a: &[v128], k: &Consts) -> v128 {
        dot_codes(w, a, k)
    }
    #[inline(always)]
    fn d_ref(&self) -> &u16 {
        &self.d
    }
}

impl WeightBlock for BlockQ4_1 {
    const HAS_MIN: bool = true;
    type W = Codes;
    #[inline(always)]
    fn decode(&self, k: &Consts) -> Codes {
        let (lo, hi) = nibbles(&self.qs, k);
        codes(lo, hi)
    }
    #[inline(always)]
    fn dot(w: &Codes, a: &[v128], k: &Consts) -> v128 {
        dot_codes(w, a, k)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        // SAFETY: BlockQ4_1 is repr(C) and starts with d and m.
        unsafe { d_and_m(self) }
    }
    #[inline(always)]
    fn d_ref(&self) -> &u16 {
        &self.d
    }
}

impl WeightBlock for BlockQ5_0 {
    const HAS_MIN: bool = false;
    const OFFSET: i32 = 16;
    type W = Codes;
    #[inline(always)]
    fn decode(&self, k: &Consts) -> Codes {
        codes5(&self.qs, self.qh, k)
    }
    #[inline(always)]
    fn dot(w: &Codes, a: &[v128], k: &Consts) -> v128 {
        dot_codes(w, a, k)
    }
    #[inline(always)]
    fn d_ref(&self) -> &u16 {
        &self.d
    }
}

impl WeightBlock for BlockQ5_1 {
    const HAS_MIN: bool = true;
    type W = Codes;
    #[inline(always)]
    fn decode(&self, k: &Consts) -> Codes {
        codes5(&self.qs, self.qh, k)
    }
    #[inline(always)]
    fn dot(w: &Codes, a: &[v128], k: &Consts) -> v128 {
        dot_codes(w, a, k)
    }
    #[inline(always)]
    fn scale_bits(&self) -> u32 {
        // SAFETY: BlockQ5_1 is repr(C) and starts with d and m.
        unsafe { d_and_m(self) }
    }
    #[inline(always)]
    fn d_ref(&self) -> &u16 {
        &self.d
    }
}

/// Q8_0 in the relaxed build. The relaxed dot product is exact when one side is 0..127 and the
/// other any byte: |x| is that side (x's codes are -127..127), and w takes x's sign. Negating w
/// could overflow (a file may hold a -128 code), so the sign goes on as a complement:
/// w·x = (w ^ s)·|x| + (|x| where x < 0), s the sign mask of x (-1 where x < 0), since
/// !w = -w - 1. Per weight vector one xor; per block the prepared sum of x's negative codes'
/// magnitudes comes on afterwards (NEG_SUM), as Q4_0's offset does.
impl WeightBlock for BlockQ8_0 {
    const HAS_MIN: bool = false;
    #[cfg(target_feature = "relaxed-simd")]
    const NEG_SUM: bool = true;
    #[cfg(not(target_feature = "relaxed-simd"))]
    type W = [v128; 4];
    #[cfg(target_feature = "relaxed-simd")]
    type W = [v128; 2];

    #[inline(always)]
    fn decode(&self, _: &Consts) -> Self::W {
        // SAFETY: qs is 32 bytes.
        let (lo, hi) = unsafe { (v128_load(self.qs.as_ptr() as *const v128), v128_load(self.qs.as_ptr().add(16) as *const v128)) };
        #[cfg(not(target_feature = "relaxed-simd"))]
        return [i16x8_extend_low_i8x16(lo), i16x8_extend_high_i8x16(lo), i16x8_extend_low_i8x16(hi), i16x8_extend_high_i8x16(hi)];
        #[cfg(target_feature = "relaxed-simd")]
        return [lo, hi];
    }

    #[inline(always)]
    #[allow(clippy::needless_return)] // one `return` per build flavour, as in the other methods
    fn dot(w: &Self::W, a: &[v128], k: &Consts) -> v128 {
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            let _ = k;
            return dot4(w, a);
        }
        #[cfg(target_feature = "relaxed-simd")]
        {
            // (w ^ s)·|x|, with x's magnitudes in a[2..4] and its sign masks in a[4..6].
            let w0 = v128_xor(w[0], a[4]);
            let w1 = v128_xor(w[1], a[5]);
            // Each i16 lane holds two products, at most 2 × 128 × 127 = 32512 (no saturation);
            // two such lanes could overflow i16, so each half goes to i32 by itself.
            let (p0, p1) = (i16x8_relaxed_dot_i8x16_i7x16(w0, a[2]), i16x8_relaxed_dot_i8x16_i7x16(w1, a[3]));
            return i32x4_add(i32x4_dot_i16x8(p0, k.ones), i32x4_dot_i16x8(p1, k.ones));
        }
    }
    #[inline(always)]
    fn d_ref(&self) -> &u16 {
        &self.d
    }
}

#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
fn dot4(w: &[v128; 4], a: &[v128]) -> v128 {
    i32x4_add(
        i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1])),
        i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3])),
    )
}

/// One weight row against NT tokens (t0..t0+NT): whole groups of four blocks, then the rest.
#[inline(always)]
fn row<B: WeightBlock, const NT: usize>(wr: &[B], x: View, t0: usize, k: &Consts) -> [f32; NT] {
    let nb = wr.len();
    let full = nb / 4 * 4;
    let mut acc = [f32x4_splat(0.0); NT];
    let mut g = 0;
    while g < full {
        group::<B, NT, 4>(&wr[g..g + 4], x, t0, g, &mut acc, k);
        g += 4;
    }
    match nb - full {
        1 => group::<B, NT, 1>(&wr[g..], x, t0, g, &mut acc, k),
        2 => group::<B, NT, 2>(&wr[g..], x, t0, g, &mut acc, k),
        3 => group::<B, NT, 3>(&wr[g..], x, t0, g, &mut acc, k),
        _ => {}
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = finish(acc[j]);
    }
    out
}

/// Block K of a group (if K < CNT) times each token's activation block: p[j][K]. `pa[j]` points
/// to token j's first activation block of the group; the block's vectors are read at constant
/// offsets from it (wasm load offsets, folded by V8 into the address: no add per load).
#[inline(always)]
fn block<B: WeightBlock, const NT: usize, const CNT: usize, const K: usize>(
    wb: &[B],
    pa: &[*const v128; NT],
    p: &mut [[v128; 4]; NT],
    k: &Consts,
    sink: &mut v128,
) {
    if K >= CNT {
        return;
    }
    debug_assert!(K < wb.len());
    // SAFETY: K < CNT <= wb.len() (group()'s callers pass CNT blocks).
    let w = unsafe { wb.get_unchecked(K) }.decode(k);
    for (j, pj) in p.iter_mut().enumerate() {
        // SAFETY: pa[j] points to token j's block g of VPB vectors each, and g + K < nb <= nbp
        // (group()), so the VPB vectors from block g + K are inside x.v.
        let a = unsafe { core::slice::from_raw_parts(pa[j].add(K * VPB), VPB) };
        pj[K] = B::dot(&w, a, k);
        order_point(pj[K], sink);
    }
}

/// Makes V8 compute `v` here, before the loads that follow. TurboFan keeps the loads in program
/// order (they sit on its effect chain) and schedules pure arithmetic as late as it can, next to
/// its uses: without this, a group's 8 to 40 loads all came first and their values were
/// spilled to the stack and reloaded (SmolLM2 Q4_1, node: 111 instructions per four Q4_1 blocks
/// with 20 spills, 102 with none). A volatile store is on the effect chain too, so what it
/// stores is computed before the next block's loads. One 16-byte store to a local per block and
/// token; decode +12%, prefill +38% in V8. The numbers are untouched.
#[inline(always)]
pub(crate) fn order_point(v: v128, sink: &mut v128) {
    // SAFETY: a write through a unique reference to a local.
    unsafe { core::ptr::write_volatile(sink, v) };
}

/// Four values of a per-block activation array from block i on.
///
/// # Safety
/// i + 4 <= v.len().
#[inline(always)]
unsafe fn ld4x<T>(v: &[T], i: usize) -> v128 {
    debug_assert!(i + 4 <= v.len() && core::mem::size_of::<T>() == 4);
    // SAFETY: the caller's contract (four 4-byte values); v128_load needs no alignment.
    unsafe { v128_load(v.as_ptr().add(i) as *const v128) }
}

/// CNT (1 to 4) blocks starting at block g, into the four lanes of each token's accumulator
/// (absent blocks add exactly +0). The four blocks are written out one by one (block::<K>):
/// as a loop over pairs, LLVM kept the pairs' sums in memory.
#[inline(always)]
fn group<B: WeightBlock, const NT: usize, const CNT: usize>(wb: &[B], x: View, t0: usize, g: usize, acc: &mut [v128; NT], k: &Consts) {
    let z = i32x4_splat(0);
    let mut p = [[z; 4]; NT];
    // order_point()'s target.
    let mut sink = z;
    // Every per-token array below holds ntok × nbp blocks (prepare()): t0 + j < ntok, and g is a
    // multiple of 4 below nb <= nbp, nbp a multiple of 4, so block g and the three after it are
    // inside them.
    debug_assert!(g.is_multiple_of(4) && g < x.nbp && (t0 + NT) * x.nbp <= x.d.len() && CNT <= wb.len());
    // SAFETY: block (t0 + j) × nbp + g is inside x.v (above).
    let pa: [*const v128; NT] = core::array::from_fn(|j| unsafe { x.v.as_ptr().add(((t0 + j) * x.nbp + g) * VPB) });
    block::<B, NT, CNT, 0>(wb, &pa, &mut p, k, &mut sink);
    block::<B, NT, CNT, 1>(wb, &pa, &mut p, k, &mut sink);
    // Blocks 0 and 1 folded into one vector per token before blocks 2 and 3 (the integer sums
    // are exact, so where they are added does not matter): fewer live vectors, fewer spills.
    let mut q01 = [z; NT];
    for j in 0..NT {
        q01[j] = hadd(p[j][0], p[j][1]);
        order_point(q01[j], &mut sink);
    }
    block::<B, NT, CNT, 2>(wb, &pa, &mut p, k, &mut sink);
    block::<B, NT, CNT, 3>(wb, &pa, &mut p, k, &mut sink);
    // The weights' f16 scales, in the top halves of four u32 lanes (f16x4_top): d alone by four
    // 16-bit lane loads; d | m << 16 (one 32-bit value per block) for the types with a minimum.
    let (dw4, mw4) = if B::HAS_MIN {
        // SAFETY: b < CNT <= wb.len().
        let sb = |b: usize| if b < CNT { unsafe { wb.get_unchecked(b) }.scale_bits() } else { 0 };
        let bits = u32x4(sb(0), sb(1), sb(2), sb(3));
        (f16x4_top_with(i32x4_shl(bits, 16), k.f16_mask, k.f16_scale), f16x4_top_with(bits, k.f16_mask, k.f16_scale))
    } else {
        let mut h = z;
        // SAFETY: wb[k] exists for k < CNT; each load reads its block's u16 d (aligned).
        unsafe {
            if CNT > 0 {
                h = v128_load16_lane::<1>(h, wb.get_unchecked(0).d_ref());
            }
            if CNT > 1 {
                h = v128_load16_lane::<3>(h, wb.get_unchecked(1).d_ref());
            }
            if CNT > 2 {
                h = v128_load16_lane::<5>(h, wb.get_unchecked(2).d_ref());
            }
            if CNT > 3 {
                h = v128_load16_lane::<7>(h, wb.get_unchecked(3).d_ref());
            }
        }
        (f16x4_top_with(h, k.f16_mask, k.f16_scale), z)
    };
    for j in 0..NT {
        let mut si = hadd(q01[j], hadd(p[j][2], p[j][3]));
        let i = (t0 + j) * x.nbp + g;
        // Every per-block array below holds ntok × nbp values (prepare()), and i + 4 <= that:
        // t0 + j < ntok, and g is a multiple of 4 below nb <= nbp, nbp a multiple of 4.
        debug_assert!(g.is_multiple_of(4) && g < x.nbp && i + 4 <= x.d.len());
        if B::OFFSET != 0 {
            // SAFETY: i + 4 <= x.sx.len() (above).
            si = i32x4_sub(si, i32x4_mul(unsafe { ld4x(x.sx, i) }, i32x4_splat(B::OFFSET)));
        }
        #[cfg(target_feature = "relaxed-simd")]
        if B::NEG_SUM {
            // SAFETY: i + 4 <= x.neg.len() (above).
            si = i32x4_add(si, unsafe { ld4x(x.neg, i) });
        }
        let sums = f32x4_convert_i32x4(si);
        // SAFETY: i + 4 <= x.d.len() = x.s.len() (above).
        let (dx, sx) = unsafe { (ld4x(x.d, i), ld4x(x.s, i)) };
        let mut term = f32x4_mul(sums, f32x4_mul(dw4, dx));
        // Without a minimum scalar.rs's `+ 0` is left out: it only turns a term of -0 into +0,
        // and an accumulator that starts at +0 never becomes -0 (x + y is -0 only when both
        // are), so adding either gives the same bits.
        if B::HAS_MIN {
            term = f32x4_add(term, f32x4_mul(mw4, sx));
        }
        acc[j] = f32x4_add(acc[j], term);
    }
}

fn matmul<B: WeightBlock>(w: &[B], rows: usize, x: &Acts, out: &mut [f32]) {
    super::check_matmul(w.len(), rows, x, out.len());
    let (nb, wide) = (x.nb, x.prep.view());
    let k = consts();
    // A decode step streams the matrix from memory once: where it pays (super::read_ahead), each
    // row asks for the lines AHEAD bytes on (super::touch_lines), as llama.cpp's kernels prefetch.
    let (bytes, row_bytes, one) = (super::block_bytes(w), nb * core::mem::size_of::<B>(), x.ntok == 1 && super::read_ahead());
    let mut sink = 0u8;
    super::for_tiles(rows, x.ntok, out, |r, t0, nt| {
        let wr = &w[r * nb..(r + 1) * nb];
        if one {
            super::touch_lines(bytes, r * row_bytes + super::AHEAD, row_bytes, &mut sink);
        }
        match nt {
            4 => row::<B, 4>(wr, wide, t0, &k),
            3 => super::pad4(row::<B, 3>(wr, wide, t0, &k)),
            2 => super::pad4(row::<B, 2>(wr, wide, t0, &k)),
            _ => super::pad4(row::<B, 1>(wr, wide, t0, &k)),
        }
    });
    core::hint::black_box(sink);
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
