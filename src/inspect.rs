//! What the page and `plumbing inspect` show of a model: the metadata, the tensor index, and the
//! real values of a tensor (statistics, a downsampled heatmap, a histogram, one block up close).

use serde_json::{json, Value as Json};

use crate::generate::Engine;
use crate::gguf::TensorInfo;
use crate::kernels::{self, WeightType};
use crate::model::Model;
use crate::Error;

/// Metadata (long arrays cut to their first `max_items`), config and the tensor index.
pub fn info(engine: &Engine, max_items: usize) -> Json {
    let m = &engine.model;
    let g = &m.gguf;
    let metadata: Vec<Json> = g
        .metadata
        .iter()
        .map(|(k, v)| {
            let mut e = json!({"key": k, "type": v.type_name(), "value": v.to_json_summary(max_items)});
            if let Some(a) = v.as_array() {
                e["len"] = json!(a.len());
            }
            e
        })
        .collect();
    let tensors: Vec<Json> = g.tensors.iter().map(tensor_entry).collect();
    let t = &engine.tokenizer;
    let mut config = json!(m.config);
    // The context a session gets unless it asks for another (GenParams.n_ctx).
    config["n_ctx"] = json!(crate::generate::DEFAULT_N_CTX.min(m.config.n_ctx_train));
    json!({
        "file_bytes": g.file_len,
        "gguf_version": g.version,
        "architecture": m.config.architecture,
        "name": g.get("general.name").and_then(|v| v.as_str()).unwrap_or(""),
        "config": config,
        // The one set of defaults (GenParams::default()): callers read them here.
        "defaults": defaults(),
        "kernels": kernels::ARCH,
        "alignment": g.alignment,
        "data_offset": g.data_offset,
        "metadata": metadata,
        "tensors": tensors,
        "bos_id": t.bos_id,
        "eos_id": t.eos_id,
        "eog_ids": t.eog_ids,
        "add_bos": t.add_bos,
        "tokenizer_pre": t.pre,
        "chat_template": t.chat_template,
        // A base model has none: the page and the widget offer continuation instead of a chat.
        "has_template": t.chat_template.is_some(),
        "think": think(engine),
        "recognised": recognised(g),
    })
}

/// The reasoning block's tokens, when the vocabulary has them (`<think>` … `</think>`, as the
/// DeepSeek-R1 distills and Qwen3 write it), and whether the chat template opens the block itself
/// (then the generated text starts inside it). The page splits the stream on these texts.
pub fn think(engine: &Engine) -> Json {
    let g = &engine.model.gguf;
    let tokens = g.get("tokenizer.ggml.tokens").and_then(|v| v.as_array()).unwrap_or(&[]);
    let find = |text: &str| tokens.iter().position(|v| v.as_str() == Some(text));
    match (find("<think>"), find("</think>")) {
        (Some(open), Some(close)) => {
            // Rendered, not pattern-matched: the generation prompt ends inside an opened block.
            let msg = crate::tokenizer::ChatMessage { role: "user".into(), content: "x".into() };
            let opens = engine.tokenizer.apply_chat_template(&[msg], true).is_ok_and(|p| p.trim_end().ends_with("<think>"));
            json!({"open": "<think>", "close": "</think>", "open_id": open, "close_id": close, "template_opens": opens})
        }
        _ => Json::Null,
    }
}

/// What the page says it recognised in a file: the general.* names a model is known by (matched
/// against models/manifest.json's "bring the file" entries), parameters and tensors by type.
pub fn recognised(g: &crate::gguf::Gguf) -> Json {
    let s = |k: &str| g.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let mut by_type: std::collections::BTreeMap<&'static str, (u64, u64, u64)> = Default::default();
    let mut n_params = 0u64;
    for t in &g.tensors {
        let e = by_type.entry(t.ggml_type.name()).or_default();
        e.0 += 1;
        e.1 += t.n_elements;
        e.2 += t.n_bytes;
        n_params += t.n_elements;
    }
    let types: Vec<Json> =
        by_type.iter().map(|(k, (n, p, b))| json!({"type": k, "tensors": n, "params": p, "bytes": b})).collect();
    json!({
        "architecture": s("general.architecture"),
        "name": s("general.name"),
        "basename": s("general.basename"),
        "size_label": s("general.size_label"),
        "finetune": s("general.finetune"),
        "organization": s("general.organization"),
        "license": s("general.license"),
        "n_params": n_params,
        "types": types,
    })
}

/// GenParams::default() as JSON numbers as they are written (0.7, not the f64 nearest the f32).
pub fn defaults() -> Json {
    serde_json::to_string(&crate::generate::GenParams::default()).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Json::Null)
}

pub fn tensor_entry(t: &TensorInfo) -> Json {
    let g = geometry(t);
    let (role, group, layer) = role(&t.name);
    json!({
        "name": t.name,
        "type": t.ggml_type.name(),
        "shape": t.dims,
        "n_params": t.n_elements,
        "bytes": t.n_bytes,
        "offset": t.offset,
        "role": role,
        "group": group,
        "layer": layer,
        "rows": g.rows,
        "cols": g.cols,
        "block": {"elements": g.elements, "bytes": g.bytes, "per_row": g.per_row},
    })
}

/// What a tensor is for, from its GGUF name: (role, group, layer).
/// Roles: embedding, attn_norm, attn_q, attn_k, attn_v, attn_output, attn_q_norm, attn_k_norm
/// (Qwen3, Gemma 3), post_attention_norm, post_ffw_norm (Gemma 3), ffn_norm, ffn_gate, ffn_up,
/// ffn_down, output_norm, output, rope_freqs (Llama 3), other; biases (Qwen2) share their weight's
/// role; groups: embedding, attention, mlp, norm, output, other.
pub fn role(name: &str) -> (&'static str, &'static str, Option<usize>) {
    let (layer, rest) = match name.strip_prefix("blk.").and_then(|r| r.split_once('.')) {
        Some((n, rest)) => match n.parse::<usize>() {
            Ok(l) => (Some(l), rest),
            Err(_) => (None, name),
        },
        None => (None, name),
    };
    let base = rest.strip_suffix(".weight").or_else(|| rest.strip_suffix(".bias")).unwrap_or(rest);
    let (role, group) = match (layer.is_some(), base) {
        (false, "token_embd") => ("embedding", "embedding"),
        (false, "output_norm") => ("output_norm", "norm"),
        (false, "output") => ("output", "output"),
        (false, "rope_freqs") => ("rope_freqs", "other"),
        (true, "attn_norm") => ("attn_norm", "norm"),
        (true, "attn_q") => ("attn_q", "attention"),
        (true, "attn_k") => ("attn_k", "attention"),
        (true, "attn_v") => ("attn_v", "attention"),
        (true, "attn_output") => ("attn_output", "attention"),
        (true, "attn_q_norm") => ("attn_q_norm", "norm"),
        (true, "attn_k_norm") => ("attn_k_norm", "norm"),
        (true, "post_attention_norm") => ("post_attention_norm", "norm"),
        (true, "post_ffw_norm") => ("post_ffw_norm", "norm"),
        (true, "ffn_norm") => ("ffn_norm", "norm"),
        (true, "ffn_gate") => ("ffn_gate", "mlp"),
        (true, "ffn_up") => ("ffn_up", "mlp"),
        (true, "ffn_down") => ("ffn_down", "mlp"),
        _ => ("other", "other"),
    };
    (role, group, layer)
}

/// How a tensor is cut for display: `rows` rows of `cols` values, and the unit `tensor_block`
/// shows, `per_row` to a row: ggml's block for a quantized type (`elements` values in `bytes`
/// bytes), a run of 32 values for F32/F16/BF16 (the last one shorter when cols is not a
/// multiple of 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub elements: usize,
    pub bytes: usize,
    pub per_row: usize,
}

/// Values shown per block of an unquantized tensor.
const FLOAT_RUN: usize = 32;

pub fn geometry(t: &TensorInfo) -> Geometry {
    let (rows, cols) = shape(t);
    let (be, bb) = t.ggml_type.block();
    let (be, bb) = (be as usize, bb as usize);
    if be == 1 {
        Geometry { rows, cols, elements: FLOAT_RUN, bytes: FLOAT_RUN * bb, per_row: cols.div_ceil(FLOAT_RUN) }
    } else {
        Geometry { rows, cols, elements: be, bytes: bb, per_row: cols / be }
    }
}

fn find<'a>(m: &'a Model, name: &str) -> Result<&'a TensorInfo, Error> {
    m.gguf.tensor(name).ok_or_else(|| Error::Missing(format!("tensor {name}")))
}

fn shape(t: &TensorInfo) -> (usize, usize) {
    let cols = t.dims[0] as usize;
    (t.n_elements as usize / cols, cols)
}

/// Calls `f(row, values)` for every row of the tensor, dequantized.
fn for_each_row(m: &Model, t: &TensorInfo, mut f: impl FnMut(usize, &[f32])) -> Result<(), Error> {
    let (rows, cols) = shape(t);
    let row_bytes = t.n_bytes as usize / rows;
    let data = &m.file()[t.offset as usize..(t.offset + t.n_bytes) as usize];
    let mut buf = vec![0f32; cols];
    for r in 0..rows {
        let b = &data[r * row_bytes..(r + 1) * row_bytes];
        let Some(ty) = WeightType::of(t.ggml_type) else {
            return Err(Error::Unsupported(format!("tensor {} has type {}, which cannot be shown", t.name, t.ggml_type)));
        };
        kernels::dequantize(ty, b, &mut buf)?;
        f(r, &buf);
    }
    Ok(())
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Stats {
    pub min: f32,
    pub max: f32,
    pub mean: f64,
    pub std: f64,
}

pub fn tensor_stats(m: &Model, name: &str) -> Result<Stats, Error> {
    let t = find(m, name)?;
    let (mut min, mut max, mut sum, mut sq) = (f32::INFINITY, f32::NEG_INFINITY, 0f64, 0f64);
    for_each_row(m, t, |_, row| {
        for &v in row {
            min = min.min(v);
            max = max.max(v);
            sum += v as f64;
            sq += (v as f64) * (v as f64);
        }
    })?;
    let n = t.n_elements as f64;
    let mean = sum / n;
    Ok(Stats { min, max, mean, std: (sq / n - mean * mean).max(0.0).sqrt() })
}

/// A tensor drawn small: each heatmap cell is the mean of the values it covers.
pub struct TensorView {
    pub rows: usize,
    pub cols: usize,
    pub width: usize,
    pub height: usize,
    pub stats: Stats,
    pub heatmap: Vec<f32>,
    pub histogram: Vec<u32>,
}

pub fn tensor_view(m: &Model, name: &str, max_w: usize, max_h: usize, bins: usize) -> Result<TensorView, Error> {
    let t = find(m, name)?;
    let (rows, cols) = shape(t);
    let width = cols.min(max_w.clamp(1, 4096));
    let height = rows.min(max_h.clamp(1, 4096));
    let bins = bins.clamp(1, 4096);
    let stats = tensor_stats(m, name)?;
    let mut sums = vec![0f64; width * height];
    let mut counts = vec![0u32; width * height];
    let mut histogram = vec![0u32; bins];
    let span = (stats.max - stats.min).max(f32::MIN_POSITIVE);
    for_each_row(m, t, |r, row| {
        let y = r * height / rows;
        for (c, &v) in row.iter().enumerate() {
            let i = y * width + c * width / cols;
            sums[i] += v as f64;
            counts[i] += 1;
            let b = (((v - stats.min) / span) * bins as f32) as usize;
            histogram[b.min(bins - 1)] += 1;
        }
    })?;
    let heatmap = sums.iter().zip(&counts).map(|(s, &c)| if c > 0 { (*s / c as f64) as f32 } else { 0.0 }).collect();
    Ok(TensorView { rows, cols, width, height, stats, heatmap, histogram })
}

/// One block up close, for every type through the same two calls (kernels::view for its parts as
/// stored, kernels::dequantize for its values): the block's bytes and where they are in the file,
/// its named f16 scales (d, and m or dmin), its sub-blocks' integer scales and minimums
/// (K-quants), each value's code and bits per code, the formula that decodes them and the
/// values. For F32/F16/BF16 the unit is a run of up to 32 values (see `geometry`): their values,
/// and no scales or codes.
pub fn tensor_block(m: &Model, name: &str, row: usize, block: usize) -> Result<Json, Error> {
    let t = find(m, name)?;
    let g = geometry(t);
    if row >= g.rows || block >= g.per_row {
        return Err(Error::Limit(format!(
            "tensor {name} has {} rows of {} blocks; asked for row {row}, block {block}",
            g.rows, g.per_row
        )));
    }
    let Some(ty) = WeightType::of(t.ggml_type) else {
        return Err(Error::Unsupported(format!("tensor {name} has type {}, whose blocks cannot be shown", t.ggml_type)));
    };
    // The unit's columns a..b, and its bytes: one ggml block of a quantized type, or b - a
    // one-value "blocks" of a float type.
    let (qk, bb) = t.ggml_type.block();
    let (qk, bb) = (qk as usize, bb as usize);
    let (a, b) = (block * g.elements, ((block + 1) * g.elements).min(g.cols));
    let row_bytes = t.n_bytes as usize / g.rows;
    let (start, end) = (t.offset as usize + row * row_bytes + a / qk * bb, t.offset as usize + row * row_bytes + b / qk * bb);
    let bytes = m.file().get(start..end).ok_or_else(|| {
        Error::Format(format!("tensor {name} block {block} of row {row} needs bytes {start}..{end}, file has {}", m.file().len()))
    })?;
    let mut values = vec![0f32; b - a];
    kernels::dequantize(ty, bytes, &mut values)?;
    // The parts as stored, block by block (one block, or each value of a float run).
    let mut v = kernels::view(ty, bytes.get(..bb).unwrap_or(bytes))?;
    for rest in bytes.chunks_exact(bb).skip(1) {
        let w = kernels::view(ty, rest)?;
        v.codes.extend(w.codes);
        v.sub_scales.extend(w.sub_scales);
        v.sub_mins.extend(w.sub_mins);
    }
    let mut j = json!({
        "name": name,
        "type": t.ggml_type.name(),
        "row": row,
        "block": block,
        "col": a,
        "offset": start,
        "bytes": bytes,
        "scales": v.scales,
        "sub_len": v.sub_len,
        "sub_scales": v.sub_scales,
        "sub_mins": v.sub_mins,
        "codes": v.codes,
        "code_bits": v.code_bits,
        "formula": v.formula,
        "values": values,
    });
    for (k, x) in &v.scales {
        j[*k] = json!(x);
    }
    // Bits per sub-block scale (and per minimum): the bits of the block that are neither an f16
    // scale nor a code, shared evenly by the sub-blocks' scales and minimums (Q4_K: 6, Q2_K: 4,
    // Q6_K: 8). Stated only where that division is exact.
    let parts = v.sub_scales.len() + v.sub_mins.len();
    let rest = (bb * 8).checked_sub(16 * v.scales.len() + qk * v.code_bits as usize);
    if let Some(rest) = rest.filter(|&r| parts > 0 && r.is_multiple_of(parts)) {
        j["sub_bits"] = json!(rest / parts);
    }
    Ok(j)
}

// ------------------------------------------------------------------------------------------------
// Inside the step: the logit lens, the residual stream, the MLP (issue #13)
// ------------------------------------------------------------------------------------------------
// Positions are absolute context positions (prompt tokens first, then the generated ones) that the
// session captured (`Model::capture_residuals`); the numbers come from src/model/lens.rs, the
// texts from the tokenizer. docs/engine-api.md describes the JSON these serialise to.

/// A token id and its text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Tok {
    pub id: u32,
    pub text: String,
}

/// One lens token: id, text, logit, probability.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LensToken {
    pub id: u32,
    pub text: String,
    pub logit: f32,
    pub prob: f32,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LensLayer {
    pub layer: usize,
    pub top: Vec<LensToken>,
}

/// The logit lens at one position: every layer's best LENS_TOP tokens.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Lens {
    pub pos: usize,
    /// The token fed at `pos`.
    pub token: Tok,
    /// The token at pos + 1 (what this position's output chose or was given), if there is one.
    pub next: Option<Tok>,
    pub layers: Vec<LensLayer>,
    pub ms: f64,
}

/// The residual stream at one position: L2 norms, one per layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Residual {
    pub pos: usize,
    /// The embedding as it enters layer 0 (times the model's embedding scale).
    pub embd: f32,
    /// What each attention block added.
    pub attn: Vec<f32>,
    /// What each MLP block added.
    pub mlp: Vec<f32>,
    /// The stream after each layer.
    pub resid: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NeuronValue {
    pub id: u32,
    pub value: f32,
}

/// The most activated MLP neurons of one layer at one position.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Mlp {
    pub pos: usize,
    pub layer: usize,
    pub neurons: Vec<NeuronValue>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CloseToken {
    pub id: u32,
    pub text: String,
    pub cos: f32,
}

/// One MLP neuron: its down-projection direction against the token embeddings, its value at a
/// position.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Neuron {
    pub layer: usize,
    pub neuron: usize,
    pub pos: usize,
    /// The L2 norm of its direction (column `neuron` of ffn_down).
    pub norm: f32,
    pub closest: Vec<CloseToken>,
    pub opposite: Vec<CloseToken>,
    /// Its gated activation at `pos` when among that position's TOP_NEURONS, else None.
    pub value: Option<f32>,
    /// Its place in that list.
    pub rank: Option<usize>,
    /// The smallest |value| of that list: |value| <= bound when it is not in it.
    pub bound: f32,
}

/// What is captured: whether capture is on, the positions held, the memory.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Capture {
    pub on: bool,
    pub from: usize,
    pub to: usize,
    pub cap: usize,
    pub bytes: usize,
    pub bytes_per_pos: usize,
}

fn session(e: &Engine) -> Result<&crate::generate::Session, Error> {
    e.session_ref().ok_or_else(|| Error::Request("no generation has been started".into()))
}

/// The token at context position `pos` of the session, if it has one.
fn token_at(s: &crate::generate::Session, pos: usize) -> Option<u32> {
    if pos < s.prompt.len() {
        Some(s.prompt[pos])
    } else {
        s.generated.get(pos - s.prompt.len()).copied()
    }
}

fn tok(e: &Engine, id: u32) -> Tok {
    Tok { id, text: e.tokenizer.token_text(id) }
}

fn lens_layer_of(e: &Engine, layer: usize, top: Vec<crate::model::TokenProb>) -> LensLayer {
    LensLayer { layer, top: top.into_iter().map(|t| LensToken { id: t.id, text: e.tokenizer.token_text(t.id), logit: t.logit, prob: t.prob }).collect() }
}

pub fn capture(e: &Engine) -> Capture {
    let on = e.model.capture_residuals;
    match e.session_ref() {
        Some(s) => {
            let r = s.state.captured();
            let (bytes, per) = s.state.capture_bytes();
            Capture { on, from: r.start, to: r.end, cap: s.state.capture_cap(), bytes, bytes_per_pos: per }
        }
        None => Capture { on, from: 0, to: 0, cap: 0, bytes: 0, bytes_per_pos: 0 },
    }
}

/// The logit lens at `pos`: every layer.
pub fn lens(e: &Engine, pos: usize) -> Result<Lens, Error> {
    let t0 = crate::now_ms();
    let s = session(e)?;
    let n_layer = e.model.config.n_layer;
    let tops = e.model.lens(&s.state, pos, 0..n_layer, crate::model::LENS_TOP)?;
    let layers = tops.into_iter().enumerate().map(|(l, t)| lens_layer_of(e, l, t)).collect();
    let token = token_at(s, pos).map(|id| tok(e, id)).ok_or_else(|| Error::Request(format!("position {pos} has no token")))?;
    Ok(Lens { pos, token, next: token_at(s, pos + 1).map(|id| tok(e, id)), layers, ms: crate::now_ms() - t0 })
}

/// The logit lens at `pos` for one layer (the same numbers as that layer's entry of `lens`).
pub fn lens_layer(e: &Engine, pos: usize, layer: usize) -> Result<LensLayer, Error> {
    let s = session(e)?;
    s.state.residual(pos, layer)?;
    let mut tops = e.model.lens(&s.state, pos, layer..layer + 1, crate::model::LENS_TOP)?;
    Ok(lens_layer_of(e, layer, tops.remove(0)))
}

/// The lens's whole logits at `pos` for one layer (n_vocab floats).
pub fn lens_logits(e: &Engine, pos: usize, layer: usize) -> Result<Vec<f32>, Error> {
    let s = session(e)?;
    s.state.residual(pos, layer)?;
    e.model.lens_logits(&s.state, pos, layer..layer + 1)
}

/// The norms of the residual stream at `pos`.
pub fn residual(e: &Engine, pos: usize) -> Result<Residual, Error> {
    let s = session(e)?;
    let (attn, mlp) = s.state.block_norms(pos)?;
    let c = &e.model.config;
    let resid = (0..c.n_layer).map(|l| s.state.residual(pos, l).map(crate::model::l2_norm)).collect::<Result<Vec<f32>, Error>>()?;
    let id = token_at(s, pos).ok_or_else(|| Error::Request(format!("position {pos} has no token")))?;
    let mut row = vec![0f32; c.n_embd];
    e.model.embedding(id, &mut row)?;
    if c.embd_scale != 1.0 {
        for v in row.iter_mut() {
            *v *= c.embd_scale;
        }
    }
    Ok(Residual { pos, embd: crate::model::l2_norm(&row), attn, mlp, resid })
}

/// The most activated MLP neurons of `layer` at `pos`.
pub fn mlp(e: &Engine, pos: usize, layer: usize) -> Result<Mlp, Error> {
    let s = session(e)?;
    let neurons = s.state.top_neurons(pos, layer)?.into_iter().map(|(id, value)| NeuronValue { id, value }).collect();
    Ok(Mlp { pos, layer, neurons })
}

/// MLP neuron `neuron` of `layer`: the tokens its direction is closest to, its value at `pos`.
pub fn neuron(e: &Engine, layer: usize, neuron: usize, pos: usize) -> Result<Neuron, Error> {
    let s = session(e)?;
    let top = s.state.top_neurons(pos, layer)?;
    let dir = e.model.neuron_direction(layer, neuron)?;
    let (closest, opposite) = e.model.closest_tokens(&dir, crate::model::CLOSEST)?;
    let close = |v: Vec<crate::model::Closest>| v.into_iter().map(|c| CloseToken { id: c.id, text: e.tokenizer.token_text(c.id), cos: c.cos }).collect();
    let rank = top.iter().position(|&(id, _)| id as usize == neuron);
    Ok(Neuron {
        layer,
        neuron,
        pos,
        norm: crate::model::l2_norm(&dir),
        closest: close(closest),
        opposite: close(opposite),
        value: rank.map(|r| top[r].1),
        rank,
        bound: top.last().map_or(0.0, |t| t.1.abs()),
    })
}
