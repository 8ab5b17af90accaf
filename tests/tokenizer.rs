//! Our tokenizer, built from the GGUF's metadata, against llama.cpp's ids (tests/golden).
mod common;

use plumbing::ChatMessage;

#[test]
fn tokenize_cases_match_llama_cpp() {
    let e = common::engine();
    let g = common::golden();
    let cases = g["tokenize"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let got = e.tokenizer.encode(text, true).unwrap();
        assert_eq!(got, common::ids(&c["ids"]), "case {} ({text:?})", c["name"]);
        // And back: the ids decode to the text.
        assert_eq!(e.tokenizer.decode(&got), text, "case {} decodes back", c["name"]);
    }
}

#[test]
fn generate_prompts_match_llama_cpp() {
    let e = common::engine();
    let g = common::golden();
    for c in g["generate"].as_array().unwrap() {
        let got = e.tokenizer.encode(c["prompt"].as_str().unwrap(), true).unwrap();
        assert_eq!(got, common::ids(&c["prompt_ids"]), "prompt of {}", c["name"]);
    }
}

#[test]
fn special_tokens_can_be_plain_text() {
    let e = common::engine();
    let parsed = e.tokenizer.encode("<|im_start|>user", true).unwrap();
    let plain = e.tokenizer.encode("<|im_start|>user", false).unwrap();
    assert_eq!(parsed[0], 1);
    assert!(plain.len() > 2 && !plain.contains(&1), "{plain:?}");
    assert_eq!(e.tokenizer.decode(&plain), "<|im_start|>user");
}

#[test]
fn end_of_generation_ids() {
    let e = common::engine();
    // <|endoftext|>, <|im_end|> and <reponame> (a fill-in-the-middle token llama.cpp ends on).
    assert_eq!(e.tokenizer.eog_ids, common::ids(&common::golden()["eog_token_ids"]));
    assert_eq!(e.tokenizer.eog_ids, vec![0, 2, 4]);
    assert!(!e.tokenizer.add_bos);
}

#[test]
fn streaming_decode_never_breaks_characters() {
    let e = common::engine();
    let text = "I love 🦀 and 🚀🚀, 東京は日本の首都です。 naïve";
    let ids = e.tokenizer.encode(text, false).unwrap();
    let mut d = plumbing::tokenizer::StreamDecoder::default();
    let mut out = String::new();
    for &id in &ids {
        let piece = d.push(e.tokenizer.token_bytes(id));
        assert!(!piece.contains('\u{FFFD}'), "broken character in {piece:?}");
        out.push_str(&piece);
    }
    out.push_str(&d.finish());
    assert_eq!(out, text);
}

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage { role: role.into(), content: content.into() }
}

#[test]
fn chat_template_renders_the_gguf_template() {
    let e = common::engine();
    let t = &e.tokenizer;
    let default_system = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n";
    assert_eq!(
        t.apply_chat_template(&[msg("user", "Hi")], true).unwrap(),
        format!("{default_system}<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    );
    assert_eq!(
        t.apply_chat_template(&[msg("system", "You are terse."), msg("user", "Hi")], true).unwrap(),
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(
        t.apply_chat_template(&[msg("user", "Hi"), msg("assistant", "Hello!"), msg("user", "2+2?")], false).unwrap(),
        format!("{default_system}<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n")
    );
}
