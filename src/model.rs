//! The llama forward pass: hyperparameters (`Config`), weights (`Weights`, views into the file
//! buffer, still quantized as shipped) and run state (`State`: the KV cache), owned by `Model`.
//!
//! The bytes of the GGUF file are the tensor storage: nothing is dequantized up front. Matrix
//! products read the Q4_1/Q8_0 blocks in place (src/kernels), an embedding row is decoded from
//! `token_embd` when its token is fed, and the output head reuses `token_embd` (tied) unless
//! the file has its own `output.weight`.

use crate::gguf::{GgmlType, Gguf, TensorInfo};
use crate::kernels::{self, Acts, QK};
use crate::Error;

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

#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub architecture: String,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub rope_theta: f32,
    pub rope_dim: usize,
    pub rms_eps: f32,
    pub tied_output: bool,
}

pub use crate::kernels::WeightType;

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

/// An f32 vector (norm weights), read in place.
#[derive(Clone, Debug)]
pub struct Vector {
    pub name: String,
    pub offset: usize,
    pub len: usize,
}

#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub attn_norm: Vector, // (n_embd)
    pub wq: Matrix,        // (n_embd, n_embd)
    pub wk: Matrix,        // (n_embd -> n_head_kv * head_dim)
    pub wv: Matrix,        // (n_embd -> n_head_kv * head_dim)
    pub wo: Matrix,        // (n_embd, n_embd)
    pub ffn_norm: Vector,  // (n_embd)
    pub w_gate: Matrix,    // (n_embd -> n_ff)
    pub w_up: Matrix,      // (n_embd -> n_ff)
    pub w_down: Matrix,    // (n_ff -> n_embd)
}

#[derive(Clone, Debug)]
pub struct Weights {
    pub token_embd: Matrix, // (n_vocab rows of n_embd)
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vector, // (n_embd)
    pub output: Matrix,      // (n_vocab rows of n_embd); token_embd itself when tied
}

/// The mutable part (llama2.c's RunState): the KV cache (grown as tokens are fed, never sized to
/// the whole context up front), what the page taps (the attention of the last token fed), and
/// the scratch space of the forward pass, allocated once per session.
pub struct State {
    pub n_ctx: usize,
    pub n_past: usize,
    k: Vec<Vec<f32>>, // per layer: n_past × (n_head_kv · head_dim)
    v: Vec<Vec<f32>>,
    pub capture_attention: bool,
    /// n_layer × n_head × n_past weights for the last token fed, when capture_attention is on.
    pub attention: Vec<f32>,
    scratch: Scratch,
}

/// The forward pass's buffers, sized for `cap` tokens per call (grown if a longer chunk comes),
/// and the RoPE tables, computed once per position as positions are first reached. After the
/// first call of a session, decoding a token allocates nothing here.
struct Scratch {
    cap: usize,
    x: Vec<f32>,    // (cap, n_embd) the residual stream
    xn: Vec<f32>,   // (cap, n_embd) normed
    q: Vec<f32>,    // (cap, n_embd)
    k: Vec<f32>,    // (cap, kv_dim)
    v: Vec<f32>,    // (cap, kv_dim)
    att: Vec<f32>,  // (cap, n_embd) attention output
    proj: Vec<f32>, // (cap, n_embd) output projections
    gate: Vec<f32>, // (cap, n_ff)
    up: Vec<f32>,   // (cap, n_ff)
    acts: Acts,     // the activations of the next matrix products, quantized
    scores: Vec<f32>, // (group, n_ctx) attention weights of one KV group
    hn: Vec<f32>,     // (n_embd) the last position, normed
    logits: Vec<f32>, // (n_vocab)
    rope_cos: Vec<f32>, // (positions reached, rope_dim / 2)
    rope_sin: Vec<f32>,
}

impl Scratch {
    fn new(c: &Config, n_ctx: usize, cap: usize) -> Scratch {
        let half = c.rope_dim / 2;
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
            rope_cos: Vec::with_capacity(n_ctx * half),
            rope_sin: Vec::with_capacity(n_ctx * half),
        };
        s.reserve(c, cap);
        s
    }

    /// Room for `n` tokens at a time.
    fn reserve(&mut self, c: &Config, n: usize) {
        if n <= self.cap {
            return;
        }
        let (d, kvd) = (c.n_embd, c.n_head_kv * c.head_dim);
        for (b, w) in [
            (&mut self.x, d),
            (&mut self.xn, d),
            (&mut self.q, d),
            (&mut self.k, kvd),
            (&mut self.v, kvd),
            (&mut self.att, d),
            (&mut self.proj, d),
            (&mut self.gate, c.n_ff),
            (&mut self.up, c.n_ff),
        ] {
            b.resize(n * w, 0.0);
        }
        self.cap = n;
    }

    /// cos and sin of every rotated pair for positions up to `n`, computed as ggml does (the
    /// angle multiplied along by theta_scale in f32, so that our rounding matches llama.cpp's).
    fn extend_rope(&mut self, c: &Config, n: usize) {
        let half = c.rope_dim / 2;
        let theta_scale = libm::powf(c.rope_theta, -2.0 / c.rope_dim as f32);
        for p in self.rope_cos.len() / half..n {
            let mut theta = p as f32;
            for _ in 0..half {
                self.rope_cos.push(libm::cosf(theta));
                self.rope_sin.push(libm::sinf(theta));
                theta *= theta_scale;
            }
        }
    }
}

/// The chunk the run state is first sized for: the page's worker feeds the prompt 32 tokens at a
/// time (a longer chunk grows the buffers once).
const CHUNK: usize = 32;

impl State {
    /// Forgets everything after the first `n` positions.
    pub fn truncate(&mut self, n: usize, kv_dim: usize) {
        if n < self.n_past {
            for l in 0..self.k.len() {
                self.k[l].truncate(n * kv_dim);
                self.v[l].truncate(n * kv_dim);
            }
            self.n_past = n;
        }
    }

    pub fn reset(&mut self) {
        for l in 0..self.k.len() {
            self.k[l].clear();
            self.v[l].clear();
        }
        self.n_past = 0;
        self.attention.clear();
    }

    /// Bytes held by the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|c| c.capacity() * 4).sum()
    }

    /// The logits after the last token fed (zeros before any).
    pub fn logits(&self) -> &[f32] {
        &self.scratch.logits
    }
}

pub struct Model {
    pub config: Config,
    pub weights: Weights,
    pub gguf: Gguf,
    /// Run the matrix products with the scalar reference kernels instead of this build's SIMD
    /// ones (the same numbers by construction; tests compare the two end to end).
    pub reference_kernels: bool,
    file: ModelFile,
}

// ------------------------------------------------------------------------------------------------
// Construction
// ------------------------------------------------------------------------------------------------

impl Model {
    /// Builds the model over the file's bytes. `progress(done, total)` is called per tensor.
    pub fn load(file: ModelFile, progress: &mut dyn FnMut(usize, usize)) -> Result<Model, Error> {
        let gguf = Gguf::read(file.bytes())?;
        let arch = gguf.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(Error::Unsupported(format!(
                "architecture \"{arch}\"; this engine runs \"llama\" models (SmolLM, Llama, TinyLlama ...)"
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let usize_of = |k: &str| -> Result<usize, Error> {
            let v = gguf.get_u64(&key(k))?;
            if v == 0 || v > 1 << 20 {
                return Err(Error::Format(format!("metadata {} is {v}; expected 1 to {}", key(k), 1 << 20)));
            }
            Ok(v as usize)
        };
        let n_layer = usize_of("block_count")?;
        let n_embd = usize_of("embedding_length")?;
        let n_head = usize_of("attention.head_count")?;
        let n_head_kv = if gguf.get(&key("attention.head_count_kv")).is_some() { usize_of("attention.head_count_kv")? } else { n_head };
        let n_ff = usize_of("feed_forward_length")?;
        let n_ctx_train = usize_of("context_length")?;
        if n_embd % n_head != 0 || n_head % n_head_kv != 0 {
            return Err(Error::Format(format!(
                "n_embd {n_embd}, {n_head} heads and {n_head_kv} KV heads do not divide evenly"
            )));
        }
        let head_dim = n_embd / n_head;
        let rope_dim = match gguf.get(&key("rope.dimension_count")) {
            Some(_) => usize_of("rope.dimension_count")?,
            None => head_dim,
        };
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::Format(format!("rope.dimension_count {rope_dim} does not fit head size {head_dim}")));
        }
        let rope_theta = match gguf.get(&key("rope.freq_base")) {
            Some(_) => gguf.get_f64(&key("rope.freq_base"))? as f32,
            None => 10000.0,
        };
        let rms_eps = gguf.get_f64(&key("attention.layer_norm_rms_epsilon")).unwrap_or(1e-5) as f32;
        if !(rope_theta.is_finite() && rope_theta > 0.0 && rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(Error::Format(format!("rope.freq_base {rope_theta} or rms epsilon {rms_eps} is not usable")));
        }
        if n_embd % QK != 0 || n_ff % QK != 0 {
            return Err(Error::Format(format!("n_embd {n_embd} and n_ff {n_ff} must be multiples of {QK}")));
        }

        let kv_dim = n_head_kv * head_dim;
        let total = 3 + n_layer * 9;
        let mut done = 0usize;
        let mut step = |done: &mut usize| {
            *done += 1;
            progress(*done, total);
        };

        let token_embd = matrix(&gguf, "token_embd.weight", n_embd, None)?;
        let n_vocab = token_embd.rows;
        step(&mut done);
        // A lying block_count runs into a missing tensor; reserve only what the index can hold.
        let mut layers = Vec::with_capacity(n_layer.min(gguf.tensors.len() / 9));
        for i in 0..n_layer {
            let p = |s: &str| format!("blk.{i}.{s}.weight");
            let lw = LayerWeights {
                attn_norm: vector(&gguf, &p("attn_norm"), n_embd)?,
                wq: matrix(&gguf, &p("attn_q"), n_embd, Some(n_embd))?,
                wk: matrix(&gguf, &p("attn_k"), n_embd, Some(kv_dim))?,
                wv: matrix(&gguf, &p("attn_v"), n_embd, Some(kv_dim))?,
                wo: matrix(&gguf, &p("attn_output"), n_embd, Some(n_embd))?,
                ffn_norm: vector(&gguf, &p("ffn_norm"), n_embd)?,
                w_gate: matrix(&gguf, &p("ffn_gate"), n_embd, Some(n_ff))?,
                w_up: matrix(&gguf, &p("ffn_up"), n_embd, Some(n_ff))?,
                w_down: matrix(&gguf, &p("ffn_down"), n_ff, Some(n_embd))?,
            };
            for m in [&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down] {
                check_scales(file.bytes(), m)?;
                step(&mut done);
            }
            for v in [&lw.attn_norm, &lw.ffn_norm] {
                check_finite(file.bytes(), v)?;
                step(&mut done);
            }
            layers.push(lw);
        }
        let output_norm = vector(&gguf, "output_norm.weight", n_embd)?;
        check_finite(file.bytes(), &output_norm)?;
        step(&mut done);
        let (output, tied_output) = match gguf.tensor("output.weight") {
            Some(_) => (matrix(&gguf, "output.weight", n_embd, Some(n_vocab))?, false),
            None => (token_embd.clone(), true),
        };
        check_scales(file.bytes(), &token_embd)?;
        if !tied_output {
            check_scales(file.bytes(), &output)?;
        }
        step(&mut done);

        let config = Config {
            architecture: arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            n_ff,
            n_vocab,
            n_ctx_train,
            rope_theta,
            rope_dim,
            rms_eps,
            tied_output,
        };
        Ok(Model { config, weights: Weights { token_embd, layers, output_norm, output }, gguf, reference_kernels: false, file })
    }

    pub fn file(&self) -> &[u8] {
        self.file.bytes()
    }

    /// A fresh run state for a context of `n_ctx` tokens (capped at the trained context).
    pub fn new_state(&self, n_ctx: usize) -> State {
        let n_ctx = n_ctx.clamp(1, self.config.n_ctx_train);
        State {
            n_ctx,
            n_past: 0,
            k: vec![Vec::new(); self.config.n_layer],
            v: vec![Vec::new(); self.config.n_layer],
            capture_attention: false,
            attention: Vec::new(),
            scratch: Scratch::new(&self.config, n_ctx, CHUNK.min(n_ctx)),
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

    fn vector(&self, v: &Vector) -> Result<&[f32], Error> {
        kernels::cast_f32(&self.file.bytes()[v.offset..v.offset + v.len * 4])
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

    /// The embedding row of a token, decoded from the quantized `token_embd`.
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
        let (d, hd, kvd, nh, ff) = (c.n_embd, c.head_dim, c.n_head_kv * c.head_dim, c.n_head, c.n_ff);
        let group = c.n_head / c.n_head_kv;
        let half = c.rope_dim / 2;
        let p0 = state.n_past;
        let n_final = p0 + t_n;
        let scale = 1.0 / (hd as f32).sqrt();

        let sc = &mut state.scratch;
        sc.reserve(c, t_n);
        sc.extend_rope(c, n_final);
        let Scratch { x, xn, q, k, v, att, proj, gate, up, acts, scores, hn, logits, rope_cos, rope_sin, .. } = sc;
        // This call's part of each buffer; every element is written before it is read.
        let (x, xn, q, att, proj) = (&mut x[..t_n * d], &mut xn[..t_n * d], &mut q[..t_n * d], &mut att[..t_n * d], &mut proj[..t_n * d]);
        let (k, v, gate, up) = (&mut k[..t_n * kvd], &mut v[..t_n * kvd], &mut gate[..t_n * ff], &mut up[..t_n * ff]);

        for (t, &id) in tokens.iter().enumerate() {
            self.embedding(id, &mut x[t * d..(t + 1) * d])?;
        }
        if state.capture_attention {
            state.attention.clear();
            state.attention.resize(c.n_layer * nh * n_final, 0.0);
        }

        for (l, lw) in self.weights.layers.iter().enumerate() {
            // Attention
            rms_norm(x, self.vector(&lw.attn_norm)?, c.rms_eps, xn);
            acts.quantize(xn, d);
            self.matmul(&lw.wq, acts, q)?;
            self.matmul(&lw.wk, acts, k)?;
            self.matmul(&lw.wv, acts, v)?;
            for t in 0..t_n {
                let p = p0 + t;
                let (cos, sin) = (&rope_cos[p * half..(p + 1) * half], &rope_sin[p * half..(p + 1) * half]);
                rope(&mut q[t * d..(t + 1) * d], hd, c.rope_dim, cos, sin);
                rope(&mut k[t * kvd..(t + 1) * kvd], hd, c.rope_dim, cos, sin);
            }
            state.k[l].extend_from_slice(k);
            state.v[l].extend_from_slice(v);
            let (kc, vc) = (&state.k[l], &state.v[l]);
            for t in 0..t_n {
                let n = p0 + t + 1; // causal: this token sees itself and everything before
                for kvh in 0..c.n_head_kv {
                    // The `group` query heads that share this KV head.
                    let (h0, h1) = (kvh * group, (kvh + 1) * group);
                    let qg = &q[t * d + h0 * hd..t * d + h1 * hd];
                    let out = &mut att[t * d + h0 * hd..t * d + h1 * hd];
                    kernels::attention_group(qg, hd, &kc[kvh * hd..], &vc[kvh * hd..], kvd, n, scale, &mut scores[..group * n], out);
                    if state.capture_attention && t == t_n - 1 {
                        for (i, h) in (h0..h1).enumerate() {
                            let base = (l * nh + h) * n_final;
                            state.attention[base..base + n].copy_from_slice(&scores[i * n..(i + 1) * n]);
                        }
                    }
                }
            }
            acts.quantize(att, d);
            self.matmul(&lw.wo, acts, proj)?;
            add_in_place(x, proj);

            // Feed-forward (SwiGLU)
            rms_norm(x, self.vector(&lw.ffn_norm)?, c.rms_eps, xn);
            acts.quantize(xn, d);
            self.matmul(&lw.w_gate, acts, gate)?;
            self.matmul(&lw.w_up, acts, up)?;
            for (g, u) in gate.iter_mut().zip(up.iter()) {
                *g = *g / (1.0 + kernels::exp_f32(-*g)) * u;
            }
            acts.quantize(gate, ff);
            self.matmul(&lw.w_down, acts, proj)?;
            add_in_place(x, proj);
        }
        state.n_past += t_n;

        // Only the last position's logits are needed.
        let last = &x[(t_n - 1) * d..];
        rms_norm(last, self.vector(&self.weights.output_norm)?, c.rms_eps, hn);
        acts.quantize(hn, d);
        self.matmul(&self.weights.output, acts, logits)?;
        Ok(logits)
    }
}

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn find<'a>(g: &'a Gguf, name: &str) -> Result<&'a TensorInfo, Error> {
    g.tensor(name).ok_or_else(|| Error::Missing(format!("tensor {name}")))
}

/// A weight matrix with `cols` columns and, if given, `rows` rows, of a type the kernels run,
/// whose rows are whole blocks of its type.
fn matrix(g: &Gguf, name: &str, cols: usize, rows: Option<usize>) -> Result<Matrix, Error> {
    let t = find(g, name)?;
    let Some(ty) = WeightType::of(t.ggml_type) else {
        return Err(Error::Unsupported(format!(
            "tensor {name} has type {}; this engine computes with {} matrices",
            t.ggml_type,
            WeightType::names()
        )));
    };
    let (c, r) = (t.dims[0] as usize, t.dims.get(1).copied().unwrap_or(1) as usize);
    if t.dims.len() != 2 || c != cols || rows.is_some_and(|want| want != r) {
        return Err(Error::Format(format!(
            "tensor {name} has shape {:?}; expected [{cols}, {}]",
            t.dims,
            rows.map_or("n".to_string(), |r| r.to_string())
        )));
    }
    if !c.is_multiple_of(ty.qk()) {
        return Err(Error::Format(format!(
            "tensor {name} is {} with rows of {c} values, not a whole number of its {}-value blocks",
            t.ggml_type,
            ty.qk()
        )));
    }
    let (be, bb) = t.ggml_type.block();
    let want = (r * (c / be as usize)) as u64 * bb;
    if t.n_bytes != want {
        return Err(Error::Format(format!("tensor {name}: {} bytes for a {} tensor of {r} × {c}, which takes {want}", t.n_bytes, t.ggml_type)));
    }
    Ok(Matrix { name: name.into(), ty, rows: r, cols: c, offset: t.offset as usize, bytes: t.n_bytes as usize })
}

fn vector(g: &Gguf, name: &str, len: usize) -> Result<Vector, Error> {
    let t = find(g, name)?;
    if t.ggml_type != GgmlType::F32 {
        return Err(Error::Unsupported(format!("tensor {name} has type {}; norm weights must be F32", t.ggml_type)));
    }
    if t.n_elements as usize != len {
        return Err(Error::Format(format!("tensor {name} has shape {:?}; expected [{len}]", t.dims)));
    }
    Ok(Vector { name: name.into(), offset: t.offset as usize, len })
}

/// Refuses infinite or NaN block scales (and float weights): the kernels' fast f16 conversion
/// assumes finite ones, and one such weight turns every logit into NaN.
fn check_scales(file: &[u8], m: &Matrix) -> Result<(), Error> {
    match kernels::first_non_finite(m.ty, &file[m.offset..m.offset + m.bytes])? {
        Some(i) if m.ty.qk() == 1 => Err(Error::Format(format!("tensor {} ({}) has an infinite or NaN weight at index {i}", m.name, m.ty.ggml()))),
        Some(i) => Err(Error::Format(format!("tensor {} ({}) has an infinite or NaN scale in block {i}", m.name, m.ty.ggml()))),
        None => Ok(()),
    }
}

/// Refuses NaN or infinite norm weights (they would turn every logit into NaN).
fn check_finite(file: &[u8], v: &Vector) -> Result<(), Error> {
    let x = kernels::cast_f32(&file[v.offset..v.offset + v.len * 4])?;
    match x.iter().position(|w| !w.is_finite()) {
        Some(i) => Err(Error::Format(format!("tensor {} has a NaN or infinite value at index {i}", v.name))),
        None => Ok(()),
    }
}

/// x / sqrt(mean(x²) + eps) * w, row by row; the sum of squares in f64 as ggml does.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let ss: f64 = xr.iter().map(|&v| (v * v) as f64).sum();
        let s = 1.0 / ((ss / d as f64) as f32 + eps).sqrt();
        for i in 0..d {
            or[i] = xr[i] * s * w[i];
        }
    }
}

fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Rotates adjacent pairs (x[2i], x[2i+1]) of every head: llama's "normal" RoPE, which GGUF
/// llama files are converted for.
fn rope(x: &mut [f32], hd: usize, rope_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(hd) {
        for i in 0..rope_dim / 2 {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * cos[i] - b * sin[i];
            head[2 * i + 1] = a * sin[i] + b * cos[i];
        }
    }
}
