//! One owner for what a request means (src/request.rs) and for a tensor's shape (src/inspect.rs):
//! defaults filled from GenParams::default(), the template rendered once, unknown parameters
//! refused by name, the prompt as fed marked template / message; tensor roles and block geometry,
//! and no panic from tensor_block at any row or block.
mod common;

use plumbing::{inspect, ChatMessage, Error, GenParams, Request};

fn req(json: &str) -> Request {
    Request::from_json(json).unwrap_or_else(|e| panic!("{json}: {e}"))
}

#[test]
fn a_prompt_is_rendered_tokenized_and_started_with_the_defaults() {
    let mut e = common::engine();
    let fed = e.begin(&req(r#"{"prompt": "What is a pipe wrench?"}"#)).unwrap();
    // The same ids as rendering the template by hand and tokenizing with special tokens.
    let msgs = [ChatMessage { role: "user".into(), content: "What is a pipe wrench?".into() }];
    let text = e.tokenizer.apply_chat_template(&msgs, true).unwrap();
    assert_eq!(fed.text, text);
    assert_eq!(fed.ids, e.tokenizer.encode(&text, true).unwrap());
    assert_eq!(fed.pieces.len(), fed.ids.len());
    // The message's own tokens are not the template's; everything else (the default system
    // prompt, role markers, the generation prompt) is.
    let mine: String = fed.ids.iter().zip(&fed.template).filter(|(_, &t)| !t).map(|(&i, _)| e.tokenizer.token_text(i)).collect();
    assert_eq!(mine, "What is a pipe wrench?");
    assert!(fed.template.iter().filter(|&&t| t).count() > 10, "the template writes the system prompt and markers");
    assert!(fed.ids.iter().zip(&fed.template).all(|(&i, &t)| !e.tokenizer.is_special(i) || t), "special tokens are the template's");
    // Every default filled, and a seed chosen and reported.
    let d = GenParams::default();
    assert_eq!(fed.params.max_tokens, d.max_tokens);
    assert_eq!(fed.params.sampling.temperature, d.sampling.temperature);
    assert!(d.sampling.seed.is_none() && fed.params.sampling.seed.is_some());
    assert_eq!(e.params().unwrap().sampling.seed, fed.params.sampling.seed);
}

#[test]
fn the_reported_seed_repeats_the_run() {
    let mut e = common::engine();
    let run = |e: &mut plumbing::Engine, json: &str| -> (Vec<u32>, Option<u64>) {
        let fed = e.begin(&req(json)).unwrap();
        let mut ids = Vec::new();
        loop {
            let s = e.step().unwrap();
            ids.push(s.id);
            if s.done.is_some() {
                break;
            }
        }
        (ids, fed.params.sampling.seed)
    };
    let (a, seed) = run(&mut e, r#"{"prompt": "Name a colour.", "params": {"max_tokens": 12, "temperature": 1.0}}"#);
    let again = format!(r#"{{"prompt": "Name a colour.", "params": {{"max_tokens": 12, "temperature": 1.0, "seed": {}}}}}"#, seed.unwrap());
    let (b, seed_b) = run(&mut e, &again);
    assert_eq!(a, b);
    assert_eq!(seed, seed_b);
}

#[test]
fn system_raw_and_messages_are_one_request() {
    let mut e = common::engine();
    let with_system = e.prepare(&req(r#"{"prompt": "Hi", "system": "Be brief."}"#)).unwrap();
    let msgs = [
        ChatMessage { role: "system".into(), content: "Be brief.".into() },
        ChatMessage { role: "user".into(), content: "Hi".into() },
    ];
    assert_eq!(with_system.text, e.tokenizer.apply_chat_template(&msgs, true).unwrap());
    let as_messages = e
        .prepare(&req(r#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}"#))
        .unwrap();
    assert_eq!(as_messages.ids, with_system.ids);
    // A raw prompt is fed as it is, special tokens parsed, nothing marked as template.
    let raw = e.begin(&req(r#"{"prompt": "<|im_start|>user\nHi<|im_end|>\n", "raw": true}"#)).unwrap();
    assert_eq!(raw.ids, e.tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n", true).unwrap());
    assert!(raw.template.iter().all(|&t| !t));
}

#[test]
fn bad_requests_are_refused_by_name() {
    let mut e = common::engine();
    let refuse = |json: &str, want: &str| match Request::from_json(json) {
        Err(err) => {
            assert_eq!(err.kind(), "request", "{json}");
            assert!(err.to_string().contains(want), "{json}: {err}");
        }
        Ok(_) => panic!("{json} was taken"),
    };
    refuse(r#"{"prompt": "x", "params": {"max_tokenz": 3}}"#, "max_tokenz");
    refuse(r#"{"prompt": "x", "params": {"threads": 2}}"#, "threads");
    refuse(r#"{"prompt": "x", "promt": "y"}"#, "promt");
    refuse(r#"{"prompt": "x", "params": {"temperature": "hot"}}"#, "temperature");
    refuse(r#"{"messages": [{"role": "user", "content": "x", "name": "y"}]}"#, "name");
    refuse("[1, 2]", "");
    refuse(r#"{"prompt": "x", "params": 3}"#, "params");
    let begin = |e: &mut plumbing::Engine, json: &str| e.begin(&req(json)).map(|_| ()).unwrap_err();
    for (json, want) in [
        (r#"{"prompt": "x", "params": {"temperature": -1}}"#, "temperature"),
        (r#"{"prompt": "x", "params": {"top_p": 0}}"#, "top_p"),
        (r#"{"prompt": "x", "params": {"max_tokens": 0}}"#, "max_tokens"),
        (r#"{"prompt": "x", "params": {"n_top": 100000}}"#, "n_top"),
        (r#"{"prompt": "x", "params": {"repeat_penalty": 0}}"#, "repeat_penalty"),
        (r#"{}"#, "no prompt"),
        (r#"{"prompt": "x", "messages": []}"#, "not both"),
        (r#"{"messages": []}"#, "no messages"),
        (r#"{"raw": true}"#, "needs a prompt"),
        (r#"{"raw": true, "prompt": "x", "system": "y"}"#, "no system"),
    ] {
        let err = begin(&mut e, json);
        assert_eq!(err.kind(), "request", "{json}: {err}");
        assert!(err.to_string().contains(want), "{json}: {err}");
    }
    // Past the context: a limit, said with the numbers.
    let long = format!(r#"{{"prompt": "{}", "raw": true}}"#, "word ".repeat(3000));
    assert!(matches!(e.begin(&req(&long)), Err(Error::Limit(_))));
}

#[test]
fn info_states_the_defaults_and_each_tensors_role_and_geometry() {
    let e = common::engine();
    let info = inspect::info(&e, 8);
    assert_eq!(info["defaults"], inspect::defaults());
    assert_eq!(info["defaults"]["temperature"], serde_json::json!(0.7), "written as the f32 is, not as its nearest f64");
    assert_eq!(info["defaults"]["seed"], serde_json::Value::Null);
    let tensors = info["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), 272);
    for t in tensors {
        let name = t["name"].as_str().unwrap();
        let (role, group) = (t["role"].as_str().unwrap(), t["group"].as_str().unwrap());
        assert_ne!(role, "other", "{name}");
        assert_eq!(t["layer"].is_null(), !name.starts_with("blk."), "{name}");
        let (rows, cols) = (t["rows"].as_u64().unwrap(), t["cols"].as_u64().unwrap());
        assert_eq!(rows * cols, t["n_params"].as_u64().unwrap(), "{name}");
        let b = &t["block"];
        let (el, per_row) = (b["elements"].as_u64().unwrap(), b["per_row"].as_u64().unwrap());
        assert!(per_row * el >= cols && (per_row - 1) * el < cols, "{name}: {per_row} blocks of {el} for {cols} columns");
        match t["type"].as_str().unwrap() {
            "F32" => assert_eq!((el, b["bytes"].as_u64().unwrap(), group), (32, 128, "norm"), "{name}"),
            "Q4_1" => assert_eq!((el, b["bytes"].as_u64().unwrap()), (32, 20), "{name}"),
            "Q8_0" => assert_eq!((el, b["bytes"].as_u64().unwrap()), (32, 34), "{name}"),
            other => panic!("{name}: type {other}"),
        }
    }
    let role = |n: &str| inspect::role(n);
    assert_eq!(role("blk.3.attn_q.weight"), ("attn_q", "attention", Some(3)));
    assert_eq!(role("blk.29.ffn_down.weight"), ("ffn_down", "mlp", Some(29)));
    assert_eq!(role("token_embd.weight"), ("embedding", "embedding", None));
    assert_eq!(role("output_norm.weight"), ("output_norm", "norm", None));
    assert_eq!(role("blk.x.attn_q.weight"), ("other", "other", None));
    assert_eq!(role("rope_freqs.weight"), ("rope_freqs", "other", None));
}

/// Defect: tensorBlock('output_norm.weight', 0, 20) panicked (block < cols was accepted for F32,
/// then v[block * 32..] sliced past the row).
#[test]
fn tensor_block_answers_every_row_and_block_without_panicking() {
    let e = common::engine();
    let m = &e.model;
    let info = inspect::info(&e, 8);
    for t in info["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let (rows, per_row) = (t["rows"].as_u64().unwrap() as usize, t["block"]["per_row"].as_u64().unwrap() as usize);
        let el = t["block"]["elements"].as_u64().unwrap() as usize;
        for (r, b) in [(0, 0), (rows - 1, per_row - 1), (rows / 2, per_row / 2)] {
            let j = inspect::tensor_block(m, name, r, b).unwrap_or_else(|err| panic!("{name} row {r} block {b}: {err}"));
            assert_eq!(j["values"].as_array().unwrap().len(), el, "{name}");
        }
        for (r, b) in [(rows, 0), (0, per_row), (usize::MAX, usize::MAX), (0, 20 * per_row)] {
            let err = inspect::tensor_block(m, name, r, b).unwrap_err();
            assert_eq!(err.kind(), "limit", "{name} row {r} block {b}: {err}");
        }
    }
    let err = inspect::tensor_block(m, "output_norm.weight", 0, 20).unwrap_err();
    assert!(err.to_string().contains("1 rows of 18 blocks"), "{err}");
    let last = inspect::tensor_block(m, "output_norm.weight", 0, 17).unwrap();
    assert_eq!(last["bytes"].as_array().unwrap().len(), 128);
    assert_eq!(inspect::tensor_block(m, "no.such.tensor", 0, 0).unwrap_err().kind(), "missing");
}

fn engine_of(path: &str) -> plumbing::Engine {
    let p = common::root().join(path);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    plumbing::Engine::load(plumbing::ModelFile::from_bytes(&bytes).expect("alloc"), &mut |_, _, _| {}).expect("the model loads")
}

/// BOS, once: DeepSeek's template writes its own BOS, and the engine adds none; a raw prompt
/// without one gets it first (marked as the template's), one that has it keeps just that one.
#[test]
fn the_bos_is_fed_once() {
    let e = engine_of("models/archs/qwen2-deepseek.gguf");
    let t = &e.tokenizer;
    let bos = t.bos_id.expect("DeepSeek has a BOS");
    assert!(t.add_bos);
    let fed = e.prepare(&req(r#"{"prompt": "Hi"}"#)).unwrap();
    assert!(fed.chat);
    assert!(fed.text.starts_with("<｜begin▁of▁sentence｜>"), "{:?}", fed.text);
    assert_eq!(fed.ids.iter().filter(|&&i| i == bos).count(), 1, "{:?}", fed.ids);
    assert_eq!((fed.ids[0], fed.template[0]), (bos, true));
    let raw = e.prepare(&req(r#"{"prompt": "Hi", "raw": true}"#)).unwrap();
    assert!(!raw.chat);
    assert_eq!(raw.ids, vec![bos, 13048]);
    assert_eq!(raw.template, vec![true, false], "the BOS the engine put first is not the message's");
    let own = e.prepare(&req(r#"{"prompt": "<｜begin▁of▁sentence｜>Hi", "raw": true}"#)).unwrap();
    assert_eq!(own.ids, vec![bos, 13048]);
}

/// A base model (no chat template) continues a prompt as written; a chat is refused, saying why.
#[test]
fn a_base_model_continues_text_and_refuses_a_chat() {
    let bytes = std::fs::read(common::root().join("models/gemma-3-270m-q4_k_m.gguf")).expect("Gemma 3 (./build.sh model)");
    let g = plumbing::gguf::Gguf::read(&bytes).unwrap();
    let t = plumbing::Tokenizer::from_gguf(&g, None).unwrap();
    assert!(t.chat_template.is_none());
    let (text, spans) = req(r#"{"prompt": "The capital of France is"}"#).render(&t).unwrap();
    assert_eq!((text.as_str(), spans), ("The capital of France is", vec![(0, 24)]));
    for bad in [r#"{"messages": [{"role": "user", "content": "Hi"}]}"#, r#"{"prompt": "Hi", "system": "Be terse."}"#] {
        let e = req(bad).render(&t).unwrap_err();
        assert!(matches!(e, Error::Request(_)) && e.to_string().contains("base model"), "{bad}: {e}");
    }
}
