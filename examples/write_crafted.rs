//! Writes the crafted GGUF files of tests/crafted (every bad-file case, `cases.json`, and the good
//! tiny models tiny.gguf, tiny-1layer.gguf, xss.gguf) for the browser tests
//! (tests/browser/bad_files.test.mjs, security.test.mjs) and the fuzzer's seed corpus
//! (scripts/fuzz.sh):
//!
//!     cargo run --release --example write_crafted [-- DIR]
//!
//! DIR defaults to `$CARGO_TARGET_DIR/crafted` (`target/crafted`), where those read them. The
//! real model's byte patches are included when the model is there (`$PLUMBING_MODEL`, default
//! models/SmolLM2-135M-Instruct.Q4_1.gguf).
#[path = "../tests/crafted/mod.rs"]
mod crafted;

use std::path::PathBuf;

fn main() {
    let dir = std::env::args_os().nth(1).map(PathBuf::from).unwrap_or_else(crafted::out_dir);
    let model = std::env::var_os("PLUMBING_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let real = match std::fs::read(&model) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("write_crafted: {}: {e}; writing the tiny cases only", model.display());
            None
        }
    };
    if let Err(e) = crafted::write_files(&dir, real.as_deref()) {
        eprintln!("write_crafted: {}: {e}", dir.display());
        std::process::exit(1);
    }
    println!("{}", dir.display());
}
