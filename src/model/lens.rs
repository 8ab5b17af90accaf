//! Looking inside the forward pass at the positions it captured (`Model::capture_residuals`:
//! `Taps`, which the forward pass fills, is here too): the logit lens (the residual stream after a layer through the model's
//! own output: output_norm, the output head with the same kernels and activation quantization as
//! the real logits, the softcap), the norms of what each block writes into the stream, the most
//! activated MLP neurons, and a neuron's down-projection direction against the token embeddings.
//! Everything is computed on demand from the captured floats and the weights read in place: no
//! copy of any weight is kept (but the embedding rows' norms, computed once).

use std::ops::Range;

use super::{l2_norm, Config, Model, State};
use crate::kernels::{self, Acts};
use crate::Error;

/// Tokens each lens layer reports.
pub const LENS_TOP: usize = 5;
/// MLP neurons captured per layer and position (by |value|).
pub const TOP_NEURONS: usize = 16;
/// Tokens a neuron's direction reports, closest and opposite.
pub const CLOSEST: usize = 10;
/// Layers put through the output head together (they share each decoded weight block; every
/// token of a tile is computed in the same float order as a single one, so the numbers do not
/// depend on it).
const LENS_BATCH: usize = 4;

/// A token with its logit and its probability (softmax over the whole vocabulary, temperature 1).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct TokenProb {
    pub id: u32,
    pub logit: f32,
    pub prob: f32,
}

/// A token embedding's cosine similarity to a direction.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Closest {
    pub id: u32,
    pub cos: f32,
}

// ------------------------------------------------------------------------------------------------
// What a state captured
// ------------------------------------------------------------------------------------------------

impl State {
    /// The positions captured and still held (empty when nothing was captured).
    pub fn captured(&self) -> Range<usize> {
        self.taps.from..self.taps.to
    }

    /// The most positions held at once (the oldest give way beyond).
    pub fn capture_cap(&self) -> usize {
        self.taps.cap
    }

    /// Bytes the capture holds now, and per position.
    pub fn capture_bytes(&self) -> (usize, usize) {
        let t = &self.taps;
        (t.resid.capacity() * 4 + t.norms.capacity() * 4 + t.ids.capacity() * 4 + t.vals.capacity() * 4, Taps::bytes_per_pos_of(t.n_layer, t.d))
    }

    /// Tests: hold at most `n` positions (at least 1); forgets what is held.
    #[doc(hidden)]
    pub fn set_capture_cap(&mut self, n: usize) {
        self.taps.cap = n.max(1);
        self.taps.from = 0;
        self.taps.to = 0;
        self.taps.origin = 0;
    }

    /// The ring row of a captured position, or the error that says why it is not held.
    fn tap_row(&self, pos: usize) -> Result<usize, Error> {
        let t = &self.taps;
        if pos >= self.n_past {
            return Err(Error::Request(format!("position {pos} is not in the context: {} positions have been fed", self.n_past)));
        }
        if !(t.from..t.to).contains(&pos) {
            let held = if t.from == t.to { "none are held".to_string() } else { format!("positions {}..{} are held", t.from, t.to - 1) };
            return Err(Error::Request(format!(
                "position {pos} was not captured ({held}; capture_residuals was off when it was fed, or it is older than the last {} positions)",
                t.cap
            )));
        }
        Ok(t.row(pos))
    }

    fn check_layer(&self, layer: usize) -> Result<(), Error> {
        if layer >= self.taps.n_layer {
            return Err(Error::Request(format!("layer {layer} does not exist; the model has {} layers (0..{})", self.taps.n_layer, self.taps.n_layer - 1)));
        }
        Ok(())
    }

    /// The residual stream at `pos` after layer `layer` (n_embd floats, as the next layer read it).
    pub fn residual(&self, pos: usize, layer: usize) -> Result<&[f32], Error> {
        let row = self.tap_row(pos)?;
        self.check_layer(layer)?;
        let (l, d) = (self.taps.n_layer, self.taps.d);
        let at = (row * l + layer) * d;
        Ok(&self.taps.resid[at..at + d])
    }

    /// The L2 norms of what each layer's attention block and MLP block added to the stream at
    /// `pos` (after Gemma's post-norms: the vector actually added), n_layer each.
    pub fn block_norms(&self, pos: usize) -> Result<(Vec<f32>, Vec<f32>), Error> {
        let row = self.tap_row(pos)?;
        let l = self.taps.n_layer;
        let n = &self.taps.norms[row * l * 2..(row + 1) * l * 2];
        Ok((n.iter().step_by(2).copied().collect(), n.iter().skip(1).step_by(2).copied().collect()))
    }

    /// The TOP_NEURONS MLP neurons of layer `layer` at `pos` with the largest |gated activation|
    /// (the value entering ffn_down), as (neuron, value), largest first (ties: lower neuron).
    pub fn top_neurons(&self, pos: usize, layer: usize) -> Result<Vec<(u32, f32)>, Error> {
        let row = self.tap_row(pos)?;
        self.check_layer(layer)?;
        let at = (row * self.taps.n_layer + layer) * TOP_NEURONS;
        Ok(self.taps.ids[at..at + TOP_NEURONS].iter().copied().zip(self.taps.vals[at..at + TOP_NEURONS].iter().copied()).collect())
    }
}

// ------------------------------------------------------------------------------------------------
// The lens, and a neuron's direction
// ------------------------------------------------------------------------------------------------

impl Model {
    /// The logit lens at `pos` for the layers `layers`: each one's residual through the real
    /// output (Model::head), rows of n_vocab logits. The last layer's row is, bit for bit, the
    /// logits the forward pass computed after feeding the token at `pos`.
    pub fn lens_logits(&self, state: &State, pos: usize, layers: Range<usize>) -> Result<Vec<f32>, Error> {
        let (d, nv) = (self.config.n_embd, self.config.n_vocab);
        if layers.end > self.config.n_layer || layers.start >= layers.end {
            return Err(Error::Request(format!("layers {}..{} are not within the model's {} layers", layers.start, layers.end, self.config.n_layer)));
        }
        let n = layers.len();
        let mut out = vec![0f32; n * nv];
        let mut x = vec![0f32; LENS_BATCH.min(n) * d];
        let mut hn = x.clone();
        let mut acts = Acts::new();
        let mut i = 0;
        while i < n {
            let b = (n - i).min(LENS_BATCH);
            for j in 0..b {
                x[j * d..(j + 1) * d].copy_from_slice(state.residual(pos, layers.start + i + j)?);
            }
            self.head(&x[..b * d], &mut hn[..b * d], &mut acts, &mut out[i * nv..(i + b) * nv])?;
            i += b;
        }
        Ok(out)
    }

    /// The lens's `n` best tokens per layer of `layers` at `pos`.
    pub fn lens(&self, state: &State, pos: usize, layers: Range<usize>, n: usize) -> Result<Vec<Vec<TokenProb>>, Error> {
        let nv = self.config.n_vocab;
        let logits = self.lens_logits(state, pos, layers)?;
        Ok(logits.chunks_exact(nv).map(|z| top_with_probs(z, n)).collect())
    }

    /// Column `neuron` of blk.`layer`.ffn_down: what that MLP neuron, at value 1, adds to the
    /// residual stream (n_embd floats). Decoded on demand, one block per row, kept nowhere.
    pub fn neuron_direction(&self, layer: usize, neuron: usize) -> Result<Vec<f32>, Error> {
        let c = &self.config;
        if layer >= c.n_layer {
            return Err(Error::Request(format!("layer {layer} does not exist; the model has {} layers (0..{})", c.n_layer, c.n_layer - 1)));
        }
        if neuron >= c.n_ff {
            return Err(Error::Request(format!("neuron {neuron} does not exist; layer {layer}'s MLP has {} (0..{})", c.n_ff, c.n_ff - 1)));
        }
        let m = &self.weights.layers[layer].w_down;
        let qk = m.ty.qk();
        let row_bytes = m.bytes / m.rows;
        let block_bytes = row_bytes / (m.cols / qk);
        let (b, j) = (neuron / qk, neuron % qk);
        let mut block = vec![0f32; qk];
        let mut out = Vec::with_capacity(m.rows);
        for r in 0..m.rows {
            let at = m.offset + r * row_bytes + b * block_bytes;
            kernels::dequantize(m.ty, &self.file.bytes()[at..at + block_bytes], &mut block)?;
            out.push(block[j]);
        }
        Ok(out)
    }

    /// The L2 norm of every token_embd row (dequantized as `embedding` does), computed on the
    /// first call and kept.
    pub fn embedding_norms(&self) -> Result<&[f32], Error> {
        if let Some(v) = self.embd_norms.get() {
            return Ok(v);
        }
        let mut row = vec![0f32; self.config.n_embd];
        let mut norms = Vec::with_capacity(self.config.n_vocab);
        for id in 0..self.config.n_vocab {
            self.dequantize_row(&self.weights.token_embd, id, &mut row)?;
            norms.push(l2_norm(&row));
        }
        Ok(self.embd_norms.get_or_init(|| norms))
    }

    /// The `n` tokens whose embeddings (token_embd rows) are closest to `dir` by cosine
    /// similarity, and the `n` most opposite. The dot products are the matrix product of
    /// token_embd with `dir` as its activation row (quantized as every activation is: Q8_1, or
    /// Q8_K for K-quant embeddings), divided by both norms; a zero norm gives 0.
    pub fn closest_tokens(&self, dir: &[f32], n: usize) -> Result<(Vec<Closest>, Vec<Closest>), Error> {
        let (d, nv) = (self.config.n_embd, self.config.n_vocab);
        if dir.len() != d {
            return Err(Error::Request(format!("a direction has {d} values (n_embd), not {}", dir.len())));
        }
        let norms = self.embedding_norms()?;
        let mut acts = Acts::new();
        acts.quantize(dir, d);
        let mut cos = vec![0f32; nv];
        self.matmul(&self.weights.token_embd, &acts, &mut cos)?;
        let nd = l2_norm(dir);
        for (c, &ne) in cos.iter_mut().zip(norms) {
            let den = nd * ne;
            *c = if den > 0.0 { *c / den } else { 0.0 };
        }
        let closest = best(&cos, n, false).into_iter().map(|id| Closest { id, cos: cos[id as usize] }).collect();
        let opposite = best(&cos, n, true).into_iter().map(|id| Closest { id, cos: cos[id as usize] }).collect();
        Ok((closest, opposite))
    }
}

/// The `n` largest logits (ties: lower id first) with their probabilities: the softmax at
/// temperature 1 over all of `z` as the sampler computes it (src/sampler.rs), so that the last
/// layer's probabilities are the step's: max by kernels::max_f32, Z by kernels::softmax_sums,
/// p = exp_f32(l − max) / Z rounded to f32.
pub fn top_with_probs(z: &[f32], n: usize) -> Vec<TokenProb> {
    let max = kernels::max_f32(z);
    let (sum, _) = kernels::softmax_sums(z, max, 1.0);
    best(z, n, false)
        .into_iter()
        .map(|id| {
            let l = z[id as usize];
            TokenProb { id, logit: l, prob: (kernels::exp_f32(l - max) as f64 / sum) as f32 }
        })
        .collect()
}

/// The ids of the `n` largest values of `v` (`lowest`: the smallest), best first, ties by lower
/// id; NaN never chosen. One pass with a small sorted buffer.
fn best(v: &[f32], n: usize, lowest: bool) -> Vec<u32> {
    let key = |x: f32| if lowest { -x } else { x };
    let mut out: Vec<u32> = Vec::with_capacity(n + 1);
    for (i, &x) in v.iter().enumerate() {
        let k = key(x);
        if k.is_nan() || n == 0 || (out.len() == n && k <= key(v[out[n - 1] as usize])) {
            continue;
        }
        let at = out.iter().position(|&o| k > key(v[o as usize])).unwrap_or(out.len());
        out.insert(at, i as u32);
        out.truncate(n);
    }
    out
}

/// The captured positions (`Model::capture_residuals`): for each, the residual stream after every
/// layer, the L2 norms of what each attention and each MLP block added to it, and each layer's
/// TOP_NEURONS most activated MLP neurons. A ring of at most `cap` positions (the oldest give way),
/// grown with use; the positions held are always one run `from..to` (to <= n_past).
///
/// Memory: n_layer · (4·n_embd + 2·4 + TOP_NEURONS·8) bytes per position (SmolLM2-135M: 30 ·
/// (2304 + 8 + 128) = 73,200 bytes, 150 MB for 2048 positions; Gemma 3 270M: 18 · 2696 = 48,528
/// bytes), and at most CAPTURE_BYTES in all.
pub(super) struct Taps {
    n_layer: usize,
    d: usize,
    cap: usize,
    /// Held positions; `origin` is the position stored in ring row 0.
    from: usize,
    to: usize,
    origin: usize,
    rows: usize,
    resid: Vec<f32>, // (rows, n_layer, n_embd)
    norms: Vec<f32>, // (rows, n_layer, 2): attention, MLP
    ids: Vec<u32>,   // (rows, n_layer, TOP_NEURONS), by |value| descending, ties by id
    vals: Vec<f32>,  // (rows, n_layer, TOP_NEURONS)
}

/// The most bytes the captured positions hold (the oldest give way beyond): 256 MiB.
pub const CAPTURE_BYTES: usize = 256 << 20;

impl Taps {
    pub(super) fn new(c: &Config, n_ctx: usize) -> Taps {
        let per = Taps::bytes_per_pos_of(c.n_layer, c.n_embd);
        Taps {
            n_layer: c.n_layer,
            d: c.n_embd,
            cap: n_ctx.min(CAPTURE_BYTES / per).max(1),
            from: 0,
            to: 0,
            origin: 0,
            rows: 0,
            resid: Vec::new(),
            norms: Vec::new(),
            ids: Vec::new(),
            vals: Vec::new(),
        }
    }

    fn bytes_per_pos_of(n_layer: usize, d: usize) -> usize {
        n_layer * (4 * d + 2 * 4 + TOP_NEURONS * 8)
    }

    /// The ring row of position `p` (held or about to be written).
    fn row(&self, p: usize) -> usize {
        (p - self.origin) % self.cap
    }

    /// Before positions p0..p0 + n are fed with capture on: the run restarts at p0 unless it ends
    /// there, and the ring grows (doubling, at most `cap` rows) to hold them.
    pub(super) fn begin(&mut self, p0: usize, n: usize) {
        if self.to != p0 || self.from == self.to {
            self.from = p0;
            self.to = p0;
            self.origin = p0;
        }
        let need = (p0 + n - self.origin).min(self.cap);
        if need > self.rows {
            let rows = need.max(2 * self.rows).min(self.cap);
            let (l, d, k) = (self.n_layer, self.d, TOP_NEURONS);
            self.resid.resize(rows * l * d, 0.0);
            self.norms.resize(rows * l * 2, 0.0);
            self.ids.resize(rows * l * k, 0);
            self.vals.resize(rows * l * k, 0.0);
            self.rows = rows;
        }
    }

    /// After they were fed.
    pub(super) fn end(&mut self, p0: usize, n: usize) {
        self.to = p0 + n;
        self.from = self.from.max(self.to.saturating_sub(self.cap));
    }

    /// The norm of what block `which` (0: attention, 1: MLP) of layer `l` adds, for each of the
    /// rows of `add` (positions p0..).
    pub(super) fn block_norms(&mut self, p0: usize, l: usize, which: usize, add: &[f32]) {
        for (t, r) in add.chunks_exact(self.d).enumerate() {
            let at = (self.row(p0 + t) * self.n_layer + l) * 2 + which;
            self.norms[at] = l2_norm(r);
        }
    }

    /// The residual after layer `l` and the layer's top neurons (from its gated activations,
    /// rows of n_ff), for positions p0...
    pub(super) fn layer(&mut self, p0: usize, l: usize, x: &[f32], gated: &[f32]) {
        let (d, k) = (self.d, TOP_NEURONS);
        let n_ff = gated.len() / (x.len() / d);
        for (t, (xr, g)) in x.chunks_exact(d).zip(gated.chunks_exact(n_ff)).enumerate() {
            let row = self.row(p0 + t) * self.n_layer + l;
            self.resid[row * d..(row + 1) * d].copy_from_slice(xr);
            top_by_magnitude(g, &mut self.ids[row * k..(row + 1) * k], &mut self.vals[row * k..(row + 1) * k]);
        }
    }

    /// Forgets positions from `n` on.
    pub(super) fn truncate(&mut self, n: usize) {
        self.to = self.to.min(n);
        self.from = self.from.min(self.to);
    }
}

/// The `ids.len()` entries of `x` of largest |value| (ties: lower index first), in that order,
/// into `ids` and `vals` (fewer than that: the rest are id 0, value 0). One pass with a small
/// sorted buffer; NaN never enters.
fn top_by_magnitude(x: &[f32], ids: &mut [u32], vals: &mut [f32]) {
    let k = ids.len();
    let mut n = 0;
    for (i, &v) in x.iter().enumerate() {
        let a = v.abs();
        // Strictly larger than the last kept: an equal magnitude at a higher index loses.
        if a.is_nan() || (n == k && a <= vals[k - 1].abs()) {
            continue;
        }
        // Shift the smaller ones down one place (the last falls off when full).
        let mut at = n.min(k - 1);
        while at > 0 && a > vals[at - 1].abs() {
            ids[at] = ids[at - 1];
            vals[at] = vals[at - 1];
            at -= 1;
        }
        ids[at] = i as u32;
        vals[at] = v;
        n = (n + 1).min(k);
    }
    for j in n..k {
        ids[j] = 0;
        vals[j] = 0.0;
    }
}
