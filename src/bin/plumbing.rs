//! The native command line: tokenize, generate, inspect, bench, serve.
//! Tests and benchmarks drive it; keep the flags stable.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use plumbing::{inspect, now_ms, ChatMessage, Engine, GenParams, ModelFile, SamplingParams};
use serde_json::json;

const USAGE: &str = "plumbing: a small language model with its plumbing visible

usage:
  plumbing tokenize --model M --text T [--no-special]
  plumbing generate --model M --prompt T [--raw] [--system S] [--max-tokens N] [--temperature X]
                    [--top-k K] [--top-p P] [--repeat-penalty R] [--seed S] [--ignore-eos]
                    [--force-ids 1,2,3] [--n-ctx N] [--json]
  plumbing inspect  --model M [--json] [--stats]
  plumbing bench    --model M --prompt-file ../shared/peers/prompt.json [--runs 5] [--tokens 128]
  plumbing serve    [--dir www] [--host 127.0.0.1] [--port 8080] [--no-isolation]
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let opts = match Opts::parse(&args[1..]) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let r = match cmd.as_str() {
        "tokenize" => tokenize(&opts),
        "generate" => generate(&opts),
        "inspect" => inspect_cmd(&opts),
        "bench" => bench(&opts),
        "serve" => serve(&opts),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------------

struct Opts {
    values: HashMap<String, String>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &["raw", "ignore-eos", "json", "stats", "no-special", "no-isolation"];

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut values = HashMap::new();
        let mut flags = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].strip_prefix("--").ok_or_else(|| format!("unexpected argument {:?}", args[i]))?;
            if FLAGS.contains(&a) {
                flags.push(a.to_string());
                i += 1;
            } else {
                let v = args.get(i + 1).ok_or_else(|| format!("--{a} needs a value"))?;
                values.insert(a.to_string(), v.clone());
                i += 2;
            }
        }
        Ok(Opts { values, flags })
    }
    fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(String::as_str)
    }
    fn req(&self, k: &str) -> Result<&str, String> {
        self.get(k).ok_or_else(|| format!("--{k} is required"))
    }
    fn num<T: std::str::FromStr>(&self, k: &str, default: T) -> Result<T, String> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{k} {v:?} is not a valid number")),
        }
    }
}

fn load(opts: &Opts) -> Result<(Engine, f64), String> {
    let path = opts.req("model")?;
    let t0 = now_ms();
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open {path}: {e}"))?;
    let len = f.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    let mut file = ModelFile::with_len(len).map_err(|e| e.to_string())?;
    f.read_exact(file.bytes_mut()).map_err(|e| format!("reading {path}: {e}"))?;
    let engine = Engine::load(file, &mut |_, _, _| {}).map_err(|e| format!("{path}: {e}"))?;
    Ok((engine, now_ms() - t0))
}

// ------------------------------------------------------------------------------------------------
// Commands
// ------------------------------------------------------------------------------------------------

fn tokenize(opts: &Opts) -> Result<(), String> {
    let (engine, _) = load(opts)?;
    let text = opts.req("text")?;
    let t = &engine.tokenizer;
    let ids = t.encode(text, !opts.flag("no-special")).map_err(|e| e.to_string())?;
    let pieces: Vec<String> = ids.iter().map(|&i| t.token_text(i)).collect();
    println!("{}", json!({"ids": ids, "pieces": pieces}));
    Ok(())
}

fn prompt_ids(engine: &Engine, opts: &Opts) -> Result<Vec<u32>, String> {
    let prompt = opts.req("prompt")?;
    let text = if opts.flag("raw") {
        prompt.to_string()
    } else {
        let mut messages = Vec::new();
        if let Some(s) = opts.get("system") {
            messages.push(ChatMessage { role: "system".into(), content: s.into() });
        }
        messages.push(ChatMessage { role: "user".into(), content: prompt.into() });
        engine.tokenizer.apply_chat_template(&messages, true).map_err(|e| e.to_string())?
    };
    engine.tokenizer.encode(&text, true).map_err(|e| e.to_string())
}

fn gen_params(opts: &Opts) -> Result<GenParams, String> {
    Ok(GenParams {
        sampling: SamplingParams {
            temperature: opts.num("temperature", 0.0)?,
            top_k: opts.num("top-k", 40)?,
            top_p: opts.num("top-p", 0.95)?,
            repeat_penalty: opts.num("repeat-penalty", 1.0)?,
            repeat_last_n: 64,
            seed: opts.num("seed", 42)?,
        },
        max_tokens: opts.num("max-tokens", 128)?,
        ignore_eos: opts.flag("ignore-eos"),
        n_top: 5,
        capture_attention: false,
        n_ctx: opts.num("n-ctx", 0)?,
    })
}

fn generate(opts: &Opts) -> Result<(), String> {
    let (mut engine, load_ms) = load(opts)?;
    let ids = prompt_ids(&engine, opts)?;
    let forced: Vec<u32> = match opts.get("force-ids") {
        None => Vec::new(),
        Some(s) => s
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| x.trim().parse().map_err(|_| format!("--force-ids: {x:?} is not a token id")))
            .collect::<Result<_, _>>()?,
    };
    let mut params = gen_params(opts)?;
    if !forced.is_empty() {
        params.max_tokens = forced.len();
    }
    let json_out = opts.flag("json");
    engine.start(ids, params).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut pos = 0;
    let reason = loop {
        let step = engine.step_with(forced.get(pos).copied()).map_err(|e| e.to_string())?;
        if json_out {
            let top: Vec<_> = step.top.iter().map(|c| json!({"id": c.id, "logit": c.logit})).collect();
            writeln!(out, "{}", json!({"pos": step.pos, "id": step.id, "text": step.text, "top": top})).ok();
        } else {
            write!(out, "{}", step.text).ok();
            out.flush().ok();
        }
        pos += 1;
        if let Some(r) = step.done {
            break r;
        }
    };
    let s = engine.stats();
    if json_out {
        writeln!(
            out,
            "{}",
            json!({"done": reason.as_str(), "stats": {"prompt_tokens": s.prompt_tokens, "generated": s.generated,
                "prefill_tok_s": s.prefill_tok_s, "decode_tok_s": s.decode_tok_s, "ttft_ms": s.ttft_ms, "load_ms": load_ms,
                "kernels": plumbing::kernels::ARCH}})
        )
        .ok();
    } else {
        writeln!(out).ok();
        eprintln!(
            "[{} | prompt {} tokens, prefill {:.1} tok/s | {} generated, decode {:.1} tok/s | load {:.0} ms | kernels {}]",
            reason.as_str(),
            s.prompt_tokens,
            s.prefill_tok_s,
            s.generated,
            s.decode_tok_s,
            load_ms,
            plumbing::kernels::ARCH
        );
    }
    Ok(())
}

fn inspect_cmd(opts: &Opts) -> Result<(), String> {
    let (engine, _) = load(opts)?;
    let mut info = inspect::info(&engine, 8);
    let with_stats = opts.flag("stats") || opts.flag("json");
    if with_stats {
        if let Some(ts) = info["tensors"].as_array_mut() {
            for t in ts.iter_mut() {
                let name = t["name"].as_str().unwrap_or_default().to_string();
                if let Ok(s) = inspect::tensor_stats(&engine.model, &name) {
                    t["min"] = json!(s.min);
                    t["max"] = json!(s.max);
                    t["mean"] = json!(s.mean);
                    t["std"] = json!(s.std);
                }
            }
        }
    }
    if opts.flag("json") {
        println!("{info}");
        return Ok(());
    }
    println!("GGUF v{}  {} bytes  architecture {}  kernels {}", info["gguf_version"], info["file_bytes"], info["architecture"], info["kernels"]);
    println!("\nmetadata:");
    for m in info["metadata"].as_array().into_iter().flatten() {
        let mut v = m["value"].to_string();
        if v.len() > 100 {
            v = format!("{}…", &v[..v.char_indices().take_while(|(i, _)| *i < 100).last().map_or(0, |(i, _)| i)]);
        }
        let len = m.get("len").map(|l| format!(" ({l} items)")).unwrap_or_default();
        println!("  {:<44} {:<14} {v}{len}", m["key"].as_str().unwrap_or(""), m["type"].as_str().unwrap_or(""));
    }
    println!("\ntensors:");
    println!("  {:<28} {:<5} {:>16} {:>10} {:>10}", "name", "type", "shape", "bytes", "offset");
    for t in info["tensors"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {:<5} {:>16} {:>10} {:>10}",
            t["name"].as_str().unwrap_or(""),
            t["type"].as_str().unwrap_or(""),
            t["shape"].to_string(),
            t["bytes"],
            t["offset"]
        );
    }
    Ok(())
}

/// The native half of `./build.sh bench`: load, one untimed 16-token warm-up, then a timed
/// generation on the shared prompt (fed raw, special tokens parsed), `runs` times.
fn bench(opts: &Opts) -> Result<(), String> {
    let pf = opts.req("prompt-file")?;
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pf).map_err(|e| format!("{pf}: {e}"))?)
        .map_err(|e| format!("{pf}: {e}"))?;
    let user = p["user"].as_str().ok_or("prompt file has no \"user\"")?;
    let text = p["chatml"].as_str().ok_or("prompt file has no \"chatml\"")?.replace("{user}", user);
    let n_predict: usize = opts.num("tokens", p["n_predict"].as_u64().unwrap_or(128) as usize)?;
    let runs: usize = opts.num("runs", 5)?;
    let mut results = Vec::new();
    for run in 0..runs {
        let (mut engine, load_ms) = load(opts)?;
        let ids = engine.tokenizer.encode(&text, true).map_err(|e| e.to_string())?;
        let params = |n| GenParams { max_tokens: n, ignore_eos: true, n_top: 5, ..GenParams::default() };
        engine.start(ids.clone(), params(16)).map_err(|e| e.to_string())?;
        while engine.step().map_err(|e| e.to_string())?.done.is_none() {}
        engine.start(ids, params(n_predict)).map_err(|e| e.to_string())?;
        let mut text_out = String::new();
        loop {
            let s = engine.step().map_err(|e| e.to_string())?;
            text_out.push_str(&s.text);
            if s.done.is_some() {
                break;
            }
        }
        let s = engine.stats();
        eprintln!("run {run}: load {load_ms:.0} ms, prefill {:.1} tok/s, decode {:.1} tok/s", s.prefill_tok_s, s.decode_tok_s);
        results.push(json!({"load_ms": load_ms, "prompt_tokens": s.prompt_tokens, "generated": s.generated,
            "prefill_tok_s": s.prefill_tok_s, "decode_tok_s": s.decode_tok_s, "ttft_ms": s.ttft_ms, "text": text_out}));
    }
    println!("{}", json!({"impl": "plumbing native", "kernels": plumbing::kernels::ARCH, "threads": 1, "runs": results}));
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// A small static file server for the page (127.0.0.1 only by default)
// ------------------------------------------------------------------------------------------------

fn serve(opts: &Opts) -> Result<(), String> {
    let dir = PathBuf::from(opts.get("dir").unwrap_or("www"));
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let host = opts.get("host").unwrap_or("127.0.0.1");
    let port: u16 = opts.num("port", 8080)?;
    let isolation = !opts.flag("no-isolation");
    let listener = TcpListener::bind((host, port)).map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    eprintln!("serving {} on http://{host}:{port}/ (cross-origin isolation {})", dir.display(), if isolation { "on" } else { "off" });
    plumbing::serve::run(listener, dir, isolation);
    Ok(())
}
