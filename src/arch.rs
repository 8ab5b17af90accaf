//! What differs between the architectures the forward pass runs, as data: one row per
//! `general.architecture`. `model::Model::load` reads the row, then the file's `<arch>.*`
//! metadata, into a `Config`; the forward pass (src/model/) is one loop that reads the
//! config's flags. A new architecture is a new row here and, at most, a new branch there.
//!
//! Sources: llama.cpp's graphs (src/models/{llama,qwen2,qwen3,gemma3}.cpp) and hyperparameters
//! (src/llama-model.cpp), the version llama-cpp-python 0.3.36 vendors.

use serde::Serialize;

use crate::Error;

/// Which elements of a head RoPE rotates together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rope {
    /// Adjacent pairs (x[2i], x[2i+1]): ggml's "normal" mode, which llama GGUFs are converted for.
    Normal,
    /// Pairs (x[i], x[i + n_rot/2]): ggml's NEOX mode (Qwen2, Qwen3, Gemma 3).
    Neox,
}

/// The feed-forward's gated activation: down(act(gate(x)) * up(x)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ffn {
    /// SiLU: g / (1 + e^-g).
    Swiglu,
    /// ggml's tanh GELU, looked up in its f16 table as llama.cpp's CPU backend does.
    Geglu,
}

/// What a layer's attention sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Every earlier position.
    Global,
    /// The last `sliding_window` positions (itself included), with the sliding RoPE base.
    Sliding,
}

/// One architecture's row.
#[derive(Clone, Copy, Debug)]
pub struct Arch {
    /// `general.architecture`, also the prefix of its metadata keys.
    pub name: &'static str,
    /// Models of this architecture, for messages.
    pub examples: &'static str,
    pub rope: Rope,
    /// blk.N.attn_{q,k,v}.bias required (other architectures use them when present).
    pub qkv_bias: bool,
    /// blk.N.attn_{q,k}_norm.weight: RMSNorm of each head of q and k before RoPE.
    pub qk_norm: bool,
    /// blk.N.post_attention_norm / post_ffw_norm: RMSNorm of the attention and feed-forward
    /// outputs before they are added to the residual stream.
    pub post_norms: bool,
    pub ffn: Ffn,
    /// Token embeddings multiplied by √n_embd.
    pub embd_scale: bool,
    /// With `<arch>.attention.sliding_window` set: of every `swa_period` layers the last is
    /// global and the others slide (llama.cpp's set_swa_pattern; the metadata's
    /// attention.sliding_window_pattern overrides it). 0: no sliding layers.
    pub swa_period: usize,
    /// The sliding layers' RoPE base unless `<arch>.rope.freq_base_swa` says (llama.cpp's
    /// rope_freq_base_train_swa default).
    pub swa_rope_base: f32,
    /// Llama 3's `rope_freqs.weight` (RoPE frequency factors) is read when present.
    pub rope_freqs: bool,
    /// `<arch>.final_logit_softcapping` is read (logits = cap · tanh(logits / cap)).
    pub softcap: bool,
    /// The RMSNorm epsilon when the file does not give one.
    pub rms_eps: f32,
}

const LLAMA: Arch = Arch {
    name: "llama",
    examples: "SmolLM2, Llama 3, TinyLlama",
    rope: Rope::Normal,
    qkv_bias: false,
    qk_norm: false,
    post_norms: false,
    ffn: Ffn::Swiglu,
    embd_scale: false,
    swa_period: 0,
    swa_rope_base: 10000.0,
    rope_freqs: true,
    softcap: false,
    rms_eps: 1e-5,
};

/// Every architecture this engine runs.
pub const ARCHS: [Arch; 4] = [
    LLAMA,
    Arch { name: "qwen2", examples: "Qwen2.5, DeepSeek-R1-Distill-Qwen", rope: Rope::Neox, qkv_bias: true, rope_freqs: false, rms_eps: 1e-6, ..LLAMA },
    Arch { name: "qwen3", examples: "Qwen3", rope: Rope::Neox, qk_norm: true, rope_freqs: false, rms_eps: 1e-6, ..LLAMA },
    Arch {
        name: "gemma3",
        examples: "Gemma 3",
        rope: Rope::Neox,
        qk_norm: true,
        post_norms: true,
        ffn: Ffn::Geglu,
        embd_scale: true,
        swa_period: 6,
        rope_freqs: false,
        softcap: true,
        rms_eps: 1e-6,
        ..LLAMA
    },
];

/// The row of `general.architecture` = `name`, or an error naming the supported ones.
pub fn find(name: &str) -> Result<&'static Arch, Error> {
    ARCHS.iter().find(|a| a.name == name).ok_or_else(|| {
        let list: Vec<String> = ARCHS.iter().map(|a| format!("\"{}\" ({})", a.name, a.examples)).collect();
        Error::Unsupported(format!("architecture \"{name}\"; this engine runs {}", list.join(", ")))
    })
}
