//! Arbitrary bytes as a model file: the GGUF reader, the tokenizer built from its metadata, model
//! construction, and, when all of that succeeds, a few tokens of generation. Any panic, abort,
//! hang or runaway allocation is a bug; errors are fine. Run with scripts/fuzz.sh.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plumbing::gguf::Gguf;
use plumbing::{ChatMessage, Engine, GenParams, ModelFile, Tokenizer};

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gguf::read(data) {
        if let Ok(t) = Tokenizer::from_gguf(&g, None) {
            if let Ok(ids) = t.encode("Hi <|im_start|> 🦀 é\u{301}", true) {
                let _ = t.decode(&ids);
            }
            let _ = t.apply_chat_template(&[ChatMessage { role: "user".into(), content: "hi".into() }], true);
        }
    }
    let Ok(file) = ModelFile::from_bytes(data) else { return };
    let Ok(mut e) = Engine::load(file, &mut |_, _, _| {}) else { return };
    let _ = plumbing::inspect::info(&e, 8);
    let params = GenParams { max_tokens: 3, n_ctx: 8, ..Default::default() };
    if e.start(vec![0, 1], params).is_ok() {
        while let Ok(s) = e.step() {
            if s.done.is_some() {
                break;
            }
        }
    }
});
