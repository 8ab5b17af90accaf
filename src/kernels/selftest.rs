//! Every SIMD kernel against its scalar twin on random blocks. Run natively by tests/kernels.rs
//! and in the browser through `kernel_selftest()` (tests/browser/engine.test.mjs).
//!
//! Every kernel follows the float order that scalar.rs states, so every result must be
//! bit-exact: a check fails on the first bit that differs, and reports how many outputs differed
//! and by how many ulp at most.

use serde_json::{json, Value};

use super::{scalar, with_type, Acts, Kernel, WeightType, ARCH};
use crate::sampler::Rng;

/// Random activations, `ntok` rows of `k`. `unit`: integers in -127..127 with a ±127 in every 32
/// values, so that every quantization (Q8_1, Q8_K) has scale 1 and the products are integers.
fn rand_x(rng: &mut Rng, k: usize, ntok: usize, unit: bool) -> Vec<f32> {
    let mut x = vec![0f32; k * ntok];
    for (i, v) in x.iter_mut().enumerate() {
        *v = if unit {
            if i % 32 == (i / 32) % 32 { if rng.next_u64() & 1 == 0 { 127.0 } else { -127.0 } } else { ((rng.next_u64() % 255) as i32 - 127) as f32 }
        } else {
            let r = rng.next_f32() * 2.0 - 1.0;
            // an outlier now and then, as real activations have
            if rng.next_u64().is_multiple_of(97) { r * 40.0 } else { r }
        };
    }
    x
}

/// The matrix product of type B, this build's kernels against the scalar reference.
fn check_type<B: Kernel>(rng: &mut Rng, unit: bool) -> Check {
    let mut c = Check::new(format!("matmul_{}{}", B::TYPE.name().to_lowercase(), if unit { " (integer)" } else { "" }));
    // (rows, values per row, tokens): rows of 1 to 48 blocks of 32 (not a multiple of 4 blocks
    // too), of 1, 2 and 6 super-blocks, and tiles of 1 to 5 tokens and more. One token (decode)
    // takes rows four at a time: row counts of 1 to 13 (4k + 1, 2, 3 left over) with 1 to 20
    // blocks (4k + 1, 2, 3 too), 640 values as Gemma 3's rows.
    let shapes: &[(usize, usize, usize)] = if B::QK == 256 {
        &[(1, 256, 1), (3, 512, 1), (5, 1536, 2), (4, 256, 3), (7, 768, 4), (6, 512, 5), (9, 256, 11)]
    } else {
        &[(1, 32, 1), (3, 64, 1), (8, 576, 1), (13, 640, 1), (6, 96, 1), (2, 160, 1), (7, 224, 1), (5, 576, 2), (7, 1536, 3), (4, 576, 4), (6, 160, 5), (9, 576, 11)]
    };
    for &(rows, k, ntok) in shapes {
        // Twice through the same Acts, as the run state reuses it: first a larger shape (stale
        // data left in its buffers must not matter), then the one checked.
        let mut x = Acts::new();
        x.quantize(&rand_x(rng, k + 256, ntok + 2, unit), k + 256);
        x.quantize(&rand_x(rng, k, ntok, unit), k);
        let nblocks = rows * k / B::QK;
        let mut next = || rng.next_u64();
        let w: Vec<B> = (0..nblocks).map(|_| B::random(&mut next, unit)).collect();
        let (mut a, mut b) = (vec![0f32; rows * ntok], vec![0f32; rows * ntok]);
        B::matmul(&w, rows, &x, &mut a);
        B::matmul_ref(&w, rows, &x, &mut b);
        c.compare(&a, &b);
    }
    c
}

/// One kernel's comparisons. Every output must equal the scalar twin's bit for bit: there is no
/// tolerance. `max_ulp` says how far the worst output was (0 when `ok`), for a failure report.
struct Check {
    name: String,
    cases: usize,
    mismatches: usize,
    max_ulp: u32,
}

impl Check {
    fn new(name: String) -> Check {
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

/// One weight type's matrix product (integer-only and float scales) against the scalar reference.
pub fn run_type(ty: WeightType, seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let checks: Vec<Check> = [true, false].iter().map(|&unit| with_type!(ty, B => check_type::<B>(&mut rng, unit))).collect();
    json!({"arch": ARCH, "ok": checks.iter().all(Check::ok), "checks": checks.iter().map(Check::json).collect::<Vec<_>>()})
}

/// Every weight type's matrix product (with integer-only and with float scales), the attention
/// and the softmax sums against the scalar reference, bit for bit.
pub fn run(seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let mut checks = Vec::new();
    for ty in WeightType::ALL {
        for unit in [true, false] {
            checks.push(with_type!(ty, B => check_type::<B>(&mut rng, unit)));
        }
    }
    // The activations' Q8_1 quantization as this build runs it (WebAssembly SIMD) against the
    // scalar function: rows of random values and outliers, and blocks that are all zero, hold
    // ±0, a subnormal scale, NaN or an infinity.
    let mut cq = Check::new("quantize_q8_1".into());
    let mut x = rand_x(&mut rng, 32 * 64, 3, false);
    x.extend(rand_x(&mut rng, 32 * 16, 1, true));
    let specials: [&[f32]; 6] = [&[0.0], &[-0.0, 0.0], &[1e-40, -3e-39], &[f32::NAN, 1.0, -2.5], &[f32::INFINITY, 0.5], &[f32::NEG_INFINITY, f32::NAN]];
    for sp in specials {
        let at = x.len();
        x.extend(rand_x(&mut rng, 32, 1, false).iter().map(|v| v * 1e-3));
        // Every third value from the list in turn (a one-value list: all 32).
        for i in 0..32 {
            if sp.len() == 1 {
                x[at + i] = sp[0];
            } else if i % 3 == 0 {
                x[at + i] = sp[(i / 3) % sp.len()];
            }
        }
    }
    let nb = x.len() / 32;
    let (mut got, mut want) = (vec![super::BlockQ8_1::default(); nb], vec![super::BlockQ8_1::default(); nb]);
    super::acts::quantize_q8_1_arch(&x, &mut got);
    super::quantize_q8_1(&x, &mut want);
    for (g, w) in got.iter().zip(&want) {
        cq.cases += 1;
        if g.d.to_bits() != w.d.to_bits() || g.s.to_bits() != w.s.to_bits() || g.qs != w.qs {
            cq.mismatches += 1;
        }
    }
    checks.push(cq);
    let mut cg = Check::new("attention_group".into());
    // Head sizes 64 (SmolLM2, Llama 3.2), 128 (Qwen2.5, Qwen3), 256 (Gemma 3) with 1..8 query heads
    // per KV head, odd and even position counts (the kernels take positions in pairs), KV rows
    // wider than one head (stride); then shapes the SIMD kernels leave to the reference.
    let mut shapes = vec![(64usize, 3usize, 1usize, 192usize), (64, 3, 37, 192), (64, 1, 5, 64), (64, 4, 9, 320), (32, 2, 7, 96), (40, 2, 5, 80), (16, 1, 3, 16)];
    for hd in [64usize, 128, 256] {
        for group in 1..=8usize {
            let n = 1 + (hd / 16 + group * 7) % 23;
            shapes.push((hd, group, n, hd * (1 + group % 3)));
        }
    }
    for &(hd, group, n, stride) in &shapes {
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
    // The sampler's softmax sums (its f64 lanes, in WebAssembly SIMD) against the plain loop: a
    // vocabulary's worth of logits with -inf and NaN among them, lengths that are not a multiple
    // of 8, temperatures 1 and others.
    let mut cs = Check::new("softmax_sums".into());
    for (n, temp) in [(8usize, 1.0f32), (49_155, 1.0), (1_000, 0.7), (37, 1.3), (262_144, 1.0), (5, 2.0)] {
        let mut l: Vec<f32> = (0..n).map(|_| rng.next_f32() * 60.0 - 40.0).collect();
        for i in (0..n).step_by(97) {
            l[i] = if i % 2 == 0 { f32::NEG_INFINITY } else { f32::NAN };
        }
        let max = super::max_f32(&l);
        let (got, want) = (super::softmax_sums(&l, max, temp), super::attention::softmax_sums_ref(&l, max, temp));
        cs.cases += 1;
        if got.0.to_bits() != want.0.to_bits() || got.1.to_bits() != want.1.to_bits() {
            cs.mismatches += 1;
        }
    }
    checks.push(cs);
    let ok = checks.iter().all(Check::ok);
    json!({"arch": ARCH, "ok": ok, "checks": checks.iter().map(Check::json).collect::<Vec<_>>()})
}
