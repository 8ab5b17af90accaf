//! The forward pass of every architecture in src/arch.rs (llama, qwen2, qwen3, gemma3), one loop
//! with their differences as data: hyperparameters (`Config`), weights (`Weights`, views into the
//! file buffer, still quantized as shipped) and run state (`State`: the KV cache), owned by
//! `Model`; `load.rs` builds a `Model` from a file.
//!
//! The bytes of the GGUF file are the tensor storage: nothing is dequantized up front. Matrix
//! products read the blocks of any weight type in place (src/kernels), an embedding row is decoded from
//! `token_embd` when its token is fed, and the output head reuses `token_embd` (tied) unless
//! the file has its own `output.weight`.

use crate::arch::{self, Ffn, LayerKind, Rope};
use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::kernels::{self, Acts, QK};
use crate::Error;

mod attend;
mod lens;
mod load;
mod ops;

use attend::{attend, Cache};
use ops::{add_in_place, add_rows, geglu, gelu_table, par_rows, rms_norm, rms_norm_in_place, rope, round_f16, swiglu};
pub use lens::{Closest, TokenProb, CAPTURE_BYTES, CLOSEST, LENS_TOP, TOP_NEURONS};

/// wasm32 has a 4 GiB address space; leave room for the KV cache and the rest.
#[cfg(target_arch = "wasm32")]
pub const MAX_FILE_BYTES: u64 = 3 << 30;
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_FILE_BYTES: u64 = 64 << 30;

// ------------------------------------------------------------------------------------------------
// The file buffer
// ------------------------------------------------------------------------------------------------

/// The model file in memory, 8-byte aligned so that tensor data (32-aligned within the file)
/// can be read in place as f32 and as quantized blocks.
pub struct ModelFile {
    words: Vec<u64>,
    len: usize,
}

impl ModelFile {
    /// Allocates a zeroed buffer for a file of `len` bytes, refusing sizes that cannot work.
    pub fn with_len(len: u64) -> Result<ModelFile, Error> {
        if len > MAX_FILE_BYTES {
            return Err(Error::Limit(format!(
                "the model file has {len} bytes; at most {MAX_FILE_BYTES} bytes fit in this engine's memory"
            )));
        }
        let words = len.div_ceil(8) as usize;
        let mut v = Vec::new();
        v.try_reserve_exact(words)
            .map_err(|_| Error::Limit(format!("could not allocate {len} bytes for the model file")))?;
        v.resize(words, 0u64);
        Ok(ModelFile { words: v, len: len as usize })
    }

    pub fn from_bytes(b: &[u8]) -> Result<ModelFile, Error> {
        let mut f = ModelFile::with_len(b.len() as u64)?;
        f.bytes_mut().copy_from_slice(b);
        Ok(f)
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: u64 storage viewed as bytes; len <= 8 * words.len().
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.len) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, uniquely borrowed.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

// ------------------------------------------------------------------------------------------------
// Config, weights, state
// ------------------------------------------------------------------------------------------------

/// The hyperparameters: the architecture's row (src/arch.rs) with the file's `<arch>.*` values.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    /// Floats per head of q, k and v (`<arch>.attention.key_length` = value_length; else n_embd / n_head).
    pub head_dim: usize,
    /// n_head · head_dim: the width of q and of the attention output (Gemma 3 270M: 4 × 256 = 1024, n_embd 640).
    pub q_dim: usize,
    /// n_head_kv · head_dim: the width of k and v, one KV-cache row.
    pub kv_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub rope: Rope,
    pub rope_theta: f32,
    /// The RoPE base of the sliding layers.
    pub rope_theta_swa: f32,
    pub rope_dim: usize,
    /// Llama 3's RoPE frequency factors (`rope_freqs.weight`) are applied.
    pub rope_freqs: bool,
    pub rms_eps: f32,
    pub tied_output: bool,
    pub qkv_bias: bool,
    pub qk_norm: bool,
    pub post_norms: bool,
    pub ffn: Ffn,
    /// The token embeddings are multiplied by this (Gemma: √n_embd; else 1).
    pub embd_scale: f32,
    /// q·k is multiplied by this before the softmax (1/√head_dim).
    pub attn_scale: f32,
    /// Positions a sliding layer sees (itself included); 0 when no layer slides.
    pub sliding_window: usize,
    /// Per layer: global or sliding.
    pub layers: Vec<LayerKind>,
    /// Logits = cap · tanh(logits / cap) when not 0.
    pub final_softcap: f32,
}

pub use crate::kernels::WeightType;

/// The activation forms the matrices `ms` read (kernels::Acts::quantize_for).
fn forms(ms: &[&Matrix]) -> kernels::Forms {
    ms.iter().fold(kernels::Forms::NONE, |f, m| f | m.ty.forms())
}

/// A quantized weight matrix: `rows` rows of `cols` values, in the file at `offset`.
#[derive(Clone, Debug)]
pub struct Matrix {
    pub name: String,
    pub ty: WeightType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    pub bytes: usize,
}

/// An f32 vector (norm weights, biases), read in place.
#[derive(Clone, Debug)]
pub struct Vector {
    pub name: String,
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub attn_norm: Vector,              // (n_embd)
    pub wq: Matrix,                     // (n_embd -> q_dim)
    pub wk: Matrix,                     // (n_embd -> kv_dim)
    pub wv: Matrix,                     // (n_embd -> kv_dim)
    pub bq: Option<Vector>,             // (q_dim) qwen2
    pub bk: Option<Vector>,             // (kv_dim)
    pub bv: Option<Vector>,             // (kv_dim)
    pub q_norm: Option<Vector>,         // (head_dim) qwen3, gemma3
    pub k_norm: Option<Vector>,         // (head_dim)
    pub wo: Matrix,                     // (q_dim -> n_embd)
    pub post_attn_norm: Option<Vector>, // (n_embd) gemma3
    pub ffn_norm: Vector,               // (n_embd)
    pub w_gate: Matrix,                 // (n_embd -> n_ff)
    pub w_up: Matrix,                   // (n_embd -> n_ff)
    pub w_down: Matrix,                 // (n_ff -> n_embd)
    pub post_ffn_norm: Option<Vector>,  // (n_embd) gemma3
}

#[derive(Clone, Debug)]
pub struct Weights {
    pub token_embd: Matrix, // (n_vocab rows of n_embd)
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vector,        // (n_embd)
    pub output: Matrix,             // (n_vocab rows of n_embd); token_embd itself when tied
    pub rope_freqs: Option<Vector>, // (rope_dim / 2) Llama 3
}

/// The mutable part (llama2.c's RunState): the KV cache (grown as tokens are fed, never sized to
/// the whole context up front; a sliding layer keeps only about two windows), what the page taps
/// (the attention of the last token fed), and the scratch space of the forward pass, allocated
/// once per session.
pub struct State {
    pub n_ctx: usize,
    pub n_past: usize,
    head_dim: usize,
    /// Per layer, per KV head: (n_past - base) × head_dim, each head's rows one after the other
    /// (attention reads one head's keys and values at a time: one stream each, not a 1-in-n_head_kv
    /// share of every row of the layer).
    k: Vec<Vec<Vec<f32>>>,
    v: Vec<Vec<Vec<f32>>>,
    /// Per layer: the position of the first row kept (0 but for sliding layers).
    base: Vec<usize>,
    /// Per layer: the positions it sees (0: all).
    window: Vec<usize>,
    pub capture_attention: bool,
    /// n_layer × n_head × n_past weights for the last token fed, when capture_attention is on
    /// (zeros where a sliding layer cannot see).
    pub attention: Vec<f32>,
    /// What the page inspects of each position fed while `Model::capture_residuals` is on (the
    /// lens, the residual stream, the MLP; src/model/lens.rs reads it).
    taps: lens::Taps,
    /// Tests: keep the whole gated MLP activation of every layer for the last token fed
    /// (`gated`, n_layer × n_ff), to check the captured top neurons against it.
    #[doc(hidden)]
    pub capture_gated: bool,
    #[doc(hidden)]
    pub gated: Vec<f32>,
    scratch: Scratch,
}

/// The L2 norm of `x`: the squares summed in f64 in order, the root in f64, rounded to f32.
pub fn l2_norm(x: &[f32]) -> f32 {
    let mut s = 0f64;
    for &v in x {
        s += v as f64 * v as f64;
    }
    s.sqrt() as f32
}

/// cos and sin of every rotated pair for each position reached, for one RoPE base.
struct RopeTable {
    theta: f32,
    cos: Vec<f32>, // (positions reached, rope_dim / 2)
    sin: Vec<f32>,
}

/// The forward pass's buffers, sized for `cap` tokens per call (grown if a longer chunk comes),
/// and the RoPE tables, computed once per position as positions are first reached. After the
/// first call of a session, decoding a token allocates nothing here.
struct Scratch {
    cap: usize,
    x: Vec<f32>,    // (cap, n_embd) the residual stream
    xn: Vec<f32>,   // (cap, n_embd) normed
    q: Vec<f32>,    // (cap, q_dim)
    k: Vec<f32>,    // (cap, kv_dim)
    v: Vec<f32>,    // (cap, kv_dim)
    att: Vec<f32>,  // (cap, q_dim) attention output
    proj: Vec<f32>, // (cap, n_embd) output projections
    gate: Vec<f32>, // (cap, n_ff)
    up: Vec<f32>,   // (cap, n_ff)
    acts: Acts,     // the activations of the next matrix products, quantized
    scores: Vec<f32>, // (group, n_ctx) attention weights of one KV group
    hn: Vec<f32>,     // (n_embd) the last position, normed
    logits: Vec<f32>, // (n_vocab)
    /// [0]: the global layers' base (with Llama 3's factors); [1]: the sliding layers', if any.
    ropes: Vec<RopeTable>,
}

impl Scratch {
    fn new(c: &Config, n_ctx: usize, cap: usize) -> Scratch {
        let half = c.rope_dim / 2;
        let table = |theta| RopeTable { theta, cos: Vec::with_capacity(n_ctx * half), sin: Vec::with_capacity(n_ctx * half) };
        let mut ropes = vec![table(c.rope_theta)];
        if c.layers.contains(&LayerKind::Sliding) {
            ropes.push(table(c.rope_theta_swa));
        }
        let mut s = Scratch {
            cap: 0,
            x: Vec::new(),
            xn: Vec::new(),
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            att: Vec::new(),
            proj: Vec::new(),
            gate: Vec::new(),
            up: Vec::new(),
            acts: Acts::new(),
            scores: vec![0.0; c.n_head / c.n_head_kv * n_ctx],
            hn: vec![0.0; c.n_embd],
            logits: vec![0.0; c.n_vocab],
            ropes,
        };
        s.reserve(c, cap);
        s
    }

    /// Room for `n` tokens at a time.
    fn reserve(&mut self, c: &Config, n: usize) {
        if n <= self.cap {
            return;
        }
        let d = c.n_embd;
        for (b, w) in [
            (&mut self.x, d),
            (&mut self.xn, d),
            (&mut self.q, c.q_dim),
            (&mut self.k, c.kv_dim),
            (&mut self.v, c.kv_dim),
            (&mut self.att, c.q_dim),
            (&mut self.proj, d),
            (&mut self.gate, c.n_ff),
            (&mut self.up, c.n_ff),
        ] {
            b.resize(n * w, 0.0);
        }
        self.cap = n;
    }

    /// cos and sin of every rotated pair for positions up to `n`, computed as ggml's
    /// rope_cache_init does (the angle multiplied along by theta_scale in f32, divided by the
    /// pair's frequency factor if any, so that our rounding matches llama.cpp's).
    fn extend_rope(&mut self, c: &Config, n: usize, factors: Option<&[f32]>) {
        let half = c.rope_dim / 2;
        for (i, r) in self.ropes.iter_mut().enumerate() {
            let theta_scale = libm::powf(r.theta, -2.0 / c.rope_dim as f32);
            // Llama 3's factors apply to its (only, global) base.
            let ff = if i == 0 { factors } else { None };
            for p in r.cos.len() / half..n {
                let mut theta = p as f32;
                for j in 0..half {
                    let t = match ff {
                        Some(f) => theta / f[j],
                        None => theta,
                    };
                    r.cos.push(libm::cosf(t));
                    r.sin.push(libm::sinf(t));
                    theta *= theta_scale;
                }
            }
        }
    }
}

/// The chunk the run state is first sized for: the page's worker feeds the prompt 32 tokens at a
/// time (a longer chunk grows the buffers once).
const CHUNK: usize = 32;

impl State {
    /// Forgets everything after the first `n` positions. False (and nothing changed) when a
    /// sliding layer no longer holds the window that position `n` would need: the caller feeds
    /// the tokens again from a reset state.
    pub fn truncate(&mut self, n: usize) -> bool {
        if n >= self.n_past {
            return true;
        }
        let fits = self.window.iter().zip(&self.base).all(|(&w, &b)| w == 0 || b + w <= n + 1 || b == 0);
        if !fits {
            return false;
        }
        self.taps.truncate(n);
        for l in 0..self.k.len() {
            let keep = (n - self.base[l]) * self.head_dim;
            for c in self.k[l].iter_mut().chain(&mut self.v[l]) {
                c.truncate(keep);
            }
        }
        self.n_past = n;
        true
    }

    pub fn reset(&mut self) {
        for l in 0..self.k.len() {
            for c in self.k[l].iter_mut().chain(&mut self.v[l]) {
                c.clear();
            }
            self.base[l] = 0;
        }
        self.n_past = 0;
        self.attention.clear();
        self.taps.truncate(0);
    }

    /// Bytes held by the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.k.iter().chain(&self.v).flatten().map(|c| c.capacity() * 4).sum()
    }

    /// The logits after the last token fed (zeros before any).
    pub fn logits(&self) -> &[f32] {
        &self.scratch.logits
    }
}

/// The rows a sliding layer of window `w` keeps at most: when more are held, the oldest are
/// dropped down to the w - 1 the next token needs (amortised: a drop every w tokens).
fn sliding_rows(w: usize) -> usize {
    2 * w
}

pub struct Model {
    pub config: Config,
    pub weights: Weights,
    pub gguf: Gguf,
    /// Run the matrix products with the scalar reference kernels instead of this build's SIMD
    /// ones (the same numbers by construction; tests compare the two end to end).
    pub reference_kernels: bool,
    /// Record, for every position fed, what the lens, the residual-stream and the MLP views read
    /// (State's captured positions; src/model/lens.rs). Off by default; off, it costs nothing.
    pub capture_residuals: bool,
    /// GeGLU: ggml's f16 table of GELU (tanh form) over every f16 input, as f16 bits.
    gelu_f16: Vec<u16>,
    /// The L2 norm of every token_embd row, computed the first time a neuron asks (lens.rs).
    embd_norms: std::sync::OnceLock<Vec<f32>>,
    file: ModelFile,
}

impl Model {
    pub fn file(&self) -> &[u8] {
        self.file.bytes()
    }

    /// The rows of KV cache layer `l` holds at most in a context of `n_ctx`.
    pub fn kv_rows(&self, l: usize, n_ctx: usize) -> usize {
        match self.config.layers[l] {
            LayerKind::Global => n_ctx,
            LayerKind::Sliding => n_ctx.min(sliding_rows(self.config.sliding_window) + CHUNK),
        }
    }

    /// A fresh run state for a context of `n_ctx` tokens (capped at the trained context).
    pub fn new_state(&self, n_ctx: usize) -> State {
        let c = &self.config;
        let n_ctx = n_ctx.clamp(1, c.n_ctx_train);
        let window: Vec<usize> = c.layers.iter().map(|k| if *k == LayerKind::Sliding { c.sliding_window } else { 0 }).collect();
        State {
            n_ctx,
            n_past: 0,
            head_dim: c.head_dim,
            k: vec![vec![Vec::new(); c.n_head_kv]; c.n_layer],
            v: vec![vec![Vec::new(); c.n_head_kv]; c.n_layer],
            base: vec![0; c.n_layer],
            window,
            capture_attention: false,
            attention: Vec::new(),
            taps: lens::Taps::new(c, n_ctx),
            capture_gated: false,
            gated: Vec::new(),
            scratch: Scratch::new(c, n_ctx, CHUNK.min(n_ctx)),
        }
    }

    /// `out = W · x` for the activations' rows (kernels::matmul), W read in place.
    fn matmul(&self, m: &Matrix, x: &Acts, out: &mut [f32]) -> Result<(), Error> {
        let w = &self.file.bytes()[m.offset..m.offset + m.bytes];
        if self.reference_kernels {
            kernels::matmul_ref(m.ty, w, m.rows, x, out)
        } else {
            kernels::matmul(m.ty, w, m.rows, x, out)
        }
    }

    /// The products of one group of matrices with the same activations (q, k, v; gate, up), as
    /// one run on the thread pool (kernels::matmul_group): the numbers of `matmul` for each.
    fn matmuls<const N: usize>(&self, x: &Acts, group: [(&Matrix, &mut [f32]); N]) -> Result<(), Error> {
        let bytes = self.file.bytes();
        let mut products = group.map(|(m, out)| kernels::Product { ty: m.ty, bytes: &bytes[m.offset..m.offset + m.bytes], rows: m.rows, out });
        kernels::matmul_group(&mut products, x, self.reference_kernels)
    }

    fn vector(&self, v: &Vector) -> Result<&[f32], Error> {
        kernels::cast_f32(&self.file.bytes()[v.offset..v.offset + v.len * 4])
    }

    fn opt_vector(&self, v: &Option<Vector>) -> Result<Option<&[f32]>, Error> {
        v.as_ref().map(|v| self.vector(v)).transpose()
    }

    /// Row `row` of a quantized matrix, dequantized into `out` (cols values).
    pub fn dequantize_row(&self, m: &Matrix, row: usize, out: &mut [f32]) -> Result<(), Error> {
        if row >= m.rows || out.len() != m.cols {
            return Err(Error::Limit(format!(
                "tensor {} has {} rows of {}; asked for row {row} into {} values",
                m.name, m.rows, m.cols, out.len()
            )));
        }
        let row_bytes = m.bytes / m.rows;
        kernels::dequantize(m.ty, &self.file.bytes()[m.offset + row * row_bytes..m.offset + (row + 1) * row_bytes], out)
    }

    /// The embedding row of a token, decoded from the quantized `token_embd` (unscaled).
    pub fn embedding(&self, id: u32, out: &mut [f32]) -> Result<(), Error> {
        if id as usize >= self.config.n_vocab {
            return Err(Error::Limit(format!("token id {id} is outside the vocabulary of {}", self.config.n_vocab)));
        }
        self.dequantize_row(&self.weights.token_embd, id as usize, out)
    }

    // --------------------------------------------------------------------------------------------
    // The forward pass
    // --------------------------------------------------------------------------------------------

    /// Feeds `tokens` at positions `state.n_past..` and returns the logits after the last one
    /// (kept in the state until the next call).
    pub fn forward<'s>(&self, state: &'s mut State, tokens: &[u32]) -> Result<&'s [f32], Error> {
        let c = &self.config;
        let t_n = tokens.len();
        if t_n == 0 {
            return Err(Error::Limit("no tokens to feed".into()));
        }
        if state.n_past + t_n > state.n_ctx {
            return Err(Error::Limit(format!(
                "{} tokens in the context and {t_n} more do not fit a context of {}",
                state.n_past, state.n_ctx
            )));
        }
        let (d, hd, qd, kvd, nh, ff) = (c.n_embd, c.head_dim, c.q_dim, c.kv_dim, c.n_head, c.n_ff);
        let half = c.rope_dim / 2;
        let p0 = state.n_past;
        let n_final = p0 + t_n;

        let sc = &mut state.scratch;
        sc.reserve(c, t_n);
        sc.extend_rope(c, n_final, self.opt_vector(&self.weights.rope_freqs)?);
        let Scratch { x, xn, q, k, v, att, proj, gate, up, acts, scores, hn, logits, ropes, .. } = sc;
        // This call's part of each buffer; every element is written before it is read.
        let (x, xn, q, att, proj) = (&mut x[..t_n * d], &mut xn[..t_n * d], &mut q[..t_n * qd], &mut att[..t_n * qd], &mut proj[..t_n * d]);
        let (k, v, gate, up) = (&mut k[..t_n * kvd], &mut v[..t_n * kvd], &mut gate[..t_n * ff], &mut up[..t_n * ff]);

        for (t, &id) in tokens.iter().enumerate() {
            let row = &mut x[t * d..(t + 1) * d];
            self.embedding(id, row)?;
            if c.embd_scale != 1.0 {
                for e in row.iter_mut() {
                    *e *= c.embd_scale;
                }
            }
        }
        if state.capture_attention {
            state.attention.clear();
            state.attention.resize(c.n_layer * nh * n_final, 0.0);
        }
        let taps = self.capture_residuals;
        if taps {
            state.taps.begin(p0, t_n);
        }
        if state.capture_gated {
            state.gated.resize(c.n_layer * ff, 0.0);
        }

        // The element-wise steps run on contiguous runs of tokens (par_rows): split across the
        // thread pool in a prefill, each token's values computed as in one piece.
        for (l, lw) in self.weights.layers.iter().enumerate() {
            let window = state.window[l];
            // Attention
            let w = self.vector(&lw.attn_norm)?;
            par_rows(xn, d, &|t0, o| rms_norm(&x[t0 * d..t0 * d + o.len()], w, c.rms_eps, o))?;
            acts.quantize_for(xn, d, forms(&[&lw.wq, &lw.wk, &lw.wv]));
            self.matmuls(acts, [(&lw.wq, &mut *q), (&lw.wk, &mut *k), (&lw.wv, &mut *v)])?;
            if let (Some(bq), Some(bk), Some(bv)) = (self.opt_vector(&lw.bq)?, self.opt_vector(&lw.bk)?, self.opt_vector(&lw.bv)?) {
                par_rows(q, qd, &|_, r| add_rows(r, bq))?;
                par_rows(k, kvd, &|_, r| add_rows(r, bk))?;
                par_rows(v, kvd, &|_, r| add_rows(r, bv))?;
            }
            if let (Some(qn), Some(kn)) = (self.opt_vector(&lw.q_norm)?, self.opt_vector(&lw.k_norm)?) {
                par_rows(q, qd, &|_, r| rms_norm_in_place(r, qn, c.rms_eps))?;
                par_rows(k, kvd, &|_, r| rms_norm_in_place(r, kn, c.rms_eps))?;
            }
            let table = &ropes[if window > 0 { 1 } else { 0 }];
            // RoPE, then llama.cpp's f16 KV cache (it multiplies q by it in f16: round alike).
            for (m, width) in [(&mut *q, qd), (&mut *k, kvd)] {
                par_rows(m, width, &|t0, rows| {
                    for (i, r) in rows.chunks_exact_mut(width).enumerate() {
                        let p = p0 + t0 + i;
                        rope(c.rope, r, hd, c.rope_dim, &table.cos[p * half..(p + 1) * half], &table.sin[p * half..(p + 1) * half]);
                        round_f16(r);
                    }
                })?;
            }
            par_rows(v, kvd, &|_, r| round_f16(r))?;
            if window > 0 && p0 - state.base[l] >= sliding_rows(window) {
                // Keep the window - 1 rows the first token of this call needs.
                let drop = p0 - state.base[l] - (window - 1);
                for c in state.k[l].iter_mut().chain(&mut state.v[l]) {
                    c.drain(..drop * hd);
                }
                state.base[l] += drop;
            }
            if window > 0 && state.k[l][0].capacity() == 0 {
                // A sliding layer's cache stays under about two windows: sized once, exactly.
                let rows = state.n_ctx.min(sliding_rows(window) + CHUNK.max(t_n));
                for c in state.k[l].iter_mut().chain(&mut state.v[l]) {
                    c.reserve_exact(rows * hd);
                }
            }
            // Each KV head's part of each token's row, onto that head's rows.
            for (cache, new) in [(&mut state.k[l], &*k), (&mut state.v[l], &*v)] {
                for (h, c) in cache.iter_mut().enumerate() {
                    for row in new[..t_n * kvd].chunks_exact(kvd) {
                        c.extend_from_slice(&row[h * hd..(h + 1) * hd]);
                    }
                }
            }
            let cache = Cache { k: &state.k[l], v: &state.v[l], base: state.base[l], window, n_ctx: state.n_ctx };
            let capture = if state.capture_attention { Some(&mut state.attention[..]) } else { None };
            attend(c, l, p0, t_n, q, &cache, att, scores, capture)?;
            acts.quantize_for(att, qd, forms(&[&lw.wo]));
            self.matmul(&lw.wo, acts, proj)?;
            if let Some(w) = self.opt_vector(&lw.post_attn_norm)? {
                par_rows(proj, d, &|_, r| rms_norm_in_place(r, w, c.rms_eps))?;
            }
            if taps {
                state.taps.block_norms(p0, l, 0, proj);
            }
            par_rows(x, d, &|t0, r| add_in_place(r, &proj[t0 * d..t0 * d + r.len()]))?;

            // Feed-forward (SwiGLU or GeGLU)
            let w = self.vector(&lw.ffn_norm)?;
            par_rows(xn, d, &|t0, o| rms_norm(&x[t0 * d..t0 * d + o.len()], w, c.rms_eps, o))?;
            acts.quantize_for(xn, d, forms(&[&lw.w_gate, &lw.w_up]));
            self.matmuls(acts, [(&lw.w_gate, &mut *gate), (&lw.w_up, &mut *up)])?;
            let up = &*up;
            match c.ffn {
                Ffn::Swiglu => par_rows(gate, ff, &|t0, g| swiglu(g, &up[t0 * ff..]))?,
                Ffn::Geglu => par_rows(gate, ff, &|t0, g| geglu(&self.gelu_f16, g, &up[t0 * ff..]))?,
            }
            if state.capture_gated {
                state.gated[l * ff..(l + 1) * ff].copy_from_slice(&gate[(t_n - 1) * ff..]);
            }
            acts.quantize_for(gate, ff, forms(&[&lw.w_down]));
            self.matmul(&lw.w_down, acts, proj)?;
            if let Some(w) = self.opt_vector(&lw.post_ffn_norm)? {
                par_rows(proj, d, &|_, r| rms_norm_in_place(r, w, c.rms_eps))?;
            }
            if taps {
                state.taps.block_norms(p0, l, 1, proj);
            }
            par_rows(x, d, &|t0, r| add_in_place(r, &proj[t0 * d..t0 * d + r.len()]))?;
            if taps {
                state.taps.layer(p0, l, x, gate);
            }
        }
        state.n_past += t_n;
        if taps {
            state.taps.end(p0, t_n);
        }

        // Only the last position's logits are needed.
        self.head(&x[(t_n - 1) * d..], hn, acts, logits)?;
        Ok(logits)
    }

    /// The output: each residual row of `x` through output_norm, the output head and the final
    /// softcap (if the model has one) into `logits` (rows × n_vocab), `hn` holding the normed
    /// rows. The real logits (forward) and the logit lens (lens.rs) both come from here.
    fn head(&self, x: &[f32], hn: &mut [f32], acts: &mut Acts, logits: &mut [f32]) -> Result<(), Error> {
        let c = &self.config;
        rms_norm(x, self.vector(&self.weights.output_norm)?, c.rms_eps, hn);
        acts.quantize_for(hn, c.n_embd, forms(&[&self.weights.output]));
        self.matmul(&self.weights.output, acts, logits)?;
        if c.final_softcap > 0.0 {
            let cap = c.final_softcap;
            for z in logits.iter_mut() {
                *z = libm::tanhf(*z / cap) * cap;
            }
        }
        Ok(())
    }
}
