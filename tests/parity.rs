//! The engine against llama.cpp on the same GGUF (tests/golden: llama.cpp's greedy tokens and
//! top-5 logits). Teacher-forced with llama.cpp's tokens, our logits must match theirs within
//! the bounds of issue 2; free-running greedy decoding must give the same ids up to the first
//! near-tie.
mod common;

use plumbing::{GenParams, SamplingParams};

/// Parity is judged on greedy decoding (the engine's default samples at 0.7).
fn greedy() -> GenParams {
    GenParams { sampling: SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() }
}

fn percentile(v: &mut [f32], p: f64) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn teacher_forced_logits_match_llama_cpp() {
    let mut e = common::engine();
    let g = common::golden();
    let eog = common::ids(&g["eog_token_ids"]);
    for case in g["generate"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let forced = common::ids(&case["token_ids"]);
        let positions = case["positions"].as_array().unwrap();
        let params = GenParams { max_tokens: forced.len(), n_top: 5, ..greedy() };
        e.start(common::ids(&case["prompt_ids"]), params).unwrap();
        e.prefill(0).unwrap();
        let (mut abs, mut centred) = (Vec::new(), Vec::new());
        let (mut strong, mut strong_ok, mut medium, mut medium_ok) = (0, 0, 0, 0);
        for (i, p) in positions.iter().enumerate() {
            let logits = e.next_logits().expect("logits").to_vec();
            let ids = common::ids(&p["top_ids"]);
            let theirs: Vec<f32> = p["top_logits"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
            let diffs: Vec<f32> = ids.iter().zip(&theirs).map(|(&id, &t)| logits[id as usize] - t).collect();
            let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
            abs.extend(diffs.iter().map(|d| d.abs()));
            centred.extend(diffs.iter().map(|d| (d - mean).abs()));
            let ours_top1 = (0..logits.len() as u32)
                .filter(|id| !eog.contains(id))
                .max_by(|a, b| logits[*a as usize].total_cmp(&logits[*b as usize]))
                .unwrap();
            let margin = p["margin"].as_f64().unwrap();
            let chosen = p["chosen_id"].as_u64().unwrap() as u32;
            if margin >= 1.0 {
                strong += 1;
                strong_ok += (ours_top1 == chosen) as usize;
            }
            if margin >= 0.3 {
                medium += 1;
                medium_ok += (ours_top1 == chosen) as usize;
            }
            let step = e.step_with(Some(forced[i])).unwrap();
            assert_eq!(step.id, forced[i]);
        }
        let med = percentile(&mut abs, 0.5);
        let p99 = percentile(&mut centred, 0.99);
        eprintln!("{name}: median |Δ| {med:.3}, offset-removed p99 {p99:.3}, top-1 {strong_ok}/{strong} (margin ≥ 1), {medium_ok}/{medium} (margin ≥ 0.3)");
        assert!(med <= 0.25, "{name}: median |ours - llama.cpp| = {med}");
        assert!(p99 <= 0.45, "{name}: offset-removed p99 = {p99}");
        assert_eq!(strong_ok, strong, "{name}: top-1 differs where the margin is >= 1");
        assert!(medium_ok as f64 >= 0.98 * medium as f64, "{name}: top-1 agrees at {medium_ok}/{medium} positions with margin >= 0.3");
    }
}

#[test]
fn greedy_decoding_matches_llama_cpp_up_to_the_first_near_tie() {
    // Free-running greedy decoding: where our ids first differ from llama.cpp's, the reference
    // margin there must be a near-tie (< 0.3); before it every id is the same.
    let mut e = common::engine();
    let g = common::golden();
    for case in g["generate"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = common::ids(&case["token_ids"]);
        let margins: Vec<f64> = case["positions"].as_array().unwrap().iter().map(|p| p["margin"].as_f64().unwrap()).collect();
        let params = GenParams { max_tokens: want.len(), ignore_eos: true, ..greedy() };
        e.start(common::ids(&case["prompt_ids"]), params).unwrap();
        let mut got = Vec::new();
        loop {
            let s = e.step().unwrap();
            got.push(s.id);
            if s.done.is_some() {
                break;
            }
        }
        assert_eq!(got.len(), want.len());
        match got.iter().zip(&want).position(|(a, b)| a != b) {
            None => eprintln!("{name}: all {} greedy ids equal llama.cpp's", want.len()),
            Some(i) => {
                eprintln!("{name}: the first {i} greedy ids equal llama.cpp's; at {i} the reference margin is {:.4}", margins[i]);
                assert!(margins[i] < 0.3, "{name}: greedy ids differ at position {i}, where llama.cpp's margin is {} (not a near-tie)", margins[i]);
            }
        }
    }
}

#[test]
fn same_seed_same_tokens_on_the_model() {
    let mut e = common::engine();
    let prompt = e.tokenizer.encode("<|im_start|>user\nTell me a story.<|im_end|>\n<|im_start|>assistant\n", true).unwrap();
    let mut run = |seed| {
        let mut p = GenParams { max_tokens: 12, ignore_eos: true, ..greedy() };
        p.sampling.temperature = 0.9;
        p.sampling.seed = seed;
        e.start(prompt.clone(), p).unwrap();
        let mut ids = Vec::new();
        loop {
            let s = e.step().unwrap();
            ids.push(s.id);
            let sum: f32 = s.top.iter().map(|a| a.prob).sum();
            assert!(sum <= 1.0 + 1e-4, "alternatives' probabilities sum to {sum}");
            if s.done.is_some() {
                break;
            }
        }
        ids
    };
    let a = run(Some(1));
    assert_eq!(a, run(Some(1)));
    assert_ne!(a, run(Some(2)));
}

#[test]
fn choose_continues_from_an_alternative() {
    let mut e = common::engine();
    let prompt = e.tokenizer.encode("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", true).unwrap();
    e.start(prompt.clone(), GenParams { max_tokens: 8, ..greedy() }).unwrap();
    let steps: Vec<_> = (0..4).map(|_| e.step().unwrap()).collect();
    let alt = steps[1].top[1].id;
    let (text, done) = e.choose(1, alt).unwrap();
    assert_eq!(done, None);
    assert!(text.starts_with(&format!("{}{}", steps[0].text, e.tokenizer.token_text(alt))), "{text:?}");
    let next = e.step().unwrap();
    assert_eq!(next.pos, 2);
    // The continuation is what a fresh run fed with the same tokens gives.
    let mut fresh = prompt.clone();
    fresh.extend([steps[0].id, alt]);
    let mut e2 = common::engine();
    e2.start(fresh, GenParams { max_tokens: 1, ..greedy() }).unwrap();
    assert_eq!(e2.step().unwrap().id, next.id);
}
