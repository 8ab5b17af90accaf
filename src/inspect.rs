//! What the page and `plumbing inspect` show of a model: the metadata, the tensor index, and the
//! real values of a tensor (statistics, a downsampled heatmap, a histogram, one block up close).

use serde_json::{json, Value as Json};

use crate::generate::Engine;
use crate::gguf::{GgmlType, TensorInfo};
use crate::kernels::{self, BlockQ4_1, BlockQ8_0};
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
    })
}

pub fn tensor_entry(t: &TensorInfo) -> Json {
    json!({
        "name": t.name,
        "type": t.ggml_type.name(),
        "shape": t.dims,
        "n_params": t.n_elements,
        "bytes": t.n_bytes,
        "offset": t.offset,
    })
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
        match t.ggml_type {
            GgmlType::F32 => {
                for (o, c) in buf.iter_mut().zip(b.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            GgmlType::F16 => {
                for (o, c) in buf.iter_mut().zip(b.chunks_exact(2)) {
                    *o = half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32();
                }
            }
            GgmlType::Q4_1 => {
                for (blk, o) in kernels::cast_blocks::<BlockQ4_1>(b).iter().zip(buf.chunks_exact_mut(32)) {
                    kernels::dequantize_q4_1(blk, o);
                }
            }
            GgmlType::Q8_0 => {
                for (blk, o) in kernels::cast_blocks::<BlockQ8_0>(b).iter().zip(buf.chunks_exact_mut(32)) {
                    kernels::dequantize_q8_0(blk, o);
                }
            }
            other => return Err(Error::Unsupported(format!("tensor {} has type {other}, which cannot be shown", t.name))),
        }
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

/// One quantized block up close: its scale(s), codes and the values they decode to.
pub fn tensor_block(m: &Model, name: &str, row: usize, block: usize) -> Result<Json, Error> {
    let t = find(m, name)?;
    let (rows, cols) = shape(t);
    let (be, bb) = t.ggml_type.block();
    let (be, bb) = (be as usize, bb as usize);
    let per_row = cols / be;
    if row >= rows || block >= per_row.max(1) {
        return Err(Error::Limit(format!("tensor {name} has {rows} rows of {per_row} blocks; asked for row {row}, block {block}")));
    }
    let data = &m.file()[t.offset as usize..(t.offset + t.n_bytes) as usize];
    let row_bytes = t.n_bytes as usize / rows;
    match t.ggml_type {
        GgmlType::Q4_1 => {
            let off = row * row_bytes + block * bb;
            let b = &kernels::cast_blocks::<BlockQ4_1>(&data[off..off + bb])[0];
            let mut values = [0f32; 32];
            kernels::dequantize_q4_1(b, &mut values);
            let codes: Vec<u8> = (0..32).map(|j| if j < 16 { b.qs[j] & 0x0f } else { b.qs[j - 16] >> 4 }).collect();
            Ok(json!({"name": name, "type": "Q4_1", "row": row, "block": block, "offset": t.offset as usize + off,
                "d": kernels::f16_to_f32(b.d), "m": kernels::f16_to_f32(b.m), "codes": codes, "values": values.to_vec(),
                "bytes": data[off..off + bb].to_vec()}))
        }
        GgmlType::Q8_0 => {
            let off = row * row_bytes + block * bb;
            let b = &kernels::cast_blocks::<BlockQ8_0>(&data[off..off + bb])[0];
            let mut values = [0f32; 32];
            kernels::dequantize_q8_0(b, &mut values);
            Ok(json!({"name": name, "type": "Q8_0", "row": row, "block": block, "offset": t.offset as usize + off,
                "d": kernels::f16_to_f32(b.d), "codes": b.qs.to_vec(), "values": values.to_vec(),
                "bytes": data[off..off + bb].to_vec()}))
        }
        _ => {
            let mut values = Vec::new();
            for_each_row(m, t, |r, v| {
                if r == row {
                    values = v[block * 32..((block + 1) * 32).min(v.len())].to_vec();
                }
            })?;
            Ok(json!({"name": name, "type": t.ggml_type.name(), "row": row, "block": block, "values": values}))
        }
    }
}
