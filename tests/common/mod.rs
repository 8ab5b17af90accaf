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
