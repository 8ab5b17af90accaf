//! The native command line: tokenize, generate, inspect, bench, serve.
//! Tests and benchmarks drive it; keep the flags stable. Sampling and generation flags are
//! optional: what is not given keeps the engine's one default (`GenParams::default()`).

use std::io::{BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use plumbing::{inspect, now_ms, Engine, GenParams, ModelFile, Request};
use serde_json::json;

// ------------------------------------------------------------------------------------------------
// Options
// ------------------------------------------------------------------------------------------------

/// plumbing: a small language model with its plumbing visible.
#[derive(Parser)]
#[command(name = "plumbing", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Token ids and pieces of a text, as JSON.
    Tokenize(TokenizeArgs),
    /// Generate from a prompt (a user message in the chat template, or --raw text).
    Generate(GenerateArgs),
    /// The file's metadata and tensors.
    Inspect(InspectArgs),
    /// The native half of ./build.sh bench: greedy, end-of-text ignored, timed.
    Bench(BenchArgs),
    /// Serve a directory (the page) over HTTP, with the headers it needs.
    Serve(ServeArgs),
}

#[derive(Args)]
struct TokenizeArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    #[arg(long)]
    text: String,
    /// Take special tokens such as <|im_start|> as plain text.
    #[arg(long)]
    no_special: bool,
}

#[derive(Args)]
struct GenerateArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// A user message, put in the model's chat template (with --raw: the exact text, special
    /// tokens parsed).
    #[arg(long)]
    prompt: String,
    /// Feed --prompt as it is, without the chat template.
    #[arg(long)]
    raw: bool,
    /// A system message before the prompt.
    #[arg(long)]
    system: Option<String>,
    #[command(flatten)]
    params: ParamArgs,
    /// Feed these token ids instead of sampling (comma-separated); sets --max-tokens to their count.
    #[arg(long, value_name = "ID,ID,...", value_parser = parse_ids)]
    force_ids: Option<Ids>,
    /// One JSON line per token, then one with the stop reason, the parameters and the timings.
    #[arg(long)]
    json: bool,
    /// Write the raw logits each generated (or forced) token was chosen from, in order:
    /// little-endian f32, n_vocab per position.
    #[arg(long, value_name = "FILE")]
    logits: Option<PathBuf>,
    #[command(flatten)]
    threads: ThreadArgs,
}

#[derive(Args)]
struct ThreadArgs {
    /// Threads for the forward pass, this one included (matrix rows and attention heads split
    /// across them; the same logits for any count).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=plumbing::pool::MAX_THREADS as i64))]
    threads: u16,
}

impl ThreadArgs {
    /// Starts the pool; the count in use.
    fn apply(&self) -> usize {
        plumbing::pool::set_threads(self.threads as usize)
    }
}

/// Sampling and generation; each one absent keeps the engine's default.
#[derive(Args)]
struct ParamArgs {
    /// The most tokens to generate.
    #[arg(long, value_name = "N")]
    max_tokens: Option<usize>,
    /// 0 = greedy.
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// 0 = no top-k cut.
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
    /// 1 = no top-p cut.
    #[arg(long, value_name = "P")]
    top_p: Option<f32>,
    /// 1 = off.
    #[arg(long, value_name = "R")]
    repeat_penalty: Option<f32>,
    /// Absent: a fresh random seed (reported at the end).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Mask the end-of-generation tokens: always generate --max-tokens.
    #[arg(long)]
    ignore_eos: bool,
    /// Context size (0 = the engine's choice).
    #[arg(long, value_name = "N")]
    n_ctx: Option<usize>,
}

impl ParamArgs {
    fn apply(&self, p: &mut GenParams) {
        let s = &mut p.sampling;
        s.temperature = self.temperature.unwrap_or(s.temperature);
        s.top_k = self.top_k.unwrap_or(s.top_k);
        s.top_p = self.top_p.unwrap_or(s.top_p);
        s.repeat_penalty = self.repeat_penalty.unwrap_or(s.repeat_penalty);
        s.seed = self.seed.or(s.seed);
        p.max_tokens = self.max_tokens.unwrap_or(p.max_tokens);
        p.ignore_eos |= self.ignore_eos;
        p.n_ctx = self.n_ctx.unwrap_or(p.n_ctx);
    }
}

#[derive(Clone)]
struct Ids(Vec<u32>);

fn parse_ids(s: &str) -> Result<Ids, String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| x.parse().map_err(|_| format!("{x:?} is not a token id")))
        .collect::<Result<_, _>>()
        .map(Ids)
}

#[derive(Args)]
struct InspectArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Everything as one JSON object (with the statistics of every tensor).
    #[arg(long)]
    json: bool,
    /// Compute each tensor's min, max, mean and standard deviation.
    #[arg(long)]
    stats: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// The GGUF model file.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// The shared prompt: JSON with "user", "chatml" (with {user}) and "n_predict".
    #[arg(long, value_name = "FILE")]
    prompt_file: PathBuf,
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Tokens to generate (default: the prompt file's n_predict, else 128).
    #[arg(long, value_name = "N")]
    tokens: Option<usize>,
    #[command(flatten)]
    threads: ThreadArgs,
}

#[derive(Args)]
struct ServeArgs {
    #[arg(long, value_name = "DIR", default_value = "www")]
    dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0: a free port, named in the first line on stderr.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Leave out Cross-Origin-Opener-Policy and -Embedder-Policy (a page without isolation).
    #[arg(long)]
    no_isolation: bool,
}

fn main() -> ExitCode {
    // The defaults shown in `generate --help` are the engine's own.
    let defaults = serde_json::to_string(&GenParams::default()).unwrap_or_default();
    let cli = Cli::command().mut_subcommand("generate", |c| c.after_help(format!("The engine's defaults: {defaults}")));
    // Usage errors (unknown options, bad values) exit with 2 and name what was wrong.
    let cli = match Cli::from_arg_matches(&cli.get_matches()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let r = match cli.command {
        Command::Tokenize(a) => tokenize(&a),
        Command::Generate(a) => generate(&a),
        Command::Inspect(a) => inspect_cmd(&a),
        Command::Bench(a) => bench(&a),
        Command::Serve(a) => serve(&a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn load(file: &Path) -> Result<(Engine, f64), String> {
    let path = file.display();
    let t0 = now_ms();
    let mut f = std::fs::File::open(file).map_err(|e| format!("cannot open {path}: {e}"))?;
    let len = f.metadata().map_err(|e| format!("{path}: {e}"))?.len();
    let mut file = ModelFile::with_len(len).map_err(|e| e.to_string())?;
    f.read_exact(file.bytes_mut()).map_err(|e| format!("reading {path}: {e}"))?;
    let engine = Engine::load(file, &mut |_, _, _| {}).map_err(|e| format!("{path}: {e}"))?;
    Ok((engine, now_ms() - t0))
}

// ------------------------------------------------------------------------------------------------
// Commands
// ------------------------------------------------------------------------------------------------

fn tokenize(a: &TokenizeArgs) -> Result<(), String> {
    let (engine, _) = load(&a.model)?;
    let t = &engine.tokenizer;
    let ids = t.encode(&a.text, !a.no_special).map_err(|e| e.to_string())?;
    let pieces: Vec<String> = ids.iter().map(|&i| t.token_text(i)).collect();
    println!("{}", json!({"ids": ids, "pieces": pieces}));
    Ok(())
}

fn generate(a: &GenerateArgs) -> Result<(), String> {
    let threads = a.threads.apply();
    let (mut engine, load_ms) = load(&a.model)?;
    let forced = a.force_ids.as_ref().map_or(&[][..], |f| &f.0[..]);
    let mut params = GenParams::default();
    a.params.apply(&mut params);
    if !forced.is_empty() {
        params.max_tokens = forced.len();
    }
    let request = Request { prompt: Some(a.prompt.clone()), system: a.system.clone(), raw: a.raw, params, ..Request::default() };
    let fed = engine.begin(&request).map_err(|e| e.to_string())?;
    let mut logits_out = match &a.logits {
        None => None,
        Some(p) => Some(BufWriter::new(std::fs::File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?)),
    };
    let mut out = std::io::stdout().lock();
    engine.prefill(0).map_err(|e| e.to_string())?;
    let mut pos = 0;
    let reason = loop {
        if let Some(w) = logits_out.as_mut() {
            let l = engine.next_logits().ok_or_else(|| format!("no logits before generated token {pos}"))?;
            let bytes: Vec<u8> = l.iter().flat_map(|x| x.to_le_bytes()).collect();
            w.write_all(&bytes).map_err(|e| format!("writing the logits: {e}"))?;
        }
        let step = engine.step_with(forced.get(pos).copied()).map_err(|e| e.to_string())?;
        if a.json {
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
    if let Some(mut w) = logits_out {
        w.flush().map_err(|e| format!("writing the logits: {e}"))?;
    }
    let s = engine.stats();
    let seed = fed.params.sampling.seed.map_or("none".to_string(), |s| s.to_string());
    if a.json {
        writeln!(
            out,
            "{}",
            json!({"done": reason.as_str(), "params": fed.params, "stats": {"prompt_tokens": s.prompt_tokens, "generated": s.generated,
                "prefill_tok_s": s.prefill_tok_s, "decode_tok_s": s.decode_tok_s, "ttft_ms": s.ttft_ms, "load_ms": load_ms,
                "kernels": plumbing::kernels::ARCH, "threads": threads}})
        )
        .ok();
    } else {
        writeln!(out).ok();
        eprintln!(
            "[{} | prompt {} tokens, prefill {:.1} tok/s | {} generated, decode {:.1} tok/s | load {:.0} ms | kernels {} | threads {threads} | seed {seed}]",
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

fn inspect_cmd(a: &InspectArgs) -> Result<(), String> {
    let (engine, _) = load(&a.model)?;
    let mut info = inspect::info(&engine, 8);
    let with_stats = a.stats || a.json;
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
    if a.json {
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
/// generation on the shared prompt (fed raw, special tokens parsed), `runs` times. A benchmark:
/// greedy and end-of-text ignored, whatever the engine's defaults are.
fn bench(a: &BenchArgs) -> Result<(), String> {
    let threads = a.threads.apply();
    let pf = a.prompt_file.display();
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&a.prompt_file).map_err(|e| format!("{pf}: {e}"))?)
        .map_err(|e| format!("{pf}: {e}"))?;
    let user = p["user"].as_str().ok_or(format!("{pf} has no \"user\""))?;
    let text = p["chatml"].as_str().ok_or(format!("{pf} has no \"chatml\""))?.replace("{user}", user);
    let n_predict = a.tokens.unwrap_or(p["n_predict"].as_u64().unwrap_or(128) as usize);
    let request = |n| {
        let mut params = GenParams { max_tokens: n, ignore_eos: true, ..GenParams::default() };
        params.sampling.temperature = 0.0;
        Request { prompt: Some(text.clone()), raw: true, params, ..Request::default() }
    };
    let mut results = Vec::new();
    for run in 0..a.runs {
        let (mut engine, load_ms) = load(&a.model)?;
        engine.begin(&request(16)).map_err(|e| e.to_string())?;
        while engine.step().map_err(|e| e.to_string())?.done.is_none() {}
        engine.begin(&request(n_predict)).map_err(|e| e.to_string())?;
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
    println!("{}", json!({"impl": "plumbing native", "kernels": plumbing::kernels::ARCH, "threads": threads, "runs": results}));
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// A small static file server for the page (127.0.0.1 only by default)
// ------------------------------------------------------------------------------------------------

fn serve(a: &ServeArgs) -> Result<(), String> {
    if !a.dir.is_dir() {
        return Err(format!("{} is not a directory", a.dir.display()));
    }
    let (host, port) = (&a.host, a.port);
    let isolation = !a.no_isolation;
    let listener = TcpListener::bind((host.as_str(), port)).map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    // --port 0: the system picks a free port; this line names it (the tests read it from here).
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    eprintln!("serving {} on http://{host}:{port}/ (cross-origin isolation {})", a.dir.display(), if isolation { "on" } else { "off" });
    plumbing::serve::run(listener, a.dir.clone(), isolation);
    Ok(())
}
