//! What a caller asks for, in one place. The CLI, the worker and the widget all send a
//! `Request` (a user message, a raw text or a whole conversation, and sampling parameters);
//! the engine fills every default from `GenParams::default()`, renders the model's own chat
//! template, tokenizes, starts the session and says what it fed (`Fed`).

use serde::{Deserialize, Deserializer, Serialize};

use crate::generate::{Engine, GenParams};
use crate::tokenizer::{ChatMessage, Tokenizer};
use crate::Error;

/// One generation request. JSON: `{"prompt": "Hi", "params": {"temperature": 0}}`; unknown
/// fields and unknown parameters are refused by name.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// A user message, rendered with the chat template; with `raw`, or for a base model (no
    /// chat template), the exact text to feed (special tokens such as `<|im_start|>` parsed).
    pub prompt: Option<String>,
    /// A system message put before `prompt` (not with `raw` or `messages`).
    pub system: Option<String>,
    /// A whole conversation instead of `prompt` and `system`.
    pub messages: Option<Vec<ChatMessage>>,
    pub raw: bool,
    /// Any subset of `GenParams`; what is absent takes its default.
    #[serde(deserialize_with = "known_params")]
    pub params: GenParams,
}

/// The prompt as fed: its text, its tokens, and which of them the chat template wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Fed {
    pub text: String,
    pub ids: Vec<u32>,
    /// Each token's own text (U+FFFD where it holds part of a character).
    pub pieces: Vec<String>,
    pub special: Vec<bool>,
    /// true where the token was written by the chat template (or put first as the BOS), not
    /// by a message.
    pub template: Vec<bool>,
    /// false when the text was fed as written (a raw request, or a base model's continuation).
    pub chat: bool,
    /// The parameters the session runs with: every default filled, the seed it uses.
    pub params: GenParams,
}

impl Request {
    pub fn from_json(json: &str) -> Result<Request, Error> {
        serde_json::from_str(json).map_err(|e| Error::Request(e.to_string()))
    }

    /// The text to feed, and the byte spans of it that messages wrote (the rest is template).
    pub fn render(&self, tokenizer: &Tokenizer) -> Result<(String, Vec<(usize, usize)>), Error> {
        if self.raw {
            if self.messages.is_some() || self.system.is_some() {
                return Err(Error::Request("a raw request feeds its prompt as it is: it takes no messages and no system".into()));
            }
            let text = self.prompt.clone().ok_or_else(|| Error::Request("a raw request needs a prompt".into()))?;
            let n = text.len();
            return Ok((text, vec![(0, n)]));
        }
        if tokenizer.chat_template.is_none() {
            // A base model continues text: a prompt is fed as written; a chat cannot be.
            return match (&self.prompt, &self.messages, &self.system) {
                (Some(p), None, None) => Ok((p.clone(), vec![(0, p.len())])),
                _ => Err(Error::Request(crate::tokenizer::NO_TEMPLATE.into())),
            };
        }
        let messages = match (&self.messages, &self.prompt) {
            (Some(_), Some(_)) => return Err(Error::Request("give either messages or a prompt, not both".into())),
            (Some(m), None) => {
                if self.system.is_some() {
                    return Err(Error::Request("with messages, put the system message among them".into()));
                }
                if m.is_empty() {
                    return Err(Error::Request("the conversation has no messages".into()));
                }
                m.clone()
            }
            (None, Some(p)) => {
                let mut m = Vec::new();
                if let Some(s) = &self.system {
                    m.push(ChatMessage { role: "system".into(), content: s.clone() });
                }
                m.push(ChatMessage { role: "user".into(), content: p.clone() });
                m
            }
            (None, None) => return Err(Error::Request("the request has no prompt and no messages".into())),
        };
        let text = tokenizer.apply_chat_template(&messages, true)?;
        // Where each message's content landed, in order (a template may drop or repeat some).
        let mut spans = Vec::new();
        let mut from = 0;
        for m in &messages {
            if m.content.is_empty() {
                continue;
            }
            if let Some(i) = text[from..].find(&m.content) {
                spans.push((from + i, from + i + m.content.len()));
                from += i + m.content.len();
            }
        }
        Ok((text, spans))
    }
}

impl Engine {
    /// What the request would feed, without starting anything (the page's tokenizer view).
    pub fn prepare(&self, req: &Request) -> Result<Fed, Error> {
        req.params.check()?;
        let (text, spans) = req.render(&self.tokenizer)?;
        let t = &self.tokenizer;
        // BOS, once (Tokenizer::bos_to_add): the template or the prompt may write its own.
        let mut ids = t.encode_text(&text, true)?;
        let added_bos = t.bos_to_add(&ids);
        if let Some(b) = added_bos {
            ids.insert(0, b);
        }
        let template = template_marks(t, &text, &ids, &spans, added_bos.is_some());
        let pieces = ids.iter().map(|&i| t.token_text(i)).collect();
        let special = ids.iter().map(|&i| t.is_special(i)).collect();
        let chat = !req.raw && t.chat_template.is_some();
        Ok(Fed { text, ids, pieces, special, template, chat, params: req.params.clone() })
    }

    /// Renders, tokenizes and starts the request's session (dropping any previous one).
    pub fn begin(&mut self, req: &Request) -> Result<Fed, Error> {
        let mut fed = self.prepare(req)?;
        self.start(fed.ids.clone(), fed.params.clone())?;
        if let Some(p) = self.params() {
            fed.params = p.clone();
        }
        Ok(fed)
    }
}

/// Marks the tokens that lie outside every message span. Token bytes are walked along the text;
/// a BOS the tokenizer put first takes no bytes. If the bytes do not add up to the text (a
/// normalising tokenizer), only special tokens are marked.
fn template_marks(t: &Tokenizer, text: &str, ids: &[u32], spans: &[(usize, usize)], added_bos: bool) -> Vec<bool> {
    let mut marks = Vec::with_capacity(ids.len());
    let mut at = 0usize;
    for (i, &id) in ids.iter().enumerate() {
        if i == 0 && added_bos {
            marks.push(true);
            continue;
        }
        let n = t.token_bytes(id).len();
        let (a, b) = (at, at + n);
        marks.push(!spans.iter().any(|&(s, e)| a < e && s < b));
        at = b;
    }
    if at != text.len() {
        return ids.iter().enumerate().map(|(i, &id)| (i == 0 && added_bos) || t.is_special(id)).collect();
    }
    marks
}

/// `params` as JSON: every key must be one of GenParams' own (they are the defaults' keys).
fn known_params<'de, D: Deserializer<'de>>(d: D) -> Result<GenParams, D::Error> {
    use serde::de::Error as _;
    let v = serde_json::Value::deserialize(d)?;
    let obj = v.as_object().ok_or_else(|| D::Error::custom("params must be an object"))?;
    let known = serde_json::to_value(GenParams::default()).map_err(D::Error::custom)?;
    let known = known.as_object().ok_or_else(|| D::Error::custom("GenParams is not an object"))?;
    if let Some(k) = obj.keys().find(|k| !known.contains_key(*k)) {
        let names: Vec<&str> = known.keys().map(String::as_str).collect();
        return Err(D::Error::custom(format!("unknown parameter {k:?}; the parameters are {}", names.join(", "))));
    }
    // One key at a time over the defaults, so that a bad value is named (flatten hides the name).
    for (k, value) in obj {
        let mut one = known.clone();
        one.insert(k.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<GenParams>(serde_json::Value::Object(one)) {
            return Err(D::Error::custom(format!("parameter {k:?} is {value}: {e}")));
        }
    }
    serde_json::from_value(v).map_err(D::Error::custom)
}
