//! The browser API: the only file that says #[wasm_bindgen], and the one layer where errors
//! become JavaScript errors. Large data (the model file, the KV cache) stays in wasm memory;
//! JavaScript holds handles and gets small JSON strings or typed arrays back.
//! See docs/engine-api.md.

use wasm_bindgen::prelude::*;

use std::sync::Mutex;

use crate::generate::{Engine as Core, GenParams};
use crate::inspect;
use crate::model::ModelFile;
use crate::request::Request;
use crate::Error;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn perf_now() -> f64;
}

pub(crate) fn performance_now() -> f64 {
    perf_now()
}

// ------------------------------------------------------------------------------------------------
// Errors and panics
// ------------------------------------------------------------------------------------------------

/// An engine error as a JavaScript `Error` whose `kind` is `Error::kind()` ("format", "limit" ...).
fn js_err(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("kind"), &JsValue::from_str(e.kind()));
    err.into()
}

fn json_err(e: serde_json::Error) -> JsValue {
    js_err(Error::Request(format!("bad JSON: {e}")))
}

/// The message of the last panic. A panic traps the instance (`WebAssembly.RuntimeError`); the
/// worker then reads this, reports the engine as crashed and is replaced: it never calls the
/// trapped instance for anything else.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs once when the module is instantiated: a panic is logged to the console with its message
/// (console_error_panic_hook) and kept for `take_panic`.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(info.to_string());
        }
        console_error_panic_hook::hook(info);
    }));
}

/// The last panic's message, if any (cleared by reading it).
#[wasm_bindgen]
pub fn take_panic() -> Option<String> {
    LAST_PANIC.lock().ok()?.take()
}

/// Panics on purpose, so that the tests can check what a trap does to the worker and the page.
/// The only deliberate panic; nothing else in this API panics on any input.
#[wasm_bindgen]
pub fn test_panic(message: &str) {
    panic!("test panic: {message}");
}

// ------------------------------------------------------------------------------------------------
// The thread pool (the threads build, www/pkg-threads; www/threads.js starts the helpers)
// ------------------------------------------------------------------------------------------------

std::thread_local! {
    /// True on a helper thread (inside `pool_worker`), false on the engine's own thread.
    static HELPER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Uses `n` threads, the engine's own included (src/pool.rs); returns the count in use: 1 in the
/// one-thread builds, which have no atomics. Called once, before the helpers start.
#[wasm_bindgen]
pub fn threads_init(n: u32) -> u32 {
    crate::pool::set_threads(n as usize) as u32
}

/// The loop of helper thread `index` (1..n), called by its worker (www/threads-worker.js) on the
/// shared memory: takes the pool's tasks, blocking in between; returns when the thread count
/// drops to `index` or below. A trap inside it (a panic aborts) throws to that worker's JS.
#[wasm_bindgen]
pub fn pool_worker(index: u32) {
    HELPER.with(|h| h.set(true));
    crate::pool::worker_main(index as usize)
}

/// What the thread pool did since the last call, as JSON (src/pool.rs `Stats`): runs, tasks on
/// the engine's thread and on the helpers, helper sleeps, caller waits and sleeps. For the bench.
#[wasm_bindgen]
pub fn pool_stats_json() -> String {
    let s = crate::pool::stats();
    format!(
        r#"{{"runs":{},"tasks_caller":{},"tasks_helpers":{},"helper_sleeps":{},"caller_waits":{},"caller_sleeps":{}}}"#,
        s.runs, s.tasks_caller, s.tasks_helpers, s.helper_sleeps, s.caller_waits, s.caller_sleeps
    )
}

/// How long an idle pool thread polls before it blocks (src/pool.rs; 0: the default). For the bench.
#[wasm_bindgen]
pub fn pool_set_spin(polls: u32) {
    crate::pool::set_spin(polls)
}

/// Helper `index` trapped (its worker caught the trap): the task it held counts as finished and
/// the pool is poisoned, so that the engine's run wakes with an error instead of waiting forever.
/// Touches only the pool's atomics (the trapped thread may have held any lock).
#[wasm_bindgen]
pub fn pool_abandon(index: u32) {
    crate::pool::abandon(index as usize)
}

/// Makes a helper thread panic inside a pool task (the tests of a trap in a helper): two tasks,
/// the engine's thread waits in its own (at most 5 s) until a helper has taken the other, which
/// panics. Returns the pool's error; with no helper running (or none taking a task within 5 s),
/// an error saying so.
#[wasm_bindgen]
pub fn test_panic_in_thread(message: &str) -> Result<(), JsValue> {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let no_helper = || {
        js_err(Error::Request(format!("no helper thread took a task ({} threads, {} helpers ready)",
            crate::pool::threads(), crate::pool::workers_ready())))
    };
    if crate::pool::workers_ready() == 0 {
        return Err(no_helper());
    }
    let taken = AtomicBool::new(false);
    let deadline = perf_now() + 5000.0;
    crate::pool::run(2, &|_| {
        if HELPER.with(|h| h.get()) {
            taken.store(true, SeqCst);
            panic!("test panic in a helper thread: {message}");
        }
        while !taken.load(SeqCst) && perf_now() < deadline {
            std::hint::spin_loop();
        }
    })
    .map_err(js_err)?;
    Err(no_helper())
}

/// Size of the WebAssembly memory, in bytes.
#[wasm_bindgen]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

/// GenParams::default() as JSON: the one set of defaults every caller reads.
#[wasm_bindgen]
pub fn defaults_json() -> String {
    serde_json::to_string(&GenParams::default()).unwrap_or_default()
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
    pub fn new(len: f64) -> Result<ModelBytes, JsValue> {
        if !(len.is_finite() && len >= 0.0) {
            return Err(js_err(Error::Limit(format!("bad model size {len}"))));
        }
        Ok(ModelBytes { file: Some(ModelFile::with_len(len as u64).map_err(js_err)?) })
    }

    /// Copies `chunk` in at `offset`.
    pub fn write(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsValue> {
        let f = self.file.as_mut().ok_or_else(|| js_err(Error::Request("these bytes were already handed to an engine".into())))?;
        if !(offset.is_finite() && offset >= 0.0) {
            return Err(js_err(Error::Request(format!("bad offset {offset}"))));
        }
        let off = offset as usize;
        let end = off.checked_add(chunk.len()).filter(|&e| e <= f.len()).ok_or_else(|| {
            js_err(Error::Limit(format!("chunk of {} bytes at offset {off} overruns the file of {} bytes", chunk.len(), f.len())))
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
    /// The kernels' read-ahead, tried on the first decode steps.
    read_ahead: ReadAheadTrial,
}

/// The kernels' read-ahead (kernels::set_read_ahead), chosen on the reader's machine from the
/// engine's own first decode steps: after two to warm up, six steps alternate it off and on, and
/// the faster (the best step of each) is kept from then on. It helps on some CPUs and stalls
/// others (kernels.rs says where); no number depends on it, so the trial changes only the time
/// of those steps.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct ReadAheadTrial {
    /// Decode steps timed so far.
    steps: u32,
    /// The best step without and with it, ms.
    off_ms: Option<f64>,
    on_ms: Option<f64>,
    /// What was kept, once the trial is over.
    on: Option<bool>,
}

impl ReadAheadTrial {
    const WARM_UP: u32 = 2;
    const STEPS: u32 = 8;

    /// Before a decode step: the setting this step tries (none once the trial is over).
    fn before(&self) {
        if self.on.is_none() {
            crate::kernels::set_read_ahead(self.steps % 2 == 1);
        }
    }

    /// After a decode step that ran the forward pass, in `ms`.
    fn after(&mut self, ms: f64) {
        if self.on.is_some() {
            return;
        }
        if self.steps >= Self::WARM_UP {
            let best = if self.steps % 2 == 1 { &mut self.on_ms } else { &mut self.off_ms };
            *best = Some(best.map_or(ms, |b| b.min(ms)));
        }
        self.steps += 1;
        if self.steps == Self::STEPS {
            let on = matches!((self.off_ms, self.on_ms), (Some(off), Some(on)) if on < off);
            crate::kernels::set_read_ahead(on);
            self.on = Some(on);
        }
    }
}

#[wasm_bindgen]
impl Engine {
    /// Takes the file out of `bytes` (no copy; the handle is left empty) and reads the model.
    /// `progress(phase, done, total)`.
    pub fn load(bytes: &mut ModelBytes, progress: &js_sys::Function) -> Result<Engine, JsValue> {
        let file = bytes.file.take().ok_or_else(|| js_err(Error::Request("these bytes were already handed to an engine".into())))?;
        let mut cb = |phase: &str, done: usize, total: usize| {
            let _ = progress.call3(&JsValue::NULL, &JsValue::from_str(phase), &JsValue::from(done as f64), &JsValue::from(total as f64));
        };
        let core = Core::load(file, &mut cb).map_err(js_err)?;
        Ok(Engine { core, read_ahead: ReadAheadTrial::default() })
    }

    pub fn info_json(&self) -> String {
        inspect::info(&self.core, 8).to_string()
    }

    pub fn tokenize_json(&self, text: &str, parse_special: bool) -> Result<String, JsValue> {
        let t = &self.core.tokenizer;
        let ids = t.encode(text, parse_special).map_err(js_err)?;
        let pieces: Vec<String> = ids.iter().map(|&i| t.token_text(i)).collect();
        let special: Vec<bool> = ids.iter().map(|&i| t.is_special(i)).collect();
        Ok(serde_json::json!({"ids": ids, "pieces": pieces, "special": special}).to_string())
    }

    pub fn token_json(&self, id: u32) -> Result<String, JsValue> {
        let t = &self.core.tokenizer;
        if id as usize >= t.n_vocab() {
            return Err(js_err(Error::Limit(format!("token id {id} is outside the vocabulary of {}", t.n_vocab()))));
        }
        Ok(serde_json::json!({"id": id, "piece": t.piece(id), "text": t.token_text(id), "bytes": t.token_bytes(id),
            "special": t.is_special(id), "eog": t.is_eog(id)})
        .to_string())
    }

    pub fn embedding_row(&self, id: u32) -> Result<Vec<f32>, JsValue> {
        let mut row = vec![0f32; self.core.model.config.n_embd];
        self.core.model.embedding(id, &mut row).map_err(js_err)?;
        Ok(row)
    }

    pub fn tensor_view(&self, name: &str, max_w: u32, max_h: u32, bins: u32) -> Result<TensorView, JsValue> {
        let v = inspect::tensor_view(&self.core.model, name, max_w as usize, max_h as usize, bins as usize).map_err(js_err)?;
        Ok(TensorView { v })
    }

    pub fn tensor_block_json(&self, name: &str, row: u32, block: u32) -> Result<String, JsValue> {
        Ok(inspect::tensor_block(&self.core.model, name, row as usize, block as usize).map_err(js_err)?.to_string())
    }

    /// Starts a generation from a request (`{prompt | messages, system?, raw?, params?}`, see
    /// src/request.rs): defaults filled, template rendered, tokenized. Returns the prompt as fed
    /// (`Fed`: text, ids, pieces, special, template, params) as JSON.
    pub fn begin(&mut self, request_json: &str) -> Result<String, JsValue> {
        let req = Request::from_json(request_json).map_err(js_err)?;
        let fed = self.core.begin(&req).map_err(js_err)?;
        serde_json::to_string(&fed).map_err(json_err)
    }

    /// What `begin` would feed for this request, without starting it (same JSON).
    pub fn prepare(&self, request_json: &str) -> Result<String, JsValue> {
        let req = Request::from_json(request_json).map_err(js_err)?;
        let fed = self.core.prepare(&req).map_err(js_err)?;
        serde_json::to_string(&fed).map_err(json_err)
    }

    /// Starts a generation from token ids (tests, and callers that tokenized themselves).
    pub fn start(&mut self, prompt_ids: &[u32], params_json: &str) -> Result<(), JsValue> {
        let params: serde_json::Value =
            if params_json.trim().is_empty() { serde_json::json!({}) } else { serde_json::from_str(params_json).map_err(json_err)? };
        let req: Request = serde_json::from_value(serde_json::json!({ "params": params })).map_err(|e| js_err(Error::Request(e.to_string())))?;
        self.core.start(prompt_ids.to_vec(), req.params).map_err(js_err)
    }

    /// The raw logits for the next position (before any sampling), empty when there are none.
    pub fn next_logits(&self) -> Vec<f32> {
        self.core.next_logits().map(<[f32]>::to_vec).unwrap_or_default()
    }

    /// Feeds up to `n` prompt tokens; returns how many are left.
    pub fn prefill(&mut self, n: u32) -> Result<u32, JsValue> {
        Ok(self.core.prefill(n.max(1) as usize).map_err(js_err)? as u32)
    }

    pub fn step(&mut self) -> Result<String, JsValue> {
        self.read_ahead.before();
        let s = self.core.step().map_err(js_err)?;
        // A step that ends the generation before its forward pass is no trial.
        if s.done.is_none() {
            self.read_ahead.after(s.ms);
        }
        serde_json::to_string(&s).map_err(json_err)
    }

    pub fn choose(&mut self, pos: u32, id: u32) -> Result<String, JsValue> {
        let (text, done) = self.core.choose(pos as usize, id).map_err(js_err)?;
        Ok(serde_json::json!({"pos": pos, "id": id, "text": text, "done": done}).to_string())
    }

    pub fn attention(&self, layer: u32) -> Result<Vec<f32>, JsValue> {
        self.core.attention(layer as usize).map_err(js_err)
    }

    /// The kernels' read-ahead trial (ReadAheadTrial): `{"steps", "off_ms", "on_ms", "on"}`, the
    /// best decode step without and with it and what was kept (null until the eighth step).
    pub fn read_ahead_json(&self) -> String {
        serde_json::to_string(&self.read_ahead).unwrap_or_default()
    }

    pub fn stats_json(&self) -> String {
        serde_json::to_string(&self.core.stats()).unwrap_or_default()
    }

    // Inside the step (src/model/lens.rs, inspect.rs): positions are absolute context positions.

    /// From now on (across sessions), every position fed records what the lens, residual and
    /// MLP views read. Off by default.
    pub fn set_capture_residuals(&mut self, on: bool) {
        self.core.model.capture_residuals = on;
    }

    /// {"on","from","to","cap","bytes","bytes_per_pos"}: positions from..to-1 are held.
    pub fn capture_json(&self) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::capture(&self.core)).map_err(json_err)
    }

    /// The logit lens at `pos`, every layer: {"pos","token","next","layers":[{"layer","top"}],"ms"}.
    pub fn lens_json(&self, pos: u32) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::lens(&self.core, pos as usize).map_err(js_err)?).map_err(json_err)
    }

    /// One layer of the lens at `pos`: {"layer","top":[{"id","text","logit","prob"}]}.
    pub fn lens_layer_json(&self, pos: u32, layer: u32) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::lens_layer(&self.core, pos as usize, layer as usize).map_err(js_err)?).map_err(json_err)
    }

    /// The lens's whole logits at `pos` for one layer (n_vocab floats; the last layer's are the
    /// real logits of that position bit for bit).
    pub fn lens_logits(&self, pos: u32, layer: u32) -> Result<Vec<f32>, JsValue> {
        inspect::lens_logits(&self.core, pos as usize, layer as usize).map_err(js_err)
    }

    /// Norms of the residual stream at `pos`: {"pos","embd","attn":[..],"mlp":[..],"resid":[..]}.
    pub fn residual_json(&self, pos: u32) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::residual(&self.core, pos as usize).map_err(js_err)?).map_err(json_err)
    }

    /// The most activated MLP neurons of `layer` at `pos`: {"pos","layer","neurons":[{"id","value"}]}.
    pub fn mlp_json(&self, pos: u32, layer: u32) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::mlp(&self.core, pos as usize, layer as usize).map_err(js_err)?).map_err(json_err)
    }

    /// One MLP neuron: {"layer","neuron","pos","norm","closest","opposite","value","rank","bound"}.
    pub fn neuron_json(&self, layer: u32, neuron: u32, pos: u32) -> Result<String, JsValue> {
        serde_json::to_string(&inspect::neuron(&self.core, layer as usize, neuron as usize, pos as usize).map_err(js_err)?).map_err(json_err)
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
