//! Building a `Model` over a GGUF file: the architecture's description, the hyperparameters,
//! every tensor found, shaped and checked (scales and norm weights finite) before anything runs.

use super::*;

impl Model {
    /// Builds the model over the file's bytes. `progress(done, total)` is called per tensor.
    pub fn load(file: ModelFile, progress: &mut dyn FnMut(usize, usize)) -> Result<Model, Error> {
        let gguf = Gguf::read(file.bytes())?;
        let name = gguf.get_str("general.architecture")?.to_string();
        let a = arch::find(&name)?;
        let key = |k: &str| format!("{name}.{k}");
        let has = |k: &str| gguf.get(&key(k)).is_some();
        let usize_of = |k: &str| -> Result<usize, Error> {
            let v = gguf.get_u64(&key(k))?;
            if v == 0 || v > 1 << 20 {
                return Err(Error::Format(format!("metadata {} is {v}; expected 1 to {}", key(k), 1 << 20)));
            }
            Ok(v as usize)
        };
        let f32_of = |k: &str, default: f32| -> Result<f32, Error> { if has(k) { Ok(gguf.get_f64(&key(k))? as f32) } else { Ok(default) } };
        let n_layer = usize_of("block_count")?;
        let n_embd = usize_of("embedding_length")?;
        let n_head = usize_of("attention.head_count")?;
        let n_head_kv = if has("attention.head_count_kv") { usize_of("attention.head_count_kv")? } else { n_head };
        let n_ff = usize_of("feed_forward_length")?;
        let n_ctx_train = usize_of("context_length")?;
        if n_head % n_head_kv != 0 {
            return Err(Error::Format(format!("{n_head} heads and {n_head_kv} KV heads do not divide evenly")));
        }
        let head_dim = if has("attention.key_length") {
            usize_of("attention.key_length")?
        } else if n_embd % n_head == 0 {
            n_embd / n_head
        } else {
            return Err(Error::Format(format!("n_embd {n_embd}, {n_head} heads and {n_head_kv} KV heads do not divide evenly")));
        };
        let value_length = if has("attention.value_length") { usize_of("attention.value_length")? } else { head_dim };
        if value_length != head_dim {
            return Err(Error::Unsupported(format!("{} {value_length} differs from key_length {head_dim}", key("attention.value_length"))));
        }
        let (q_dim, kv_dim) = (n_head * head_dim, n_head_kv * head_dim);
        if q_dim % QK != 0 || head_dim % 2 != 0 {
            return Err(Error::Format(format!(
                "head size {head_dim}: {n_head} heads × {head_dim} = {q_dim} is not a multiple of {QK}, or the head size is odd"
            )));
        }
        let rope_dim = if has("rope.dimension_count") { usize_of("rope.dimension_count")? } else { head_dim };
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::Format(format!("rope.dimension_count {rope_dim} does not fit head size {head_dim}")));
        }
        let rope_theta = f32_of("rope.freq_base", 10000.0)?;
        let rope_theta_swa = f32_of("rope.freq_base_swa", a.swa_rope_base)?;
        let rms_eps = f32_of("attention.layer_norm_rms_epsilon", a.rms_eps)?;
        if !(rope_theta.is_finite() && rope_theta > 0.0 && rope_theta_swa.is_finite() && rope_theta_swa > 0.0 && rms_eps.is_finite() && rms_eps >= 0.0) {
            return Err(Error::Format(format!(
                "rope.freq_base {rope_theta}, rope.freq_base_swa {rope_theta_swa} or rms epsilon {rms_eps} is not usable"
            )));
        }
        if n_embd % QK != 0 || n_ff % QK != 0 {
            return Err(Error::Format(format!("n_embd {n_embd} and n_ff {n_ff} must be multiples of {QK}")));
        }
        let final_softcap = if a.softcap { f32_of("final_logit_softcapping", 0.0)? } else { 0.0 };
        if !(final_softcap.is_finite() && final_softcap >= 0.0) {
            return Err(Error::Format(format!("{} is {final_softcap}", key("final_logit_softcapping"))));
        }

        // Sliding-window layers.
        let mut layers = vec![LayerKind::Global; n_layer];
        let mut sliding_window = 0;
        if a.swa_period > 0 && has("attention.sliding_window") {
            let w = gguf.get_u64(&key("attention.sliding_window"))?;
            if w == 0 || w > 1 << 20 {
                return Err(Error::Format(format!("metadata {} is {w}; expected 1 to {}", key("attention.sliding_window"), 1 << 20)));
            }
            sliding_window = w as usize;
            let period = if has("attention.sliding_window_pattern") {
                gguf.get_u64(&key("attention.sliding_window_pattern"))
                    .map_err(|_| Error::Unsupported(format!("metadata {} must be one number", key("attention.sliding_window_pattern"))))?
                    as usize
            } else {
                a.swa_period
            };
            // llama.cpp's set_swa_pattern: period 0 makes every layer slide.
            for (il, k) in layers.iter_mut().enumerate() {
                if period == 0 || il % period < period - 1 {
                    *k = LayerKind::Sliding;
                }
            }
        }

        let per_layer = 9 + 3 * a.qkv_bias as usize + 2 * a.qk_norm as usize + 2 * a.post_norms as usize;
        let total = 3 + n_layer * per_layer;
        let mut done = 0usize;
        let mut step = |done: &mut usize| {
            *done += 1;
            progress(*done, total);
        };
        let bytes = file.bytes();
        let checked = |v: Vector| -> Result<Vector, Error> {
            check_finite(bytes, &v)?;
            Ok(v)
        };
        let need = |req: bool, name: &str, len: usize| -> Result<Option<Vector>, Error> {
            if req || gguf.tensor(name).is_some() {
                Ok(Some(checked(vector(&gguf, name, len)?)?))
            } else {
                Ok(None)
            }
        };

        let token_embd = matrix(&gguf, "token_embd.weight", n_embd, None)?;
        let n_vocab = token_embd.rows;
        step(&mut done);
        // A lying block_count runs into a missing tensor; reserve only what the index can hold.
        let mut lws = Vec::with_capacity(n_layer.min(gguf.tensors.len() / 9));
        for i in 0..n_layer {
            let p = |s: &str| format!("blk.{i}.{s}.weight");
            let b = |s: &str| format!("blk.{i}.{s}.bias");
            let lw = LayerWeights {
                attn_norm: checked(vector(&gguf, &p("attn_norm"), n_embd)?)?,
                wq: matrix(&gguf, &p("attn_q"), n_embd, Some(q_dim))?,
                wk: matrix(&gguf, &p("attn_k"), n_embd, Some(kv_dim))?,
                wv: matrix(&gguf, &p("attn_v"), n_embd, Some(kv_dim))?,
                bq: need(a.qkv_bias, &b("attn_q"), q_dim)?,
                bk: need(a.qkv_bias, &b("attn_k"), kv_dim)?,
                bv: need(a.qkv_bias, &b("attn_v"), kv_dim)?,
                q_norm: need(a.qk_norm, &p("attn_q_norm"), head_dim)?,
                k_norm: need(a.qk_norm, &p("attn_k_norm"), head_dim)?,
                wo: matrix(&gguf, &p("attn_output"), q_dim, Some(n_embd))?,
                post_attn_norm: need(a.post_norms, &p("post_attention_norm"), n_embd)?,
                ffn_norm: checked(vector(&gguf, &p("ffn_norm"), n_embd)?)?,
                w_gate: matrix(&gguf, &p("ffn_gate"), n_embd, Some(n_ff))?,
                w_up: matrix(&gguf, &p("ffn_up"), n_embd, Some(n_ff))?,
                w_down: matrix(&gguf, &p("ffn_down"), n_ff, Some(n_embd))?,
                post_ffn_norm: need(a.post_norms, &p("post_ffw_norm"), n_embd)?,
            };
            // Optional tensors of other architectures are loaded but not counted.
            let (bias, qk) = (lw.bq.is_some() && lw.bk.is_some() && lw.bv.is_some(), lw.q_norm.is_some() && lw.k_norm.is_some());
            if lw.bq.is_some() != bias || lw.bk.is_some() != bias || lw.bv.is_some() != bias {
                return Err(Error::Missing(format!("tensor blk.{i}.attn_{{q,k,v}}.bias: the file has some of the three but not all")));
            }
            if lw.q_norm.is_some() != lw.k_norm.is_some() {
                return Err(Error::Missing(format!("tensor blk.{i}.attn_{{q,k}}_norm.weight: the file has one of the two")));
            }
            for m in [&lw.wq, &lw.wk, &lw.wv, &lw.wo, &lw.w_gate, &lw.w_up, &lw.w_down] {
                check_scales(bytes, m)?;
                step(&mut done);
            }
            for _ in 0..per_layer - 7 {
                step(&mut done);
            }
            if let Some(prev) = lws.first() {
                let prev: &LayerWeights = prev;
                if prev.bq.is_some() != bias || prev.q_norm.is_some() != qk {
                    return Err(Error::Missing(format!("tensor blk.{i}: layer 0 has q/k/v biases {} and q/k norms {}, this layer {bias} and {qk}", prev.bq.is_some(), prev.q_norm.is_some())));
                }
            }
            lws.push(lw);
        }
        let output_norm = checked(vector(&gguf, "output_norm.weight", n_embd)?)?;
        step(&mut done);
        let (output, tied_output) = match gguf.tensor("output.weight") {
            Some(_) => (matrix(&gguf, "output.weight", n_embd, Some(n_vocab))?, false),
            None => (token_embd.clone(), true),
        };
        check_scales(bytes, &token_embd)?;
        if !tied_output {
            check_scales(bytes, &output)?;
        }
        let rope_freqs = if a.rope_freqs && gguf.tensor("rope_freqs.weight").is_some() {
            let v = checked(vector(&gguf, "rope_freqs.weight", rope_dim / 2)?)?;
            let f = kernels::cast_f32(&bytes[v.offset..v.offset + v.len * 4])?;
            if let Some(i) = f.iter().position(|&x| x <= 0.0) {
                return Err(Error::Format(format!("tensor rope_freqs.weight has {} at index {i}; RoPE frequency factors must be > 0", f[i])));
            }
            Some(v)
        } else {
            None
        };
        step(&mut done);

        let (qkv_bias, qk_norm) = lws.first().map_or((false, false), |l| (l.bq.is_some(), l.q_norm.is_some()));
        let config = Config {
            architecture: name,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            q_dim,
            kv_dim,
            n_ff,
            n_vocab,
            n_ctx_train,
            rope: a.rope,
            rope_theta,
            rope_theta_swa,
            rope_dim,
            rope_freqs: rope_freqs.is_some(),
            rms_eps,
            tied_output,
            qkv_bias,
            qk_norm,
            post_norms: a.post_norms,
            ffn: a.ffn,
            embd_scale: if a.embd_scale { (n_embd as f32).sqrt() } else { 1.0 },
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            sliding_window,
            layers,
            final_softcap,
        };
        let gelu_f16 = if a.ffn == Ffn::Geglu { gelu_table() } else { Vec::new() };
        let weights = Weights { token_embd, layers: lws, output_norm, output, rope_freqs };
        Ok(Model { config, weights, gguf, reference_kernels: false, capture_residuals: false, gelu_f16, embd_norms: Default::default(), file })
    }
}

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
