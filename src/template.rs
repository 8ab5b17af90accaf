//! Chat templates: the Jinja template a GGUF carries (`tokenizer.chat_template`), rendered with
//! minijinja under a bound on the work it may do and the text it may produce, with the Python
//! string and dict methods templates call. The tokenizer renders through it
//! (`Tokenizer::apply_chat_template`).

use crate::Error;

/// One message of a chat: its role ("system", "user", "assistant") and its text.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// Renders `template` for `messages` (with the assistant's turn opened when
/// `add_generation_prompt`), the file's BOS and EOS pieces as `bos_token` and `eos_token`.
pub fn render_chat_template(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String, Error> {
    // The template comes from the file: bound the work it may do (nested loops over big
    // ranges would otherwise hang the worker) and the text it may produce.
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.add_function("raise_exception", |msg: String| -> Result<String, minijinja::Error> {
        Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg))
    });
    // Python's str and dict methods that chat templates call (`content.split('</think>')`).
    env.set_unknown_method_callback(python_method);
    env.add_template("chat", template).map_err(|e| Error::Template(format!("the chat template does not parse: {e}")))?;
    let t = env.get_template("chat").map_err(|e| Error::Template(e.to_string()))?;
    // Rendered into a writer that refuses to grow past TEMPLATE_MAX_OUTPUT.
    let mut out = CappedWriter(Vec::new());
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => add_generation_prompt,
        bos_token => bos_token,
        eos_token => eos_token,
    };
    let rendered = t.render_captured_to(ctx, &mut out).map(drop).map_err(|e| e.to_string());
    match rendered {
        Ok(()) => String::from_utf8(out.0).map_err(|_| Error::Template("the chat template produced invalid UTF-8".into())),
        Err(_) if out.0.len() >= TEMPLATE_MAX_OUTPUT => Err(Error::Template(format!(
            "the chat template produced more than {TEMPLATE_MAX_OUTPUT} bytes; rendering was stopped"
        ))),
        Err(e) => Err(Error::Template(format!("rendering the chat template failed: {e}"))),
    }
}

/// The Python methods chat templates use on strings and dicts, which Jinja2 has from Python and
/// minijinja does not (as minijinja-contrib's pycompat): split, strip, lstrip, rstrip,
/// startswith, endswith, replace, upper, lower, title, capitalize, find, count; items, keys,
/// values, get.
fn python_method(
    _: &minijinja::State,
    value: &minijinja::Value,
    method: &str,
    args: &[minijinja::Value],
) -> Result<minijinja::Value, minijinja::Error> {
    use minijinja::value::ValueKind;
    use minijinja::{Error as JError, ErrorKind, Value as V};
    let bad = |what: &str| JError::new(ErrorKind::InvalidOperation, format!("{method}(): {what}"));
    let str_arg = |i: usize| -> Result<Option<&str>, JError> {
        match args.get(i) {
            None => Ok(None),
            Some(v) if v.is_none() || v.is_undefined() => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| bad("the argument must be a string")),
        }
    };
    if let Some(s) = value.as_str() {
        let chars = str_arg(0)?;
        let strip_set = |c: char, set: Option<&str>| set.map_or(c.is_whitespace(), |set| set.contains(c));
        return Ok(match method {
            "strip" => V::from(s.trim_matches(|c| strip_set(c, chars))),
            "lstrip" => V::from(s.trim_start_matches(|c| strip_set(c, chars))),
            "rstrip" => V::from(s.trim_end_matches(|c| strip_set(c, chars))),
            "split" => {
                let max = args.get(1).and_then(|v| i64::try_from(v.clone()).ok()).filter(|&n| n >= 0);
                let parts: Vec<V> = match (chars, max) {
                    (Some(""), _) => return Err(bad("empty separator")),
                    (Some(sep), None) => s.split(sep).map(V::from).collect(),
                    (Some(sep), Some(n)) => s.splitn(n as usize + 1, sep).map(V::from).collect(),
                    (None, _) => s.split_whitespace().map(V::from).collect(),
                };
                V::from(parts)
            }
            "startswith" => V::from(chars.is_some_and(|p| s.starts_with(p))),
            "endswith" => V::from(chars.is_some_and(|p| s.ends_with(p))),
            "replace" => match (chars, str_arg(1)?) {
                (Some(a), Some(b)) if !a.is_empty() => V::from(s.replace(a, b)),
                _ => return Err(bad("takes two strings, the first not empty")),
            },
            "find" => V::from(chars.and_then(|p| s.find(p)).map_or(-1, |i| s[..i].chars().count() as i64)),
            "count" => V::from(chars.filter(|p| !p.is_empty()).map_or(0, |p| s.matches(p).count())),
            "upper" => V::from(s.to_uppercase()),
            "lower" => V::from(s.to_lowercase()),
            "capitalize" => {
                let mut c = s.chars();
                V::from(c.next().map_or(String::new(), |f| f.to_uppercase().chain(c.flat_map(char::to_lowercase)).collect()))
            }
            "title" => {
                let mut out = String::with_capacity(s.len());
                let mut prev_letter = false;
                for c in s.chars() {
                    if prev_letter {
                        out.extend(c.to_lowercase());
                    } else {
                        out.extend(c.to_uppercase());
                    }
                    prev_letter = c.is_alphabetic();
                }
                V::from(out)
            }
            _ => return Err(JError::new(ErrorKind::UnknownMethod, format!("strings have no method {method}()"))),
        });
    }
    if value.kind() == ValueKind::Map {
        let keys: Vec<V> = value.try_iter()?.collect();
        return Ok(match method {
            "keys" => V::from(keys),
            "values" => V::from(keys.iter().map(|k| value.get_item(k)).collect::<Result<Vec<_>, _>>()?),
            "items" => V::from(
                keys.iter().map(|k| Ok(V::from(vec![k.clone(), value.get_item(k)?]))).collect::<Result<Vec<_>, JError>>()?,
            ),
            "get" => {
                let k = args.first().ok_or_else(|| bad("needs a key"))?;
                let v = value.get_item(k)?;
                if v.is_undefined() {
                    args.get(1).cloned().unwrap_or(V::from(()))
                } else {
                    v
                }
            }
            _ => return Err(JError::new(ErrorKind::UnknownMethod, format!("dicts have no method {method}()"))),
        });
    }
    Err(JError::new(ErrorKind::UnknownMethod, format!("{} has no method {method}()", value.kind())))
}

struct CappedWriter(Vec<u8>);

impl std::io::Write for CappedWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + b.len() > TEMPLATE_MAX_OUTPUT {
            self.0.resize(TEMPLATE_MAX_OUTPUT, 0);
            return Err(std::io::Error::other("too much output"));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Instructions a chat template may run (rendering SmolLM's takes a few hundred per message).
const TEMPLATE_FUEL: u64 = 1_000_000;
const TEMPLATE_MAX_OUTPUT: usize = 4 << 20;
