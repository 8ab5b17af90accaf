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

#[test]
fn the_kernels_run_exactly_q4_1_and_q8_0() {
    use plumbing::gguf::GgmlType;
    use plumbing::model::WeightType;
    let run: Vec<GgmlType> = (0..64).filter_map(GgmlType::from_u32).filter(|&t| WeightType::of(t).is_some()).collect();
    assert_eq!(run, vec![GgmlType::Q4_1, GgmlType::Q8_0]);
    for t in run {
        assert_eq!(WeightType::of(t).unwrap().ggml(), t);
    }
}
