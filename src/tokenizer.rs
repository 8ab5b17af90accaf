//! The tokenizer, built from the GGUF's own metadata, and a streaming decoder; its chat template
//! is rendered by `crate::template`.
//!
//! Two kinds, as `tokenizer.ggml.model` names them:
//! - "gpt2": byte-level BPE from `tokenizer.ggml.tokens` and `tokenizer.ggml.merges` with the
//!   `tokenizers` crate, the pre-tokenizer that `tokenizer.ggml.pre` names (llama.cpp's regexes,
//!   `PRE_TOKENIZERS`), and the control tokens (`token_type` 3) as special added tokens;
//! - "llama": SentencePiece pieces with scores, merged as llama.cpp does (`crate::spm`).
//!
//! Decoding is a table from id to bytes, so that a stream of tokens can be turned into text
//! without ever emitting half a UTF-8 character. The BOS rule lives here too (`bos_to_add`).

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer as HfTokenizer};

use crate::gguf::{Gguf, Value};
use crate::spm::{self, Spm};
pub use crate::template::{render_chat_template, ChatMessage};
use crate::Error;

/// `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type).
const TOKEN_TYPE_UNKNOWN: i64 = 2;
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;
const TOKEN_TYPE_BYTE: i64 = 6;

/// llama.cpp's pre-tokenizer regexes (src/llama-vocab.cpp, llm_tokenizer_bpe), by the
/// `tokenizer.ggml.pre` names that select them.
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const REGEX_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Every `tokenizer.ggml.pre` this tokenizer runs: name, how it splits, and whether whole words
/// that are in the vocabulary skip the merges (llama.cpp's `ignore_merges`).
const PRE_TOKENIZERS: &[(&str, Pre, bool)] = &[
    ("smollm", Pre::DigitsThenGpt2, false),
    ("gpt2", Pre::Gpt2, false),
    ("gpt-2", Pre::Gpt2, false),
    ("default", Pre::Gpt2, false),
    ("llama-bpe", Pre::Regex(REGEX_LLAMA3), true),
    ("llama3", Pre::Regex(REGEX_LLAMA3), true),
    ("dbrx", Pre::Regex(REGEX_LLAMA3), false),
    ("smaug-bpe", Pre::Regex(REGEX_LLAMA3), false),
    ("qwen2", Pre::Regex(REGEX_QWEN2), false),
    ("deepseek-r1-qwen", Pre::Regex(REGEX_QWEN2), false),
    ("stablelm2", Pre::Regex(REGEX_QWEN2), false),
    ("megrez", Pre::Regex(REGEX_QWEN2), false),
];

#[derive(Clone, Copy)]
enum Pre {
    /// GPT-2's own split (the `tokenizers` ByteLevel regex).
    Gpt2,
    /// SmolLM: every digit on its own, then GPT-2's split.
    DigitsThenGpt2,
    /// One regex, each match its own piece, then bytes to GPT-2's characters.
    Regex(&'static str),
}

enum Encoder {
    Bpe {
        hf: Box<HfTokenizer>,
        /// Parsing special tokens off: `<|im_start|>` in the text is plain text.
        hf_plain: Box<HfTokenizer>,
    },
    Spm(Box<Spm>),
}

pub struct Tokenizer {
    encoder: Encoder,
    /// The vocabulary strings as stored in the file, one after the other.
    pieces: String,
    piece_ends: Vec<u32>,
    /// The bytes each token stands for, one after the other.
    bytes: Vec<u8>,
    byte_ends: Vec<u32>,
    special: Vec<bool>,
    n_vocab: usize,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// The model wants its input to start with the BOS (`tokenizer.ggml.add_bos_token`, or
    /// llama.cpp's default for the tokenizer kind).
    pub add_bos: bool,
    /// Ids that end a generation (eos, eot, `<|im_end|>`, `<|endoftext|>` ...).
    pub eog_ids: Vec<u32>,
    /// None: a base model, for text continuation only (no chat).
    pub chat_template: Option<String>,
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    pub model: String,
    pub pre: String,
}

impl Tokenizer {
    pub fn from_gguf(g: &Gguf, n_vocab_expected: Option<usize>) -> Result<Tokenizer, Error> {
        let model = g.get_str("tokenizer.ggml.model")?.to_string();
        if model != "gpt2" && model != "llama" {
            return Err(Error::Unsupported(format!(
                "tokenizer.ggml.model is \"{model}\"; supported: \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece)"
            )));
        }
        let spm_kind = model == "llama";
        let pre = g.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default").to_string();
        let tokens = string_refs(g, "tokenizer.ggml.tokens")?;
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
        let mut types = types;
        let named_eog = llama_cpp_special_by_name(&tokens, &mut types);
        let special: Vec<bool> = types.iter().map(|&t| t == TOKEN_TYPE_CONTROL).collect();

        let encoder = if spm_kind {
            let scores: Vec<f32> = match g.get("tokenizer.ggml.scores") {
                None => vec![0.0; tokens.len()],
                Some(v) => {
                    let a = v.as_array().ok_or_else(|| Error::Format("metadata tokenizer.ggml.scores is not an array".into()))?;
                    if a.len() != tokens.len() {
                        return Err(Error::Format(format!(
                            "tokenizer.ggml.scores has {} entries for {} tokens",
                            a.len(),
                            tokens.len()
                        )));
                    }
                    a.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            v.as_f64().map(|x| x as f32).ok_or_else(|| Error::Format(format!("tokenizer.ggml.scores[{i}] is not a number")))
                        })
                        .collect::<Result<_, _>>()?
                }
            };
            // Cut out before tokenizing: control and unknown tokens when special tokens are
            // parsed, user-defined ones always (llama.cpp's cache_special_tokens).
            let cut: Vec<Option<bool>> = types
                .iter()
                .map(|&t| match t {
                    TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN => Some(false),
                    TOKEN_TYPE_USER_DEFINED => Some(true),
                    _ => None,
                })
                .collect();
            // llama.cpp's default for SentencePiece is a space before the text.
            let add_space_prefix = g.get("tokenizer.ggml.add_space_prefix").and_then(Value::as_bool).unwrap_or(true);
            Encoder::Spm(Box::new(Spm::new(&tokens, scores, &cut, add_space_prefix)?))
        } else {
            bpe_encoder(g, &tokens, &types, &pre)?
        };

        // One string and one byte run for the whole vocabulary (no allocation per token).
        let mut pieces = String::with_capacity(tokens.iter().map(|t| t.len()).sum());
        let mut piece_ends = Vec::with_capacity(tokens.len());
        let mut bytes = Vec::with_capacity(pieces.capacity());
        let mut byte_ends = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            pieces.push_str(t);
            piece_ends.push(pieces.len() as u32);
            match types[i] {
                // Control and user-defined tokens stand for their text as written.
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED if !spm_kind => bytes.extend_from_slice(t.as_bytes()),
                TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN if spm_kind => bytes.extend_from_slice(t.as_bytes()),
                _ if spm_kind => spm::push_piece_bytes(t, types[i] == TOKEN_TYPE_BYTE, &mut bytes),
                _ => push_byte_level_bytes(t, &mut bytes),
            }
            byte_ends.push(bytes.len() as u32);
        }
        if bytes.len() > u32::MAX as usize || pieces.len() > u32::MAX as usize {
            return Err(Error::Limit(format!("the vocabulary's text takes {} bytes; at most 4 GiB are supported", pieces.len())));
        }

        let id = |key: &str| -> Option<u32> {
            g.get(key).and_then(Value::as_u64).filter(|&v| (v as usize) < tokens.len()).map(|v| v as u32)
        };
        let bos_id = id("tokenizer.ggml.bos_token_id");
        let eos_id = id("tokenizer.ggml.eos_token_id");
        // llama.cpp's defaults when the file does not say: SentencePiece and Llama 3 want a BOS.
        let default_bos = spm_kind || pre == "llama-bpe" || pre == "llama3";
        let add_bos = g.get("tokenizer.ggml.add_bos_token").and_then(Value::as_bool).unwrap_or(default_bos);

        // End of generation: the ids the file names, plus the end tokens llama.cpp knows by name.
        let mut eog_ids: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]
            .iter()
            .filter_map(|k| id(k))
            .collect();
        eog_ids.extend(named_eog);
        eog_ids.sort_unstable();
        eog_ids.dedup();

        let chat_template = g.get("tokenizer.chat_template").and_then(Value::as_str).map(str::to_string);
        let n_vocab = tokens.len();
        Ok(Tokenizer { encoder, n_vocab, pieces, piece_ends, bytes, byte_ends, special, bos_id, eos_id, add_bos, eog_ids, chat_template, model, pre })
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// The tokens fed for `text`: its ids (`encode_text`), with the BOS put first by the one
    /// rule of `bos_to_add`.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, Error> {
        let mut ids = self.encode_text(text, parse_special)?;
        if let Some(b) = self.bos_to_add(&ids) {
            ids.insert(0, b);
        }
        Ok(ids)
    }

    /// The ids of `text` alone, no BOS added (llama.cpp's tokenize with add_special false).
    /// With `parse_special`, `<|im_start|>` and the like become their ids.
    pub fn encode_text(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, Error> {
        match &self.encoder {
            Encoder::Spm(s) => s.encode(text, parse_special),
            Encoder::Bpe { hf, hf_plain } => {
                let tk = if parse_special { hf } else { hf_plain };
                let enc = tk.encode(text, false).map_err(|e| Error::Tokenizer(format!("encoding failed: {e}")))?;
                Ok(enc.get_ids().to_vec())
            }
        }
    }

    /// BOS, once: the BOS to put before `ids` when the model asks for one (`add_bos`) and the
    /// text does not already begin with it (a template or a prompt that writes its own). Never
    /// two.
    pub fn bos_to_add(&self, ids: &[u32]) -> Option<u32> {
        let bos = self.bos_id.filter(|_| self.add_bos)?;
        (ids.first() != Some(&bos)).then_some(bos)
    }

    /// The vocabulary string of a token, as stored (byte-level: `Ġ` for a space).
    pub fn piece(&self, id: u32) -> &str {
        span(&self.piece_ends, id).map_or("", |(a, b)| &self.pieces[a..b])
    }

    /// The bytes a token stands for.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        span(&self.byte_ends, id).map_or(&[], |(a, b)| &self.bytes[a..b])
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
            .ok_or_else(|| Error::Missing(NO_TEMPLATE.into()))?;
        render_chat_template(
            template,
            messages,
            add_generation_prompt,
            self.bos_id.map(|i| self.piece(i)).unwrap_or(""),
            self.eos_id.map(|i| self.piece(i)).unwrap_or(""),
        )
    }
}

/// What a chat request against a base model is told.
pub const NO_TEMPLATE: &str =
    "metadata tokenizer.chat_template: this is a base model without a chat template, for text continuation only; send a prompt (no messages, no system) and it is continued as written";


/// llama.cpp's special tokens by name (llama-vocab.cpp, "auto-detect special tokens by text"):
/// the end-of-generation and fill-in-the-middle tokens are made control tokens whatever the
/// file says (so that, parsed, `</s>` in a text is one token), and the end ones (and FIM pad,
/// repo and file separator) end a generation. Returns those end-of-generation ids.
fn llama_cpp_special_by_name(tokens: &[&str], types: &mut [i64]) -> Vec<u32> {
    const EOG: &[&str] = &[
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ];
    const FIM_EOG: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>"];
    const FIM: &[&str] = &[
        "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>",
        "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>",
        "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>",
        "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
        "<|file_sep|>",
    ];
    const TOKEN_TYPE_UNUSED: i64 = 5;
    let mut eog = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let t = *t;
        // Every name starts with one of these bytes ('▁' is 0xe2 ...): most pieces are skipped.
        if !matches!(t.as_bytes().first(), Some(b'<' | b'[' | b'_' | 0xe2)) {
            continue;
        }
        let is_eog = EOG.contains(&t);
        if is_eog || FIM.contains(&t) {
            let unused = types[i] == TOKEN_TYPE_UNUSED;
            types[i] = TOKEN_TYPE_CONTROL;
            if (is_eog && !unused) || FIM_EOG.contains(&t) {
                eog.push(i as u32);
            }
        }
    }
    let named = |eog: &[u32], name: &str| eog.iter().copied().find(|&i| tokens[i as usize] == name);
    // o200k_harmony and solar-open: their "<|end|>" does not end a generation.
    let harmony = (named(&eog, "<|return|>").is_some() && named(&eog, "<|call|>").is_some())
        || (named(&eog, "<|calls|>").is_some() && named(&eog, "<|flush|>").is_some());
    if let Some(end) = named(&eog, "<|end|>").filter(|_| harmony) {
        types[end as usize] = TOKEN_TYPE_USER_DEFINED;
        eog.retain(|&i| i != end);
    }
    // gemma4 and plamo have a normal </s>.
    let normal_s = named(&eog, "<|tool_response>").is_some() || tokens.contains(&"<|plamo:eos|>");
    if let Some(s) = named(&eog, "</s>").filter(|_| normal_s) {
        types[s as usize] = 1;
        eog.retain(|&i| i != s);
    }
    eog
}

/// The byte-level BPE of a "gpt2" tokenizer, with the pre-tokenizer that `pre` names.
fn bpe_encoder(g: &Gguf, tokens: &[&str], types: &[i64], pre: &str) -> Result<Encoder, Error> {
    let Some(&(_, split, ignore_merges)) = PRE_TOKENIZERS.iter().find(|(name, _, _)| *name == pre) else {
        let names: Vec<&str> = PRE_TOKENIZERS.iter().map(|(n, _, _)| *n).collect();
        return Err(Error::Unsupported(format!("tokenizer.ggml.pre is \"{pre}\"; supported: {}", names.join(", "))));
    };
    let merges = string_array(g, "tokenizer.ggml.merges")?;
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.to_string(), i as u32)).collect();
    let mut merge_pairs = Vec::with_capacity(merges.len());
    for (i, m) in merges.iter().enumerate() {
        let (a, b) = m
            .split_once(' ')
            .ok_or_else(|| Error::Format(format!("tokenizer.ggml.merges[{i}] = {m:?} is not two tokens")))?;
        merge_pairs.push((a.to_string(), b.to_string()));
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merge_pairs)
        .ignore_merges(ignore_merges)
        .build()
        .map_err(|e| Error::Tokenizer(format!("building the BPE model: {e}")))?;

    let pre_tokenizer: PreTokenizerWrapper = match split {
        Pre::Gpt2 => ByteLevel::new(false, true, true).into(),
        Pre::DigitsThenGpt2 => Sequence::new(vec![Digits::new(true).into(), ByteLevel::new(false, true, true).into()]).into(),
        Pre::Regex(re) => {
            let split = Split::new(SplitPattern::Regex(re.to_string()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| Error::Tokenizer(format!("the pre-tokenizer regex of {pre}: {e}")))?;
            Sequence::new(vec![split.into(), ByteLevel::new(false, true, false).into()]).into()
        }
    };
    let mut hf = HfTokenizer::new(bpe);
    hf.with_pre_tokenizer(Some(pre_tokenizer));
    hf.with_decoder(Some(ByteLevelDecoder::default()));

    let mut control = Vec::new();
    let mut user = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if types[i] == TOKEN_TYPE_CONTROL {
            control.push(AddedToken::from(t.to_string(), true));
        } else if types[i] == TOKEN_TYPE_USER_DEFINED {
            user.push(AddedToken::from(t.to_string(), false));
        }
    }
    hf.add_special_tokens(control).map_err(|e| Error::Tokenizer(format!("adding special tokens: {e}")))?;
    hf.add_tokens(user).map_err(|e| Error::Tokenizer(format!("adding user-defined tokens: {e}")))?;
    let mut hf_plain = hf.clone();
    hf_plain.set_encode_special_tokens(true);
    Ok(Encoder::Bpe { hf: Box::new(hf), hf_plain: Box::new(hf_plain) })
}

/// The strings of an array, borrowed from the metadata.
fn string_refs<'a>(g: &'a Gguf, key: &str) -> Result<Vec<&'a str>, Error> {
    let arr = g
        .get(key)
        .ok_or_else(|| Error::Missing(format!("metadata {key}")))?
        .as_array()
        .ok_or_else(|| Error::Format(format!("metadata {key} is not an array")))?;
    arr.iter().enumerate().map(|(i, v)| v.as_str().ok_or_else(|| Error::Format(format!("{key}[{i}] is not a string")))).collect()
}

/// Token `id`'s range in a run of texts ending at `ends`.
fn span(ends: &[u32], id: u32) -> Option<(usize, usize)> {
    let i = id as usize;
    let end = *ends.get(i)? as usize;
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    Some((start, end))
}

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

#[cfg(test)]
fn byte_level_bytes(piece: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(piece.len());
    push_byte_level_bytes(piece, &mut out);
    out
}

fn push_byte_level_bytes(piece: &str, out: &mut Vec<u8>) {
    for c in piece.chars() {
        match unicode_to_byte(c) {
            Some(b) => out.push(b),
            // Not a byte-level character: keep it as its own UTF-8.
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
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
