//! Every model's tokenizer, built from its own GGUF metadata, id for id with llama.cpp:
//! Gemma 3's SentencePiece (llm_tokenizer_spm), DeepSeek-R1-Distill-Qwen's byte-level BPE
//! (pre "deepseek-r1-qwen"), SmolLM2's; BOS once; decode(encode(text)) == text; the chat
//! templates of the new models rendered.
//!
//! Golden data: ../shared/reference (tests/golden/gemma-3-270m-q4_k_m.json,
//! deepseek-r1-distill-tokenizer.json) and tests/golden/tokenizers-hard.json
//! (scripts/tokenizers_hard.py: llama.cpp on hard texts).
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use plumbing::gguf::Gguf;
use plumbing::{ChatMessage, Tokenizer};

fn golden(name: &str) -> serde_json::Value {
    let p = common::root().join("tests/golden").join(name);
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).expect("golden json")
}

fn load(path: PathBuf) -> (Tokenizer, f64) {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (./build.sh model fetches the models)", path.display()));
    let g = Gguf::read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let t0 = std::time::Instant::now();
    let t = Tokenizer::from_gguf(&g, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (t, t0.elapsed().as_secs_f64() * 1000.0)
}

/// Gemma 3 270M's tokenizer, and how long building it took (ms).
fn gemma() -> &'static (Tokenizer, f64) {
    static T: OnceLock<(Tokenizer, f64)> = OnceLock::new();
    T.get_or_init(|| load(common::root().join("models/gemma-3-270m-q4_k_m.gguf")))
}

/// DeepSeek-R1-Distill-Qwen's tokenizer, from helper scripts/archs.sh's synthetic qwen2 file
/// (PLUMBING_DEEPSEEK_GGUF: any GGUF with that tokenizer).
fn deepseek() -> &'static Tokenizer {
    static T: OnceLock<(Tokenizer, f64)> = OnceLock::new();
    &T.get_or_init(|| {
        let p = std::env::var_os("PLUMBING_DEEPSEEK_GGUF")
            .map(PathBuf::from)
            .unwrap_or_else(|| common::root().join("models/archs/qwen2-deepseek.gguf"));
        load(p)
    })
    .0
}

fn smollm() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let g = Gguf::read(common::model_bytes()).expect("SmolLM2 reads");
        Tokenizer::from_gguf(&g, None).expect("SmolLM2's tokenizer")
    })
}

fn text_cases(v: &serde_json::Value) -> Vec<(String, String, Vec<u32>)> {
    v.as_array()
        .expect("cases")
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["text"].as_str().unwrap().to_string(), common::ids(&c["ids"])))
        .collect()
}

/// `ids` of each case with special tokens parsed and no BOS added, and the text back from them.
fn check_cases(t: &Tokenizer, model: &str, cases: &[(String, String, Vec<u32>)]) {
    for (name, text, want) in cases {
        let got = t.encode_text(text, true).unwrap();
        assert_eq!(&got, want, "{model}: case {name} ({text:?})");
        assert_eq!(&t.decode(&got), text, "{model}: case {name} decodes back");
    }
}

// ------------------------------------------------------------------------------------------------
// Gemma 3: SentencePiece
// ------------------------------------------------------------------------------------------------

#[test]
fn gemma_tokenize_cases_match_llama_cpp() {
    let (t, _) = gemma();
    assert_eq!((t.model.as_str(), t.n_vocab(), t.add_bos, t.bos_id), ("llama", 262_144, true, Some(2)));
    let g = golden("gemma-3-270m-q4_k_m.json");
    let cases = text_cases(&g["tokenize"]);
    assert!(cases.len() >= 10);
    check_cases(t, "gemma", &cases);
}

#[test]
fn gemma_generate_prompts_match_llama_cpp() {
    let (t, _) = gemma();
    let g = golden("gemma-3-270m-q4_k_m.json");
    for c in g["generate"].as_array().unwrap() {
        let prompt = c["prompt"].as_str().unwrap();
        let want = common::ids(&c["prompt_ids"]);
        // The prompts write their own <bos>: tokenized as they are, and fed with no second BOS.
        assert_eq!(t.encode_text(prompt, true).unwrap(), want, "prompt of {}", c["name"]);
        assert_eq!(t.encode(prompt, true).unwrap(), want, "prompt of {} as fed: one BOS", c["name"]);
    }
    assert_eq!(g["eog_token_ids"].as_array().unwrap().len(), 3);
    let want_eog = common::ids(&g["eog_token_ids"]);
    assert_eq!(t.eog_ids, want_eog, "<eos>, <end_of_turn> and the other end tokens");
}

#[test]
fn gemma_tokenizer_builds_fast_and_encodes_fast() {
    let &(ref t, build_ms) = gemma();
    let text: String = golden("tokenizers-hard.json")["models"]["gemma"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
        .repeat(4);
    let t0 = std::time::Instant::now();
    let ids = t.encode(&text, true).unwrap();
    let encode_ms = t0.elapsed().as_secs_f64() * 1000.0;
    eprintln!("gemma: tokenizer built in {build_ms:.0} ms; {} chars -> {} ids in {encode_ms:.1} ms", text.chars().count(), ids.len());
    // Generous bounds for a loaded 2-core machine and the dev profile; the numbers are printed.
    assert!(build_ms < 3000.0, "building Gemma's tokenizer took {build_ms:.0} ms");
    assert!(encode_ms < 500.0, "encoding {} chars took {encode_ms:.1} ms", text.chars().count());
}

#[test]
fn gemma_decodes_spaces_bytes_and_control_tokens() {
    let (t, _) = gemma();
    let id = |s: &str| t.encode_text(s, true).unwrap();
    assert_eq!(t.token_bytes(id("<start_of_turn>")[0]), b"<start_of_turn>");
    assert!(t.is_special(id("<start_of_turn>")[0]));
    let hello = id(" hello");
    assert_eq!(t.decode(&hello), " hello");
    // A byte token is its byte: the first byte of an emoji missing from the vocabulary.
    let b = (0..t.n_vocab() as u32).find(|&i| t.piece(i) == "<0xF0>").unwrap();
    assert_eq!(t.token_bytes(b), [0xf0]);
    // Special tokens as plain text are spelled out, not their ids.
    let plain = t.encode_text("<start_of_turn>", false).unwrap();
    assert!(plain.len() > 1 && t.decode(&plain) == "<start_of_turn>", "{plain:?}");
}

// ------------------------------------------------------------------------------------------------
// DeepSeek-R1-Distill-Qwen: byte-level BPE, pre "deepseek-r1-qwen"
// ------------------------------------------------------------------------------------------------

#[test]
fn deepseek_tokenize_cases_match_llama_cpp() {
    let t = deepseek();
    assert_eq!((t.model.as_str(), t.pre.as_str(), t.n_vocab()), ("gpt2", "deepseek-r1-qwen", 152_064));
    let g = golden("deepseek-r1-distill-tokenizer.json");
    check_cases(t, "deepseek", &text_cases(&g["tokenize"]));
    assert_eq!(t.eog_ids, common::ids(&g["eog_token_ids"]));
}

// ------------------------------------------------------------------------------------------------
// Hard texts, all tokenizers: llama.cpp's ids, parsed and plain, and the text back
// ------------------------------------------------------------------------------------------------

fn check_hard(t: &Tokenizer, model: &str) {
    let g = golden("tokenizers-hard.json");
    let cases = g["models"][model].as_array().unwrap();
    assert!(cases.len() >= 15);
    for c in cases {
        let (name, text) = (c["name"].as_str().unwrap(), c["text"].as_str().unwrap());
        let ids = t.encode_text(text, true).unwrap();
        assert_eq!(ids, common::ids(&c["ids"]), "{model}: {name} ({text:?}), special tokens parsed");
        assert_eq!(t.encode_text(text, false).unwrap(), common::ids(&c["plain_ids"]), "{model}: {name} ({text:?}), plain");
        assert_eq!(t.decode(&ids), text, "{model}: {name} decodes back");
        // llama.cpp puts a BOS before a text that starts with one (and warns); we never do.
        let mut once = common::ids(&c["with_bos"]);
        if once.len() >= 2 && once[0] == once[1] && Some(once[0]) == t.bos_id {
            once.remove(0);
        }
        assert_eq!(t.encode(text, true).unwrap(), once, "{model}: {name} as fed, one BOS");
    }
}

#[test]
fn gemma_hard_texts_match_llama_cpp() {
    check_hard(&gemma().0, "gemma");
}

#[test]
fn deepseek_hard_texts_match_llama_cpp() {
    check_hard(deepseek(), "deepseek");
}

#[test]
fn smollm_round_trips_hard_texts() {
    let t = smollm();
    for c in golden("tokenizers-hard.json")["models"]["gemma"].as_array().unwrap() {
        let text = c["text"].as_str().unwrap();
        assert_eq!(t.decode(&t.encode_text(text, true).unwrap()), text);
        assert_eq!(t.decode(&t.encode_text(text, false).unwrap()), text);
    }
}

// ------------------------------------------------------------------------------------------------
// BOS, once
// ------------------------------------------------------------------------------------------------

#[test]
fn bos_is_put_first_once_when_the_model_asks() {
    let (g, _) = gemma();
    let hi = g.encode_text("Hi", true).unwrap();
    assert_eq!(g.encode("Hi", true).unwrap(), [&[2][..], &hi].concat(), "Gemma asks for a BOS");
    assert_eq!(g.encode("<bos>Hi", true).unwrap(), [&[2][..], &hi].concat(), "the text's own <bos>, not a second");
    // Not parsed, "<bos>" is text: the BOS still goes first.
    let plain = g.encode("<bos>Hi", false).unwrap();
    assert_eq!(plain[0], 2);
    assert_ne!(plain[1], 2);
    assert_eq!(g.bos_to_add(&[2, 5]), None);
    assert_eq!(g.bos_to_add(&[5]), Some(2));
    assert_eq!(g.bos_to_add(&[]), Some(2));

    let d = deepseek();
    assert!(d.add_bos);
    let text = "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>";
    assert_eq!(d.encode(text, true).unwrap(), vec![151646, 151644, 13048, 151645]);
    assert_eq!(d.encode("Hi", true).unwrap(), vec![151646, 13048]);

    let s = smollm();
    assert!(!s.add_bos, "SmolLM2 asks for none");
    assert_eq!(s.encode("Hi", true).unwrap(), s.encode_text("Hi", true).unwrap());
}

// ------------------------------------------------------------------------------------------------
// Chat templates
// ------------------------------------------------------------------------------------------------

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage { role: role.into(), content: content.into() }
}

#[test]
fn deepseek_template_renders() {
    let t = deepseek();
    let text = t.apply_chat_template(&[msg("system", "You are terse."), msg("user", "Hi")], true).unwrap();
    assert_eq!(text, "<｜begin▁of▁sentence｜>You are terse.<｜User｜>Hi<｜Assistant｜>");
    // The template writes the BOS; fed, it is there once.
    let ids = t.encode(&text, true).unwrap();
    assert_eq!(ids.iter().filter(|&&i| Some(i) == t.bos_id).count(), 1);
    assert_eq!(ids[0], 151646);
    // An earlier answer keeps only what follows its reasoning (content.split('</think>')[-1]).
    let text = t
        .apply_chat_template(&[msg("user", "2+2?"), msg("assistant", "<think>\nadd\n</think>\n\n4"), msg("user", "and 3+3?")], true)
        .unwrap();
    assert_eq!(text, "<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜>\n\n4<｜end▁of▁sentence｜><｜User｜>and 3+3?<｜Assistant｜>");
    let no_prompt = t.apply_chat_template(&[msg("user", "Hi")], false).unwrap();
    assert_eq!(no_prompt, "<｜begin▁of▁sentence｜><｜User｜>Hi");
}

#[test]
fn a_base_model_has_no_chat_template() {
    let (g, _) = gemma();
    assert!(g.chat_template.is_none(), "Gemma 3 270M (base) has no template");
    let e = g.apply_chat_template(&[msg("user", "Hi")], true).unwrap_err();
    assert!(e.to_string().contains("base model"), "{e}");
}

#[test]
fn python_string_methods_in_templates() {
    let r = |tpl: &str| plumbing::tokenizer::render_chat_template(tpl, &[msg("user", "  <think>\nx\n</think>\n\ny  ")], true, "", "").unwrap();
    assert_eq!(r("{{ messages[0].content.split('</think>')[-1].lstrip('\\n') }}"), "y  ");
    assert_eq!(r("{{ messages[0].content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') }}"), "x");
    assert_eq!(r("{{ messages[0].content.strip() }}|{{ 'a,b,,c'.split(',') | length }}|{{ ' a  b '.split() | join('-') }}"), "<think>\nx\n</think>\n\ny|4|a-b");
    assert_eq!(r("{{ 'xxhixx'.strip('x') }}{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}{{ 'a-b'.replace('-', '+') }}"), "hiTrueFalsea+b");
    assert_eq!(r("{{ 'hello world'.title() }} {{ 'hELLO'.capitalize() }} {{ 'Hi'.upper() }}{{ 'Hi'.lower() }}"), "Hello World Hello HIhi");
    assert_eq!(r("{% set d = {'a': 1} %}{{ d.get('a') }}{{ d.get('b', 2) }}{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}"), "12a=1");
    let bad = plumbing::tokenizer::render_chat_template("{{ 'x'.frobnicate() }}", &[], true, "", "").unwrap_err();
    assert!(bad.to_string().contains("frobnicate"), "{bad}");
}

// ------------------------------------------------------------------------------------------------
// The synthetic models of scripts/archs.sh (Qwen3's, Llama 3's, DeepSeek's and Gemma's real
// tokenizers): llama.cpp's ids and end-of-generation tokens, and the chat templates rendered
// ------------------------------------------------------------------------------------------------

fn arch(name: &str) -> (Tokenizer, serde_json::Value) {
    let dir = common::root().join("models/archs");
    let (t, _) = load(dir.join(format!("{name}.gguf")));
    let p = dir.join(format!("{name}.ref.json"));
    let r = serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (scripts/archs.sh)", p.display())))
        .expect("reference json");
    (t, r)
}

#[test]
fn synthetic_models_tokenize_as_llama_cpp() {
    for name in ["qwen2-deepseek", "qwen3", "llama3", "gemma3-tiny"] {
        let (t, r) = arch(name);
        check_cases(&t, name, &text_cases(&r["tokenize"]));
        assert_eq!(t.eog_ids, common::ids(&r["eog_token_ids"]), "{name}: end-of-generation ids");
        assert_eq!(Some(t.add_bos), r["add_bos"].as_bool(), "{name}: add_bos");
        for c in r["generate"].as_array().unwrap() {
            let prompt = c["prompt"].as_str().unwrap();
            assert_eq!(t.encode_text(prompt, true).unwrap(), common::ids(&c["prompt_ids"]), "{name}: prompt {}", c["name"]);
        }
    }
}

fn messages(c: &serde_json::Value) -> Vec<ChatMessage> {
    serde_json::from_value(c["messages"].clone()).expect("messages")
}

#[test]
fn qwen3_and_llama3_templates_render_as_llama_cpp() {
    // llama.cpp renders these with its built-in formats (llama_chat_apply_template), which equal
    // the files' Jinja templates, except that Llama 3's Jinja writes the BOS itself.
    for name in ["qwen3", "llama3"] {
        let (t, r) = arch(name);
        let bos = t.bos_id.map(|b| t.piece(b).to_string()).unwrap_or_default();
        for c in r["chat"].as_array().unwrap() {
            let ours = t.apply_chat_template(&messages(c), c["add_generation_prompt"].as_bool().unwrap_or(true)).unwrap();
            let theirs = c["text"].as_str().unwrap();
            let ours = if name == "llama3" { ours.strip_prefix(&bos).expect("Llama 3's template writes the BOS").to_string() } else { ours };
            assert_eq!(ours, theirs, "{name}: {}", c["name"]);
            assert_eq!(t.encode_text(theirs, true).unwrap(), common::ids(&c["ids"]), "{name}: {} ids", c["name"]);
        }
    }
    // Qwen3 leaves the think block to the model; an earlier answer keeps only what follows it.
    let (q, _) = arch("qwen3");
    let text = q
        .apply_chat_template(&[msg("user", "2+2?"), msg("assistant", "<think>\nadd\n</think>\n\n4"), msg("user", "3+3?")], true)
        .unwrap();
    assert_eq!(text, "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\n3+3?<|im_end|>\n<|im_start|>assistant\n");
    // Llama 3's template, fed: its own BOS, once.
    let (l, _) = arch("llama3");
    let ids = l.encode(&l.apply_chat_template(&[msg("user", "Hi")], true).unwrap(), true).unwrap();
    assert_eq!(ids.iter().filter(|&&i| Some(i) == l.bos_id).count(), 1);
    assert_eq!(Some(ids[0]), l.bos_id);
}
