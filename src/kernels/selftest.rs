//! Every SIMD kernel against its scalar twin on random blocks. Run natively by tests/kernels.rs
//! and in the browser through `kernel_selftest()` (tests/browser/engine.test.mjs).
//!
//! Every kernel follows the float order that scalar.rs states, so all results must be
//! bit-exact; the report also gives the largest relative difference, for the record.

use serde_json::{json, Value};

use super::{arch, f32_to_f16, scalar, BlockQ4_1, BlockQ8_0, BlockQ8_1, ARCH};
use crate::sampler::Rng;

fn rand_q4_1(rng: &mut Rng, n: usize, unit: bool) -> Vec<BlockQ4_1> {
    (0..n)
        .map(|_| {
            let mut b = BlockQ4_1::default();
            for q in b.qs.iter_mut() {
                *q = rng.next_u64() as u8;
            }
            b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(rng.next_f32() * 0.02 + 1e-4) };
            b.m = if unit { 0 } else { f32_to_f16(-rng.next_f32() * 0.2) };
            b
        })
        .collect()
}

fn rand_q8_0(rng: &mut Rng, n: usize, unit: bool) -> Vec<BlockQ8_0> {
    (0..n)
        .map(|_| {
            let mut b = BlockQ8_0::default();
            for q in b.qs.iter_mut() {
                // ggml's quantizer writes -127..127
                *q = ((rng.next_u64() % 255) as i32 - 127) as i8;
            }
            b.d = if unit { f32_to_f16(1.0) } else { f32_to_f16(rng.next_f32() * 0.01 + 1e-4) };
            b
        })
        .collect()
}

fn rand_acts(rng: &mut Rng, n: usize, unit: bool) -> Vec<BlockQ8_1> {
    (0..n)
        .map(|_| {
            let mut b = BlockQ8_1::default();
            let mut sum = 0i32;
            for q in b.qs.iter_mut() {
                *q = ((rng.next_u64() % 255) as i32 - 127) as i8;
                sum += *q as i32;
            }
            b.d = if unit { 1.0 } else { rng.next_f32() * 0.05 + 1e-4 };
            b.s = if unit { 0.0 } else { b.d * sum as f32 };
            b
        })
        .collect()
}

struct Check {
    name: &'static str,
    cases: usize,
    max_err: f64,
    exact: bool,
    ok: bool,
}

impl Check {
    fn new(name: &'static str, exact: bool) -> Check {
        Check { name, cases: 0, max_err: 0.0, exact, ok: true }
    }
    fn compare(&mut self, got: &[f32], want: &[f32], scale: &[f32]) {
        for i in 0..want.len() {
            self.cases += 1;
            let err = ((got[i] - want[i]).abs() / scale[i].max(1e-30)) as f64;
            self.max_err = self.max_err.max(err);
            if got[i].to_bits() != want[i].to_bits() || (!self.exact && !(err <= 1e-5)) {
                self.ok = false;
            }
        }
    }
    fn json(&self) -> Value {
        json!({"name": self.name, "cases": self.cases, "exact": self.exact, "max_err": self.max_err, "ok": self.ok})
    }
}

/// Σ|terms| of each output, the scale the float comparison is relative to.
fn abs_scale_q4_1(w: &[BlockQ4_1], rows: usize, x: &[BlockQ8_1], ntok: usize) -> Vec<f32> {
    let nb = w.len() / rows;
    let mut out = vec![0f32; rows * ntok];
    for t in 0..ntok {
        for r in 0..rows {
            let mut s = 0f32;
            for b in 0..nb {
                let (wb, a) = (&w[r * nb + b], &x[t * nb + b]);
                let mut vals = [0f32; 32];
                super::dequantize_q4_1(wb, &mut vals);
                for j in 0..32 {
                    s += (vals[j] * a.qs[j] as f32 * a.d).abs();
                }
            }
            out[t * rows + r] = s;
        }
    }
    out
}

fn abs_scale_q8_0(w: &[BlockQ8_0], rows: usize, x: &[BlockQ8_1], ntok: usize) -> Vec<f32> {
    let nb = w.len() / rows;
    let mut out = vec![0f32; rows * ntok];
    for t in 0..ntok {
        for r in 0..rows {
            let mut s = 0f32;
            for b in 0..nb {
                let (wb, a) = (&w[r * nb + b], &x[t * nb + b]);
                for j in 0..32 {
                    s += (super::f16_to_f32(wb.d) * wb.qs[j] as f32 * a.qs[j] as f32 * a.d).abs();
                }
            }
            out[t * rows + r] = s;
        }
    }
    out
}

pub fn run(seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let mut checks = Vec::new();
    for unit in [true, false] {
        let mut c4 = Check::new(if unit { "matmul_q4_1 (integer)" } else { "matmul_q4_1" }, unit);
        let mut c8 = Check::new(if unit { "matmul_q8_0 (integer)" } else { "matmul_q8_0" }, unit);
        for &(rows, nb, ntok) in &[(1, 1, 1), (3, 2, 1), (8, 18, 1), (5, 18, 2), (7, 48, 3), (4, 18, 4), (6, 5, 5), (9, 18, 11)] {
            let x = rand_acts(&mut rng, nb * ntok, unit);
            let w = rand_q4_1(&mut rng, rows * nb, unit);
            let (mut a, mut b) = (vec![0f32; rows * ntok], vec![0f32; rows * ntok]);
            arch::matmul_q4_1(&w, rows, &x, ntok, &mut a);
            scalar::matmul_q4_1(&w, rows, &x, ntok, &mut b);
            c4.compare(&a, &b, &abs_scale_q4_1(&w, rows, &x, ntok));
            let w = rand_q8_0(&mut rng, rows * nb, unit);
            arch::matmul_q8_0(&w, rows, &x, ntok, &mut a);
            scalar::matmul_q8_0(&w, rows, &x, ntok, &mut b);
            c8.compare(&a, &b, &abs_scale_q8_0(&w, rows, &x, ntok));
        }
        checks.push(c4);
        checks.push(c8);
    }
    let mut cg = Check::new("attention_group", true);
    for &(hd, group, n, stride) in &[(64usize, 3usize, 1usize, 192usize), (64, 3, 37, 192), (64, 1, 5, 64), (64, 4, 9, 320), (32, 2, 7, 96)] {
        let q: Vec<f32> = (0..group * hd).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let kv_len = (n - 1) * stride + hd;
        let k: Vec<f32> = (0..kv_len).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let v: Vec<f32> = (0..kv_len).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let (mut s1, mut s2) = (vec![0f32; group * n], vec![0f32; group * n]);
        let (mut o1, mut o2) = (vec![0f32; group * hd], vec![0f32; group * hd]);
        super::attention_group(&q, hd, &k, &v, stride, n, 0.125, &mut s1, &mut o1);
        scalar::attention_group(&q, hd, &k, &v, stride, n, 0.125, &mut s2, &mut o2);
        cg.compare(&s1, &s2, &vec![1.0; s2.len()]);
        cg.compare(&o1, &o2, &vec![1.0; o2.len()]);
    }
    checks.push(cg);
    let ok = checks.iter().all(|c| c.ok);
    json!({"arch": ARCH, "ok": ok, "checks": checks.iter().map(Check::json).collect::<Vec<_>>()})
}
