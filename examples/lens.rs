//! The logit lens natively (issue #13), for comparing with the browser and for timing:
//!
//! `cargo run --release --example lens -- [--model M.gguf] [--prompt TEXT] [--steps N] [--pos P,..] [--layer L,..]`
//!   feeds TEXT as the page's "as written" request does (`{"prompt": TEXT, "raw": true}`: no chat
//!   template, the model's BOS if it adds one), temperature 0, generates N tokens (default 4) with
//!   capture on, and prints one JSON object: {"model","prompt","prompt_ids","steps","generated_ids",
//!   "cases":[{"pos","layer","lens_layer":<engine.lens_layer_json(pos, layer)>,"logits_fnv1a64"}]}.
//!   Default positions: the last prompt position and the last position; default layers: 0, the
//!   middle, the last. `logits_fnv1a64` is FNV-1a (64 bits, hex) over the little-endian bytes of
//!   all n_vocab lens logits (engine.lens_logits(pos, layer)).
//! `... --golden` writes that for SmolLM2 and the default prompt to tests/golden/lens-smollm2.json.
//! `... --bench` times decode with capture off and on (interleaved) and the lens of one position.
use plumbing::{inspect, now_ms, Engine, ModelFile, Request};

const DEFAULT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
const DEFAULT_PROMPT: &str = "The capital of France is";

fn fnv1a(v: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in v {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn load(path: &str) -> Engine {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Engine::load(ModelFile::from_bytes(&bytes).expect("alloc"), &mut |_, _, _| {}).expect("the model loads")
}

fn begin(e: &mut Engine, prompt: &str, max_tokens: usize) -> Vec<u32> {
    let req = serde_json::json!({"prompt": prompt, "raw": true, "params": {"temperature": 0, "max_tokens": max_tokens, "ignore_eos": true}});
    let fed = e.begin(&Request::from_json(&req.to_string()).expect("request")).expect("begin");
    fed.ids
}

/// This thread's time on a CPU, from /proc/thread-self/schedstat (ns), on Linux.
fn cpu_ms() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<f64>().ok()? / 1e6)
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn list(v: &str) -> Vec<usize> {
    v.split(',').map(|x| x.trim().parse().expect("a number")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut model = DEFAULT_MODEL.to_string();
    let mut prompt = DEFAULT_PROMPT.to_string();
    let (mut steps, mut pos, mut layers, mut golden, mut bench) = (4usize, None, None, false, false);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().expect("a value after the option");
        match a.as_str() {
            "--model" => model = val(),
            "--prompt" => prompt = val(),
            "--steps" => steps = val().parse().expect("--steps N"),
            "--pos" => pos = Some(list(&val())),
            "--layer" => layers = Some(list(&val())),
            "--golden" => golden = true,
            "--bench" => bench = true,
            other => panic!("unknown option {other}"),
        }
    }
    let mut e = load(&model);
    if bench {
        return run_bench(&mut e, &model);
    }
    e.model.capture_residuals = true;
    let ids = begin(&mut e, &prompt, steps.max(1));
    e.prefill(0).expect("prefill");
    for _ in 0..steps {
        e.step().expect("step");
    }
    let s = e.session_ref().expect("session");
    let generated = s.generated.clone();
    let last = s.state.n_past - 1;
    let nl = e.model.config.n_layer;
    let pos = pos.unwrap_or(vec![ids.len() - 1, last]);
    let layers = layers.unwrap_or(vec![0, nl / 2, nl - 1]);
    let mut cases = Vec::new();
    for &p in &pos {
        for &l in &layers {
            // Exactly the text engine.lens_layer_json gives (f32s written shortest), parsed.
            let entry: serde_json::Value = serde_json::from_str(&serde_json::to_string(&inspect::lens_layer(&e, p, l).expect("lens")).expect("json")).expect("json");
            let logits = inspect::lens_logits(&e, p, l).expect("lens logits");
            cases.push(serde_json::json!({"pos": p, "layer": l, "lens_layer": entry, "logits_fnv1a64": format!("{:016x}", fnv1a(&logits))}));
        }
    }
    let out = serde_json::json!({
        "what": "native logit-lens numbers (examples/lens.rs) for the browser test to compare with: the page's raw request, temperature 0, capture on",
        "model": std::path::Path::new(&model).file_name().map(|f| f.to_string_lossy().into_owned()),
        "prompt": prompt, "prompt_ids": ids, "steps": steps, "generated_ids": generated, "cases": cases,
    });
    let text = serde_json::to_string_pretty(&out).expect("json") + "\n";
    if golden {
        std::fs::write("tests/golden/lens-smollm2.json", &text).expect("write tests/golden/lens-smollm2.json");
        eprintln!("wrote tests/golden/lens-smollm2.json");
    } else {
        print!("{text}");
    }
}

/// Decode speed with capture off and on: one session, the forward pass of each decoded token timed,
/// capture switched on and off token by token (so that the machine's load and the growing context
/// fall on both alike); then the lens of the last position (all layers, and one layer), and a
/// neuron.
fn run_bench(e: &mut Engine, model: &str) {
    let n = 128;
    let prompt: String = "The history of plumbing begins with the first cities, where water had to be carried in and out of every house; ".repeat(2);
    let ids = begin(e, &prompt, 2);
    let m = &mut e.model;
    let mut st = m.new_state(512);
    let mut next = {
        let logits = m.forward(&mut st, &ids).expect("prefill");
        argmax(logits)
    };
    // This thread's CPU time where Linux tells it (the machine's load does not count), else the
    // wall clock. One thread: the example never starts the pool.
    let clock = || cpu_ms().unwrap_or_else(now_ms);
    let mut ms = [Vec::new(), Vec::new()];
    for i in 0..2 * n {
        let on = i % 2 == 1;
        m.capture_residuals = on;
        let t = clock();
        let logits = m.forward(&mut st, &[next]).expect("decode");
        ms[on as usize].push(clock() - t);
        next = argmax(logits);
    }
    println!("timing: {}", if cpu_ms().is_some() { "this thread's CPU time (/proc/thread-self/schedstat)" } else { "wall clock" });
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (v.iter().sum::<f64>() / v.len() as f64, v[v.len() / 2], v[0])
    };
    let (off, on) = (stats(&mut ms[0]), stats(&mut ms[1]));
    println!(
        "{model}: {n} decode steps each, alternating: capture off {:.2} ms/token mean ({:.1} tok/s), median {:.2}, min {:.2}; on {:.2} mean ({:.1} tok/s), median {:.2}, min {:.2}; cost {:+.1} % mean, {:+.1} % median, {:+.1} % min",
        off.0, 1000.0 / off.0, off.1, off.2, on.0, 1000.0 / on.0, on.1, on.2,
        (on.0 / off.0 - 1.0) * 100.0, (on.1 / off.1 - 1.0) * 100.0, (on.2 / off.2 - 1.0) * 100.0
    );

    // The lens through a session, as the page asks for it.
    e.model.capture_residuals = true;
    begin(e, &prompt, 8);
    e.prefill(0).expect("prefill");
    for _ in 0..8 {
        e.step().expect("step");
    }
    let s = e.session_ref().expect("session");
    let last = s.state.n_past - 1;
    let (bytes, per) = s.state.capture_bytes();
    println!("capture: {} positions held, {bytes} bytes ({per} per position)", s.state.captured().len());
    let nl = e.model.config.n_layer;
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = now_ms();
        inspect::lens(e, last).expect("lens");
        best = best.min(now_ms() - t);
    }
    let t = now_ms();
    inspect::lens_layer(e, last, nl / 2).expect("lens layer");
    let one = now_ms() - t;
    println!("lens of one position: all {nl} layers {best:.1} ms (best of 5), one layer {one:.1} ms");
    let t = now_ms();
    inspect::neuron(e, nl / 2, 7, last).expect("neuron");
    let first = now_ms() - t;
    let t = now_ms();
    inspect::neuron(e, nl / 2, 8, last).expect("neuron");
    println!("neuron: first call {first:.1} ms (embedding norms computed), then {:.1} ms", now_ms() - t);
}
