//! Every SIMD kernel equals its scalar twin on random blocks (the same check runs in the
//! browser: tests/browser/engine.test.mjs).

#[test]
fn simd_kernels_equal_their_scalar_twins() {
    for seed in [1, 2, 3] {
        let r = plumbing::kernels::selftest::run(seed);
        eprintln!("{r}");
        assert!(r["ok"].as_bool().unwrap(), "{r:#}");
    }
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
