//! plumbing: a small open-weight language model, run from a GGUF file with nothing hidden.
//!
//! Reading order: `gguf` (the file) → `tokenizer` → `kernels` → `pool` (the threads the matrix
//! products and attention split over) → `arch` (what differs between architectures) → `model`
//! (the forward pass) →
//! `sampler` → `generate` (sessions) → `request` (what a caller asks for) → `inspect` (what the
//! page draws) → `wasm` (the browser API).

#![deny(unsafe_op_in_unsafe_fn)]
// The threads build (nightly, build-std, +atomics) waits with memory.atomic.wait32 (src/pool.rs).
#![cfg_attr(all(target_arch = "wasm32", target_feature = "atomics"), feature(stdarch_wasm_atomic_wait))]

pub mod arch;
pub mod generate;
pub mod gguf;
pub mod inspect;
pub mod kernels;
pub mod model;
pub mod pool;
pub mod request;
pub mod sampler;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;
pub mod spm;
pub mod template;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use generate::{Engine, GenParams, Step, StopReason};
pub use model::{Model, ModelFile};
pub use request::{Fed, Request};
pub use sampler::SamplingParams;
pub use tokenizer::{ChatMessage, Tokenizer};

/// Every error the engine returns; the message names the field and the numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The file is not a well-formed GGUF (truncated, lying header ...).
    Format(String),
    /// Well-formed, but not something this engine runs (architecture, tensor type, version).
    Unsupported(String),
    /// A required metadata key or tensor is absent.
    Missing(String),
    /// A limit of the engine or of the request (context length, memory, ids).
    Limit(String),
    Tokenizer(String),
    Template(String),
    /// A request the engine cannot take as given (unknown parameter, bad value, bad JSON).
    Request(String),
}

impl Error {
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Format(_) => "format",
            Error::Unsupported(_) => "unsupported",
            Error::Missing(_) => "missing",
            Error::Limit(_) => "limit",
            Error::Tokenizer(_) => "tokenizer",
            Error::Template(_) => "template",
            Error::Request(_) => "request",
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Format(s) => write!(f, "bad GGUF file: {s}"),
            Error::Unsupported(s) => write!(f, "unsupported: {s}"),
            Error::Missing(s) => write!(f, "missing {s}"),
            Error::Limit(s) => f.write_str(s),
            Error::Tokenizer(s) => write!(f, "tokenizer: {s}"),
            Error::Template(s) => write!(f, "chat template: {s}"),
            Error::Request(s) => write!(f, "bad request: {s}"),
        }
    }
}

impl std::error::Error for Error {}

/// Milliseconds from an arbitrary start, for timings (performance.now() in the browser).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    wasm::performance_now()
}
