//! Inside the step (issue #13): the logit lens, the residual stream and the MLP neurons captured
//! in the forward pass (src/model/lens.rs), for every architecture: the tiny crafted llama, qwen2,
//! qwen3 and gemma3 always; SmolLM2 (Q4_1), the synthetic models of models/archs/ (Q4_K_M mixes,
//! untied heads) and Gemma 3 270M when present.
//!
//! - the last layer's lens is the forward pass's logits bit for bit, after every prefill chunk
//!   and every decoded token, whether the lens puts layers through the head one or four at a time,
//!   on one thread or two;
//! - capturing changes nothing: the same ids and the same logits bit for bit, on or off;
//! - residual norms are positive and finite, one per layer; a middle layer's lens is the same
//!   computed twice, alone or with the others, and after more tokens were fed;
//! - the captured top neurons are the top of the whole gated activation (sorted in full);
//! - a neuron's direction is column `neuron` of ffn_down (every row dequantized in full), its
//!   closest tokens' cosines agree with an f64 recompute;
//! - rewinding (choose) keeps the capture consistent; a full ring keeps the newest positions;
//! - out-of-range positions, layers and neurons are "request" errors naming the numbers.
//!
//! tests/golden/lens-smollm2.json holds native lens numbers for the browser test to compare with
//! (made by `cargo run --release --example lens -- --golden`; checked here).
mod common;
mod crafted;

use std::path::PathBuf;

use plumbing::model::{State, TOP_NEURONS};
use plumbing::{inspect, Engine, Error, Model, ModelFile};

/// The models at hand: (name, engine). The crafted ones always; the files when present.
fn models(with_files: bool) -> Vec<(String, Engine)> {
    let mut v = Vec::new();
    for arch in ["llama", "qwen2", "qwen3", "gemma3"] {
        let t = crafted::tiny_arch(arch);
        let e = Engine::load(ModelFile::from_bytes(&t.bytes()).unwrap(), &mut |_, _, _| {}).unwrap();
        v.push((format!("crafted {arch}"), e));
    }
    if with_files {
        let mut paths: Vec<PathBuf> = vec![common::model_path()];
        for n in ["qwen2-deepseek", "qwen3", "llama3", "gemma3-tiny"] {
            paths.push(common::root().join(format!("models/archs/{n}.gguf")));
        }
        for p in paths {
            if let Some(e) = common::engine_at(&p) {
                v.push((p.file_name().unwrap().to_string_lossy().into_owned(), e));
            }
        }
    }
    v
}

/// A prompt of `n` ids that every vocabulary has (skipping the first few, often special).
fn prompt(m: &Model, n: usize) -> Vec<u32> {
    let nv = m.config.n_vocab as u32;
    (0..n as u32).map(|i| 5 + (i * 7919 + 13) % (nv - 5)).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
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

/// Feeds `ids` in chunks of `chunk`, then `steps` greedy tokens one at a time; after every call
/// checks that the last layer's lens at the last position is the forward pass's logits bit for
/// bit (alone and in the batched all-layers lens). Returns the ids fed and each call's logits.
fn run_checked(name: &str, m: &Model, st: &mut State, ids: &[u32], chunk: usize, steps: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let nl = m.config.n_layer;
    let nv = m.config.n_vocab;
    let mut fed = Vec::new();
    let mut all = Vec::new();
    let check = |st: &State, logits: &[f32]| {
        let p = st.n_past - 1;
        let alone = m.lens_logits(st, p, nl - 1..nl).unwrap();
        assert_eq!(bits(&alone), bits(logits), "{name}: the last layer's lens at {p} differs from the logits");
        let batched = m.lens_logits(st, p, 0..nl).unwrap();
        assert_eq!(bits(&batched[(nl - 1) * nv..]), bits(logits), "{name}: the batched lens's last layer at {p} differs");
    };
    for c in ids.chunks(chunk) {
        let logits = m.forward(st, c).unwrap().to_vec();
        fed.extend_from_slice(c);
        if m.capture_residuals {
            check(st, &logits);
        }
        all.push(logits);
    }
    for _ in 0..steps {
        let next = argmax(all.last().unwrap());
        let logits = m.forward(st, &[next]).unwrap().to_vec();
        fed.push(next);
        if m.capture_residuals {
            check(st, &logits);
        }
        all.push(logits);
    }
    (fed, all)
}

// ------------------------------------------------------------------------------------------------
// The lens is the real output; capturing changes nothing
// ------------------------------------------------------------------------------------------------

#[test]
fn last_layer_lens_is_the_logits_and_capture_changes_nothing() {
    for (name, mut e) in models(true) {
        let ids = prompt(&e.model, 11);
        e.model.capture_residuals = false;
        let mut st = e.model.new_state(64);
        let (fed_off, logits_off) = run_checked(&name, &e.model, &mut st, &ids, 4, 6);
        assert!(st.captured().is_empty(), "{name}: captured with capture off");

        e.model.capture_residuals = true;
        let mut st = e.model.new_state(64);
        let (fed_on, logits_on) = run_checked(&name, &e.model, &mut st, &ids, 4, 6);
        assert_eq!(fed_on, fed_off, "{name}: capturing changed the greedy ids");
        for (i, (a, b)) in logits_on.iter().zip(&logits_off).enumerate() {
            assert_eq!(bits(a), bits(b), "{name}: capturing changed the logits of call {i}");
        }
        assert_eq!(st.captured(), 0..st.n_past, "{name}: every position fed is held");

        // Residual norms: positive and finite, one per layer, at every position.
        let nl = e.model.config.n_layer;
        for p in st.captured() {
            let (attn, mlp) = st.block_norms(p).unwrap();
            assert_eq!((attn.len(), mlp.len()), (nl, nl), "{name}: norms at {p}");
            for (l, (&a, &f)) in attn.iter().zip(&mlp).enumerate() {
                assert!(a.is_finite() && a > 0.0 && f.is_finite() && f > 0.0, "{name}: block norms {a} {f} at {p} layer {l}");
                let r = plumbing::model::l2_norm(st.residual(p, l).unwrap());
                assert!(r.is_finite() && r > 0.0, "{name}: residual norm {r} at {p} layer {l}");
            }
        }
        eprintln!("{name}: lens == logits at {} positions, capture on == off", logits_on.len());
    }
}

/// Through the session API (Engine: prefill in chunks, greedy steps): the last layer's lens at
/// the position that chose each token is next_logits bit for bit, and its top token and
/// probability are the step's.
#[test]
fn engine_lens_matches_the_steps() {
    for (name, mut e) in models(false) {
        e.model.capture_residuals = true;
        let ids = prompt(&e.model, 9);
        let n_prompt = ids.len();
        e.start(ids, common::greedy()).unwrap();
        while e.prefill(4).unwrap() > 0 {}
        let nl = e.model.config.n_layer;
        for i in 0..5 {
            let want = e.next_logits().unwrap().to_vec();
            let pos = n_prompt + i - 1;
            let got = inspect::lens_logits(&e, pos, nl - 1).unwrap();
            assert_eq!(bits(&got), bits(&want), "{name}: step {i}: the lens at {pos} is not next_logits");
            let step = e.step().unwrap();
            if step.done.is_some() {
                break;
            }
            let lens = inspect::lens(&e, pos).unwrap();
            let last = &lens.layers[nl - 1].top[0];
            assert_eq!((last.id, last.logit.to_bits(), last.prob.to_bits()), (step.id, step.top[0].logit.to_bits(), step.top[0].prob.to_bits()), "{name}: step {i}");
            assert_eq!(lens.next.as_ref().map(|t| t.id), Some(step.id), "{name}: the lens's next token");
            assert_eq!(lens.layers.len(), nl);
            // A middle layer: the same alone and within all layers, and computed twice.
            let mid = nl / 2;
            let one = inspect::lens_layer(&e, pos, mid).unwrap();
            assert_eq!(one, lens.layers[mid], "{name}: layer {mid} alone vs within all");
            assert_eq!(one, inspect::lens_layer(&e, pos, mid).unwrap(), "{name}: layer {mid} twice");
        }
        let r = inspect::residual(&e, 0).unwrap();
        assert!(r.embd > 0.0 && r.resid.len() == nl && r.attn.len() == nl && r.mlp.len() == nl, "{name}: {r:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// The MLP neurons
// ------------------------------------------------------------------------------------------------

/// The top TOP_NEURONS of a whole vector by |value|, ties by lower index, by a full sort.
fn full_top(g: &[f32]) -> Vec<(u32, f32)> {
    let mut ix: Vec<u32> = (0..g.len() as u32).collect();
    ix.sort_by(|&a, &b| g[b as usize].abs().total_cmp(&g[a as usize].abs()).then(a.cmp(&b)));
    ix.into_iter().take(TOP_NEURONS).map(|i| (i, g[i as usize])).collect()
}

#[test]
fn top_neurons_are_the_top_of_the_whole_activation() {
    for (name, mut e) in models(true) {
        e.model.capture_residuals = true;
        let m = &e.model;
        let (nl, ff) = (m.config.n_layer, m.config.n_ff);
        let mut st = m.new_state(64);
        st.capture_gated = true;
        let ids = prompt(m, 8);
        // A chunk (its last position keeps the whole activation), then tokens one by one.
        let check_last = |st: &State| {
            let p = st.n_past - 1;
            for l in 0..nl {
                let want = full_top(&st.gated[l * ff..(l + 1) * ff]);
                let got = st.top_neurons(p, l).unwrap();
                assert_eq!(got, want, "{name}: top neurons at {p} layer {l}");
            }
        };
        m.forward(&mut st, &ids[..5]).unwrap();
        check_last(&st);
        for &id in &ids[5..] {
            m.forward(&mut st, &[id]).unwrap();
            check_last(&st);
        }

        // A neuron: its value is the captured one; its direction is ffn_down's column.
        let p = st.n_past - 1;
        let layer = nl - 1;
        let (top_id, top_val) = st.top_neurons(p, layer).unwrap()[0];
        let w = &m.weights.layers[layer].w_down;
        let mut row = vec![0f32; w.cols];
        let dir = m.neuron_direction(layer, top_id as usize).unwrap();
        assert_eq!(dir.len(), m.config.n_embd);
        for (r, &v) in dir.iter().enumerate() {
            m.dequantize_row(w, r, &mut row).unwrap();
            assert_eq!(v.to_bits(), row[top_id as usize].to_bits(), "{name}: direction row {r}");
        }
        // Closest tokens: sorted, and their cosines near an f64 recompute over the f32 rows.
        let (close, opp) = m.closest_tokens(&dir, 10).unwrap();
        assert_eq!((close.len(), opp.len()), (10, 10));
        let dn: f64 = dir.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        let mut er = vec![0f32; m.config.n_embd];
        for c in close.iter().chain(&opp) {
            m.embedding(c.id, &mut er).unwrap();
            let en: f64 = er.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
            let dot: f64 = er.iter().zip(&dir).map(|(&a, &b)| a as f64 * b as f64).sum();
            let want = dot / (en * dn);
            assert!((c.cos as f64 - want).abs() < 0.03, "{name}: token {} cos {} vs {want}", c.id, c.cos);
        }
        assert!(close.windows(2).all(|w| w[0].cos >= w[1].cos) && opp.windows(2).all(|w| w[0].cos <= w[1].cos), "{name}: order");
        assert!(close[0].cos >= opp[0].cos);

        // Through the Engine: the neuron's value at the position is the captured one.
        e.start(ids.clone(), common::greedy()).unwrap();
        e.prefill(0).unwrap();
        let n = inspect::neuron(&e, layer, top_id as usize, ids.len() - 1).unwrap();
        assert_eq!((n.value, n.rank), (Some(top_val), Some(0)), "{name}: the neuron's value");
        let mlp = inspect::mlp(&e, ids.len() - 1, layer).unwrap();
        assert_eq!(mlp.neurons.len(), TOP_NEURONS);
        assert_eq!((mlp.neurons[0].id, mlp.neurons[0].value), (top_id, top_val));
        eprintln!("{name}: top neurons == full sort; neuron {top_id} of layer {layer}: closest {:?}", &n.closest[..3]);
    }
}

// ------------------------------------------------------------------------------------------------
// Positions: rewinding, the ring, errors
// ------------------------------------------------------------------------------------------------

/// choose() rewinds (State::truncate, or reset and refeed for a sliding model): the capture then
/// holds exactly the positions fed, and their residuals are those of a run that fed the same ids
/// from the start.
#[test]
fn rewinding_keeps_the_capture_consistent() {
    for (name, mut e) in models(false) {
        e.model.capture_residuals = true;
        let ids = prompt(&e.model, 6);
        let mut params = common::greedy();
        params.ignore_eos = true;
        e.start(ids.clone(), params.clone()).unwrap();
        for _ in 0..6 {
            e.step().unwrap();
        }
        let mut other = (e.session_ref().unwrap().generated[2] + 1) % e.model.config.n_vocab as u32;
        while e.tokenizer.is_eog(other) {
            other = (other + 1) % e.model.config.n_vocab as u32;
        }
        e.choose(2, other).unwrap();
        e.step().unwrap();
        let s = e.session_ref().unwrap();
        let fed: Vec<u32> = s.prompt.iter().chain(&s.generated).copied().collect();
        let n_past = s.state.n_past;
        assert!(s.state.captured().end == n_past, "{name}: captured {:?}, n_past {n_past}", s.state.captured());

        let mut fresh = e.model.new_state(64);
        e.model.forward(&mut fresh, &fed[..n_past]).unwrap();
        for p in s.state.captured() {
            for l in 0..e.model.config.n_layer {
                assert_eq!(bits(s.state.residual(p, l).unwrap()), bits(fresh.residual(p, l).unwrap()), "{name}: residual at {p} layer {l} after choose");
            }
            assert_eq!(s.state.block_norms(p).unwrap(), fresh.block_norms(p).unwrap());
        }
    }
}

/// With room for 5 positions, feeding 12 (one chunk of 7 among them) keeps the newest 5, equal to
/// an unlimited capture's.
#[test]
fn a_full_ring_keeps_the_newest_positions() {
    let t = crafted::tiny_arch("qwen3");
    let mut m = Model::load(ModelFile::from_bytes(&t.bytes()).unwrap(), &mut |_, _| {}).unwrap();
    m.capture_residuals = true;
    let ids = prompt(&m, 12);
    let mut all = m.new_state(64);
    m.forward(&mut all, &ids).unwrap();
    let mut ring = m.new_state(64);
    ring.set_capture_cap(5);
    for c in [&ids[..2], &ids[2..9], &ids[9..10], &ids[10..]] {
        m.forward(&mut ring, c).unwrap();
    }
    assert_eq!(ring.captured(), 7..12);
    for p in 7..12 {
        for l in 0..m.config.n_layer {
            assert_eq!(bits(ring.residual(p, l).unwrap()), bits(all.residual(p, l).unwrap()), "position {p} layer {l}");
            assert_eq!(ring.top_neurons(p, l).unwrap(), all.top_neurons(p, l).unwrap());
        }
    }
    assert!(matches!(ring.residual(6, 0), Err(Error::Request(_))));
    // Truncating inside the ring, then feeding on.
    assert!(ring.truncate(9));
    assert_eq!(ring.captured(), 7..9);
    m.forward(&mut ring, &ids[9..]).unwrap();
    assert_eq!(ring.captured(), 7..12);
    for p in 7..12 {
        assert_eq!(bits(ring.residual(p, 1).unwrap()), bits(all.residual(p, 1).unwrap()), "position {p} after truncate");
    }
    // Capture off for a while: the run restarts when it is turned on again.
    m.capture_residuals = false;
    m.forward(&mut ring, &ids[..2]).unwrap();
    m.capture_residuals = true;
    m.forward(&mut ring, &ids[2..4]).unwrap();
    assert_eq!(ring.captured(), 14..16);
    ring.reset();
    assert!(ring.captured().is_empty());
}

#[test]
fn out_of_range_is_a_request_error_with_the_numbers() {
    let t = crafted::tiny_arch("llama");
    let mut e = Engine::load(ModelFile::from_bytes(&t.bytes()).unwrap(), &mut |_, _, _| {}).unwrap();
    let msg = |r: Result<(), Error>| match r {
        Err(Error::Request(m)) => m,
        other => panic!("expected a request error, got {other:?}"),
    };
    assert!(msg(inspect::lens(&e, 0).map(|_| ())).contains("no generation"));
    let ids = prompt(&e.model, 4);
    // Fed with capture off: known positions, not captured.
    e.start(ids.clone(), common::greedy()).unwrap();
    e.prefill(0).unwrap();
    let m = msg(inspect::lens(&e, 1).map(|_| ()));
    assert!(m.contains("position 1 was not captured"), "{m}");
    e.model.capture_residuals = true;
    e.start(ids, common::greedy()).unwrap();
    e.prefill(0).unwrap();
    let nl = e.model.config.n_layer;
    let ff = e.model.config.n_ff;
    let m = msg(inspect::lens(&e, 4).map(|_| ()));
    assert!(m.contains("position 4") && m.contains("4 positions have been fed"), "{m}");
    let m = msg(inspect::lens_layer(&e, 1, nl).map(|_| ()));
    assert!(m.contains(&format!("layer {nl} does not exist")) && m.contains(&format!("{nl} layers")), "{m}");
    let m = msg(inspect::mlp(&e, 1, nl + 3).map(|_| ()));
    assert!(m.contains(&format!("layer {}", nl + 3)), "{m}");
    let m = msg(inspect::neuron(&e, 0, ff, 1).map(|_| ()));
    assert!(m.contains(&format!("neuron {ff} does not exist")) && m.contains(&format!("has {ff}")), "{m}");
    let m = msg(inspect::residual(&e, usize::MAX).map(|_| ()));
    assert!(m.contains(&format!("position {}", usize::MAX)), "{m}");
    let m = msg(inspect::lens_logits(&e, 1, usize::MAX).map(|_| ()));
    assert!(m.contains("does not exist"), "{m}");
    let m = msg(e.model.closest_tokens(&[1.0; 3], 10).map(|_| ()));
    assert!(m.contains("not 3"), "{m}");
    // And everything in range answers.
    inspect::lens(&e, 3).unwrap();
    inspect::residual(&e, 0).unwrap();
    inspect::mlp(&e, 2, nl - 1).unwrap();
    inspect::neuron(&e, nl - 1, ff - 1, 3).unwrap();
}

// ------------------------------------------------------------------------------------------------
// Gemma 3 270M, and the golden numbers for the browser
// ------------------------------------------------------------------------------------------------

/// The real Gemma (262,144-token tied Q8_0 head, softcap none, post-norms): the last layer's lens
/// is the logits, capture on == off, for a short prompt.
#[test]
fn gemma_last_layer_lens_is_the_logits() {
    let Some(mut e) = common::engine_at(&common::root().join("models/gemma-3-270m-q4_k_m.gguf")) else { return };
    let ids = vec![2, 818, 31221, 529, 496, 3155, 236789];
    let off = {
        let mut st = e.model.new_state(32);
        run_checked("gemma off", &e.model, &mut st, &ids, 4, 2)
    };
    e.model.capture_residuals = true;
    let mut st = e.model.new_state(32);
    let on = run_checked("gemma", &e.model, &mut st, &ids, 4, 2);
    assert_eq!(on.0, off.0);
    for (a, b) in on.1.iter().zip(&off.1) {
        assert_eq!(bits(a), bits(b));
    }
    let (attn, mlp) = st.block_norms(3).unwrap();
    assert!(attn.iter().chain(&mlp).all(|&x| x > 0.0 && x.is_finite()));
}

/// tests/golden/lens-smollm2.json (examples/lens.rs --golden made it): this build computes the
/// same lens numbers, FNV-1a of every logit's bits included. The browser test compares against
/// the same file.
#[test]
fn golden_lens_numbers_hold() {
    check_golden();
}

/// The same numbers with the matrix products split over two threads (src/pool.rs: each row is
/// one task's, in the same order), and the last layer still the logits.
#[test]
fn the_lens_is_the_same_on_two_threads() {
    assert_eq!(plumbing::pool::set_threads(2), 2);
    check_golden();
    let t = crafted::tiny_arch("gemma3");
    let mut m = Model::load(ModelFile::from_bytes(&t.bytes()).unwrap(), &mut |_, _| {}).unwrap();
    m.capture_residuals = true;
    let mut st = m.new_state(64);
    let ids = prompt(&m, 9);
    run_checked("crafted gemma3, 2 threads", &m, &mut st, &ids, 4, 4);
    plumbing::pool::set_threads(1);
}

fn check_golden() {
    let path = common::root().join("tests/golden/lens-smollm2.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("SKIPPED: {} is absent", path.display());
        return;
    };
    let g: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut e = common::engine();
    e.model.capture_residuals = true;
    let ids = common::ids(&g["prompt_ids"]);
    e.start(ids, common::greedy()).unwrap();
    e.prefill(0).unwrap();
    let steps = g["steps"].as_u64().unwrap();
    for _ in 0..steps {
        e.step().unwrap();
    }
    let gen: Vec<u32> = e.session_ref().unwrap().generated.clone();
    assert_eq!(gen, common::ids(&g["generated_ids"]));
    for c in g["cases"].as_array().unwrap() {
        let (pos, layer) = (c["pos"].as_u64().unwrap() as usize, c["layer"].as_u64().unwrap() as usize);
        // As JSON text: f32 written shortest, as the wasm API writes it.
        let got: serde_json::Value = serde_json::from_str(&serde_json::to_string(&inspect::lens_layer(&e, pos, layer).unwrap()).unwrap()).unwrap();
        assert_eq!(got, c["lens_layer"], "pos {pos} layer {layer}");
        let logits = inspect::lens_logits(&e, pos, layer).unwrap();
        assert_eq!(format!("{:016x}", fnv1a(&logits)), c["logits_fnv1a64"].as_str().unwrap(), "pos {pos} layer {layer}");
    }
}

/// FNV-1a (64 bits) over the little-endian bytes of every f32 (as examples/lens.rs writes it).
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
