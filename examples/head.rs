//! Gemma 3 270M's decode step natively, part by part, each the minimum of many runs (the machine
//! is shared; the minimum is the least disturbed): `cargo run --release --example head`.
//! The tied 262,144 × 640 Q8_0 output head, every layer matrix by type, the sampler, and whole
//! forward steps; with `--ref`, the head with the scalar reference kernels too.
use plumbing::kernels::*;
use plumbing::*;

/// The minimum over `n` runs of `f`, in ms.
fn min_ms(n: usize, f: &mut dyn FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..n {
        let t = now_ms();
        f();
        best = best.min(now_ms() - t);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.iter().skip(1).find(|a| !a.starts_with("--")).cloned().unwrap_or("models/gemma-3-270m-q4_k_m.gguf".into());
    let runs: usize = std::env::var("RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let bytes = std::fs::read(&path).expect("the Gemma 3 270M file (./build.sh fetches it)");
    let e = Engine::load(ModelFile::from_bytes(&bytes).unwrap(), &mut |_, _, _| {}).unwrap();
    drop(bytes);
    let m = &e.model;
    let c = &m.config;
    println!("{} ({}), kernels {}", path, c.architecture, ARCH);

    let x: Vec<f32> = (0..c.n_embd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
    let mut acts = Acts::new();
    let q = min_ms(runs * 10, &mut || acts.quantize(&x, c.n_embd));
    println!("  quantize one row of {}: {:.4} ms", c.n_embd, q);
    let w = &m.weights.output;
    let wb = &m.file()[w.offset..w.offset + w.bytes];
    let mut out = vec![0f32; w.rows];
    let head = min_ms(runs, &mut || matmul(w.ty, wb, w.rows, &acts, &mut out).unwrap());
    println!("  output head ({:?}, {} × {}, {:.0} MB): {:.2} ms ({:.1} GB/s)", w.ty, w.rows, w.cols, w.bytes as f64 / 1e6, head, w.bytes as f64 / head / 1e6);
    // The same kernel on 2,048 rows (1.4 MB, in L2 after the first run): its compute alone.
    let hot = 2048.min(w.rows);
    let hb = &wb[..w.bytes / w.rows * hot];
    let t = min_ms(runs * 20, &mut || matmul(w.ty, hb, hot, &acts, &mut out[..hot]).unwrap());
    println!("  output head's first {hot} rows, from cache: {t:.3} ms, {:.2} ns per row ({:.1} ms for all rows at that rate)", t * 1e6 / hot as f64, t * w.rows as f64 / hot as f64);
    if args.iter().any(|a| a == "--ref") {
        let mut out2 = vec![0f32; w.rows];
        let r = min_ms(3, &mut || matmul_ref(w.ty, wb, w.rows, &acts, &mut out2).unwrap());
        let same = out.iter().zip(&out2).all(|(a, b)| a.to_bits() == b.to_bits());
        println!("  output head, scalar reference: {r:.2} ms; bit-identical: {same}");
    }

    // Every layer matrix, summed by type, each with activations of its own width.
    let mut by_type: Vec<(WeightType, f64, usize)> = Vec::new();
    for l in &m.weights.layers {
        for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down] {
            let xin: Vec<f32> = (0..w.cols).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut a = Acts::new();
            a.quantize(&xin, w.cols);
            let wb = &m.file()[w.offset..w.offset + w.bytes];
            let mut out = vec![0f32; w.rows];
            let t = min_ms(runs, &mut || matmul(w.ty, wb, w.rows, &a, &mut out).unwrap());
            match by_type.iter_mut().find(|e| e.0 == w.ty) {
                Some(e) => {
                    e.1 += t;
                    e.2 += 1;
                }
                None => by_type.push((w.ty, t, 1)),
            }
        }
    }
    let mut mats = 0.0;
    for (ty, t, n) in &by_type {
        println!("  {n:3} {ty:?} layer matrices: {t:.2} ms");
        mats += t;
    }
    println!("  all layer matrices: {mats:.2} ms");

    let logits: Vec<f32> = (0..c.n_vocab).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
    let mut s = sampler::Sampler::new(SamplingParams::default());
    let mut l2 = logits.clone();
    let samp = min_ms(runs, &mut || {
        l2.copy_from_slice(&logits);
        s.sample(&mut l2, &[], &[], 10);
    });
    println!("  sampler (defaults, top 10 of {}): {samp:.2} ms", c.n_vocab);

    let mut st = m.new_state(1024);
    let prompt: Vec<u32> = (0..93).map(|i| 1000 + i * 13).collect();
    m.forward(&mut st, &prompt).unwrap();
    let mut id = 5000u32;
    let step = min_ms(runs, &mut || {
        m.forward(&mut st, &[id]).unwrap();
        id += 7;
    });
    println!("  decode forward step (context ~{}): {step:.2} ms ({:.1} tok/s); head {:.0} %, layer matrices {:.0} %, the rest {:.2} ms",
        st.n_past, 1000.0 / step, head / step * 100.0, mats / step * 100.0, step - head - mats - q * 8.0);
}
