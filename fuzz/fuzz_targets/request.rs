//! Arbitrary JSON as a request (`Request::from_json`, what the worker and the widget send):
//! `Engine::begin` on the tiny llama of tests/crafted (a chat template, special tokens, a
//! 64-token context), then a few steps, the logits before each, and a `choose`. Any panic is a
//! bug; errors are fine. The seed is fixed when the request has none, so that a crash repeats.
#![no_main]

#[allow(dead_code, clippy::all)]
#[path = "../../tests/crafted/mod.rs"]
mod crafted;

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use plumbing::{Engine, ModelFile, Request};

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new({
        let bytes = crafted::Tiny { extra_tokens: vec!["hello".into(), " world".into()], ..Default::default() }.bytes();
        Engine::load(ModelFile::from_bytes(&bytes).expect("alloc"), &mut |_, _, _| {}).expect("the tiny model loads")
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut req) = Request::from_json(&String::from_utf8_lossy(data)) else { return };
    if req.params.sampling.seed.is_none() {
        req.params.sampling.seed = Some(data.len() as u64);
    }
    ENGINE.with(|e| {
        let mut e = e.borrow_mut();
        let Ok(fed) = e.begin(&req) else { return };
        assert_eq!(fed.ids.len(), fed.pieces.len());
        assert_eq!(fed.ids.len(), fed.template.len());
        assert_eq!(fed.ids.len(), fed.special.len());
        let n_vocab = e.model.config.n_vocab;
        let mut steps = 0;
        for _ in 0..4 {
            if e.prefill(0).is_err() {
                return;
            }
            assert_eq!(e.next_logits().map(<[f32]>::len), Some(n_vocab));
            match e.step() {
                Ok(s) => {
                    steps += 1;
                    assert!((s.id as usize) < n_vocab);
                    if s.done.is_some() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        let pos = data.first().map_or(0, |&b| b as usize % (steps + 2));
        let id = data.last().map_or(0, |&b| b as u32 * 3);
        if e.choose(fed.ids.len() + pos, id).is_ok() {
            let _ = e.step();
        }
        let _ = e.stats();
    });
});
