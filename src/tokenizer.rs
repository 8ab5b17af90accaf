//! The tokenizer, built from the GGUF's own metadata, its chat template, and a streaming decoder.
//!
//! Encoding uses the `tokenizers` crate: a byte-level BPE from `tokenizer.ggml.tokens` and
//! `tokenizer.ggml.merges`, with the pre-tokenizer that `tokenizer.ggml.pre` names, and the
//! control tokens (`token_type` 3) as special added tokens. Decoding is a table from id to
//! bytes, so that a stream of tokens can be turned into text without ever emitting half a
//! UTF-8 character.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

use crate::gguf::{Gguf, Value};
use crate::Error;

/// `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;

pub struct Tokenizer {
    hf: HfTokenizer,
    /// Parsing special tokens off: `<|im_start|>` in the text is plain text.
    hf_plain: HfTokenizer,
    /// The vocabulary strings as stored in the file.
    pieces: Vec<String>,
    /// The bytes each token stands for.
    bytes: Vec<Vec<u8>>,
    special: Vec<bool>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub add_bos: bool,
    /// Ids that end a generation (eos, eot, `<|im_end|>`, `<|endoftext|>` ...).
    pub eog_ids: Vec<u32>,
    pub chat_template: Option<String>,
    pub pre: String,
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf, n_vocab_expected: Option<usize>) -> Result<Tokenizer, Error> {
        let model = g.get_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::Unsupported(format!(
                "tokenizer.ggml.model is \"{model}\"; only byte-level BPE (\"gpt2\") tokenizers are supported"
            )));
        }
        let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default").to_string();
        let tokens = string_array(g, "tokenizer.ggml.tokens")?;
        if tokens.is_empty() {
            return Err(Error::Format("tokenizer.ggml.tokens is empty".into()));
        }
        if let Some(n) = n_vocab_expected {
            if n != tokens.len() {
                return Err(Error::Format(format!(
                    "the vocabulary has {} tokens but token_embd.weight has {n} rows",
                    tokens.len()
                )));
            }
        }
        let merges = string_array(g, "tokenizer.ggml.merges")?;
        let types: Vec<i64> = match g.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => {
                if a.len() != tokens.len() {
                    return Err(Error::Format(format!(
                        "tokenizer.ggml.token_type has {} entries for {} tokens",
                        a.len(),
                        tokens.len()
                    )));
                }
                a.iter()
                    .map(|v| match *v {
                        Value::I32(x) => x as i64,
                        Value::U32(x) => x as i64,
                        Value::I8(x) => x as i64,
                        Value::U8(x) => x as i64,
                        _ => 1,
                    })
                    .collect()
            }
            _ => vec![1; tokens.len()],
        };

        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut merge_pairs = Vec::with_capacity(merges.len());
        for (i, m) in merges.iter().enumerate() {
            let (a, b) = m
                .split_once(' ')
                .ok_or_else(|| Error::Format(format!("tokenizer.ggml.merges[{i}] = {m:?} is not two tokens")))?;
            merge_pairs.push((a.to_string(), b.to_string()));
        }
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merge_pairs)
            .build()
            .map_err(|e| Error::Tokenizer(format!("building the BPE model: {e}")))?;

        let byte_level = ByteLevel::new(false, true, true);
        let pre_tokenizer: PreTokenizerWrapper = match pre.as_str() {
            // SmolLM: every digit on its own, then GPT-2's byte-level split.
            "smollm" => Sequence::new(vec![Digits::new(true).into(), byte_level.into()]).into(),
            "gpt2" | "default" => byte_level.into(),
            other => {
                return Err(Error::Unsupported(format!(
                    "tokenizer.ggml.pre is \"{other}\"; supported: smollm, gpt2, default"
                )))
            }
        };
        let mut hf = HfTokenizer::new(bpe);
        hf.with_pre_tokenizer(Some(pre_tokenizer));
        hf.with_decoder(Some(ByteLevelDecoder::default()));

        let mut special = vec![false; tokens.len()];
        let mut control = Vec::new();
        let mut user = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            if types[i] == TOKEN_TYPE_CONTROL {
                special[i] = true;
                control.push(AddedToken::from(t.clone(), true));
            } else if types[i] == TOKEN_TYPE_USER_DEFINED {
                user.push(AddedToken::from(t.clone(), false));
            }
        }
        hf.add_special_tokens(control).map_err(|e| Error::Tokenizer(format!("adding special tokens: {e}")))?;
        hf.add_tokens(user).map_err(|e| Error::Tokenizer(format!("adding user-defined tokens: {e}")))?;
        let mut hf_plain = hf.clone();
        hf_plain.set_encode_special_tokens(true);

        let bytes: Vec<Vec<u8>> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| if special[i] { t.as_bytes().to_vec() } else { byte_level_bytes(t) })
            .collect();

        let id = |key: &str| -> Option<u32> {
            g.get(key).and_then(Value::as_u64).filter(|&v| (v as usize) < tokens.len()).map(|v| v as u32)
        };
        let bos_id = id("tokenizer.ggml.bos_token_id");
        let eos_id = id("tokenizer.ggml.eos_token_id");
        let add_bos = g.get("tokenizer.ggml.add_bos_token").and_then(Value::as_bool).unwrap_or(false);

        // End of generation: the ids the file names, plus the usual end tokens by name, as
        // llama.cpp does (llama-vocab.cpp, "special_eog_ids").
        let mut eog_ids: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
            .iter()
            .filter_map(|k| id(k))
            .collect();
        for name in ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>"] {
            if let Some(i) = tokens.iter().position(|t| t == name) {
                if special[i] {
                    eog_ids.push(i as u32);
                }
            }
        }
        eog_ids.sort_unstable();
        eog_ids.dedup();

        let chat_template = g.get("tokenizer.chat_template").and_then(Value::as_str).map(str::to_string);
        Ok(Tokenizer { hf, hf_plain, pieces: tokens, bytes, special, bos_id, eos_id, add_bos, eog_ids, chat_template, pre })
    }

    pub fn n_vocab(&self) -> usize {
        self.pieces.len()
    }

    /// Token ids for `text`. With `parse_special`, `<|im_start|>` and the like become their ids.
    /// A BOS is put first only when the model asks for it (`add_bos_token`).
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, Error> {
        let tk = if parse_special { &self.hf } else { &self.hf_plain };
        let enc = tk.encode(text, false).map_err(|e| Error::Tokenizer(format!("encoding failed: {e}")))?;
        let mut ids = Vec::with_capacity(enc.get_ids().len() + 1);
        if self.add_bos {
            if let Some(b) = self.bos_id {
                ids.push(b);
            }
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// The vocabulary string of a token, as stored (byte-level: `Ġ` for a space).
    pub fn piece(&self, id: u32) -> &str {
        self.pieces.get(id as usize).map_or("", String::as_str)
    }

    /// The bytes a token stands for.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The text of one token on its own (U+FFFD where it holds part of a character).
    pub fn token_text(&self, id: u32) -> String {
        String::from_utf8_lossy(self.token_bytes(id)).into_owned()
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.get(id as usize).copied().unwrap_or(false)
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids.contains(&id)
    }

    /// The whole text of a sequence of tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut d = StreamDecoder::default();
        let mut s = String::new();
        for &id in ids {
            s.push_str(&d.push(self.token_bytes(id)));
        }
        s.push_str(&d.finish());
        s
    }

    /// Renders the GGUF's own chat template.
    pub fn apply_chat_template(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String, Error> {
        let template = self
            .chat_template
            .as_deref()
            .ok_or_else(|| Error::Missing("metadata tokenizer.chat_template (this model has no chat template; use a raw prompt)".into()))?;
        render_chat_template(
            template,
            messages,
            add_generation_prompt,
            self.bos_id.map(|i| self.piece(i)).unwrap_or(""),
            self.eos_id.map(|i| self.piece(i)).unwrap_or(""),
        )
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

pub fn render_chat_template(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String, Error> {
    // The template comes from the file: bound the work it may do (nested loops over big
    // ranges would otherwise hang the worker) and the text it may produce.
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
    });
    env.add_template("chat", template).map_err(|e| Error::Template(format!("the chat template does not parse: {e}")))?;
    let t = env.get_template("chat").map_err(|e| Error::Template(e.to_string()))?;
    // Rendered into a writer that refuses to grow past TEMPLATE_MAX_OUTPUT.
    let mut out = CappedWriter(Vec::new());
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    let rendered = t.render_captured_to(ctx, &mut out).map(drop).map_err(|e| e.to_string());
    match rendered {
        Ok(()) => String::from_utf8(out.0).map_err(|_| Error::Template("the chat template produced invalid UTF-8".into())),
        Err(_) if out.0.len() >= TEMPLATE_MAX_OUTPUT => Err(Error::Template(format!(
            "the chat template produced more than {TEMPLATE_MAX_OUTPUT} bytes; rendering was stopped"
        ))),
        Err(e) => Err(Error::Template(format!("rendering the chat template failed: {e}"))),
    }
}

struct CappedWriter(Vec<u8>);

impl std::io::Write for CappedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + b.len() > TEMPLATE_MAX_OUTPUT {
            self.0.resize(TEMPLATE_MAX_OUTPUT, 0);
            return Err(std::io::Error::other("too much output"));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Instructions a chat template may run (rendering SmolLM's takes a few hundred per message).
const TEMPLATE_FUEL: u64 = 1_000_000;
const TEMPLATE_MAX_OUTPUT: usize = 4 << 20;

fn string_array(g: &Gguf, key: &str) -> Result<Vec<String>, Error> {
    let arr = g
        .get(key)
        .ok_or_else(|| Error::Missing(format!("metadata {key}")))?
        .as_array()
        .ok_or_else(|| Error::Format(format!("metadata {key} is not an array")))?;
    arr.iter()
        .enumerate()
        .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| Error::Format(format!("{key}[{i}] is not a string"))))
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Byte-level mapping (GPT-2's bytes_to_unicode) and streaming decode
// ------------------------------------------------------------------------------------------------

/// GPT-2 maps every byte to a printable character: printable Latin-1 bytes to themselves, the
/// rest to U+0100 upwards in order. This is the inverse for one character.
fn unicode_to_byte(c: char) -> Option<u8> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    let cp = c as u32;
    if cp < 256 && printable(cp) {
        return Some(cp as u8);
    }
    if cp < 0x100 {
        return None;
    }
    let mut n = 0x100;
    for b in 0u32..256 {
        if !printable(b) {
            if n == cp {
                return Some(b as u8);
            }
            n += 1;
        }
    }
    None
}

fn byte_level_bytes(piece: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(piece.len());
    for c in piece.chars() {
        match unicode_to_byte(c) {
            Some(b) => out.push(b),
            // Not a byte-level character: keep it as its own UTF-8.
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    out
}

/// Turns token bytes into text as they arrive, holding back an incomplete UTF-8 character until
/// its last byte comes; bytes that can never form a character become U+FFFD.
#[derive(Default, Clone)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    // SAFETY-free: the prefix is valid UTF-8 by construction.
                    out.push_str(std::str::from_utf8(&self.pending[..good]).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            // Incomplete character at the end: wait for more bytes.
                            self.pending.drain(..good);
                            return out;
                        }
                        Some(n) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..good + n);
                        }
                    }
                }
            }
        }
    }

    /// Whatever is left at the end of a stream (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        let s = if self.pending.is_empty() { String::new() } else { String::from_utf8_lossy(&self.pending).into_owned() };
        self.pending.clear();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_roundtrip() {
        assert_eq!(byte_level_bytes("Ġhello"), b" hello");
        assert_eq!(byte_level_bytes("Ċ"), b"\n");
        assert_eq!(byte_level_bytes("ĉ"), b"\t");
    }

    #[test]
    fn stream_decoder_holds_partial_characters() {
        let crab = "🦀".as_bytes();
        let mut d = StreamDecoder::default();
        assert_eq!(d.push(&crab[..1]), "");
        assert_eq!(d.push(&crab[1..3]), "");
        assert_eq!(d.push(&crab[3..]), "🦀");
        assert_eq!(d.push(&[0xff, b'a']), "\u{FFFD}a");
        assert_eq!(d.push(&[0xe6]), "");
        assert_eq!(d.finish(), "\u{FFFD}");
    }
}
