//! WebAssembly SIMD128 kernels: the same names and the same results as scalar.rs, bit for bit
//! (scalar.rs states the fixed float order; four blocks fill the four lanes of one f32x4).
//!
//! WebAssembly has no 8-bit multiply-add, so products go through i32x4.dot_i16x8_s: 4-bit
//! codes are widened to i16 per weight block, and the activations are widened to i16 once per
//! matrix product, not once per weight row. Up to four tokens share each decoded weight block,
//! which makes prefill a matrix × matrix product rather than a loop of dot products.

use core::arch::wasm32::*;

use super::{f16_to_f32, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// Activations widened to i16: four i16x8 per block of 32, with d and s; each token's row is
/// padded with zero blocks to a multiple of four.
struct Wide {
    v: Vec<v128>,
    d: Vec<f32>,
    s: Vec<f32>,
    nbp: usize,
}

fn widen(x: &[BlockQ8_1], nb: usize, ntok: usize) -> Wide {
    let nbp = nb.div_ceil(4) * 4;
    let mut v = vec![i16x8_splat(0); ntok * nbp * 4];
    let mut d = vec![0f32; ntok * nbp];
    let mut s = vec![0f32; ntok * nbp];
    for t in 0..ntok {
        for k in 0..nb {
            let b = &x[t * nb + k];
            let i = t * nbp + k;
            // SAFETY: qs is 32 bytes; v128_load has no alignment requirement.
            let (lo, hi) = unsafe { (v128_load(b.qs.as_ptr() as *const v128), v128_load(b.qs.as_ptr().add(16) as *const v128)) };
            v[i * 4] = i16x8_extend_low_i8x16(lo);
            v[i * 4 + 1] = i16x8_extend_high_i8x16(lo);
            v[i * 4 + 2] = i16x8_extend_low_i8x16(hi);
            v[i * 4 + 3] = i16x8_extend_high_i8x16(hi);
            d[i] = b.d;
            s[i] = b.s;
        }
    }
    Wide { v, d, s, nbp }
}

#[inline(always)]
fn dot4(w: &[v128; 4], a: &[v128]) -> v128 {
    i32x4_add(
        i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1])),
        i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3])),
    )
}

/// [a0+a1, a2+a3, b0+b1, b2+b3]; applied twice to four blocks' partial sums it gives the four
/// blocks' exact integer sums in four lanes.
#[inline(always)]
fn hadd(a: v128, b: v128) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(a, b), i32x4_shuffle::<1, 3, 5, 7>(a, b))
}

#[inline(always)]
fn decode_q4_1(b: &BlockQ4_1) -> [v128; 4] {
    // SAFETY: qs is 16 bytes.
    let q = unsafe { v128_load(b.qs.as_ptr() as *const v128) };
    let lo = v128_and(q, u8x16_splat(0x0f));
    let hi = u8x16_shr(q, 4);
    [u16x8_extend_low_u8x16(lo), u16x8_extend_high_u8x16(lo), u16x8_extend_low_u8x16(hi), u16x8_extend_high_u8x16(hi)]
}

#[inline(always)]
fn decode_q8_0(b: &BlockQ8_0) -> [v128; 4] {
    // SAFETY: qs is 32 bytes.
    let (lo, hi) = unsafe { (v128_load(b.qs.as_ptr() as *const v128), v128_load(b.qs.as_ptr().add(16) as *const v128)) };
    [i16x8_extend_low_i8x16(lo), i16x8_extend_high_i8x16(lo), i16x8_extend_low_i8x16(hi), i16x8_extend_high_i8x16(hi)]
}

#[inline(always)]
fn finish(acc: v128) -> f32 {
    (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<1>(acc)) + (f32x4_extract_lane::<2>(acc) + f32x4_extract_lane::<3>(acc))
}

/// A weight block type: its integer decode and its per-block float terms.
trait Block {
    const HAS_MIN: bool;
    fn decode(&self) -> [v128; 4];
    fn d(&self) -> f32;
    fn m(&self) -> f32;
}

impl Block for BlockQ4_1 {
    const HAS_MIN: bool = true;
    #[inline(always)]
    fn decode(&self) -> [v128; 4] {
        decode_q4_1(self)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        f16_to_f32(self.m)
    }
}

impl Block for BlockQ8_0 {
    const HAS_MIN: bool = false;
    #[inline(always)]
    fn decode(&self) -> [v128; 4] {
        decode_q8_0(self)
    }
    #[inline(always)]
    fn d(&self) -> f32 {
        f16_to_f32(self.d)
    }
    #[inline(always)]
    fn m(&self) -> f32 {
        0.0
    }
}

/// One weight row against NT tokens (t0..t0+NT).
#[inline(always)]
fn row<B: Block, const NT: usize>(wr: &[B], x: &Wide, t0: usize) -> [f32; NT] {
    let nb = wr.len();
    let mut acc = [f32x4_splat(0.0); NT];
    let mut g = 0;
    while g < nb {
        let cnt = (nb - g).min(4);
        let mut dw = [0f32; 4];
        let mut mw = [0f32; 4];
        let mut u = [[i32x4_splat(0); 2]; NT];
        for pair in 0..2 {
            let mut p = [[i32x4_splat(0); 2]; NT];
            for h in 0..2 {
                let k = pair * 2 + h;
                if k < cnt {
                    let b = &wr[g + k];
                    dw[k] = b.d();
                    mw[k] = b.m();
                    let w = b.decode();
                    for j in 0..NT {
                        let i = ((t0 + j) * x.nbp + g + k) * 4;
                        p[j][h] = dot4(&w, &x.v[i..i + 4]);
                    }
                }
            }
            for j in 0..NT {
                u[j][pair] = hadd(p[j][0], p[j][1]);
            }
        }
        // SAFETY: the arrays are 4 floats.
        let (dw4, mw4) = unsafe { (v128_load(dw.as_ptr() as *const v128), v128_load(mw.as_ptr() as *const v128)) };
        for j in 0..NT {
            let sums = f32x4_convert_i32x4(hadd(u[j][0], u[j][1]));
            let i = (t0 + j) * x.nbp + g;
            // SAFETY: each row of d and s is padded to a multiple of 4.
            let (dx, sx) = unsafe { (v128_load(x.d.as_ptr().add(i) as *const v128), v128_load(x.s.as_ptr().add(i) as *const v128)) };
            let mut term = f32x4_mul(sums, f32x4_mul(dw4, dx));
            term = f32x4_add(term, if B::HAS_MIN { f32x4_mul(mw4, sx) } else { f32x4_splat(0.0) });
            acc[j] = f32x4_add(acc[j], term);
        }
        g += 4;
    }
    let mut out = [0f32; NT];
    for j in 0..NT {
        out[j] = finish(acc[j]);
    }
    out
}

fn matmul<B: Block>(w: &[B], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
    let nb = w.len() / rows;
    let wide = widen(x, nb, ntok);
    let mut t0 = 0;
    while t0 < ntok {
        let nt = (ntok - t0).min(4);
        for r in 0..rows {
            let wr = &w[r * nb..(r + 1) * nb];
            match nt {
                4 => {
                    let v = row::<B, 4>(wr, &wide, t0);
                    for j in 0..4 {
                        out[(t0 + j) * rows + r] = v[j];
                    }
                }
                3 => {
                    let v = row::<B, 3>(wr, &wide, t0);
                    for j in 0..3 {
                        out[(t0 + j) * rows + r] = v[j];
                    }
                }
                2 => {
                    let v = row::<B, 2>(wr, &wide, t0);
                    for j in 0..2 {
                        out[(t0 + j) * rows + r] = v[j];
                    }
                }
                _ => out[t0 * rows + r] = row::<B, 1>(wr, &wide, t0)[0],
            }
        }
        t0 += nt;
    }
}

pub fn matmul_q4_1(w: &[BlockQ4_1], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
    matmul(w, rows, x, ntok, out)
}

pub fn matmul_q8_0(w: &[BlockQ8_0], rows: usize, x: &[BlockQ8_1], ntok: usize, out: &mut [f32]) {
    matmul(w, rows, x, ntok, out)
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for k in 0..4 {
            // SAFETY: i + 16 <= n, within both slices.
            let (x, y) = unsafe { (v128_load(a.as_ptr().add(i + 4 * k) as *const v128), v128_load(b.as_ptr().add(i + 4 * k) as *const v128)) };
            acc[k] = f32x4_add(acc[k], f32x4_mul(x, y));
        }
        i += 16;
    }
    let t = f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3]));
    let mut s = finish(t);
    while i < n {
        s += a[i] * b[i];
        i += 1;
    }
    s
}

pub fn axpy_f32(y: &mut [f32], a: f32, x: &[f32]) {
    let n = y.len().min(x.len());
    let av = f32x4_splat(a);
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: i + 4 <= n, within both slices.
        unsafe {
            let p = y.as_mut_ptr().add(i) as *mut v128;
            v128_store(p, f32x4_add(v128_load(p), f32x4_mul(av, v128_load(x.as_ptr().add(i) as *const v128))));
        }
        i += 4;
    }
    while i < n {
        y[i] += a * x[i];
        i += 1;
    }
}
