//! Where a decode step's time goes (native): `cargo run --release --example profile`.
use plumbing::kernels::*;
use plumbing::*;

fn main() {
    let bytes = std::fs::read("models/SmolLM2-135M-Instruct.Q4_1.gguf").expect("run ./build.sh model");
    let e = Engine::load(ModelFile::from_bytes(&bytes).unwrap(), &mut |_, _, _| {}).unwrap();
    let m = &e.model;
    let c = &m.config;
    let mut st = m.new_state(2048);
    let prompt: Vec<u32> = (0..101).map(|i| 100 + i).collect();
    let t = now_ms();
    m.forward(&mut st, &prompt).unwrap();
    println!("prefill, 101 tokens: {:.1} ms ({:.0} tok/s)", now_ms() - t, 101.0 * 1000.0 / (now_ms() - t));
    let t = now_ms();
    for i in 0..64 {
        m.forward(&mut st, &[200 + i]).unwrap();
    }
    let fwd = (now_ms() - t) / 64.0;
    println!("decode forward: {fwd:.2} ms/token ({:.0} tok/s)", 1000.0 / fwd);

    // Attention grows with the context: the same step after 900 more tokens.
    let filler: Vec<u32> = (0..900).map(|i| 300 + i).collect();
    m.forward(&mut st, &filler).unwrap();
    let t = now_ms();
    for i in 0..16 {
        m.forward(&mut st, &[200 + i]).unwrap();
    }
    let long = (now_ms() - t) / 16.0;
    println!("decode forward at {} tokens of context: {long:.2} ms/token", st.n_past);

    let x: Vec<f32> = (0..c.n_embd).map(|i| (i as f32 * 0.1).sin()).collect();
    let mut acts = Acts::new();
    acts.quantize(&x, c.n_embd);
    let time = |f: &mut dyn FnMut()| {
        let t = now_ms();
        for _ in 0..20 {
            f();
        }
        (now_ms() - t) / 20.0
    };
    let w = &m.weights.output;
    let wb = &m.file()[w.offset..w.offset + w.bytes];
    let mut out = vec![0f32; w.rows];
    println!("  output head ({:?}, {} rows): {:.2} ms", w.ty, w.rows, time(&mut || matmul(w.ty, wb, w.rows, &acts, &mut out).unwrap()));
    let mut mats = 0.0;
    for l in &m.weights.layers {
        for w in [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up] {
            let wb = &m.file()[w.offset..w.offset + w.bytes];
            let mut out = vec![0f32; w.rows];
            mats += time(&mut || matmul(w.ty, wb, w.rows, &acts, &mut out).unwrap());
        }
    }
    println!("  matrices but ffn_down: {mats:.2} ms");
    let logits: Vec<f32> = (0..c.n_vocab).map(|i| ((i * 7919) % 1000) as f32 / 100.0).collect();
    let mut s = sampler::Sampler::new(SamplingParams::default());
    println!("  sampler (greedy, top 10): {:.2} ms", time(&mut || {
        s.sample(&mut logits.clone(), &[], &[], 10);
    }));
}
