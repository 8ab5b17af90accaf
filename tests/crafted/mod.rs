//! Crafted GGUF files for the bad-input tests: a tiny synthetic llama model built with
//! `gguf::write` (real Q4_1/Q8_0 blocks, a byte-level BPE vocabulary with merges and a chat
//! template), mutations of it, and in-place byte patches of the real model's header.
//!
//! Every case carries the text its error must contain. `write_files` puts the cases on disk
//! (with `cases.json`) for the browser tests and the fuzzer's seed corpus: an explicit step,
//! `cargo run --release --example write_crafted` (into `target/crafted/`), not a test.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use plumbing::gguf::{self, GgmlType, Value};
use plumbing::kernels::WeightType;

// ------------------------------------------------------------------------------------------------
// The tiny model
// ------------------------------------------------------------------------------------------------

pub const N_EMBD: usize = 64;
pub const N_HEAD: usize = 4;
pub const N_HEAD_KV: usize = 2;
pub const HEAD_DIM: usize = N_EMBD / N_HEAD;
pub const KV_DIM: usize = N_HEAD_KV * HEAD_DIM;
pub const N_FF: usize = 128;

/// Special tokens first (ids 0..3), then the 256 byte tokens, then merges, then extras.
pub const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const MERGES: [(&str, &str); 16] = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
    ("r", "e"), ("a", "t"), ("Ġ", "w"), ("o", "r"), ("e", "n"), ("Ġ", "c"), ("i", "s"), ("l", "l"),
];
pub const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// GPT-2's bytes_to_unicode: the vocabulary character that stands for byte `b`.
pub fn byte_char(b: u8) -> char {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b);
    if printable(b as u32) {
        return char::from(b);
    }
    let n = (0..b as u32).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(0x100 + n).unwrap()
}

/// A text as a byte-level vocabulary string (`Ġ` for a space ...).
pub fn byte_level(s: &str) -> String {
    s.bytes().map(byte_char).collect()
}

pub struct Tiny {
    pub n_layer: usize,
    pub n_ctx: u32,
    pub name: String,
    /// Extra vocabulary entries (plain text, stored byte-level), after the merges.
    pub extra_tokens: Vec<String>,
    /// A "parrot": every layer is zero and the embeddings are one-hot, so that after token
    /// `cycle[i]` the greedy choice is always `cycle[i + 1]` (and after any other token, `cycle[0]`).
    pub cycle: Option<Vec<u32>>,
    pub tied: bool,
    pub seed: u64,
    /// The embedding and feed-forward sizes (N_EMBD and N_FF unless a K-quant needs rows of 256).
    pub embd: usize,
    pub ff: usize,
    /// Every matrix in this type, as random blocks a quantizer could have written
    /// (`Kernel::random`); None: Q4_1 and Q8_0 quantized from random weights.
    pub wtype: Option<WeightType>,
    /// `general.architecture`: "llama", or "qwen2" (q/k/v biases), "qwen3" (q/k norms),
    /// "gemma3" (q/k norms, post-norms, head size 32 so that q is 128 wide for n_embd 64, a
    /// sliding window of 4 on layers 0 and 1 of 3: pattern 3).
    pub arch: &'static str,
}

impl Default for Tiny {
    fn default() -> Self {
        Tiny { n_layer: 2, n_ctx: 64, name: "tiny test llama".into(), extra_tokens: Vec::new(), cycle: None, tied: true, seed: 1, embd: N_EMBD, ff: N_FF, wtype: None, arch: "llama" }
    }
}

/// The tiny model of architecture `arch` (see `Tiny::arch`).
pub fn tiny_arch(arch: &'static str) -> Tiny {
    let n_layer = if arch == "gemma3" { 3 } else { 2 };
    Tiny { name: format!("tiny test {arch}"), arch, n_layer, ..Tiny::default() }
}

/// The architectures besides llama that the tiny model comes in.
pub const ARCHS: [&str; 3] = ["qwen2", "qwen3", "gemma3"];

/// Gemma's head size in the tiny model (q_dim = N_HEAD × 32 = 128, not n_embd).
pub const GEMMA_HEAD_DIM: usize = 32;
pub const GEMMA_WINDOW: u32 = 4;

/// The tiny model with every matrix of type `ty` (rows of 256 for the K-quants).
pub fn tiny_typed(ty: WeightType) -> Tiny {
    let (embd, ff) = if ty.qk() == 256 { (256, 256) } else { (N_EMBD, N_FF) };
    Tiny { name: format!("tiny test llama {}", ty.ggml()), embd, ff, wtype: Some(ty), ..Tiny::default() }
}

/// Where a block of type `ty` keeps its f16 scales (or, for the float types, the value), each
/// with bits that are not finite: (byte offset in the block, the bytes).
pub fn scale_fields(ty: WeightType) -> Vec<(usize, &'static [u8])> {
    const NAN16: &[u8] = &[0x00, 0x7e];
    const INF16: &[u8] = &[0x00, 0xfc];
    match ty {
        WeightType::F32 => vec![(0, &[0x00, 0x00, 0xc0, 0x7f])],
        WeightType::F16 => vec![(0, INF16)],
        WeightType::BF16 => vec![(0, &[0xc0, 0x7f])],
        WeightType::Q4_0 | WeightType::Q5_0 | WeightType::Q8_0 => vec![(0, NAN16)],
        WeightType::Q4_1 | WeightType::Q5_1 | WeightType::Q4K | WeightType::Q5K => vec![(0, NAN16), (2, INF16)],
        WeightType::Q2K => vec![(80, INF16), (82, NAN16)],
        WeightType::Q3K => vec![(108, NAN16)],
        WeightType::Q6K => vec![(208, INF16)],
    }
}

/// `n` random blocks of type `ty` as bytes.
pub fn random_blocks(ty: WeightType, n: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
    let mut next = || r.next();
    plumbing::kernels::with_type!(ty, B => {
        let blocks: Vec<B> = (0..n).map(|_| <B as plumbing::kernels::Kernel>::random(&mut next, false)).collect();
        let size = std::mem::size_of::<B>();
        // SAFETY: B is a plain block type (kernels::Block: no padding, any bits valid), so its
        // bytes are initialised; the slice covers exactly the Vec's n blocks.
        unsafe { std::slice::from_raw_parts(blocks.as_ptr() as *const u8, n * size) }.to_vec()
    })
}

/// A model as parts, to be mutated before it is written.
pub struct Parts {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl Parts {
    pub fn bytes(&self) -> Vec<u8> {
        gguf::write(&self.metadata, &self.tensors)
    }
    pub fn set(&mut self, key: &str, v: Value) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = v,
            None => self.metadata.push((key.into(), v)),
        }
        self
    }
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.metadata.retain(|(k, _)| k != key);
        self
    }
    pub fn tensor(&mut self, name: &str) -> &mut (String, Vec<u64>, GgmlType, Vec<u8>) {
        self.tensors.iter_mut().find(|t| t.0 == name).unwrap_or_else(|| panic!("no tensor {name}"))
    }
    pub fn remove_tensor(&mut self, name: &str) -> &mut Self {
        self.tensors.retain(|t| t.0 != name);
        self
    }
    pub fn tokens(&mut self) -> &mut Vec<Value> {
        match self.metadata.iter_mut().find(|(k, _)| k == "tokenizer.ggml.tokens") {
            Some((_, Value::Array(a))) => a,
            _ => panic!("no tokens"),
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly normal, mean 0, std ~ `s`.
    fn normal(&mut self, s: f32) -> f32 {
        let u: f32 = (0..4).map(|_| (self.next() >> 40) as f32 / (1u64 << 24) as f32).sum::<f32>() - 2.0;
        u * s * 1.7
    }
}

pub fn f16(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_bits().to_le_bytes()
}

/// ggml's quantize_row_q8_0: blocks of 32, d = amax / 127.
pub fn q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 34);
    for b in x.chunks_exact(32) {
        let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16(d));
        out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
    }
    out
}

/// ggml's quantize_row_q4_1: blocks of 32, x ≈ d * q + m, q in 0..16, q[j] | q[j + 16] << 4.
pub fn q4_1(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() / 32 * 20);
    for b in x.chunks_exact(32) {
        let min = b.iter().cloned().fold(f32::INFINITY, f32::min);
        let max = b.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&f16(d));
        out.extend_from_slice(&f16(min));
        let q = |v: f32| (((v - min) * id).round() as i32).clamp(0, 15) as u8;
        for j in 0..16 {
            out.push(q(b[j]) | q(b[j + 16]) << 4);
        }
    }
    out
}

pub fn f32s(x: &[f32]) -> Vec<u8> {
    x.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Tiny {
    pub fn vocab(&self) -> Vec<String> {
        let mut v: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        v.extend((0..=255u8).map(|b| byte_char(b).to_string()));
        v.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
        v.extend(self.extra_tokens.iter().map(|t| byte_level(t)));
        v
    }

    /// The id of an extra token.
    pub fn extra_id(&self, i: usize) -> u32 {
        (SPECIALS.len() + 256 + MERGES.len() + i) as u32
    }

    pub fn parts(&self) -> Parts {
        let (n_embd, n_ff) = (self.embd, self.ff);
        let a = self.arch;
        let gemma = a == "gemma3";
        let head_dim = if gemma { GEMMA_HEAD_DIM } else { n_embd / N_HEAD };
        let (q_dim, kv_dim) = (N_HEAD * head_dim, N_HEAD_KV * head_dim);
        let vocab = self.vocab();
        let n_vocab = vocab.len();
        let mut types = vec![Value::I32(1); n_vocab];
        for t in types.iter_mut().take(SPECIALS.len()) {
            *t = Value::I32(3);
        }
        let s = |x: &str| Value::String(x.into());
        let mut metadata: Vec<(String, Value)> = vec![
            ("general.architecture".into(), s(a)),
            ("general.name".into(), s(&self.name)),
            ("general.license".into(), s("apache-2.0")),
            (format!("{a}.block_count"), Value::U32(self.n_layer as u32)),
            (format!("{a}.context_length"), Value::U32(self.n_ctx)),
            (format!("{a}.embedding_length"), Value::U32(n_embd as u32)),
            (format!("{a}.feed_forward_length"), Value::U32(n_ff as u32)),
            (format!("{a}.attention.head_count"), Value::U32(N_HEAD as u32)),
            (format!("{a}.attention.head_count_kv"), Value::U32(N_HEAD_KV as u32)),
            (format!("{a}.rope.freq_base"), Value::F32(10000.0)),
            (format!("{a}.attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
            (format!("{a}.rope.dimension_count"), Value::U32(head_dim as u32)),
            ("tokenizer.ggml.model".into(), s("gpt2")),
            ("tokenizer.ggml.pre".into(), s("smollm")),
            ("tokenizer.ggml.tokens".into(), Value::Array(vocab.iter().map(|t| s(t)).collect())),
            ("tokenizer.ggml.token_type".into(), Value::Array(types)),
            ("tokenizer.ggml.merges".into(), Value::Array(MERGES.iter().map(|(a, b)| s(&format!("{a} {b}"))).collect())),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
            ("tokenizer.chat_template".into(), s(CHATML)),
        ];
        if gemma {
            metadata.extend([
                ("gemma3.attention.key_length".into(), Value::U32(head_dim as u32)),
                ("gemma3.attention.value_length".into(), Value::U32(head_dim as u32)),
                ("gemma3.attention.sliding_window".into(), Value::U32(GEMMA_WINDOW)),
                ("gemma3.attention.sliding_window_pattern".into(), Value::U32(3)),
            ]);
            // Global layers at Gemma's 1e6; the sliding ones at the default 1e4.
            for (k, v) in metadata.iter_mut() {
                if k == "gemma3.rope.freq_base" {
                    *v = Value::F32(1e6);
                }
            }
        }

        let mut rng = Rng(self.seed.wrapping_mul(0x9E3779B97F4A7C15) | 1);
        let parrot = self.cycle.is_some();
        let mut random = |n: usize, sd: f32| -> Vec<f32> {
            if parrot {
                vec![0.0; n]
            } else {
                (0..n).map(|_| rng.normal(sd)).collect()
            }
        };
        let wtype = if parrot { None } else { self.wtype };
        let typed_seed = std::cell::Cell::new(self.seed);
        let typed = |name: String, cols: usize, rows: usize, ty: WeightType| {
            typed_seed.set(typed_seed.get() + 1);
            (name, vec![cols as u64, rows as u64], ty.ggml(), random_blocks(ty, rows * cols / ty.qk(), typed_seed.get()))
        };
        let q41 = |name: String, cols: usize, rows: usize, x: Vec<f32>| match wtype {
            Some(ty) => typed(name, cols, rows, ty),
            None => (name, vec![cols as u64, rows as u64], GgmlType::Q4_1, q4_1(&x)),
        };
        let q80 = |name: String, cols: usize, rows: usize, x: Vec<f32>| match wtype {
            Some(ty) => typed(name, cols, rows, ty),
            None => (name, vec![cols as u64, rows as u64], GgmlType::Q8_0, q8_0(&x)),
        };
        let norm = |name: String| (name, vec![n_embd as u64], GgmlType::F32, f32s(&vec![1.0; n_embd]));
        let mut small = Rng(self.seed.wrapping_mul(0x51_7CC1_B727_220A) | 1);
        let mut vector = |name: String, len: usize, mean: f32, sd: f32| (name, vec![len as u64], GgmlType::F32, f32s(&(0..len).map(|_| mean + small.normal(sd)).collect::<Vec<_>>()));

        let (embd, out) = match &self.cycle {
            None => (random(n_vocab * n_embd, 0.5), None),
            Some(cycle) => {
                // Token cycle[i] embeds as e_(i+1); any other token as e_0. The output row of
                // cycle[i + 1] (cycle[0] after any other token) is that same unit vector.
                let mut e = vec![0f32; n_vocab * n_embd];
                let mut o = vec![0f32; n_vocab * n_embd];
                for t in 0..n_vocab {
                    let dim = cycle.iter().position(|&c| c as usize == t).map_or(0, |i| i + 1);
                    e[t * n_embd + dim] = 1.0;
                }
                o[cycle[0] as usize * n_embd] = 1.0;
                for (i, &c) in cycle.iter().enumerate() {
                    let next = cycle[(i + 1) % cycle.len()] as usize;
                    o[next * n_embd + i + 1] = 1.0;
                    let _ = c;
                }
                (e, Some(o))
            }
        };
        let mut tensors = vec![q80("token_embd.weight".into(), n_embd, n_vocab, embd)];
        for l in 0..self.n_layer {
            let p = |s: &str| format!("blk.{l}.{s}.weight");
            tensors.push(norm(p("attn_norm")));
            tensors.push(q41(p("attn_q"), n_embd, q_dim, random(n_embd * q_dim, 0.15)));
            tensors.push(q80(p("attn_k"), n_embd, kv_dim, random(n_embd * kv_dim, 0.15)));
            tensors.push(q41(p("attn_v"), n_embd, kv_dim, random(n_embd * kv_dim, 0.15)));
            if a == "qwen2" {
                let b = |s: &str| format!("blk.{l}.{s}.bias");
                tensors.push(vector(b("attn_q"), q_dim, 0.0, 0.1));
                tensors.push(vector(b("attn_k"), kv_dim, 0.0, 0.1));
                tensors.push(vector(b("attn_v"), kv_dim, 0.0, 0.1));
            }
            if a == "qwen3" || gemma {
                tensors.push(vector(p("attn_q_norm"), head_dim, 1.0, 0.1));
                tensors.push(vector(p("attn_k_norm"), head_dim, 1.0, 0.1));
            }
            tensors.push(q80(p("attn_output"), q_dim, n_embd, random(q_dim * n_embd, 0.1)));
            if gemma {
                tensors.push(vector(p("post_attention_norm"), n_embd, 1.0, 0.1));
                tensors.push(vector(p("post_ffw_norm"), n_embd, 1.0, 0.1));
            }
            tensors.push(norm(p("ffn_norm")));
            tensors.push(q41(p("ffn_gate"), n_embd, n_ff, random(n_embd * n_ff, 0.15)));
            tensors.push(q80(p("ffn_up"), n_embd, n_ff, random(n_embd * n_ff, 0.15)));
            tensors.push(q41(p("ffn_down"), n_ff, n_embd, random(n_ff * n_embd, 0.1)));
        }
        tensors.push(norm("output_norm.weight".into()));
        if let Some(o) = out {
            tensors.push(q80("output.weight".into(), n_embd, n_vocab, o));
        } else if !self.tied {
            tensors.push(q41("output.weight".into(), n_embd, n_vocab, random(n_vocab * n_embd, 0.3)));
        }
        Parts { metadata, tensors }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.parts().bytes()
    }
}

pub fn tiny() -> Parts {
    Tiny::default().parts()
}

// ------------------------------------------------------------------------------------------------
// Byte patches (find a key or a tensor entry in a written file, and lie about it)
// ------------------------------------------------------------------------------------------------

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn gguf_string(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// Offset of the value-type field of metadata `key` (the string starts 8 + len bytes before).
pub fn key_offset(file: &[u8], key: &str) -> usize {
    let s = gguf_string(key);
    find_bytes(file, &s).unwrap_or_else(|| panic!("key {key} not in the file")) + s.len()
}

/// Offset of the n_dims field of tensor `name` in the index.
pub fn tensor_offset(file: &[u8], name: &str) -> usize {
    let s = gguf_string(name);
    // The tensor index comes after the metadata; the last match is the index entry.
    let mut at = None;
    let mut from = 0;
    while let Some(p) = find_bytes(&file[from..], &s) {
        at = Some(from + p);
        from += p + 1;
    }
    at.unwrap_or_else(|| panic!("tensor {name} not in the file")) + s.len()
}

/// (offset, bytes) replacements.
pub type Patch = Vec<(usize, Vec<u8>)>;

pub fn apply(file: &[u8], patch: &Patch) -> Vec<u8> {
    let mut f = file.to_vec();
    for (off, b) in patch {
        f[*off..off + b.len()].copy_from_slice(b);
    }
    f
}

pub fn u32_at(off: usize, v: u32) -> (usize, Vec<u8>) {
    (off, v.to_le_bytes().to_vec())
}
pub fn u64_at(off: usize, v: u64) -> (usize, Vec<u8>) {
    (off, v.to_le_bytes().to_vec())
}

/// Where the tensor data of `name` starts in the file, and its byte length.
pub fn tensor_data(file: &[u8], name: &str) -> (usize, usize) {
    let g = gguf::Gguf::read(file).expect("a readable file");
    let t = g.tensor(name).expect("tensor");
    (t.offset as usize, t.n_bytes as usize)
}

// ------------------------------------------------------------------------------------------------
// The cases
// ------------------------------------------------------------------------------------------------

pub enum Input {
    /// A whole file.
    Bytes(Vec<u8>),
    /// The real model with these bytes replaced (and cut to `truncate` bytes if given).
    Real { patch: Patch, truncate: Option<usize> },
}

pub struct Case {
    pub name: &'static str,
    pub input: Input,
    /// Every one of these must appear in the error message.
    pub expect: Vec<String>,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: &[&str]) -> Case {
    Case { name, input: Input::Bytes(bytes), expect: expect.iter().map(|s| s.to_string()).collect() }
}

fn patched(name: &'static str, patch: Patch, expect: &[&str]) -> Case {
    Case { name, input: Input::Real { patch, truncate: None }, expect: expect.iter().map(|s| s.to_string()).collect() }
}

/// Cases built from the tiny model.
pub fn tiny_cases() -> Vec<Case> {
    let base = tiny().bytes();
    let mut v = Vec::new();
    let with = |f: &dyn Fn(&mut Parts)| {
        let mut p = tiny();
        f(&mut p);
        p.bytes()
    };
    let s = |x: &str| Value::String(x.into());

    v.push(case("empty", vec![], &["not a GGUF file", "[]"]));
    v.push(case("html", b"<!doctype html><title>404</title>".to_vec(), &["not a GGUF file", "3c 21 64 6f"]));
    v.push(case("magic only", b"GGUF".to_vec(), &["the GGUF version needs 4 bytes at offset 4; the file has 4 bytes"]));
    for ver in [0u32, 1, 4, 0xffff_ffff] {
        let name: &'static str = Box::leak(format!("version {ver}").into_boxed_str());
        v.push(case(name, apply(&base, &vec![u32_at(4, ver)]), &[&format!("GGUF version {ver}; versions 2 and 3 are supported")]));
    }
    v.push(case("tensor count u64::MAX", apply(&base, &vec![u64_at(8, u64::MAX)]), &["claims 18446744073709551615 tensors", &format!("the file has {} bytes", base.len())]));
    v.push(case("tensor count 2^40", apply(&base, &vec![u64_at(8, 1 << 40)]), &["claims 1099511627776 tensors"]));
    v.push(case("metadata count u64::MAX", apply(&base, &vec![u64_at(16, u64::MAX)]), &["claims 18446744073709551615 metadata entries"]));
    v.push(case("metadata count +1", apply(&base, &vec![u64_at(16, 22)]), &["has length", "at most 16777216 is accepted"]));

    let k = key_offset(&base, "general.architecture");
    v.push(case("key length huge", apply(&base, &vec![u64_at(k - 8 - "general.architecture".len(), u64::MAX)]), &["metadata key #0 has length 18446744073709551615"]));
    v.push(case("key length past the end", apply(&base, &vec![u64_at(k - 8 - "general.architecture".len(), 1 << 20)]), &["metadata key #0 needs 1048576 bytes at offset 32"]));
    v.push(case("string value length huge", apply(&base, &vec![u64_at(k + 4, 1 << 40)]), &["metadata value general.architecture has length 1099511627776"]));
    v.push(case("unknown value type", apply(&base, &vec![u32_at(k, 13)]), &["metadata value general.architecture has unknown type 13"]));
    let kt = key_offset(&base, "tokenizer.ggml.tokens");
    v.push(case("token array count u64::MAX", apply(&base, &vec![u64_at(kt + 8, u64::MAX)]), &["metadata array tokenizer.ggml.tokens has 18446744073709551615 elements; at most 4194304"]));
    v.push(case("token array count 4M", apply(&base, &vec![u64_at(kt + 8, 4_000_000)]), &["metadata array tokenizer.ggml.tokens claims 4000000 elements of at least 8 bytes at offset", &format!("the file has {} bytes", base.len())]));
    v.push(case("token array count 5M", apply(&base, &vec![u64_at(kt + 8, 5 << 20)]), &["metadata array tokenizer.ggml.tokens has 5242880 elements; at most 4194304 per array"]));
    v.push(case("many arrays of 4M bytes", with(&|p| {
        for i in 0..3 {
            p.metadata.push((format!("x.bytes{i}"), Value::Array(vec![Value::U8(0); 1 << 22])));
        }
    }), &["metadata array x.bytes1 has 4194304 elements; at most 4194304 per array and 8388608 in all"]));
    v.push(case("nested array", apply(&base, &vec![u32_at(kt + 4, 9)]), &["tokenizer.ggml.tokens: nested arrays are not supported"]));
    v.push(case("unknown array element type", apply(&base, &vec![u32_at(kt + 4, 77)]), &["tokenizer.ggml.tokens: unknown array element type 77"]));
    let kb = key_offset(&base, "tokenizer.ggml.add_bos_token");
    v.push(case("bool byte 7", apply(&base, &vec![(kb + 4, vec![7])]), &["tokenizer.ggml.add_bos_token: bool byte is 7"]));
    v.push(case("duplicated key", with(&|p| p.metadata.push(("general.name".into(), s("again")))), &["metadata key general.name appears twice"]));
    v.push(case("alignment 3", with(&|p| { p.set("general.alignment", Value::U32(3)); }), &["general.alignment is 3"]));
    v.push(case("alignment 1", with(&|p| { p.set("general.alignment", Value::U32(1)); }), &["general.alignment is 1; it must be a power of two, a multiple of 8"]));

    let q = "blk.0.attn_q.weight";
    let t = tensor_offset(&base, q);
    v.push(case("zero dimensions", apply(&base, &vec![u32_at(t, 0)]), &["tensor blk.0.attn_q.weight has 0 dimensions; 1 to 4 are supported"]));
    v.push(case("n_dims u32::MAX", apply(&base, &vec![u32_at(t, u32::MAX)]), &["tensor blk.0.attn_q.weight has 4294967295 dimensions"]));
    v.push(case("zero dimension", apply(&base, &vec![u64_at(t + 4 + 8, 0)]), &["tensor blk.0.attn_q.weight has a zero dimension: [64, 0]"]));
    v.push(case("dimensions overflow", apply(&base, &vec![u64_at(t + 4, 1 << 40), u64_at(t + 4 + 8, 1 << 40)]), &["tensor blk.0.attn_q.weight has dimensions [1099511627776, 1099511627776] whose product overflows"]));
    v.push(case("negative dimension", apply(&base, &vec![u64_at(t + 4 + 8, u64::MAX)]), &["tensor blk.0.attn_q.weight has dimensions [64, 18446744073709551615] whose product overflows"]));
    v.push(case("dimension past the end", apply(&base, &vec![u64_at(t + 4 + 8, 1 << 30)]), &["tensor blk.0.attn_q.weight needs 42949672960 bytes at offset", &format!("the file has {} bytes", base.len())]));
    v.push(case("columns not whole blocks", apply(&base, &vec![u64_at(t + 4, 48)]), &["tensor blk.0.attn_q.weight (Q4_1) has 48 columns, not a multiple of the block size 32"]));
    v.push(case("unknown tensor type", apply(&base, &vec![u32_at(t + 4 + 16, 99)]), &["tensor blk.0.attn_q.weight has unknown ggml type 99"]));
    v.push(case("tensor offset misaligned", apply(&base, &vec![u64_at(t + 4 + 16 + 4, 8)]), &["tensor blk.0.attn_q.weight starts at data offset 8, not a multiple of the alignment 32"]));
    v.push(case("tensor offset huge", apply(&base, &vec![u64_at(t + 4 + 16 + 4, u64::MAX - 31)]), &["tensor blk.0.attn_q.weight needs 2560 bytes at offset"]));
    v.push(case("duplicated tensor name", with(&|p| { p.tensor("blk.1.attn_q.weight").0 = q.into(); }), &["tensor blk.0.attn_q.weight appears twice in the tensor index"]));

    v.push(case("architecture mamba", with(&|p| { p.set("general.architecture", s("mamba")); }), &["unsupported", "architecture \"mamba\"; this engine runs \"llama\"", "\"qwen2\"", "\"qwen3\"", "\"gemma3\""]));
    v.push(case("no architecture", with(&|p| { p.remove("general.architecture"); }), &["missing metadata general.architecture"]));
    v.push(case("architecture is a number", with(&|p| { p.set("general.architecture", Value::U32(7)); }), &["metadata general.architecture is not a string"]));
    v.push(case("no block_count", with(&|p| { p.remove("llama.block_count"); }), &["missing metadata llama.block_count"]));
    v.push(case("block_count 0", with(&|p| { p.set("llama.block_count", Value::U32(0)); }), &["metadata llama.block_count is 0"]));
    v.push(case("block_count negative", with(&|p| { p.set("llama.block_count", Value::I32(-1)); }), &["metadata llama.block_count is not a non-negative integer"]));
    v.push(case("block_count 1M", with(&|p| { p.set("llama.block_count", Value::U32(1 << 20)); }), &["missing tensor blk.2.attn_norm.weight"]));
    v.push(case("block_count 3", with(&|p| { p.set("llama.block_count", Value::U32(3)); }), &["missing tensor blk.2.attn_norm.weight"]));
    v.push(case("heads do not divide", with(&|p| { p.set("llama.attention.head_count", Value::U32(5)); }), &["5 heads and 2 KV heads do not divide evenly"]));
    v.push(case("rope dims odd", with(&|p| { p.set("llama.rope.dimension_count", Value::U32(15)); }), &["rope.dimension_count 15 does not fit head size 16"]));
    v.push(case("rope theta NaN", with(&|p| { p.set("llama.rope.freq_base", Value::F32(f32::NAN)); }), &["rope.freq_base NaN"]));
    v.push(case("rms eps negative", with(&|p| { p.set("llama.attention.layer_norm_rms_epsilon", Value::F32(-1.0)); }), &["rms epsilon -1"]));
    v.push(case("missing tensor", with(&|p| { p.remove_tensor("blk.1.ffn_down.weight"); }), &["missing tensor blk.1.ffn_down.weight"]));
    v.push(case("missing token_embd", with(&|p| { p.remove_tensor("token_embd.weight"); }), &["missing tensor token_embd.weight"]));
    v.push(case("wrong shape", with(&|p| {
        let t = p.tensor("blk.1.attn_k.weight");
        t.1 = vec![64, 64];
        t.3 = q8_0(&vec![0.01; 64 * 64]);
    }), &["tensor blk.1.attn_k.weight has shape [64, 64]; expected [64, 32]"]));
    v.push(case("three-dimensional matrix", with(&|p| { p.tensor("blk.0.attn_q.weight").1 = vec![64, 32, 2]; }), &["tensor blk.0.attn_q.weight has shape [64, 32, 2]; expected [64, 64]"]));
    v.push(case("norm of wrong length", with(&|p| {
        let t = p.tensor("blk.0.ffn_norm.weight");
        t.1 = vec![32];
        t.3.truncate(128);
    }), &["tensor blk.0.ffn_norm.weight has shape [32]; expected [64]"]));
    v.push(case("unsupported matrix type", with(&|p| {
        let t = p.tensor("blk.0.ffn_up.weight");
        t.2 = GgmlType::IQ4NL;
        t.3 = vec![0; N_FF * 2 * 18];
    }), &["tensor blk.0.ffn_up.weight has type IQ4_NL; this engine computes with F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K matrices"]));
    v.push(case("K-quant rows of 64", with(&|p| {
        let t = p.tensor("blk.0.attn_q.weight");
        t.2 = GgmlType::Q4K;
        t.3 = vec![0; 144 * 16];
    }), &["tensor blk.0.attn_q.weight (Q4_K) has 64 columns, not a multiple of the block size 256"]));
    v.push(case("type larger than its bytes", with(&|p| { p.tensor("blk.0.attn_k.weight").2 = GgmlType::F32; }), &[
        "tensor blk.0.attn_k.weight (F32, [64, 32]) needs 8192 bytes at offset",
        "which runs into tensor blk.0.attn_v.weight",
    ]));
    // Every weight type: an infinite or NaN scale (or float weight) in block 3 of a matrix, and
    // the file cut inside that matrix.
    for ty in WeightType::ALL {
        let tiny = tiny_typed(ty);
        let base = tiny.bytes();
        let (off, n) = tensor_data(&base, "blk.1.attn_q.weight");
        let size = (ty.ggml().block().1) as usize;
        for (k, &(at, bits)) in scale_fields(ty).iter().enumerate() {
            let mut f = base.clone();
            let at = off + 3 * size + at;
            f[at..at + bits.len()].copy_from_slice(bits);
            let what = if ty.qk() == 1 { "an infinite or NaN weight at index 3" } else { "an infinite or NaN scale in block 3" };
            let name: &'static str = Box::leak(format!("{} scale field {k} NaN or infinite", ty.ggml()).into_boxed_str());
            v.push(case(name, f, &[&format!("tensor blk.1.attn_q.weight ({}) has {what}", ty.ggml())]));
        }
        let name: &'static str = Box::leak(format!("{} cut inside a matrix", ty.ggml()).into_boxed_str());
        v.push(case(name, base[..off + n / 2].to_vec(), &[&format!("tensor blk.1.attn_q.weight needs {n} bytes at offset {off}; the file has {} bytes", off + n / 2)]));
    }
    v.push(case("F16 norm", with(&|p| {
        let t = p.tensor("output_norm.weight");
        t.2 = GgmlType::F16;
        t.3.truncate(128);
    }), &["tensor output_norm.weight has type F16; norm weights must be F32"]));
    v.push(case("vocabulary smaller than the embedding", with(&|p| { p.tokens().pop(); p.set("tokenizer.ggml.token_type", Value::Array(vec![Value::I32(1); 274])); }), &["the vocabulary has 274 tokens but token_embd.weight has 275 rows"]));
    v.push(case("token types of another length", with(&|p| { p.set("tokenizer.ggml.token_type", Value::Array(vec![Value::I32(1); 5])); }), &["tokenizer.ggml.token_type has 5 entries for 275 tokens"]));
    v.push(case("untied output of wrong size", with(&|p| { p.tensors.push(("output.weight".into(), vec![64, 100], GgmlType::Q8_0, vec![0; 100 * 2 * 34])); }), &["tensor output.weight has shape [64, 100]; expected [64, 275]"]));
    let nan_in = |name: &str, block: usize, which: usize, h: u16| {
        let mut p = tiny();
        let t = p.tensor(name);
        let bsize = if t.2 == GgmlType::Q8_0 { 34 } else { 20 };
        t.3[block * bsize + which * 2..block * bsize + which * 2 + 2].copy_from_slice(&h.to_le_bytes());
        p.bytes()
    };
    v.push(case("NaN scale (Q4_1 d)", nan_in("blk.1.attn_q.weight", 3, 0, 0x7e00), &["tensor blk.1.attn_q.weight (Q4_1) has an infinite or NaN scale in block 3"]));
    v.push(case("infinite minimum (Q4_1 m)", nan_in("blk.0.ffn_down.weight", 5, 1, 0x7c00), &["tensor blk.0.ffn_down.weight (Q4_1) has an infinite or NaN scale in block 5"]));
    v.push(case("NaN scale (Q8_0 d)", nan_in("blk.0.attn_k.weight", 0, 0, 0xfe00), &["tensor blk.0.attn_k.weight (Q8_0) has an infinite or NaN scale in block 0"]));
    v.push(case("infinite scale in token_embd", nan_in("token_embd.weight", 100, 0, 0xfc00), &["tensor token_embd.weight (Q8_0) has an infinite or NaN scale in block 100"]));
    v.push(case("norm weight NaN", with(&|p| { p.tensor("blk.1.attn_norm.weight").3[8..12].copy_from_slice(&f32::NAN.to_le_bytes()); }), &["tensor blk.1.attn_norm.weight has a NaN or infinite value at index 2"]));

    v.push(case("tokenizer rwkv", with(&|p| { p.set("tokenizer.ggml.model", s("rwkv")); }), &["tokenizer.ggml.model is \"rwkv\""]));
    v.push(case("unknown pre-tokenizer", with(&|p| { p.set("tokenizer.ggml.pre", s("no-such-pre")); }), &["tokenizer.ggml.pre is \"no-such-pre\""]));
    v.push(case("no tokens", with(&|p| { p.remove("tokenizer.ggml.tokens"); }), &["missing metadata tokenizer.ggml.tokens"]));
    v.push(case("tokens not strings", with(&|p| { *p.tokens() = vec![Value::U32(1); 275]; }), &["tokenizer.ggml.tokens[0] is not a string"]));
    v.push(case("merge of unknown tokens", with(&|p| { p.set("tokenizer.ggml.merges", Value::Array(vec![s("Ġ zzzz")])); }), &["tokenizer: building the BPE model"]));
    v.push(case("merge without a space", with(&|p| { p.set("tokenizer.ggml.merges", Value::Array(vec![s("Ġt")])); }), &["tokenizer.ggml.merges[0] = \"Ġt\" is not two tokens"]));

    // The other architectures' own tensors and metadata.
    let arch_with = |arch: &'static str, f: &dyn Fn(&mut Parts)| {
        let mut p = tiny_arch(arch).parts();
        f(&mut p);
        p.bytes()
    };
    v.push(case("qwen3 without attn_q_norm", arch_with("qwen3", &|p| { p.remove_tensor("blk.1.attn_q_norm.weight"); }), &["missing tensor blk.1.attn_q_norm.weight"]));
    v.push(case("gemma3 without attn_k_norm", arch_with("gemma3", &|p| { p.remove_tensor("blk.0.attn_k_norm.weight"); }), &["missing tensor blk.0.attn_k_norm.weight"]));
    v.push(case("gemma3 without post_ffw_norm", arch_with("gemma3", &|p| { p.remove_tensor("blk.2.post_ffw_norm.weight"); }), &["missing tensor blk.2.post_ffw_norm.weight"]));
    v.push(case("qwen2 without attn_v.bias", arch_with("qwen2", &|p| { p.remove_tensor("blk.0.attn_v.bias"); }), &["missing tensor blk.0.attn_v.bias"]));
    v.push(case("qwen2 NaN bias", arch_with("qwen2", &|p| { p.tensor("blk.1.attn_k.bias").3[4..8].copy_from_slice(&f32::NAN.to_le_bytes()); }), &["tensor blk.1.attn_k.bias has a NaN or infinite value at index 1"]));
    v.push(case("qwen2 bias of wrong length", arch_with("qwen2", &|p| {
        let t = p.tensor("blk.0.attn_q.bias");
        t.1 = vec![32];
        t.3.truncate(128);
    }), &["tensor blk.0.attn_q.bias has shape [32]; expected [64]"]));
    v.push(case("qwen3 infinite q norm", arch_with("qwen3", &|p| { p.tensor("blk.0.attn_q_norm.weight").3[0..4].copy_from_slice(&f32::INFINITY.to_le_bytes()); }), &["tensor blk.0.attn_q_norm.weight has a NaN or infinite value at index 0"]));
    v.push(case("gemma3 NaN post-attention norm", arch_with("gemma3", &|p| { p.tensor("blk.2.post_attention_norm.weight").3[12..16].copy_from_slice(&f32::NAN.to_le_bytes()); }), &["tensor blk.2.post_attention_norm.weight has a NaN or infinite value at index 3"]));
    v.push(case("gemma3 sliding window 0", arch_with("gemma3", &|p| { p.set("gemma3.attention.sliding_window", Value::U32(0)); }), &["metadata gemma3.attention.sliding_window is 0; expected 1 to 1048576"]));
    v.push(case("gemma3 key_length not dividing", arch_with("gemma3", &|p| { p.set("gemma3.attention.key_length", Value::U32(20)); p.set("gemma3.attention.value_length", Value::U32(20)); }), &["head size 20: 4 heads × 20 = 80 is not a multiple of 32"]));
    v.push(case("gemma3 value_length differs", arch_with("gemma3", &|p| { p.set("gemma3.attention.value_length", Value::U32(64)); }), &["gemma3.attention.value_length 64 differs from key_length 32"]));
    v.push(case("gemma3 q of n_embd rows", arch_with("gemma3", &|p| {
        let t = p.tensor("blk.0.attn_q.weight");
        t.1 = vec![64, 64];
        t.3 = q4_1(&vec![0.01; 64 * 64]);
    }), &["tensor blk.0.attn_q.weight has shape [64, 64]; expected [64, 128]"]));
    v.push(case("gemma3 softcap NaN", arch_with("gemma3", &|p| { p.set("gemma3.final_logit_softcapping", Value::F32(f32::NAN)); }), &["gemma3.final_logit_softcapping is NaN"]));
    v.push(case("llama rope_freqs of wrong length", with(&|p| { p.tensors.push(("rope_freqs.weight".into(), vec![4], GgmlType::F32, f32s(&[1.0; 4]))); }), &["tensor rope_freqs.weight has shape [4]; expected [8]"]));
    v.push(case("llama rope_freqs zero", with(&|p| { p.tensors.push(("rope_freqs.weight".into(), vec![8], GgmlType::F32, f32s(&[1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]))); }), &["tensor rope_freqs.weight has 0 at index 2; RoPE frequency factors must be > 0"]));

    let (off, n) = tensor_data(&base, "output_norm.weight");
    v.push(case("cut inside the last tensor", base[..off + n / 2].to_vec(), &[&format!("tensor output_norm.weight needs {n} bytes at offset {off}; the file has {} bytes", off + n / 2)]));
    v
}

/// Byte patches of the real model (SmolLM2-135M-Instruct Q4_1), located by searching its header.
pub fn real_cases(real: &[u8]) -> Vec<Case> {
    let mut v = Vec::new();
    v.push(patched("real: version 4", vec![u32_at(4, 4)], &["GGUF version 4; versions 2 and 3 are supported"]));
    v.push(patched("real: tensor count u64::MAX", vec![u64_at(8, u64::MAX)], &["claims 18446744073709551615 tensors"]));
    v.push(patched("real: metadata count 2^40", vec![u64_at(16, 1 << 40)], &["claims 1099511627776 metadata entries"]));
    let a = key_offset(real, "general.architecture");
    v.push(patched("real: architecture mamba", vec![(a + 12, b"mamba".to_vec())], &["architecture \"mamba\"; this engine runs \"llama\""]));
    let kt = key_offset(real, "tokenizer.ggml.tokens");
    v.push(patched("real: token count u64::MAX", vec![u64_at(kt + 8, u64::MAX)], &["metadata array tokenizer.ggml.tokens has 18446744073709551615 elements; at most 4194304"]));
    v.push(patched("real: token count 49151", vec![u64_at(kt + 8, 49151)], &["bad GGUF file"]));
    let kname = key_offset(real, "general.name");
    v.push(patched("real: name length 2^60", vec![u64_at(kname + 4, 1 << 60)], &["metadata value general.name has length 1152921504606846976"]));
    let t = tensor_offset(real, "blk.7.ffn_up.weight");
    v.push(patched("real: zero dimension", vec![u64_at(t + 4, 0)], &["tensor blk.7.ffn_up.weight has a zero dimension: [0, 1536]"]));
    v.push(patched("real: Q4_K type", vec![u32_at(t + 4 + 16, 12)], &["tensor blk.7.ffn_up.weight (Q4_K) has 576 columns, not a multiple of the block size 256"]));
    v.push(patched("real: unknown type", vec![u32_at(t + 4 + 16, 99)], &["tensor blk.7.ffn_up.weight has unknown ggml type 99"]));
    v.push(patched("real: F32 type", vec![u32_at(t + 4 + 16, 0)], &["tensor blk.7.ffn_up.weight (F32, [576, 1536]) needs 3538944 bytes at offset", "which runs into tensor"]));
    v.push(patched("real: IQ4_NL type", vec![u32_at(t + 4 + 16, 20)], &["tensor blk.7.ffn_up.weight has type IQ4_NL; this engine computes with F32, F16, BF16, Q4_0"]));
    v.push(patched("real: IQ4_XS type", vec![u32_at(t + 4 + 16, 23)], &["tensor blk.7.ffn_up.weight (IQ4_XS) has 576 columns, not a multiple of the block size 256"]));
    let t2 = tensor_offset(real, "blk.1.attn_q.weight");
    v.push(patched("real: duplicated tensor name", vec![(t2 - 15, b"0".to_vec())], &["tensor blk.0.attn_q.weight appears twice in the tensor index"]));
    let (off, _) = tensor_data(real, "blk.5.attn_v.weight");
    v.push(patched("real: NaN scale", vec![(off + 20 * 7, vec![0x00, 0x7e])], &["tensor blk.5.attn_v.weight (Q4_1) has an infinite or NaN scale in block 7"]));
    let data = gguf::Gguf::read(real).expect("the real model reads").data_offset as usize;
    for cut in [data - 1, data + 1000, real.len() / 2, real.len() - 1] {
        v.push(Case {
            name: Box::leak(format!("real: cut at {cut}").into_boxed_str()),
            input: Input::Real { patch: vec![], truncate: Some(cut) },
            expect: vec![format!("the file has {cut} bytes")],
        });
    }
    v
}

pub fn materialize(input: &Input, real: Option<&[u8]>) -> Vec<u8> {
    match input {
        Input::Bytes(b) => b.clone(),
        Input::Real { patch, truncate } => {
            let mut f = apply(real.expect("the real model"), patch);
            if let Some(n) = truncate {
                f.truncate(*n);
            }
            f
        }
    }
}

/// Where the browser tests and scripts/fuzz.sh look for the files: `$CARGO_TARGET_DIR/crafted`
/// (default `target/crafted`).
pub fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("crafted")
}

/// The tiny model whose name, vocabulary and output are HTML that must never run.
pub fn xss_model() -> Tiny {
    let t = Tiny {
        name: "<img src=x onerror=\"window.__xss='name'\"><script>window.__xss='name-script'</script>".into(),
        extra_tokens: vec!["<img src=x onerror=window.__xss=1>".into(), "<script>window.__xss=2</script>".into()],
        ..Default::default()
    };
    let cycle = vec![t.extra_id(0), t.extra_id(1)];
    Tiny { cycle: Some(cycle), ..t }
}

/// Writes every case (the real model's patches too, when `real` is given) and the good tiny
/// models (`tiny.gguf`, `tiny-1layer.gguf`, `xss.gguf`, `tiny-<type>.gguf`, `tiny-<arch>.gguf`) into `dir`. Idempotent: the same
/// files each time.
pub fn write_files(dir: &Path, real: Option<&[u8]>) -> std::io::Result<()> {
    let mut cases = tiny_cases();
    if let Some(r) = real {
        cases.extend(real_cases(r));
    }
    let extra = [
        ("tiny.gguf", Tiny::default().bytes()),
        ("tiny-1layer.gguf", Tiny { n_layer: 1, ..Default::default() }.bytes()),
        ("xss.gguf", xss_model().bytes()),
    ];
    let typed: Vec<(String, Vec<u8>)> = WeightType::ALL.iter().map(|&ty| (format!("tiny-{}.gguf", ty.ggml().name().to_lowercase()), tiny_typed(ty).bytes())).collect();
    let archs: Vec<(String, Vec<u8>)> = ARCHS.iter().map(|&a| (format!("tiny-{a}.gguf"), tiny_arch(a).bytes())).collect();
    let extra: Vec<(&str, Vec<u8>)> = extra.into_iter().chain(typed.iter().chain(&archs).map(|(n, b)| (n.as_str(), b.clone()))).collect();
    write_all(dir, &cases, &extra)
}

/// Writes the tiny cases as files and every case into cases.json:
/// `[{"name", "file"} | {"name", "real": {"patch": [[offset, [bytes]]], "truncate"}}, "expect": [..]]`.
pub fn write_all(dir: &Path, cases: &[Case], extra: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut list = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let mut e = serde_json::json!({"name": c.name, "expect": c.expect});
        match &c.input {
            Input::Bytes(b) => {
                let f = format!("case-{i:03}.gguf");
                std::fs::write(dir.join(&f), b)?;
                e["file"] = f.into();
            }
            Input::Real { patch, truncate } => {
                e["real"] = serde_json::json!({"patch": patch, "truncate": truncate});
            }
        }
        list.push(e);
    }
    for (name, b) in extra {
        std::fs::write(dir.join(name), b)?;
    }
    let json = serde_json::to_string_pretty(&list).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("cases.json"), json)
}
