//! Runtime limits (docs/limits.md): a prompt longer than the context, generation that fills the
//! context, a chat template that would never finish, and text at the edges of Unicode through
//! the tokenizer and the streaming decoder.
mod common;
mod crafted;

use crafted::Tiny;
use plumbing::tokenizer::StreamDecoder;
use plumbing::{ChatMessage, Engine, GenParams, ModelFile, SamplingParams, StopReason};

fn tiny_engine(t: &Tiny) -> Engine {
    Engine::load(ModelFile::from_bytes(&t.bytes()).unwrap(), &mut |_, _, _| {}).unwrap()
}

fn params(n_ctx: usize, max_tokens: usize) -> GenParams {
    GenParams { n_ctx, max_tokens, ignore_eos: true, sampling: SamplingParams { temperature: 0.0, ..Default::default() }, ..Default::default() }
}

// ------------------------------------------------------------------------------------------------
// The context
// ------------------------------------------------------------------------------------------------

/// A sliding layer keeps about two windows of KV cache however long the context grows (the
/// tiny gemma3: window 4, layers 0 and 1 sliding, layer 2 global), and generation past many
/// windows goes on.
#[test]
fn sliding_layers_keep_only_their_window_of_kv_cache() {
    let t = Tiny { n_ctx: 512, ..crafted::tiny_arch("gemma3") };
    let mut e = tiny_engine(&t);
    let kv_dim = e.model.config.kv_dim;
    let prompt: Vec<u32> = (0..300).map(|i| 10 + (i * 7) % 250).collect();
    e.start(prompt, params(512, 20)).unwrap();
    while e.prefill(32).unwrap() > 0 {}
    while e.step().unwrap().done.is_none() {}
    let s = e.session_ref().unwrap();
    assert_eq!(s.state.n_past, 319, "the prompt and every generated token but the last fed");
    let sliding_rows = 2 * e.model.kv_rows(0, 512);
    assert_eq!(e.model.kv_rows(0, 512), 2 * crafted::GEMMA_WINDOW as usize + 32);
    let bytes = s.state.kv_bytes();
    // The global layer: at most 512 rows (Vec growth); the sliding ones: their reserve, exactly.
    assert!(bytes <= (sliding_rows + 512) * kv_dim * 8, "{bytes} bytes of KV cache");
    assert!(bytes < 3 * 319 * kv_dim * 8, "{bytes} bytes: no less than three global layers would hold");
}

#[test]
fn a_prompt_longer_than_the_context_is_refused_with_the_numbers() {
    let mut e = common::engine();
    let ids = e.tokenizer.encode(&"The quick brown fox. ".repeat(20), false).unwrap();
    assert!(ids.len() > 64);
    let err = e.start(ids.clone(), params(64, 10)).unwrap_err();
    assert_eq!(err.kind(), "limit");
    assert_eq!(err.to_string(), format!("the prompt has {} tokens; the context holds 64 (and needs room for the answer)", ids.len()));
    // Exactly the context is refused too (no room for one answer token); one less runs.
    assert!(e.start(ids[..64].to_vec(), params(64, 10)).is_err());
    e.start(ids[..63].to_vec(), params(64, 10)).unwrap();
    let s = e.step().unwrap();
    assert_eq!(s.done, Some(StopReason::ContextFull), "the 64th position is the last");
    // n_ctx above the trained context is capped to it.
    e.start(ids[..10].to_vec(), params(1 << 20, 1)).unwrap();
    assert_eq!(e.stats().n_ctx, 8192);
    // A step after the end says why it ended.
    let msg = e.step().and_then(|_| e.step()).unwrap_err().to_string();
    assert_eq!(msg, "this generation has ended (max_tokens)");
    // Empty prompts and ids outside the vocabulary.
    assert_eq!(e.start(vec![], params(64, 1)).unwrap_err().to_string(), "the prompt is empty");
    assert_eq!(e.start(vec![49152], params(64, 1)).unwrap_err().to_string(), "token id 49152 is outside the vocabulary of 49152");
}

#[test]
fn generation_that_fills_the_context_stops_with_context_full() {
    let mut e = tiny_engine(&Tiny::default());
    e.start(vec![10, 11, 12, 13, 14], params(16, 1000)).unwrap();
    let mut steps = Vec::new();
    loop {
        let s = e.step().unwrap();
        let done = s.done;
        steps.push(s);
        if done.is_some() {
            break;
        }
        assert!(steps.len() < 100, "never stopped");
    }
    assert_eq!(steps.last().unwrap().done, Some(StopReason::ContextFull));
    assert_eq!(steps.len(), 16 - 5, "every position of the context is used once");
    let st = e.stats();
    assert_eq!((st.n_ctx_used, st.n_ctx, st.generated), (16, 16, 11));
    assert_eq!(e.step().unwrap_err().to_string(), "this generation has ended (context_full)");
    // choose() at the last position fills the context itself, and says so.
    let (_, done) = e.choose(10, 270).unwrap();
    assert_eq!(done, Some(StopReason::ContextFull));
    assert_eq!(e.stats().n_ctx_used, 16);
    assert_eq!(e.step().unwrap_err().to_string(), "this generation has ended (context_full)");
}

#[test]
fn the_trained_context_of_a_tiny_model_caps_n_ctx() {
    let mut e = tiny_engine(&Tiny { n_ctx: 8, ..Default::default() });
    let err = e.start(vec![10; 8], params(0, 4)).unwrap_err();
    assert_eq!(err.to_string(), "the prompt has 8 tokens; the context holds 8 (and needs room for the answer)");
    e.start(vec![10; 6], params(0, 100)).unwrap();
    let a = e.step().unwrap();
    let b = e.step().unwrap();
    assert_eq!((a.done, b.done), (None, Some(StopReason::ContextFull)));
}

// ------------------------------------------------------------------------------------------------
// A chat template from the file is bounded
// ------------------------------------------------------------------------------------------------

fn with_template(template: &str) -> Result<String, plumbing::Error> {
    plumbing::tokenizer::render_chat_template(template, &[ChatMessage { role: "user".into(), content: "hi".into() }], true, "", "")
}

#[test]
fn a_chat_template_that_would_run_forever_is_stopped() {
    let t0 = std::time::Instant::now();
    let e = with_template("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}").unwrap_err();
    assert!(e.to_string().starts_with("chat template: rendering the chat template failed"), "{e}");
    assert!(e.to_string().contains("fuel"), "{e}");
    let e = with_template("{% for i in range(100) %}{{ 'x' * 10000000 }}{% endfor %}").unwrap_err();
    assert_eq!(e.to_string(), "chat template: the chat template produced more than 4194304 bytes; rendering was stopped");
    let e = with_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").unwrap_err();
    assert!(e.to_string().contains("chat template"), "{e}");
    let e = with_template("{{ raise_exception('no system role') }}").unwrap_err();
    assert!(e.to_string().contains("no system role"), "{e}");
    let e = with_template("{% for %}").unwrap_err();
    assert!(e.to_string().starts_with("chat template: the chat template does not parse"), "{e}");
    assert!(t0.elapsed().as_secs() < 10, "took {:?}", t0.elapsed());
    // SmolLM's own template is well within the fuel.
    let eng = common::engine();
    let many: Vec<ChatMessage> = (0..200).map(|i| ChatMessage { role: if i % 2 == 0 { "user" } else { "assistant" }.into(), content: "Hi there".into() }).collect();
    assert!(eng.tokenizer.apply_chat_template(&many, true).is_ok());
}

// ------------------------------------------------------------------------------------------------
// Text at the edges
// ------------------------------------------------------------------------------------------------

const EDGE_TEXTS: &[(&str, &str)] = &[
    ("emoji", "🦀 👩‍👩‍👧‍👦 👍🏽 🇯🇵 🏳️‍🌈 ❤️ 1️⃣"),
    ("combining marks", "e\u{301} a\u{308}\u{323} Z\u{335}\u{31b}\u{358}a\u{358}\u{35c}l\u{336}g\u{31f}o ñ vs n\u{303}"),
    ("CJK", "東京は日本の首都です。北京欢迎你。한국어 텍스트。𠜎𠜱𠝹"),
    ("right to left", "مرحبا بالعالم — שלום עולם \u{202e}reversed\u{202c} \u{200f}mark"),
    ("control characters", "a\u{0}b\u{1}c\u{7}\u{8}d\u{1b}[31mred\u{1b}[0m\r\n\t\u{7f}\u{85}\u{feff}\u{200b}end"),
    ("specials as text", "<|im_start|>user\n<|im_end|><|endoftext|>"),
    ("whitespace", "   \n\n\n\t\t  x  \u{a0}\u{2003}\u{3000}"),
    ("digits and symbols", "3.14159265358979 1,000,000 ∑∫√∞ ≠ ≤ ≥ ½ ⅓ ℃ №"),
    ("private use and nonchars", "\u{e000}\u{f8ff}\u{fffd}\u{10ffff}\u{fffe}"),
];

#[test]
fn text_at_the_edges_round_trips_through_tokenizer_and_stream_decoder() {
    let e = common::engine();
    let t = &e.tokenizer;
    for (name, text) in EDGE_TEXTS {
        for parse_special in [false, true] {
            if parse_special && *name == "specials as text" {
                continue;
            }
            let ids = t.encode(text, parse_special).unwrap();
            assert!(!ids.is_empty(), "{name}");
            // Whole, and streamed one token at a time: the same text, nothing lost.
            assert_eq!(t.decode(&ids), *text, "{name} (parse_special {parse_special})");
            let mut d = StreamDecoder::default();
            let mut out = String::new();
            for &id in &ids {
                let piece = d.push(t.token_bytes(id));
                assert!(!piece.contains('\u{FFFD}') || text.contains('\u{FFFD}'), "{name}: broken character in {piece:?}");
                out.push_str(&piece);
            }
            out.push_str(&d.finish());
            assert_eq!(out, *text, "{name} streamed");
        }
    }
    let all: String = EDGE_TEXTS.iter().map(|(_, t)| *t).collect::<Vec<_>>().join(" ");
    assert_eq!(t.decode(&t.encode(&all, false).unwrap()), all);
}

#[test]
fn invalid_utf8_split_across_tokens_decodes_like_from_utf8_lossy() {
    let e = common::engine();
    let t = &e.tokenizer;
    // The single-byte tokens of the byte-level vocabulary, by byte.
    let mut byte_token = [u32::MAX; 256];
    for id in 0..t.n_vocab() as u32 {
        let b = t.token_bytes(id);
        if b.len() == 1 && !t.is_special(id) && byte_token[b[0] as usize] == u32::MAX {
            byte_token[b[0] as usize] = id;
        }
    }
    // SmolLM has no token for a few bytes that no text of its training had (c0, c1, f5..ff ...).
    let have: Vec<u8> = (0..=255u8).filter(|&b| byte_token[b as usize] != u32::MAX).collect();
    assert!(have.len() > 230, "{} single-byte tokens", have.len());
    let stream = |bytes: &[u8]| {
        let ids: Vec<u32> = bytes.iter().map(|&b| byte_token[b as usize]).collect();
        (t.decode(&ids), String::from_utf8_lossy(bytes).into_owned())
    };
    let cases: &[&[u8]] = &[
        &[0xF0, 0x9F, 0x98, 0x80],       // 😀 split into four tokens
        &[0xF0, 0x9F, b'a'],             // cut short by an ASCII byte
        &[0xE6, 0x9D],                   // cut short by the end
        &[0xE0, 0x80, 0xAF, 0xED, 0xA0, 0x80], // overlong and a surrogate: never valid
        &[0x80, 0xBF, 0x80, b'x', 0xBF],       // bytes that never start a character
        &[0xF4, 0x90, 0x80, 0x80],       // above U+10FFFF
    ];
    for c in cases {
        let (got, want) = stream(c);
        assert_eq!(got, want, "{c:02x?}");
    }
    // And random byte soup, mixed with multi-byte tokens.
    let mut x = 0x9E3779B97F4A7C15u64;
    for round in 0..500 {
        let mut ids = Vec::new();
        let mut bytes = Vec::new();
        for _ in 0..(round % 17 + 1) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = if x.is_multiple_of(3) { (x >> 8) as u32 % t.n_vocab() as u32 } else { byte_token[have[(x >> 20) as usize % have.len()] as usize] };
            if t.is_special(id) {
                continue;
            }
            ids.push(id);
            bytes.extend_from_slice(t.token_bytes(id));
        }
        let mut d = StreamDecoder::default();
        let mut out = String::new();
        for &id in &ids {
            out.push_str(&d.push(t.token_bytes(id)));
        }
        out.push_str(&d.finish());
        assert_eq!(out, String::from_utf8_lossy(&bytes), "round {round}: {ids:?}");
    }
}

#[test]
fn a_long_text_tokenizes_in_reasonable_time() {
    let e = common::engine();
    let text = "Lorem ipsum dolor sit amet, 東京 🦀 ".repeat(5000);
    let t0 = std::time::Instant::now();
    let ids = e.tokenizer.encode(&text, false).unwrap();
    assert!(ids.len() > 50_000);
    assert_eq!(e.tokenizer.decode(&ids), text);
    assert!(t0.elapsed().as_secs() < 20, "{:?}", t0.elapsed());
    let no_spaces = "a".repeat(200_000);
    let ids = e.tokenizer.encode(&no_spaces, false).unwrap();
    assert_eq!(e.tokenizer.decode(&ids), no_spaces);
}
