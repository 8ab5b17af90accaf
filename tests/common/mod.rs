//! Shared by the native integration tests: the model and the golden data.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use plumbing::{Engine, ModelFile};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn model_path() -> PathBuf {
    std::env::var_os("PLUMBING_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("models/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

pub fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let p = model_path();
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh model to fetch it)", p.display()))
    })
}

pub fn engine() -> Engine {
    Engine::load(ModelFile::from_bytes(model_bytes()).expect("alloc"), &mut |_, _, _| {}).expect("the model loads")
}

pub fn golden() -> serde_json::Value {
    let p = root().join("tests/golden/smollm2-135m-instruct-q4_1.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden file")).expect("golden json")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().expect("array").iter().map(|x| x.as_u64().expect("id") as u32).collect()
}

// ------------------------------------------------------------------------------------------------
// Parity with llama.cpp (the criteria of issue 2, shared by parity.rs, gemma.rs and archs.rs)
// ------------------------------------------------------------------------------------------------

use plumbing::{GenParams, SamplingParams};

/// Greedy decoding (the engine's default samples at 0.7).
pub fn greedy() -> GenParams {
    GenParams { sampling: SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() }
}

fn percentile(v: &mut [f32], p: f64) -> f32 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// What one teacher-forced case measured against llama.cpp's top-5 logits.
#[derive(Debug, Clone)]
pub struct Parity {
    pub name: String,
    /// Median |ours - theirs| over every position's top-5 logits.
    pub median: f32,
    /// p99 of |Δ - mean Δ of the position| (each position's common offset removed).
    pub p99: f32,
    /// The largest offset-removed difference and its position.
    pub max_centred: (f32, usize),
    /// Top-1 agreement at positions with margin >= 1 and >= 0.3: (agree, of).
    pub strong: (usize, usize),
    pub medium: (usize, usize),
    /// Positions with margin >= 0.3 whose top-1 differs: (position, margin).
    pub misses: Vec<(usize, f64)>,
    /// The differences themselves (|Δ| and offset-removed), so that cases can be pooled.
    pub abs: Vec<f32>,
    pub centred: Vec<f32>,
}

impl Parity {
    pub fn summary(&self) -> String {
        format!(
            "{}: median |Δ| {:.3}, offset-removed p99 {:.3} (max {:.3} at {}), top-1 {}/{} (margin ≥ 1), {}/{} (margin ≥ 0.3){}",
            self.name, self.median, self.p99, self.max_centred.0, self.max_centred.1, self.strong.0, self.strong.1, self.medium.0, self.medium.1,
            if self.misses.is_empty() { String::new() } else { format!("; top-1 differs at {:?}", self.misses) }
        )
    }

    /// The bounds: median |Δ| ≤ 0.25, offset-removed p99 ≤ 0.45, top-1 equal at every position
    /// with margin ≥ 1 and at ≥ 98 % of those with margin ≥ 0.3. Never loosen them.
    pub fn assert_within_bounds(&self) {
        let name = &self.name;
        assert!(self.median <= 0.25, "{name}: median |ours - llama.cpp| = {} > 0.25 ({})", self.median, self.summary());
        assert!(self.p99 <= 0.45, "{name}: offset-removed p99 = {} > 0.45 ({})", self.p99, self.summary());
        assert_eq!(self.strong.0, self.strong.1, "{name}: top-1 differs where the margin is >= 1 ({})", self.summary());
        assert!(self.medium.0 as f64 >= 0.98 * self.medium.1 as f64, "{name}: top-1 agrees at {}/{} positions with margin >= 0.3 ({})", self.medium.0, self.medium.1, self.summary());
    }
}

/// Feeds a reference case's prompt (`prompt_ids`), then llama.cpp's own tokens (`token_ids`),
/// comparing our logits with `positions[i].top_ids/top_logits` before each. `eog`: ids left out
/// of our top-1 (llama.cpp masked them).
pub fn teacher_forced(e: &mut Engine, case: &serde_json::Value, eog: &[u32]) -> Parity {
    let name = case["name"].as_str().unwrap_or("case").to_string();
    let forced = ids(&case["token_ids"]);
    let positions = case["positions"].as_array().expect("positions");
    let params = GenParams { max_tokens: forced.len(), n_top: 5, ..greedy() };
    e.start(ids(&case["prompt_ids"]), params).expect("start");
    e.prefill(0).expect("prefill");
    let (mut abs, mut centred) = (Vec::new(), Vec::new());
    let mut max_centred = (0f32, 0usize);
    let (mut strong, mut strong_ok, mut medium, mut medium_ok) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for (i, p) in positions.iter().enumerate() {
        let logits = e.next_logits().expect("logits").to_vec();
        let top = ids(&p["top_ids"]);
        let theirs: Vec<f32> = p["top_logits"].as_array().expect("top_logits").iter().map(|x| x.as_f64().expect("logit") as f32).collect();
        let diffs: Vec<f32> = top.iter().zip(&theirs).map(|(&id, &t)| logits[id as usize] - t).collect();
        let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
        if std::env::var_os("PARITY_TRACE").is_some() {
            eprintln!("{name} {i}: mean Δ {mean:+.3}, Δ {:?}", diffs.iter().map(|d| (d * 1000.0).round() / 1000.0).collect::<Vec<_>>());
        }
        abs.extend(diffs.iter().map(|d| d.abs()));
        for d in &diffs {
            let c = (d - mean).abs();
            if c > max_centred.0 {
                max_centred = (c, i);
            }
            centred.push(c);
        }
        let ours_top1 = (0..logits.len() as u32)
            .filter(|id| !eog.contains(id))
            .max_by(|a, b| logits[*a as usize].total_cmp(&logits[*b as usize]))
            .expect("a logit");
        let margin = p["margin"].as_f64().expect("margin");
        let chosen = p["chosen_id"].as_u64().expect("chosen_id") as u32;
        let ok = ours_top1 == chosen;
        if margin >= 1.0 {
            strong += 1;
            strong_ok += ok as usize;
        }
        if margin >= 0.3 {
            medium += 1;
            medium_ok += ok as usize;
            if !ok {
                misses.push((i, margin));
            }
        }
        if i + 1 < positions.len() {
            let step = e.step_with(Some(forced[i])).expect("step");
            assert_eq!(step.id, forced[i]);
        }
    }
    Parity {
        name,
        median: percentile(&mut abs, 0.5),
        p99: percentile(&mut centred, 0.99),
        max_centred,
        strong: (strong_ok, strong),
        medium: (medium_ok, medium),
        misses,
        abs,
        centred,
    }
}

/// Several cases judged as one (every position of every case), as tests/quants.rs judges a file
/// over both its prompts.
pub fn pooled(name: &str, cases: &[Parity]) -> Parity {
    let mut abs: Vec<f32> = cases.iter().flat_map(|c| c.abs.iter().copied()).collect();
    let mut centred: Vec<f32> = cases.iter().flat_map(|c| c.centred.iter().copied()).collect();
    let sum = |f: fn(&Parity) -> (usize, usize)| cases.iter().map(f).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Parity {
        name: name.to_string(),
        median: percentile(&mut abs, 0.5),
        p99: percentile(&mut centred, 0.99),
        max_centred: cases.iter().map(|c| c.max_centred).fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a }),
        strong: sum(|c| c.strong),
        medium: sum(|c| c.medium),
        misses: cases.iter().flat_map(|c| c.misses.iter().copied()).collect(),
        abs,
        centred,
    }
}

/// Free-running greedy decoding of a reference case: where our ids first differ from
/// llama.cpp's, its margin there must be a near-tie (< 0.3); before it every id is the same.
/// Returns the position of the first difference, if any.
pub fn assert_greedy_matches(e: &mut Engine, case: &serde_json::Value) -> Option<usize> {
    let name = case["name"].as_str().unwrap_or("case");
    let want = ids(&case["token_ids"]);
    let margins: Vec<f64> = case["positions"].as_array().expect("positions").iter().map(|p| p["margin"].as_f64().expect("margin")).collect();
    let params = GenParams { max_tokens: want.len(), ignore_eos: true, ..greedy() };
    e.start(ids(&case["prompt_ids"]), params).expect("start");
    let mut got = Vec::new();
    loop {
        let s = e.step().expect("step");
        got.push(s.id);
        if s.done.is_some() {
            break;
        }
    }
    assert_eq!(got.len(), want.len());
    match got.iter().zip(&want).position(|(a, b)| a != b) {
        None => {
            eprintln!("{name}: all {} greedy ids equal llama.cpp's", want.len());
            None
        }
        Some(i) => {
            eprintln!("{name}: the first {i} greedy ids equal llama.cpp's; at {i} the reference margin is {:.4}", margins[i]);
            assert!(margins[i] < 0.3, "{name}: greedy ids differ at position {i}, where llama.cpp's margin is {} (not a near-tie)", margins[i]);
            Some(i)
        }
    }
}

/// An engine over the GGUF at `path`, or None (with the reason printed) when the file is absent.
pub fn engine_at(path: &std::path::Path) -> Option<Engine> {
    match std::fs::read(path) {
        Ok(b) => Some(Engine::load(ModelFile::from_bytes(&b).expect("alloc"), &mut |_, _, _| {}).expect("the model loads")),
        Err(e) => {
            eprintln!("SKIPPED: {}: {e} (./build.sh fetches it)", path.display());
            None
        }
    }
}
