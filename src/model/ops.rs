//! The element-wise steps of the forward pass (norms, residual adds, biases, RoPE, GELU, the
//! KV cache's f16 rounding), as ggml computes them.

use crate::arch::Rope;
use crate::kernels;
use crate::Error;

/// Calls `f(first, part)` on contiguous runs of whole rows of `x` (rows of `width` values;
/// `first` the index of the part's first row), split across the thread pool when `x` is large (a
/// prefill), as one call otherwise. Every row is computed by one call in the same order, so the
/// numbers are the same for any thread count. An error only when a helper thread stopped inside
/// its part (src/pool.rs): the parts before may have been applied.
pub(super) fn par_rows(x: &mut [f32], width: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) -> Result<(), Error> {
    let rows = x.len() / width.max(1);
    if crate::pool::threads() <= 1 || x.len() < crate::pool::SPLIT_MIN_VALUES || rows < 2 {
        f(0, x);
        return Ok(());
    }
    let parts = crate::pool::Parts::new(&mut x[..rows * width]);
    crate::pool::run_runs(rows, &|r0, r1| {
        // SAFETY: each run of rows r0..r1 is one call's (run_runs: disjoint).
        f(r0, unsafe { parts.get(r0 * width..r1 * width) });
    })
}

/// RMSNorm's scale of a row: 1 / sqrt(mean(x²) + eps), the sum of squares in f64 as ggml does.
#[inline(always)]
fn rms_scale(xr: &[f32], eps: f32) -> f32 {
    let ss: f64 = xr.iter().map(|&v| (v * v) as f64).sum();
    1.0 / ((ss / xr.len() as f64) as f32 + eps).sqrt()
}

/// x · rms_scale · w, row by row.
pub(super) fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let d = w.len();
    for (xr, or) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let s = rms_scale(xr, eps);
        for i in 0..d {
            or[i] = xr[i] * s * w[i];
        }
    }
}

pub(super) fn add_in_place(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// RMSNorm of each `w.len()`-float row of `x` in place (the per-head q/k norms, the post-norms).
pub(super) fn rms_norm_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    let d = w.len();
    for xr in x.chunks_exact_mut(d) {
        let s = rms_scale(xr, eps);
        for i in 0..d {
            xr[i] = xr[i] * s * w[i];
        }
    }
}

/// SwiGLU in place: gate = silu(gate) · up.
pub(super) fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + kernels::exp_f32(-*g)) * u;
    }
}

/// GeGLU in place: gate = gelu(gate) · up (`gelu`, from `table`).
pub(super) fn geglu(table: &[u16], gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = gelu(table, *g) * u;
    }
}

/// Rounds every value to the nearest f16 (ties to even), kept as f32.
pub(super) fn round_f16(x: &mut [f32]) {
    for v in x.iter_mut() {
        *v = kernels::f16_to_f32(kernels::f32_to_f16(*v));
    }
}

/// Adds `b` to every `b.len()`-float row of `x` (the q/k/v biases).
pub(super) fn add_rows(x: &mut [f32], b: &[f32]) {
    for xr in x.chunks_exact_mut(b.len()) {
        add_in_place(xr, b);
    }
}

/// Rotates the pairs of every head by the position's angles: adjacent pairs (x[2i], x[2i+1])
/// in llama's "normal" mode, (x[i], x[i + rope_dim/2]) in NEOX mode; as ggml's rotate_pairs
/// (x0·cos - x1·sin, x0·sin + x1·cos).
pub(super) fn rope(mode: Rope, x: &mut [f32], hd: usize, rope_dim: usize, cos: &[f32], sin: &[f32]) {
    let half = rope_dim / 2;
    let (step, offset) = match mode {
        Rope::Normal => (2, 1),
        Rope::Neox => (1, half),
    };
    for head in x.chunks_exact_mut(hd) {
        for i in 0..half {
            let (i0, i1) = (i * step, i * step + offset);
            let (a, b) = (head[i0], head[i1]);
            head[i0] = a * cos[i] - b * sin[i];
            head[i1] = a * sin[i] + b * cos[i];
        }
    }
}

/// ggml's table of GELU for every f16 input (ggml_table_gelu_f16: the tanh form in f32,
/// 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x·x))), rounded to f16). libm's tanhf, so every
/// build computes the same table.
pub(super) fn gelu_table() -> Vec<u16> {
    const GELU_COEF_A: f32 = 0.044715;
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    (0..=u16::MAX)
        .map(|h| {
            let x = kernels::f16_to_f32(h);
            let y = 0.5 * x * (1.0 + libm::tanhf(SQRT_2_OVER_PI * x * (1.0 + GELU_COEF_A * x * x)));
            kernels::f32_to_f16(y)
        })
        .collect()
}

/// GELU as llama.cpp's CPU backend computes it (ggml_vec_geglu_f32 with GGML_GELU_FP16): 0 at
/// or below -10, x at or above 10, else the table at x rounded to f16.
#[inline(always)]
pub(super) fn gelu(table: &[u16], x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        kernels::f16_to_f32(table[kernels::f32_to_f16(x) as usize])
    }
}

