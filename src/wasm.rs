//! The browser API: the only file that says #[wasm_bindgen], and the one layer where errors
//! become JavaScript errors. Large data (the model file, the KV cache) stays in wasm memory;
//! JavaScript holds handles and gets small JSON strings or typed arrays back.
//! See docs/engine-api.md.

use wasm_bindgen::prelude::*;

use crate::generate::{Engine as Core, GenParams};
use crate::inspect;
use crate::model::ModelFile;
use crate::tokenizer::ChatMessage;
use crate::Error;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn perf_now() -> f64;
}

pub(crate) fn performance_now() -> f64 {
    perf_now()
}

fn js_err(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

fn json_err(e: serde_json::Error) -> JsError {
    JsError::new(&format!("bad JSON: {e}"))
}

/// Size of the WebAssembly memory, in bytes.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

#[wasm_bindgen]
pub fn build_info() -> String {
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "kernels": crate::kernels::ARCH,
        "simd128": cfg!(target_feature = "simd128"),
    })
    .to_string()
}

/// The model file, written chunk by chunk straight into wasm memory as it downloads.
#[wasm_bindgen]
pub struct ModelBytes {
    file: Option<ModelFile>,
}

#[wasm_bindgen]
impl ModelBytes {
    #[wasm_bindgen(constructor)]
    pub fn new(len: f64) -> Result<ModelBytes, JsError> {
        if !(len.is_finite() && len >= 0.0) {
            return Err(JsError::new(&format!("bad model size {len}")));
        }
        Ok(ModelBytes { file: Some(ModelFile::with_len(len as u64).map_err(js_err)?) })
    }

    /// Copies `chunk` in at `offset`.
    pub fn write(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsError> {
        let f = self.file.as_mut().ok_or_else(|| JsError::new("these bytes were already handed to an engine"))?;
        let off = offset as usize;
        let end = off.checked_add(chunk.len()).filter(|&e| e <= f.len()).ok_or_else(|| {
            JsError::new(&format!("chunk of {} bytes at offset {off} overruns the file of {} bytes", chunk.len(), f.len()))
        })?;
        f.bytes_mut()[off..end].copy_from_slice(chunk);
        Ok(())
    }

    #[wasm_bindgen(getter)]
    pub fn len(&self) -> f64 {
        self.file.as_ref().map_or(0.0, |f| f.len() as f64)
    }
}

#[wasm_bindgen]
pub struct Engine {
    core: Core,
}

#[wasm_bindgen]
impl Engine {
    /// Takes the file out of `bytes` (no copy; the handle is left empty) and reads the model.
    /// `progress(phase, done, total)`.
    pub fn load(bytes: &mut ModelBytes, progress: &js_sys::Function) -> Result<Engine, JsError> {
        let file = bytes.file.take().ok_or_else(|| JsError::new("these bytes were already handed to an engine"))?;
        let mut cb = |phase: &str, done: usize, total: usize| {
            let _ = progress.call3(&JsValue::NULL, &JsValue::from_str(phase), &JsValue::from(done as f64), &JsValue::from(total as f64));
        };
        let core = Core::load(file, &mut cb).map_err(js_err)?;
        Ok(Engine { core })
    }

    pub fn info_json(&self) -> String {
        inspect::info(&self.core, 8).to_string()
    }

    pub fn tokenize_json(&self, text: &str, parse_special: bool) -> Result<String, JsError> {
        let t = &self.core.tokenizer;
        let ids = t.encode(text, parse_special).map_err(js_err)?;
        let pieces: Vec<String> = ids.iter().map(|&i| t.token_text(i)).collect();
        let special: Vec<bool> = ids.iter().map(|&i| t.is_special(i)).collect();
        Ok(serde_json::json!({"ids": ids, "pieces": pieces, "special": special}).to_string())
    }

    pub fn token_json(&self, id: u32) -> Result<String, JsError> {
        let t = &self.core.tokenizer;
        if id as usize >= t.n_vocab() {
            return Err(JsError::new(&format!("token id {id} is outside the vocabulary of {}", t.n_vocab())));
        }
        Ok(serde_json::json!({"id": id, "piece": t.piece(id), "text": t.token_text(id), "bytes": t.token_bytes(id),
            "special": t.is_special(id), "eog": t.is_eog(id)})
        .to_string())
    }

    pub fn chat_prompt(&self, messages_json: &str, add_generation_prompt: bool) -> Result<String, JsError> {
        let messages: Vec<ChatMessage> = serde_json::from_str(messages_json).map_err(json_err)?;
        self.core.tokenizer.apply_chat_template(&messages, add_generation_prompt).map_err(js_err)
    }

    pub fn embedding_row(&self, id: u32) -> Result<Vec<f32>, JsError> {
        let mut row = vec![0f32; self.core.model.config.n_embd];
        self.core.model.embedding(id, &mut row).map_err(js_err)?;
        Ok(row)
    }

    pub fn tensor_view(&self, name: &str, max_w: u32, max_h: u32, bins: u32) -> Result<TensorView, JsError> {
        let v = inspect::tensor_view(&self.core.model, name, max_w as usize, max_h as usize, bins as usize).map_err(js_err)?;
        Ok(TensorView { v })
    }

    pub fn tensor_block_json(&self, name: &str, row: u32, block: u32) -> Result<String, JsError> {
        Ok(inspect::tensor_block(&self.core.model, name, row as usize, block as usize).map_err(js_err)?.to_string())
    }

    pub fn start(&mut self, prompt_ids: &[u32], params_json: &str) -> Result<(), JsError> {
        let params: GenParams = if params_json.trim().is_empty() { GenParams::default() } else { serde_json::from_str(params_json).map_err(json_err)? };
        self.core.start(prompt_ids.to_vec(), params).map_err(js_err)
    }

    /// Feeds up to `n` prompt tokens; returns how many are left.
    pub fn prefill(&mut self, n: u32) -> Result<u32, JsError> {
        Ok(self.core.prefill(n.max(1) as usize).map_err(js_err)? as u32)
    }

    pub fn step(&mut self) -> Result<String, JsError> {
        let s = self.core.step().map_err(js_err)?;
        serde_json::to_string(&s).map_err(json_err)
    }

    pub fn choose(&mut self, pos: u32, id: u32) -> Result<String, JsError> {
        let (text, done) = self.core.choose(pos as usize, id).map_err(js_err)?;
        Ok(serde_json::json!({"pos": pos, "id": id, "text": text, "done": done}).to_string())
    }

    pub fn attention(&self, layer: u32) -> Result<Vec<f32>, JsError> {
        self.core.attention(layer as usize).map_err(js_err)
    }

    pub fn stats_json(&self) -> String {
        serde_json::to_string(&self.core.stats()).unwrap_or_default()
    }
}

/// A tensor drawn small (see inspect::TensorView).
#[wasm_bindgen]
pub struct TensorView {
    v: inspect::TensorView,
}

#[wasm_bindgen]
impl TensorView {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> u32 {
        self.v.rows as u32
    }
    #[wasm_bindgen(getter)]
    pub fn cols(&self) -> u32 {
        self.v.cols as u32
    }
    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.v.width as u32
    }
    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.v.height as u32
    }
    #[wasm_bindgen(getter)]
    pub fn min(&self) -> f32 {
        self.v.stats.min
    }
    #[wasm_bindgen(getter)]
    pub fn max(&self) -> f32 {
        self.v.stats.max
    }
    #[wasm_bindgen(getter)]
    pub fn mean(&self) -> f64 {
        self.v.stats.mean
    }
    #[wasm_bindgen(getter)]
    pub fn std(&self) -> f64 {
        self.v.stats.std
    }
    pub fn heatmap(&self) -> Vec<f32> {
        self.v.heatmap.clone()
    }
    pub fn histogram(&self) -> Vec<u32> {
        self.v.histogram.clone()
    }
}

// ------------------------------------------------------------------------------------------------
// The kernel self-test, run by the browser tests: every SIMD kernel against its scalar twin.
// ------------------------------------------------------------------------------------------------

/// Runs the SIMD-vs-scalar comparisons on random blocks; returns a JSON report.
#[wasm_bindgen]
pub fn kernel_selftest(seed: u32) -> String {
    crate::kernels::selftest::run(seed as u64).to_string()
}
