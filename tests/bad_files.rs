//! A model file is untrusted input. Crafted files (tests/crafted) each end in their own clear
//! error, never a panic; a tiny synthetic llama model loads and generates (any llama GGUF with
//! the supported types runs); truncation anywhere is refused with the numbers.
mod common;
mod crafted;

use std::panic::{catch_unwind, AssertUnwindSafe};

use crafted::{Case, Tiny};
use plumbing::gguf::Gguf;
use plumbing::{Engine, Error, GenParams, ModelFile, StopReason, Tokenizer};

fn load(bytes: &[u8]) -> Result<Engine, Error> {
    Engine::load(ModelFile::from_bytes(bytes)?, &mut |_, _, _| {})
}

/// Loads without panicking; returns the error message (or "loaded").
fn load_message(bytes: &[u8]) -> Result<String, String> {
    match catch_unwind(AssertUnwindSafe(|| load(bytes))) {
        Ok(Ok(_)) => Ok("loaded".into()),
        Ok(Err(e)) => Ok(e.to_string()),
        Err(p) => Err(p.downcast_ref::<String>().cloned().or(p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()),
    }
}

fn check(cases: &[Case], real: Option<&[u8]>) {
    let mut failures = Vec::new();
    for c in cases {
        let bytes = crafted::materialize(&c.input, real);
        match load_message(&bytes) {
            Err(p) => failures.push(format!("{}: PANIC {p}", c.name)),
            Ok(msg) => {
                let missing: Vec<&String> = c.expect.iter().filter(|e| !msg.contains(e.as_str())).collect();
                if !missing.is_empty() {
                    failures.push(format!("{}: got {msg:?}; expected it to contain {missing:?}", c.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn crafted_files_each_get_their_error() {
    let cases = crafted::tiny_cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    check(&cases, None);
}

#[test]
fn real_file_with_a_lying_header_gets_its_error() {
    let real = common::model_bytes();
    check(&crafted::real_cases(real), Some(real));
}

// ------------------------------------------------------------------------------------------------
// Truncation
// ------------------------------------------------------------------------------------------------

fn truncation_message(file: &[u8], cut: usize) -> String {
    match load_message(&file[..cut]) {
        Ok(m) => m,
        Err(p) => panic!("cut at {cut}: PANIC {p}"),
    }
}

#[test]
fn tiny_model_truncated_at_every_offset() {
    let file = Tiny::default().bytes();
    for cut in 0..file.len() {
        let m = truncation_message(&file, cut);
        let ok = if cut < 4 {
            m.contains("not a GGUF file")
        } else {
            m.starts_with("bad GGUF file: ") && m.contains(&format!("the file has {cut} bytes"))
        };
        assert!(ok, "cut at {cut} of {}: {m}", file.len());
    }
}

#[test]
fn real_model_truncated_across_the_header_and_the_data() {
    let file = common::model_bytes();
    let data = Gguf::read(file).unwrap().data_offset as usize;
    // Every byte of the fixed header and the first keys, then ~200 cuts spread across the
    // metadata and tensor index, then cuts inside the tensor data.
    let mut cuts: Vec<usize> = (0..600).collect();
    cuts.extend((0..200).map(|i| 600 + (data - 600) * i / 200));
    cuts.extend([data - 1, data, data + 1, data + 4096]);
    cuts.extend((1..20).map(|i| data + (file.len() - data) * i / 20));
    cuts.push(file.len() - 1);
    for cut in cuts {
        // The header alone decides: read it in place (no 98 MB copy per cut) ...
        let m = match catch_unwind(|| Gguf::read(&file[..cut])) {
            Ok(Ok(_)) => panic!("cut at {cut}: the header read without error"),
            Ok(Err(e)) => e.to_string(),
            Err(_) => panic!("cut at {cut}: PANIC"),
        };
        let ok = if cut < 4 { m.contains("not a GGUF file") } else { m.contains(&format!("the file has {cut} bytes")) };
        assert!(ok, "cut at {cut}: {m}");
    }
    // ... and a few through the whole engine.
    for cut in [1000, data / 2, data + 100, file.len() - 1] {
        let m = truncation_message(file, cut);
        assert!(m.contains(&format!("the file has {cut} bytes")), "cut at {cut}: {m}");
    }
}

#[test]
fn a_file_too_large_for_memory_is_refused_before_allocation() {
    let too_big = plumbing::model::MAX_FILE_BYTES + 1;
    let e = ModelFile::with_len(too_big).err().expect("refused");
    assert_eq!(e.kind(), "limit");
    assert!(e.to_string().contains(&format!("the model file has {too_big} bytes; at most")), "{e}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap stand-in for the fuzzer in every `cargo test`: flip bytes of the tiny model.
    let file = Tiny { n_layer: 1, ..Default::default() }.bytes();
    let header_end = Gguf::read(&file).unwrap().data_offset as usize;
    let mut x = 0x2545F4914F6CDD1Du64;
    for i in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut f = file.clone();
        for k in 0..1 + (i % 4) {
            let at = ((x >> (k * 16)) as usize) % header_end;
            f[at] = (x >> 40) as u8 ^ f[at].rotate_left(k as u32 + 1);
        }
        if let Err(p) = load_message(&f) {
            panic!("mutation {i}: PANIC {p}");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Regressions found by the fuzzer (fuzz/): each input that once crashed, and the error it gets now
// ------------------------------------------------------------------------------------------------

/// What the fuzz target (fuzz/fuzz_targets/load.rs) does with an input: read, tokenizer, load,
/// a few tokens; greedy here, so that what it yields can be asserted.
fn fuzz_like(data: &[u8]) -> Result<Vec<plumbing::Step>, Error> {
    let mut e = load(data)?;
    let sampling = plumbing::SamplingParams { temperature: 0.0, ..Default::default() };
    e.start(vec![0, 1], GenParams { max_tokens: 3, n_ctx: 8, n_top: 3, sampling, ..Default::default() })?;
    let mut steps = Vec::new();
    loop {
        let s = e.step()?;
        let done = s.done.is_some();
        steps.push(s);
        if done {
            return Ok(steps);
        }
    }
}

/// Found by scripts/fuzz.sh (300 s, the first run): a file of the tiny model (one layer) whose
/// weights make an activation row so small that its Q8_1 scale d is subnormal; 1/d was infinite,
/// the codes saturated and `sum += r` in kernels::quantize_q8_1 overflowed i32 (a panic with
/// overflow checks, as in the fuzz build; garbage codes in release). Such a row now quantizes to
/// zeros (tests/kernels.rs asserts the codes and the scale); the file loads and generates the
/// same three greedy tokens every time, with finite logits.
#[test]
fn fuzz_crash_50f185b9_subnormal_activation_scale() {
    let data = include_bytes!("fuzz-regressions/crash-50f185b9-q8_1-sum-overflow.fuzz");
    let steps = match catch_unwind(|| fuzz_like(data)) {
        Ok(r) => r.expect("the regression file loads and generates"),
        Err(_) => panic!("panicked"),
    };
    assert_eq!(steps.iter().map(|s| s.id).collect::<Vec<_>>(), vec![43, 43, 43]);
    // The top three logits of each step, bit for bit (every instruction set computes the same
    // bits). The release build's garbage codes were multiplied by a subnormal scale and did not
    // reach these; the bug showed as the overflow panic, and tests/kernels.rs holds the codes.
    let bits: Vec<Vec<u32>> = steps.iter().map(|s| s.top.iter().map(|a| a.logit.to_bits()).collect()).collect();
    assert_eq!(
        bits,
        vec![vec![1812525918, 1812180083, 1812029572], vec![1803979022, 1803639288, 1803432140], vec![1800420655, 1799894802, 1799665941]]
    );
    assert_eq!(steps.last().unwrap().done, Some(StopReason::MaxTokens));
    for s in &steps {
        assert_eq!(s.top.len(), 3);
        assert!(s.top.iter().all(|a| a.logit.is_finite()), "step {}: logits {:?}", s.pos, s.top);
    }
}

// ------------------------------------------------------------------------------------------------
// A synthetic llama that is not SmolLM still runs
// ------------------------------------------------------------------------------------------------

fn greedy(e: &mut Engine, prompt: &str, n: usize, n_ctx: usize) -> Vec<plumbing::Step> {
    let ids = e.tokenizer.encode(prompt, true).unwrap();
    let params = GenParams { max_tokens: n, n_ctx, sampling: plumbing::SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() };
    e.start(ids, params).unwrap();
    let mut out = Vec::new();
    loop {
        let s = e.step().unwrap();
        let done = s.done.is_some();
        out.push(s);
        if done {
            return out;
        }
    }
}

#[test]
fn tiny_synthetic_llama_loads_and_generates() {
    for (tied, seed) in [(true, 1), (false, 2)] {
        let bytes = Tiny { tied, seed, ..Default::default() }.bytes();
        let mut e = load(&bytes).unwrap_or_else(|err| panic!("tied {tied}: {err}"));
        assert_eq!(e.model.config.n_layer, 2);
        assert_eq!(e.model.config.n_vocab, 275);
        assert_eq!(e.model.config.tied_output, tied);
        // The tokenizer from its metadata: the merges apply, special tokens parse.
        let ids = e.tokenizer.encode("<|im_start|> the", true).unwrap();
        assert_eq!(ids[0], 1);
        assert_eq!(e.tokenizer.decode(&ids), "<|im_start|> the");
        let prompt = e.tokenizer.apply_chat_template(&[plumbing::ChatMessage { role: "user".into(), content: "hi".into() }], true).unwrap();
        assert_eq!(prompt, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        let steps = greedy(&mut e, &prompt, 8, 0);
        assert!(!steps.is_empty() && steps.len() <= 8);
        for s in &steps {
            assert!((s.id as usize) < 275);
            assert!(s.top.iter().all(|a| a.logit.is_finite()), "finite logits");
        }
        // Deterministic: the same again.
        let again = greedy(&mut e, &prompt, 8, 0);
        assert_eq!(steps.iter().map(|s| s.id).collect::<Vec<_>>(), again.iter().map(|s| s.id).collect::<Vec<_>>());
    }
}

/// A tiny model with every matrix in one type, for every type: it loads, generates, and its
/// logits (prefill and every decoded step) are bit for bit those of the scalar reference kernels.
#[test]
fn tiny_model_of_every_weight_type_runs_and_equals_the_reference_kernels() {
    for ty in plumbing::kernels::WeightType::ALL {
        let bytes = crafted::tiny_typed(ty).bytes();
        let mut e = load(&bytes).unwrap_or_else(|err| panic!("{ty:?}: {err}"));
        for t in &e.model.gguf.tensors {
            if t.dims.len() == 2 {
                assert_eq!(t.ggml_type, ty.ggml(), "{}", t.name);
            }
        }
        let ids = e.tokenizer.encode("<|im_start|>user\nthe cat is on the mat<|im_end|>", true).unwrap();
        let run = |e: &mut Engine| -> (Vec<u32>, Vec<Vec<u32>>) {
            let params = GenParams { max_tokens: 6, sampling: plumbing::SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() };
            e.start(ids.clone(), params).unwrap();
            e.prefill(0).unwrap();
            let (mut out, mut logits) = (Vec::new(), Vec::new());
            while let Some(l) = e.next_logits() {
                logits.push(l.iter().map(|v| v.to_bits()).collect());
                let s = e.step().unwrap();
                out.push(s.id);
                if s.done.is_some() {
                    break;
                }
            }
            (out, logits)
        };
        let (ids_simd, logits_simd) = run(&mut e);
        assert!(!ids_simd.is_empty(), "{ty:?}: generated nothing");
        assert!(logits_simd.iter().flatten().all(|&b| f32::from_bits(b).is_finite()), "{ty:?}: finite logits");
        e.model.reference_kernels = true;
        let (ids_ref, logits_ref) = run(&mut e);
        assert_eq!(ids_simd, ids_ref, "{ty:?}: ids");
        assert!(logits_simd == logits_ref, "{ty:?}: the logits differ from the scalar reference kernels'");
    }
}

/// The tiny qwen2, qwen3 and gemma3 models: each loads with its architecture's config, generates
/// past gemma3's sliding window (4) with attention captured (zeros where a sliding layer cannot
/// see), and its logits are bit for bit those of the scalar reference kernels; rewinding past
/// the window (choose) gives what a fresh run gives.
#[test]
fn tiny_model_of_every_architecture_runs_and_equals_the_reference_kernels() {
    use plumbing::arch::LayerKind;
    for arch in crafted::ARCHS {
        let bytes = crafted::tiny_arch(arch).bytes();
        let mut e = load(&bytes).unwrap_or_else(|err| panic!("{arch}: {err}"));
        let c = e.model.config.clone();
        assert_eq!(c.architecture, arch);
        assert_eq!(c.qkv_bias, arch == "qwen2", "{arch}");
        assert_eq!(c.qk_norm, arch != "qwen2", "{arch}");
        if arch == "gemma3" {
            assert_eq!((c.q_dim, c.head_dim, c.sliding_window), (128, 32, 4));
            assert_eq!(c.layers, vec![LayerKind::Sliding, LayerKind::Sliding, LayerKind::Global]);
            assert!(c.post_norms && c.embd_scale == 8.0);
        }
        let ids = e.tokenizer.encode("<|im_start|>user\nthe cat is on the mat<|im_end|>", true).unwrap();
        let run = |e: &mut Engine| -> (Vec<u32>, Vec<Vec<u32>>, Vec<f32>) {
            let params = GenParams { max_tokens: 12, capture_attention: true, ignore_eos: true, sampling: plumbing::SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() };
            e.start(ids.clone(), params).unwrap();
            // Fed 3 at a time: chunks that cross the window.
            while e.prefill(3).unwrap() > 0 {}
            let (mut out, mut logits) = (Vec::new(), Vec::new());
            while let Some(l) = e.next_logits() {
                logits.push(l.iter().map(|v| v.to_bits()).collect());
                let s = e.step().unwrap();
                out.push(s.id);
                if s.done.is_some() {
                    break;
                }
            }
            (out, logits, e.attention(0).unwrap())
        };
        let (ids_simd, logits_simd, att) = run(&mut e);
        assert_eq!(ids_simd.len(), 12, "{arch}");
        assert!(logits_simd.iter().flatten().all(|&b| f32::from_bits(b).is_finite()), "{arch}: finite logits");
        let n = att.len() / c.n_head;
        for h in 0..c.n_head {
            let row = &att[h * n..(h + 1) * n];
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{arch}: head {h}'s attention sums to {sum}");
            if arch == "gemma3" {
                let seen = row.iter().filter(|&&w| w != 0.0).count();
                assert!(seen <= 4 && row[..n - 4].iter().all(|&w| w == 0.0), "{arch}: a sliding layer sees {seen} positions: {row:?}");
            }
        }
        e.model.reference_kernels = true;
        let (ids_ref, logits_ref, _) = run(&mut e);
        assert_eq!(ids_simd, ids_ref, "{arch}: ids");
        assert!(logits_simd == logits_ref, "{arch}: the logits differ from the scalar reference kernels'");

        // Back to generated position 2 (further back than a window) with another token.
        let alt = (ids_simd[2] + 1) % c.n_vocab as u32;
        e.choose(2, alt).unwrap();
        let next = e.step().unwrap().id;
        let mut fresh = ids.clone();
        fresh.extend([ids_simd[0], ids_simd[1], alt]);
        let params = GenParams { max_tokens: 2, ignore_eos: true, sampling: plumbing::SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() };
        e.start(fresh, params).unwrap();
        assert_eq!(e.step().unwrap().id, next, "{arch}: choose then step equals a fresh run");
    }
}

#[test]
fn parrot_model_says_exactly_what_it_was_built_to() {
    let t = Tiny { extra_tokens: vec!["<b>".into(), " bold".into()], cycle: None, ..Default::default() };
    let (a, b) = (t.extra_id(0), t.extra_id(1));
    let t = Tiny { cycle: Some(vec![a, b]), ..t };
    let mut e = load(&t.bytes()).unwrap();
    let steps = greedy(&mut e, "hello", 5, 0);
    assert_eq!(steps.iter().map(|s| s.id).collect::<Vec<_>>(), vec![a, b, a, b, a]);
    assert_eq!(steps.iter().map(|s| s.text.as_str()).collect::<String>(), "<b> bold<b> bold<b>");
    assert_eq!(steps.last().unwrap().done, Some(StopReason::MaxTokens));
}

// ------------------------------------------------------------------------------------------------
// The files for the browser tests and the fuzzer's seed corpus
// ------------------------------------------------------------------------------------------------

#[test]
fn xss_model_generates_its_html() {
    let mut e = load(&crafted::xss_model().bytes()).unwrap();
    let text: String = greedy(&mut e, "hi", 4, 0).iter().map(|s| s.text.clone()).collect();
    assert_eq!(text, "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>".repeat(2));
    assert!(Tokenizer::from_gguf(&e.model.gguf, None).is_ok());
}

/// The writer behind `cargo run --release --example write_crafted` (which the browser tests
/// read): into a scratch directory, twice (the same bytes), and read back as the browser test
/// reads it, each file through the engine to the error cases.json expects.
#[test]
fn crafted_files_written_to_disk_read_back_with_their_errors() {
    let dir = std::env::temp_dir().join(format!("plumbing-crafted-{}", std::process::id()));
    crafted::write_files(&dir, None).unwrap();
    let first = std::fs::read(dir.join("cases.json")).unwrap();
    crafted::write_files(&dir, None).unwrap();
    assert_eq!(std::fs::read(dir.join("cases.json")).unwrap(), first, "not idempotent");
    let list: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), crafted::tiny_cases().len());
    for c in list {
        let file = c["file"].as_str().unwrap_or_else(|| panic!("{c}: a tiny case is a file"));
        let msg = load_message(&std::fs::read(dir.join(file)).unwrap()).unwrap_or_else(|p| panic!("{file}: PANIC {p}"));
        for want in c["expect"].as_array().unwrap() {
            assert!(msg.contains(want.as_str().unwrap()), "{}: got {msg:?}; expected {want}", c["name"]);
        }
    }
    for good in ["tiny.gguf", "tiny-1layer.gguf", "xss.gguf", "tiny-qwen2.gguf", "tiny-qwen3.gguf", "tiny-gemma3.gguf"] {
        assert_eq!(load_message(&std::fs::read(dir.join(good)).unwrap()).unwrap(), "loaded", "{good}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
