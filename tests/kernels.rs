//! Every SIMD kernel equals its scalar twin on random blocks (the same check runs in the
//! browser: tests/browser/engine.test.mjs).

mod crafted;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts this thread's allocations, so that a test can say "forward() allocated nothing".
struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call goes to System with the caller's arguments unchanged; the count is a
// thread-local Cell (const-initialised: touching it never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for GlobalAlloc::alloc, passed on.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: p came from System.alloc with this layout (every allocation goes there).
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|c| c.set(c.get() + 1));
        // SAFETY: as dealloc, and the caller's contract for realloc.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(|c| c.get())
}

/// The kernel set this CPU should get: a native build (`-C target-cpu=native`, .cargo/config.toml)
/// on an x86-64 with AVX2 and FMA runs avx2.rs, anything else the scalar reference. Without
/// this, a build that silently fell back to scalar would compare scalar with scalar and pass.
fn expected_arch() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        return "avx2";
    }
    "scalar"
}

#[test]
fn this_cpu_runs_the_kernels_it_has() {
    assert_eq!(plumbing::kernels::ARCH, expected_arch(), "the kernel set compiled in is not the one this CPU supports");
}

#[test]
fn simd_kernels_equal_their_scalar_twins() {
    for seed in [1, 2, 3] {
        let r = plumbing::kernels::selftest::run(seed);
        eprintln!("{r}");
        assert_eq!(r["arch"], expected_arch(), "{r:#}");
        assert!(r["ok"].as_bool().unwrap(), "{r:#}");
        let checks = r["checks"].as_array().unwrap();
        // Each type twice (integer-only and float scales), the activations' quantization, the
        // attention and the softmax sums.
        assert_eq!(checks.len(), plumbing::kernels::WeightType::ALL.len() * 2 + 3, "{r:#}");
        for c in checks {
            assert!(c["cases"].as_u64().unwrap() > 0, "{c}");
            assert_eq!(c["mismatches"], 0, "{c}");
        }
    }
}

/// The fuzz finding 50f185b9 (tests/bad_files.rs): an activation row so small that its scale d
/// is subnormal. 1/d is infinite there, so the codes used to saturate (and their i32 sum
/// overflowed); now such a row quantizes to zeros: every code 0, d as computed, s = 0.
#[test]
fn q8_1_of_a_row_with_a_subnormal_scale_is_all_zero_codes() {
    use plumbing::kernels::{quantize_q8_1, BlockQ8_1};
    // Block 0: normal values whose scale amax / 127 is subnormal. Block 1: subnormal values.
    // Block 2: all zero. Block 3: the smallest amax whose scale is normal, quantized as usual.
    let mut x = vec![0f32; 128];
    for j in 0..32 {
        let sign = if j % 3 == 0 { -1.0 } else { 1.0 };
        x[j] = sign * 1e-37 * (1.0 + j as f32 / 32.0);
        x[32 + j] = sign * f32::from_bits(1 + 12345 * j as u32);
        x[96 + j] = sign * f32::MIN_POSITIVE * 127.0 * (j as f32 + 1.0) / 32.0;
    }
    let mut b = vec![BlockQ8_1::default(); 4];
    quantize_q8_1(&x, &mut b);
    for (i, blk) in b.iter().enumerate().take(3) {
        let amax = x[i * 32..(i + 1) * 32].iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        assert!(!d.is_normal(), "block {i}: d {d:e} should be subnormal or 0");
        assert_eq!(blk.qs, [0i8; 32], "block {i}: codes of a row with subnormal scale {d:e}");
        assert_eq!(blk.d.to_bits(), d.to_bits(), "block {i}: d");
        assert_eq!(blk.s.to_bits(), 0f32.to_bits(), "block {i}: s");
    }
    assert!(b[0].d > 0.0 && b[1].d > 0.0, "the subnormal scales are kept, not flushed");
    let last = &b[3];
    assert!(last.d.is_normal());
    assert_eq!(last.qs[31], 127);
    assert_eq!(last.qs[30], -(127.0f32 * 31.0 / 32.0).round_ties_even() as i8);
    let sum: i32 = last.qs.iter().map(|&q| q as i32).sum();
    assert_eq!(last.s.to_bits(), (last.d * sum as f32).to_bits());
}

/// Q8_K as ggml's quantize_row_q8_K_ref: the value of largest magnitude maps to -127 (d carries
/// the sign back), the 16-value sums, zero blocks zero.
#[test]
fn q8_k_quantization_is_ggml_s() {
    use plumbing::kernels::{quantize_q8_k, BlockQ8K};
    let mut x: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37).sin() * 2.0).collect();
    x[5] = 3.0;
    x[256..].fill(0.0);
    let mut b = vec![BlockQ8K::default(); 2];
    quantize_q8_k(&x, &mut b);
    assert_eq!(b[0].qs[5], -127);
    assert_eq!(b[0].d.to_bits(), (1.0 / (-127.0f32 / 3.0)).to_bits());
    for (j, v) in x[..256].iter().enumerate() {
        assert!((b[0].qs[j] as f32 * b[0].d - v).abs() <= b[0].d.abs() * 0.5 + 1e-6, "{j}");
    }
    for j in 0..16 {
        assert_eq!(b[0].bsums[j], b[0].qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum::<i16>());
    }
    assert_eq!((b[1].d, b[1].qs, b[1].bsums), (0.0, [0i8; 256], [0i16; 16]));
}

#[test]
fn q8_1_quantization_roundtrips() {
    use plumbing::kernels::{quantize_q8_1, BlockQ8_1};
    let x: Vec<f32> = (0..64).map(|i| ((i as f32) * 0.37).sin() * 3.0).collect();
    let mut b = vec![BlockQ8_1::default(); 2];
    quantize_q8_1(&x, &mut b);
    for (j, v) in x.iter().enumerate() {
        let blk = &b[j / 32];
        let back = blk.qs[j % 32] as f32 * blk.d;
        assert!((back - v).abs() <= blk.d * 0.5 + 1e-6, "{back} vs {v}");
    }
    let s: i32 = b[0].qs.iter().map(|&q| q as i32).sum();
    assert!((b[0].s - b[0].d * s as f32).abs() < 1e-5);
}

#[test]
fn f16_conversion_is_exact() {
    for h in 0u16..=0xffff {
        if !plumbing::kernels::f16_is_finite(h) {
            continue;
        }
        let want = half::f16::from_bits(h).to_f32();
        let got = plumbing::kernels::f16_to_f32(h);
        assert_eq!(got.to_bits(), want.to_bits(), "f16 bits {h:#06x}");
    }
}

#[test]
fn exp_f32_is_within_2_ulp_of_libm() {
    let mut worst = 0u32;
    let mut x = -87.0f32;
    while x < 88.0 {
        let (a, b) = (plumbing::kernels::exp_f32(x), libm::expf(x));
        let ulp = (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32;
        worst = worst.max(ulp);
        x += 0.0137;
    }
    assert!(worst <= 2, "exp_f32 is {worst} ulp from libm's expf");
    assert_eq!(plumbing::kernels::exp_f32(-100.0), 0.0);
    assert_eq!(plumbing::kernels::exp_f32(0.0), 1.0);
}

#[test]
fn cast_blocks_refuses_partial_and_misaligned_blocks() {
    use plumbing::kernels::{cast_blocks, cast_f32, BlockQ4_1, BlockQ8_0};
    #[repr(align(8))]
    struct Aligned([u8; 48]);
    let buf = Aligned([0; 48]);
    assert_eq!(cast_blocks::<BlockQ4_1>(&buf.0[..40]).unwrap().len(), 2);
    assert_eq!(cast_blocks::<BlockQ8_0>(&buf.0[..34]).unwrap().len(), 1);
    assert_eq!(cast_f32(&buf.0[..8]).unwrap().len(), 2);
    let e = cast_blocks::<BlockQ4_1>(&buf.0[..30]).unwrap_err();
    assert_eq!(e.kind(), "format");
    assert!(e.to_string().contains("30 bytes are not a whole number of 20-byte blocks"), "{e}");
    let e = cast_blocks::<BlockQ8_0>(&buf.0[1..35]).unwrap_err();
    assert!(e.to_string().contains("is not aligned to 2 bytes"), "{e}");
    let e = cast_f32(&buf.0[2..10]).unwrap_err();
    assert!(e.to_string().contains("is not aligned to 4 bytes"), "{e}");
}

/// The weight types the kernels run, exactly (every other type the reader knows is refused by
/// name), each mapping back to its own ggml type and block size.
#[test]
fn the_kernels_run_exactly_the_listed_weight_types() {
    use plumbing::gguf::GgmlType;
    use plumbing::model::WeightType;
    let run: Vec<GgmlType> = (0..64).filter_map(GgmlType::from_u32).filter(|&t| WeightType::of(t).is_some()).collect();
    use GgmlType::*;
    assert_eq!(run, vec![F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2K, Q3K, Q4K, Q5K, Q6K, BF16]);
    assert_eq!(WeightType::ALL.len(), run.len());
    for t in run {
        let w = WeightType::of(t).unwrap();
        assert_eq!(w.ggml(), t);
        assert_eq!(w.qk() as u64, t.block().0, "{t}");
        assert!(WeightType::names().contains(t.name()), "{t}");
    }
    let known: Vec<GgmlType> = (0..64).filter_map(GgmlType::from_u32).collect();
    assert_eq!(known.len(), 32, "{known:?}");
}

/// The run state holds every buffer of the forward pass (sized once per session, grown only for
/// a longer chunk): a decoded token allocates nothing but the KV cache's own growth.
#[test]
fn decoding_a_token_allocates_nothing_but_kv_cache_growth() {
    use plumbing::{Model, ModelFile};
    let bytes = crafted::Tiny::default().bytes();
    let m = Model::load(ModelFile::from_bytes(&bytes).unwrap(), &mut |_, _| {}).unwrap();
    let mut st = m.new_state(64);
    let prompt: Vec<u32> = (10..50).collect(); // 40 tokens: more than the 32 the state starts with
    let first = m.forward(&mut st, &prompt).unwrap().to_vec();
    let (mut quiet, mut grew) = (0, 0);
    for t in 0..20u32 {
        let (kv, a) = (st.kv_bytes(), allocs());
        let logits = m.forward(&mut st, &[100 + t]).unwrap();
        assert_eq!(logits.len(), m.config.n_vocab);
        let n = allocs() - a;
        if st.kv_bytes() == kv {
            assert_eq!(n, 0, "token {t}: {n} allocations in forward()");
            quiet += 1;
        } else {
            assert!(n <= 2 * m.config.n_layer, "token {t}: {n} allocations for the KV cache's growth");
            grew += 1;
        }
    }
    assert!(quiet > grew, "{quiet} steps without KV growth, {grew} with");
    // The same state, reset, gives the first logits again: nothing stale in the reused buffers.
    st.reset();
    assert_eq!(m.forward(&mut st, &prompt).unwrap(), &first[..]);
}

/// The reference kernels compute what the formats mean: for every weight type, W·x from the
/// scalar twin equals Σ dequantize(W)·x̂ in f64 (x̂ the quantized activations' values: codes × d),
/// within float rounding. (The SIMD kernels equal the scalar twins bit for bit, and dequantize
/// equals ggml's: together, every kernel multiplies what the file holds.)
/// A xorshift64 stream of random words from `seed`.
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// The bytes of `rows` rows of `k` values of random blocks of type `ty`.
fn random_matrix(ty: plumbing::kernels::WeightType, rows: usize, k: usize, next: &mut impl FnMut() -> u64) -> Vec<u8> {
    use plumbing::kernels::{with_type, Kernel};
    with_type!(ty, B => {
        let blocks: Vec<B> = (0..rows * k / ty.qk()).map(|_| <B as Kernel>::random(&mut *next, false)).collect();
        // SAFETY: B is a plain block type (kernels::Block: no padding, every bit pattern
        // valid), so its bytes are initialised; the slice covers exactly the Vec's blocks.
        unsafe { std::slice::from_raw_parts(blocks.as_ptr() as *const u8, std::mem::size_of_val(blocks.as_slice())) }.to_vec()
    })
}

#[test]
fn reference_kernels_multiply_what_the_blocks_hold() {
    use plumbing::kernels::{self, Acts, WeightType};
    let mut next = xorshift(0x2545F4914F6CDD1Du64);
    for ty in WeightType::ALL {
        let (rows, k, ntok) = (5, if ty.qk() == 256 { 512 } else { 96 }, 3);
        let x: Vec<f32> = (0..k * ntok).map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0).collect();
        let mut acts = Acts::new();
        acts.quantize(&x, k);
        let bytes = random_matrix(ty, rows, k, &mut next);
        let mut out = vec![0f32; rows * ntok];
        kernels::matmul_ref(ty, &bytes, rows, &acts, &mut out).unwrap();
        let row_bytes = bytes.len() / rows;
        let mut w = vec![0f32; k];
        for r in 0..rows {
            kernels::dequantize(ty, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut w).unwrap();
            for t in 0..ntok {
                // The activations as the kernel family sees them.
                let xh: Vec<f64> = match ty.qk() {
                    1 => acts.values()[t * k..(t + 1) * k].iter().map(|&v| v as f64).collect(),
                    32 => acts.blocks()[t * k / 32..(t + 1) * k / 32].iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect(),
                    _ => acts.kblocks()[t * k / 256..(t + 1) * k / 256].iter().flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64)).collect(),
                };
                let mut want: f64 = w.iter().zip(&xh).map(|(&a, &b)| a as f64 * b).sum();
                // Q4_1 and Q5_1 take Σx from the activation block's s, which ggml keeps at f16
                // precision: m · (s − d·Σq) per block is what that rounding adds.
                if ty.qk() == 32 {
                    let bsize = row_bytes / (k / 32);
                    for (i, a) in acts.blocks()[t * k / 32..(t + 1) * k / 32].iter().enumerate() {
                        let off = r * row_bytes + i * bsize;
                        let v = kernels::view(ty, &bytes[off..off + bsize]).unwrap();
                        if let Some(&(_, m)) = v.scales.iter().find(|(n, _)| *n == "m") {
                            let sq: i32 = a.qs.iter().map(|&q| q as i32).sum();
                            want += m as f64 * (a.s as f64 - a.d as f64 * sq as f64);
                        }
                    }
                }
                let scale: f64 = w.iter().zip(&xh).map(|(&a, &b)| (a as f64 * b).abs()).sum::<f64>().max(1e-30);
                let got = out[t * rows + r] as f64;
                assert!((got - want).abs() <= 1e-5 * scale, "{ty:?} row {r} token {t}: kernel {got}, dequantized {want} (Σ|w·x| {scale})");
            }
        }
    }
}

/// Activations quantized only into the form a type reads (what the forward pass makes) give
/// that type's products bit for bit as all forms do; a product whose form was not made is an
/// error, not a panic or a product of stale values.
#[test]
fn activations_in_one_form_give_the_same_products_and_a_missing_form_is_an_error() {
    use plumbing::kernels::{self, Acts, Forms, WeightType};
    let mut next = xorshift(0x5851F42D4C957F2Du64);
    let (rows, k, ntok) = (9, 512, 3);
    let x: Vec<f32> = (0..k * ntok).map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0).collect();
    let mut all = Acts::new();
    all.quantize(&x, k);
    for ty in WeightType::ALL {
        let bytes = random_matrix(ty, rows, k, &mut next);
        let mut want = vec![0f32; rows * ntok];
        kernels::matmul(ty, &bytes, rows, &all, &mut want).unwrap();
        let mut own = Acts::new();
        // Another form first, so that what the second quantize leaves out was there before.
        let other = if ty.forms() == Forms::Q8_1 { Forms::Q8_K } else { Forms::Q8_1 };
        own.quantize_for(&x, k, Forms::ALL);
        own.quantize_for(&x, k, ty.forms());
        assert_eq!(own.forms(), ty.forms());
        let mut got = vec![0f32; rows * ntok];
        kernels::matmul(ty, &bytes, rows, &own, &mut got).unwrap();
        assert!(want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "{ty:?}: one form and all forms differ");
        own.quantize_for(&x, k, other);
        for reference in [false, true] {
            let r = if reference { kernels::matmul_ref(ty, &bytes, rows, &own, &mut got) } else { kernels::matmul(ty, &bytes, rows, &own, &mut got) };
            let e = r.expect_err("a product of activations without its form").to_string();
            assert!(e.contains("form"), "{ty:?}: {e}");
        }
        let mut group = [kernels::Product { ty, bytes: &bytes, rows, out: &mut got }];
        assert!(kernels::matmul_group(&mut group, &own, false).is_err(), "{ty:?}: matmul_group without the form");
    }
}

/// Per-token attention time for the models' shapes (head size, query heads per KV head, context):
/// `cargo test --release --test kernels -- --ignored attention_speed --nocapture`.
#[test]
#[ignore]
fn attention_speed() {
    use std::time::Instant;
    for &(hd, group, n) in &[(64usize, 3usize, 512usize), (64, 4, 512), (128, 2, 512), (128, 6, 512), (256, 4, 512), (256, 4, 2048)] {
        let stride = hd; // one KV head per position row, as Gemma 3 (1 KV head) has
        let mut x = 1u32;
        let mut r = || {
            x = x.wrapping_mul(1664525).wrapping_add(1013904223);
            (x >> 8) as f32 / 16777216.0 - 0.5
        };
        let q: Vec<f32> = (0..group * hd).map(|_| r()).collect();
        let k: Vec<f32> = (0..n * stride).map(|_| r()).collect();
        let v: Vec<f32> = (0..n * stride).map(|_| r()).collect();
        let mut s = vec![0f32; group * n];
        let mut o = vec![0f32; group * hd];
        let reps = (2_000_000 / (n * hd * group)).max(20);
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                plumbing::kernels::attention_group(&q, hd, &k, &v, stride, n, 0.0625, &mut s, &mut o);
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        println!("attention hd {hd} group {group} n {n}: {:.1} µs per KV head", best * 1e6);
    }
}

/// The matrix products split across the thread pool (kernels::matmul's rows in contiguous
/// chunks) give the same bits for any thread count, for every weight type, with this build's
/// kernels and the reference ones, one token and several (the per-chunk scratch and scatter):
/// 1003 rows (no thread count divides them into equal chunks of 8).
#[test]
fn every_weight_type_same_products_for_any_thread_count() {
    use plumbing::kernels::{self, Acts, WeightType};
    let mut next = xorshift(0x9E3779B97F4A7C15u64);
    for ty in WeightType::ALL {
        let (rows, k) = (1003, 512);
        let bytes = random_matrix(ty, rows, k, &mut next);
        for ntok in [1, 5, 40] {
            let x: Vec<f32> = (0..k * ntok).map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0).collect();
            let mut acts = Acts::new();
            acts.quantize(&x, k);
            let product = |threads: usize, reference: bool| {
                plumbing::pool::set_threads(threads);
                let mut out = vec![f32::NAN; rows * ntok];
                if reference {
                    kernels::matmul_ref(ty, &bytes, rows, &acts, &mut out).unwrap();
                } else {
                    kernels::matmul(ty, &bytes, rows, &acts, &mut out).unwrap();
                }
                out
            };
            for reference in [false, true] {
                let want = product(1, reference);
                assert!(want.iter().all(|v| v.is_finite()), "{ty:?}");
                for threads in [2, 3, 5] {
                    assert!(kernels::row_tasks(rows, k, ntok, threads) > 1, "{ty:?}: {threads} threads do not split");
                    let got = product(threads, reference);
                    let diff = want.iter().zip(&got).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                    assert_eq!(diff, 0, "{ty:?} ntok {ntok} reference {reference}: {diff} outputs differ between 1 and {threads} threads");
                }
            }
        }
    }
    // A group of products of the same activations (q, k and v of a decode step) as one run
    // (kernels::matmul_group): each output as its own matmul gives it, for any thread count.
    // Types and shapes differ within the group: a big Q4_1, a small Q8_0 (one task), a Q4_K.
    let k = 512;
    let group: Vec<(WeightType, usize, Vec<u8>)> = [(WeightType::Q4_1, 1003), (WeightType::Q8_0, 96), (WeightType::Q4K, 333)]
        .into_iter()
        .map(|(ty, rows)| {
            (ty, rows, random_matrix(ty, rows, k, &mut next))
        })
        .collect();
    let x: Vec<f32> = (0..k).map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 3.0).collect();
    let mut acts = Acts::new();
    acts.quantize(&x, k);
    for reference in [false, true] {
        plumbing::pool::set_threads(1);
        let want: Vec<Vec<f32>> = group
            .iter()
            .map(|(ty, rows, bytes)| {
                let mut out = vec![f32::NAN; *rows];
                if reference { kernels::matmul_ref(*ty, bytes, *rows, &acts, &mut out) } else { kernels::matmul(*ty, bytes, *rows, &acts, &mut out) }.unwrap();
                out
            })
            .collect();
        for threads in [1, 2, 3] {
            plumbing::pool::set_threads(threads);
            let mut outs: Vec<Vec<f32>> = group.iter().map(|(_, rows, _)| vec![f32::NAN; *rows]).collect();
            let mut products: Vec<kernels::Product> = group
                .iter()
                .zip(outs.iter_mut())
                .map(|((ty, rows, bytes), out)| kernels::Product { ty: *ty, bytes, rows: *rows, out })
                .collect();
            kernels::matmul_group(&mut products, &acts, reference).unwrap();
            for (i, (w, g)) in want.iter().zip(&outs).enumerate() {
                let diff = w.iter().zip(g).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
                assert_eq!(diff, 0, "group product {i} ({:?}), reference {reference}: {diff} outputs differ at {threads} threads", group[i].0);
            }
        }
    }
    plumbing::pool::set_threads(1);
}
