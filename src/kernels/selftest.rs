//! Every SIMD kernel against its scalar twin on random blocks. Run natively by tests/kernels.rs
//! and in the browser through `kernel_selftest()` (tests/browser/engine.test.mjs).
//!
//! Every kernel follows the float order that scalar.rs states, so every result must be
//! bit-exact: a check fails on the first bit that differs, and reports how many outputs differed
//! and by how many ulp at most.

use serde_json::{json, Value};

use super::{arch, f32_to_f16, scalar, Acts, BlockQ4_1, BlockQ8_0, BlockQ8_1, ARCH};
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

/// One kernel's comparisons. Every output must equal the scalar twin's bit for bit: there is no
/// tolerance. `max_ulp` says how far the worst output was (0 when `ok`), for a failure report.
struct Check {
    name: &'static str,
    cases: usize,
    mismatches: usize,
    max_ulp: u32,
}

impl Check {
    fn new(name: &'static str) -> Check {
        Check { name, cases: 0, mismatches: 0, max_ulp: 0 }
    }
    fn compare(&mut self, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{}: output lengths", self.name);
        for (g, w) in got.iter().zip(want) {
            self.cases += 1;
            if g.to_bits() != w.to_bits() {
                self.mismatches += 1;
                self.max_ulp = self.max_ulp.max(ulp_distance(*g, *w));
            }
        }
    }
    fn ok(&self) -> bool {
        self.mismatches == 0
    }
    fn json(&self) -> Value {
        json!({"name": self.name, "cases": self.cases, "mismatches": self.mismatches, "max_ulp": self.max_ulp, "ok": self.ok()})
    }
}

/// Steps between two floats on the number line (u32::MAX if either is NaN or the signs differ
/// across more than that).
fn ulp_distance(a: f32, b: f32) -> u32 {
    if a.is_nan() || b.is_nan() {
        return u32::MAX;
    }
    // Map the bits to a monotonic integer line: negative floats count down from zero.
    let key = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i64::from(i32::MIN) - i64::from(i) } else { i64::from(i) }
    };
    (key(a) - key(b)).unsigned_abs().min(u64::from(u32::MAX)) as u32
}

pub fn run(seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let mut checks = Vec::new();
    for unit in [true, false] {
        let mut c4 = Check::new(if unit { "matmul_q4_1 (integer)" } else { "matmul_q4_1" });
        let mut c8 = Check::new(if unit { "matmul_q8_0 (integer)" } else { "matmul_q8_0" });
        for &(rows, nb, ntok) in &[(1, 1, 1), (3, 2, 1), (8, 18, 1), (5, 18, 2), (7, 48, 3), (4, 18, 4), (6, 5, 5), (9, 18, 11)] {
            // Twice through the same Acts, as the run state reuses it: first a larger shape
            // (stale data left in its buffers must not matter), then the one checked.
            let mut x = Acts::new();
            x.set_blocks(&rand_acts(&mut rng, (nb + 3) * (ntok + 2), unit), nb + 3);
            x.set_blocks(&rand_acts(&mut rng, nb * ntok, unit), nb);
            let w = rand_q4_1(&mut rng, rows * nb, unit);
            let (mut a, mut b) = (vec![0f32; rows * ntok], vec![0f32; rows * ntok]);
            arch::matmul_q4_1(&w, rows, &x, &mut a);
            scalar::matmul_q4_1(&w, rows, &x, &mut b);
            c4.compare(&a, &b);
            let w = rand_q8_0(&mut rng, rows * nb, unit);
            arch::matmul_q8_0(&w, rows, &x, &mut a);
            scalar::matmul_q8_0(&w, rows, &x, &mut b);
            c8.compare(&a, &b);
        }
        checks.push(c4);
        checks.push(c8);
    }
    let mut cg = Check::new("attention_group");
    for &(hd, group, n, stride) in &[(64usize, 3usize, 1usize, 192usize), (64, 3, 37, 192), (64, 1, 5, 64), (64, 4, 9, 320), (32, 2, 7, 96)] {
        let q: Vec<f32> = (0..group * hd).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let kv_len = (n - 1) * stride + hd;
        let k: Vec<f32> = (0..kv_len).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let v: Vec<f32> = (0..kv_len).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
        let (mut s1, mut s2) = (vec![0f32; group * n], vec![0f32; group * n]);
        let (mut o1, mut o2) = (vec![0f32; group * hd], vec![0f32; group * hd]);
        super::attention_group(&q, hd, &k, &v, stride, n, 0.125, &mut s1, &mut o1);
        scalar::attention_group(&q, hd, &k, &v, stride, n, 0.125, &mut s2, &mut o2);
        cg.compare(&s1, &s2);
        cg.compare(&o1, &o2);
    }
    checks.push(cg);
    let ok = checks.iter().all(Check::ok);
    json!({"arch": ARCH, "ok": ok, "checks": checks.iter().map(Check::json).collect::<Vec<_>>()})
}
