//! Generation: an `Engine` (model + tokenizer) runs one `Session` at a time: start with prompt
//! ids, prefill in chunks, then `step()` yields one token with its alternatives and timings.
//! `choose()` rewinds to a position and puts another token there (the page's "continue from
//! this alternative").

use serde::{Deserialize, Serialize};

use crate::model::{Model, ModelFile, State};
use crate::sampler::{Sampler, SamplingParams};
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{now_ms, Error};

pub const DEFAULT_N_CTX: usize = 2048;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct GenParams {
    #[serde(flatten)]
    pub sampling: SamplingParams,
    pub max_tokens: usize,
    /// Mask the end-of-generation tokens (benchmarks: always generate max_tokens).
    pub ignore_eos: bool,
    /// How many alternatives each step reports.
    pub n_top: usize,
    /// Record the attention weights of every layer and head for each token fed.
    pub capture_attention: bool,
    /// Context size; 0 = min(2048, the trained context).
    pub n_ctx: usize,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams { sampling: SamplingParams::default(), max_tokens: 200, ignore_eos: false, n_top: 10, capture_attention: false, n_ctx: 0 }
    }
}

/// The most alternatives a step reports.
pub const MAX_N_TOP: usize = 100;

impl GenParams {
    /// Refuses values no sampler can use, naming the parameter and the value.
    pub fn check(&self) -> Result<(), Error> {
        let s = &self.sampling;
        let bad = |name: &str, v: String, want: &str| Err(Error::Request(format!("parameter {name} is {v}; it must be {want}")));
        if !(s.temperature.is_finite() && s.temperature >= 0.0) {
            return bad("temperature", s.temperature.to_string(), "a number >= 0 (0 = greedy)");
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return bad("top_p", s.top_p.to_string(), "in (0, 1]");
        }
        if !(s.repeat_penalty.is_finite() && s.repeat_penalty > 0.0) {
            return bad("repeat_penalty", s.repeat_penalty.to_string(), "a number > 0 (1 = off)");
        }
        if self.max_tokens == 0 {
            return bad("max_tokens", "0".into(), "at least 1");
        }
        if self.n_top > MAX_N_TOP {
            return bad("n_top", self.n_top.to_string(), &format!("at most {MAX_N_TOP}"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Eos,
    MaxTokens,
    ContextFull,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Eos => "eos",
            StopReason::MaxTokens => "max_tokens",
            StopReason::ContextFull => "context_full",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Alternative {
    pub id: u32,
    pub text: String,
    pub logit: f32,
    pub prob: f32,
}

/// One generated position.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub pos: usize,
    pub id: u32,
    /// The text this token adds to the answer ("" while a character is incomplete).
    pub text: String,
    /// The token's vocabulary string.
    pub piece: String,
    pub top: Vec<Alternative>,
    pub prob: f32,
    pub entropy: f32,
    pub kept: usize,
    /// Time for this step: sampling, and feeding the token through the model.
    pub ms: f64,
    pub done: Option<StopReason>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub prompt_tokens: usize,
    pub generated: usize,
    pub n_ctx_used: usize,
    pub n_ctx: usize,
    pub ttft_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
}

pub struct Session {
    pub params: GenParams,
    sampler: Sampler,
    pub state: State,
    pub prompt: Vec<u32>,
    n_prompt_fed: usize,
    pub generated: Vec<u32>,
    /// Logits for the next position, once the prompt is in.
    logits: Option<Vec<f32>>,
    decoder: StreamDecoder,
    finished: Option<StopReason>,
    t_start: f64,
    t_first: Option<f64>,
    t_last: f64,
    n_timed: usize,
}

pub struct Engine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    session: Option<Session>,
}

impl Engine {
    /// Reads the model and its tokenizer from the file. `progress(phase, done, total)`.
    pub fn load(file: ModelFile, progress: &mut dyn FnMut(&str, usize, usize)) -> Result<Engine, Error> {
        progress("header", 0, 1);
        let model = Model::load(file, &mut |d, t| progress("tensors", d, t))?;
        progress("tokenizer", 0, 1);
        let tokenizer = Tokenizer::from_gguf(&model.gguf, Some(model.config.n_vocab))?;
        progress("tokenizer", 1, 1);
        Ok(Engine { model, tokenizer, session: None })
    }

    /// Starts a new session (dropping any previous one) and checks the prompt fits.
    pub fn start(&mut self, prompt: Vec<u32>, mut params: GenParams) -> Result<(), Error> {
        self.session = None;
        params.check()?;
        // The seed this run uses, kept in its params so that it can be reported and repeated.
        params.sampling.seed = Some(params.sampling.seed.unwrap_or_else(crate::sampler::random_seed));
        if prompt.is_empty() {
            return Err(Error::Limit("the prompt is empty".into()));
        }
        let n_ctx = if params.n_ctx == 0 { DEFAULT_N_CTX } else { params.n_ctx }.min(self.model.config.n_ctx_train);
        if prompt.len() >= n_ctx {
            return Err(Error::Limit(format!(
                "the prompt has {} tokens; the context holds {n_ctx} (and needs room for the answer)",
                prompt.len()
            )));
        }
        if let Some(&bad) = prompt.iter().find(|&&id| id as usize >= self.model.config.n_vocab) {
            return Err(Error::Limit(format!("token id {bad} is outside the vocabulary of {}", self.model.config.n_vocab)));
        }
        // The KV cache grows with use; refuse up front a context whose full cache cannot fit.
        let c = &self.model.config;
        let rows: u64 = (0..c.n_layer).map(|l| self.model.kv_rows(l, n_ctx) as u64).sum();
        let kv_bytes = rows * 2 * c.kv_dim as u64 * 4;
        let budget = crate::model::MAX_FILE_BYTES.saturating_sub(self.model.file().len() as u64);
        if kv_bytes > budget {
            return Err(Error::Limit(format!(
                "a context of {n_ctx} tokens needs {kv_bytes} bytes of KV cache; {budget} bytes are left beside the model"
            )));
        }
        let mut state = self.model.new_state(n_ctx);
        state.capture_attention = params.capture_attention;
        self.session = Some(Session {
            sampler: Sampler::new(params.sampling.clone()),
            params,
            state,
            prompt,
            n_prompt_fed: 0,
            generated: Vec::new(),
            logits: None,
            decoder: StreamDecoder::default(),
            finished: None,
            t_start: now_ms(),
            t_first: None,
            t_last: 0.0,
            n_timed: 0,
        });
        Ok(())
    }

    fn session(&mut self) -> Result<&mut Session, Error> {
        self.session.as_mut().ok_or_else(|| Error::Limit("no generation has been started".into()))
    }

    /// The parameters of the current session (defaults filled, the seed it uses).
    pub fn params(&self) -> Option<&GenParams> {
        self.session.as_ref().map(|s| &s.params)
    }

    pub fn session_ref(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The raw logits for the next position (after the prompt is in, before sampling).
    pub fn next_logits(&self) -> Option<&[f32]> {
        self.session.as_ref()?.logits.as_deref()
    }

    /// Feeds up to `n` more prompt tokens (n = 0: all); returns how many are left.
    pub fn prefill(&mut self, n: usize) -> Result<usize, Error> {
        let Engine { model, session, .. } = self;
        let s = session.as_mut().ok_or_else(|| Error::Limit("no generation has been started".into()))?;
        let left = s.prompt.len() - s.n_prompt_fed;
        if left == 0 {
            return Ok(0);
        }
        let take = if n == 0 { left } else { n.min(left) };
        let chunk = s.prompt[s.n_prompt_fed..s.n_prompt_fed + take].to_vec();
        let logits = model.forward(&mut s.state, &chunk)?;
        s.n_prompt_fed += take;
        if s.n_prompt_fed == s.prompt.len() {
            s.logits = Some(logits.to_vec());
        }
        Ok(s.prompt.len() - s.n_prompt_fed)
    }

    /// Picks the next token (or takes `forced`), feeds it, and reports the step.
    pub fn step_with(&mut self, forced: Option<u32>) -> Result<Step, Error> {
        if self.session()?.n_prompt_fed < self.session()?.prompt.len() {
            self.prefill(0)?;
        }
        let Engine { model, tokenizer, session } = self;
        let s = session.as_mut().ok_or_else(|| Error::Limit("no generation has been started".into()))?;
        if let Some(r) = s.finished {
            return Err(Error::Limit(format!("this generation has ended ({})", r.as_str())));
        }
        let t0 = now_ms();
        let mut logits = s.logits.take().ok_or_else(|| Error::Limit("the prompt has not been fed".into()))?;
        let masked: &[u32] = if s.params.ignore_eos { &tokenizer.eog_ids } else { &[] };
        let recent: Vec<u32> = if s.params.sampling.repeat_penalty != 1.0 {
            s.prompt.iter().chain(&s.generated).copied().collect()
        } else {
            Vec::new()
        };
        let mut choice = s.sampler.sample(&mut logits, &recent, masked, s.params.n_top);
        if let Some(f) = forced {
            if f as usize >= model.config.n_vocab {
                return Err(Error::Limit(format!("token id {f} is outside the vocabulary of {}", model.config.n_vocab)));
            }
            choice.id = f;
        }
        let id = choice.id;
        let t_sampled = now_ms();
        if s.t_first.is_none() {
            s.t_first = Some(t_sampled);
        }
        s.t_last = t_sampled;
        s.n_timed += 1;

        let pos = s.generated.len();
        let top = choice
            .top
            .iter()
            .map(|c| Alternative { id: c.id, text: tokenizer.token_text(c.id), logit: c.logit, prob: c.prob })
            .collect();
        let mut step = Step {
            pos,
            id,
            text: String::new(),
            piece: tokenizer.piece(id).to_string(),
            top,
            prob: choice.prob,
            entropy: choice.entropy,
            kept: choice.kept,
            ms: 0.0,
            done: None,
        };
        if tokenizer.is_eog(id) && forced.is_none() {
            s.finished = Some(StopReason::Eos);
            step.done = s.finished;
            step.ms = now_ms() - t0;
            return Ok(step);
        }
        s.generated.push(id);
        step.text = s.decoder.push(tokenizer.token_bytes(id));
        if s.generated.len() >= s.params.max_tokens {
            s.finished = Some(StopReason::MaxTokens);
        } else if s.state.n_past >= s.state.n_ctx {
            s.finished = Some(StopReason::ContextFull);
        } else {
            // Refill the Vec just sampled from: no allocation per token.
            let next = model.forward(&mut s.state, &[id])?;
            logits.clear();
            logits.extend_from_slice(next);
            s.logits = Some(logits);
            if s.state.n_past >= s.state.n_ctx {
                s.finished = Some(StopReason::ContextFull);
            }
        }
        if s.finished.is_some() {
            step.text.push_str(&s.decoder.finish());
        }
        step.done = s.finished;
        step.ms = now_ms() - t0;
        Ok(step)
    }

    pub fn step(&mut self) -> Result<Step, Error> {
        self.step_with(None)
    }

    /// Rewinds to generated position `pos` and puts `id` there; returns the whole answer's text
    /// and, if this token ends the generation, why.
    pub fn choose(&mut self, pos: usize, id: u32) -> Result<(String, Option<StopReason>), Error> {
        let Engine { model, tokenizer, session } = self;
        let s = session.as_mut().ok_or_else(|| Error::Limit("no generation has been started".into()))?;
        if id as usize >= model.config.n_vocab {
            return Err(Error::Limit(format!("token id {id} is outside the vocabulary of {}", model.config.n_vocab)));
        }
        let base = s.prompt.len();
        if s.n_prompt_fed < base || pos > s.generated.len() || s.state.n_past < base + pos {
            return Err(Error::Limit(format!("cannot continue from position {pos}: {} tokens have been generated", s.generated.len())));
        }
        s.generated.truncate(pos);
        if !s.state.truncate(base + pos) {
            // A sliding layer has dropped rows that position needs: feed everything again.
            s.state.reset();
            let again: Vec<u32> = s.prompt.iter().chain(&s.generated).copied().collect();
            model.forward(&mut s.state, &again)?;
        }
        s.generated.push(id);
        s.finished = None;
        s.logits = None;
        if tokenizer.is_eog(id) {
            s.finished = Some(StopReason::Eos);
        } else if s.generated.len() >= s.params.max_tokens {
            s.finished = Some(StopReason::MaxTokens);
        }
        if s.finished.is_none() {
            if s.state.n_past < s.state.n_ctx {
                s.logits = Some(model.forward(&mut s.state, &[id])?.to_vec());
            }
            if s.state.n_past >= s.state.n_ctx {
                s.finished = Some(StopReason::ContextFull);
            }
        }
        s.decoder = StreamDecoder::default();
        let mut text = String::new();
        for &t in &s.generated {
            if !tokenizer.is_eog(t) {
                text.push_str(&s.decoder.push(tokenizer.token_bytes(t)));
            }
        }
        Ok((text, s.finished))
    }

    pub fn stats(&self) -> Stats {
        let Some(s) = &self.session else { return Stats::default() };
        let ttft = s.t_first.map_or(0.0, |t| t - s.t_start);
        let decode_ms = s.t_first.map_or(0.0, |t| s.t_last - t);
        Stats {
            prompt_tokens: s.prompt.len(),
            generated: s.generated.len(),
            n_ctx_used: s.state.n_past,
            n_ctx: s.state.n_ctx,
            ttft_ms: ttft,
            prefill_tok_s: if ttft > 0.0 { s.prompt.len() as f64 * 1000.0 / ttft } else { 0.0 },
            decode_tok_s: if decode_ms > 0.0 && s.n_timed > 1 { (s.n_timed - 1) as f64 * 1000.0 / decode_ms } else { 0.0 },
        }
    }

    /// The attention weights of one layer for the last token fed: n_head × n_past.
    pub fn attention(&self, layer: usize) -> Result<Vec<f32>, Error> {
        let s = self.session.as_ref().ok_or_else(|| Error::Limit("no generation has been started".into()))?;
        let c = &self.model.config;
        if layer >= c.n_layer {
            return Err(Error::Limit(format!("layer {layer} does not exist; the model has {}", c.n_layer)));
        }
        if s.state.attention.is_empty() {
            return Err(Error::Limit("attention was not captured (start with capture_attention)".into()));
        }
        let n = s.state.attention.len() / (c.n_layer * c.n_head);
        Ok(s.state.attention[layer * c.n_head * n..(layer + 1) * c.n_head * n].to_vec())
    }
}
