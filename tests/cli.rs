//! The command line: unknown options and bad values are usage errors that name them (exit 2),
//! every subcommand has its --help, absent sampling flags keep the engine's defaults, and
//! `generate --logits` writes the logits each token was chosen from.

mod common;

use std::process::{Command, Output};

use plumbing::{GenParams, Request};

fn plumbing(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plumbing")).args(args).output().expect("the binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn model() -> String {
    common::model_path().display().to_string()
}

/// A usage error: exit code 2, and the message names every `needle`.
fn assert_usage_error(args: &[&str], needles: &[&str]) {
    let out = plumbing(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: the error does not name {n:?}: {err}");
    }
}

#[test]
fn unknown_options_and_bad_values_are_errors_that_name_them() {
    let m = model();
    assert_usage_error(&["generate", "--model", &m, "--prompt", "hi", "--max-tokenz", "3"], &["--max-tokenz"]);
    assert_usage_error(&["generate", "--model", &m, "--prompt", "hi", "--threads", "0"], &["--threads", "0"]);
    assert_usage_error(&["generate", "--model", &m, "--prompt", "hi", "--max-tokens", "abc"], &["--max-tokens", "abc"]);
    assert_usage_error(&["generate", "--model", &m, "--prompt", "hi", "--temperature", "warm"], &["--temperature", "warm"]);
    assert_usage_error(&["generate", "--model", &m, "--prompt", "hi", "--force-ids", "1,x"], &["--force-ids", "\"x\""]);
    assert_usage_error(&["generate", "--model", &m], &["--prompt"]);
    assert_usage_error(&["tokenize", "--model", &m, "--text", "a", "--json"], &["--json"]);
    assert_usage_error(&["inspect", "--model", &m, "stray"], &["stray"]);
    assert_usage_error(&["serve", "--port", "99999"], &["--port", "99999"]);
    assert_usage_error(&["serve", "--no-isolation", "yes"], &["yes"]);
    assert_usage_error(&["bench", "--model", &m, "--prompt-file", "p.json", "--runs", "many"], &["--runs", "many"]);
    assert_usage_error(&["frobnicate"], &["frobnicate"]);
    assert_usage_error(&[], &["Usage"]);
}

#[test]
fn every_subcommand_has_its_help() {
    let flags: &[(&str, &[&str])] = &[
        ("tokenize", &["--model", "--text", "--no-special"]),
        (
            "generate",
            &[
                "--model", "--prompt", "--raw", "--system", "--max-tokens", "--temperature", "--top-k", "--top-p", "--repeat-penalty", "--seed",
                "--ignore-eos", "--force-ids", "--n-ctx", "--json", "--logits",
            ],
        ),
        ("inspect", &["--model", "--json", "--stats"]),
        ("bench", &["--model", "--prompt-file", "--runs", "--tokens"]),
        ("serve", &["--dir", "--host", "--port", "--no-isolation"]),
    ];
    for (cmd, names) in flags {
        let out = plumbing(&[cmd, "--help"]);
        let help = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{cmd} --help: {}", text(&out.stderr));
        for n in *names {
            assert!(help.contains(&format!("{n} ")) || help.contains(&format!("{n}\n")), "{cmd} --help does not show {n}:\n{help}");
        }
    }
    // The defaults generate --help shows are the engine's own.
    let help = text(&plumbing(&["generate", "--help"]).stdout);
    let defaults = serde_json::to_string(&GenParams::default()).unwrap();
    assert!(help.contains(&defaults), "generate --help does not show {defaults}:\n{help}");
}

/// The JSON lines of `generate --json`: the steps, and the last line.
fn generate_json(args: &[&str]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let m = model();
    let mut all = vec!["generate", "--model", &m, "--json"];
    all.extend_from_slice(args);
    let out = plumbing(&all);
    assert_eq!(out.status.code(), Some(0), "{all:?}: {}", text(&out.stderr));
    let mut lines: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let last = lines.pop().expect("a last line");
    (lines, last)
}

#[test]
fn absent_flags_keep_the_engines_defaults() {
    let (steps, last) = generate_json(&["--prompt", "Hi", "--max-tokens", "2"]);
    assert!((1..=2).contains(&steps.len()), "{steps:?}");
    let mut want = serde_json::to_value(GenParams::default()).unwrap();
    let mut got = last["params"].clone();
    assert!(got["seed"].is_u64(), "the seed used is reported: {got}");
    got["seed"] = serde_json::Value::Null;
    want["max_tokens"] = 2.into();
    // f32 values come back widened to f64: compare them as f32.
    for k in ["temperature", "top_p", "repeat_penalty"] {
        assert_eq!(got[k].as_f64().map(|x| x as f32), want[k].as_f64().map(|x| x as f32), "{k}");
        got[k] = serde_json::Value::Null;
        want[k] = serde_json::Value::Null;
    }
    assert_eq!(got, want);
    // Given flags are taken; the same seed gives the same tokens.
    let args = ["--prompt", "Hi", "--max-tokens", "4", "--seed", "7", "--temperature", "1.5", "--top-k", "0", "--top-p", "0.5", "--n-ctx", "64"];
    let (a, last) = generate_json(&args);
    let (b, _) = generate_json(&args);
    let p = &last["params"];
    assert_eq!((p["seed"].as_u64(), p["top_k"].as_u64(), p["n_ctx"].as_u64(), p["temperature"].as_f64()), (Some(7), Some(0), Some(64), Some(1.5)));
    let ids = |v: &[serde_json::Value]| v.iter().map(|s| s["id"].as_u64()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
}

#[test]
fn logits_are_written_for_every_generated_and_forced_position() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let engine = common::engine();
    let n_vocab = engine.model.config.n_vocab;
    let prompt = "The capital of France is";
    // Greedy: each token is the argmax of the logits written for its position.
    let file = dir.join("cli-logits-greedy.f32");
    let f = file.display().to_string();
    let (steps, last) = generate_json(&["--raw", "--prompt", prompt, "--max-tokens", "5", "--temperature", "0", "--ignore-eos", "--logits", &f]);
    assert_eq!(last["done"], "max_tokens");
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes.len(), n_vocab * 4 * 5, "n_vocab {n_vocab} x 4 bytes x 5 positions");
    let logits: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    for (i, (row, step)) in logits.chunks_exact(n_vocab).zip(&steps).enumerate() {
        let id = step["id"].as_u64().unwrap() as usize;
        let best = row.iter().enumerate().fold(0, |b, (j, &x)| if x > row[b] { j } else { b });
        assert_eq!(best, id, "position {i}");
        assert_eq!(row[id], step["top"][0]["logit"].as_f64().unwrap() as f32, "position {i}: the top logit, bit for bit");
    }
    // The first position's logits equal the library's, bit for bit.
    let mut engine = engine;
    let req = Request { prompt: Some(prompt.into()), raw: true, ..Request::default() };
    engine.begin(&req).unwrap();
    engine.prefill(0).unwrap();
    let first = engine.next_logits().unwrap();
    assert!(first.iter().zip(&logits[..n_vocab]).all(|(a, b)| a.to_bits() == b.to_bits()));
    // Forced ids: one row per forced id, the run ends after them.
    let file = dir.join("cli-logits-forced.f32");
    let f = file.display().to_string();
    let (steps, _) = generate_json(&["--raw", "--prompt", prompt, "--force-ids", "28,260,3", "--logits", &f]);
    assert_eq!(steps.iter().map(|s| s["id"].as_u64().unwrap()).collect::<Vec<_>>(), [28, 260, 3]);
    assert_eq!(std::fs::metadata(&file).unwrap().len() as usize, n_vocab * 4 * 3);
}

#[test]
fn runtime_errors_exit_1_and_say_what_is_wrong() {
    let out = plumbing(&["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/model.gguf"), "{}", text(&out.stderr));
    let m = model();
    let out = plumbing(&["generate", "--model", &m, "--prompt", "hi", "--top-p", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("top_p is 2"), "{}", text(&out.stderr));
    let out = plumbing(&["serve", "--dir", "/nonexistent/www"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("/nonexistent/www is not a directory"), "{}", text(&out.stderr));
}
