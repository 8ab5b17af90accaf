// ./build.sh bench [--runs N] [--models smollm2,gemma3] [--types q4_1,q8_0,...] [--threads 1,2] [--peers]: SmolLM2-135M
// in each weight type and Gemma 3 270M (Q4_K_M, as shipped), run by native plumbing, both wasm builds in headless Chromium (www/pkg = SIMD128, www/pkg-relaxed
// = relaxed SIMD) and llama.cpp natively (llama-cpp-python, tests/bench/llamacpp.mjs), every one on
// ONE thread, on the same file, in one invocation and INTERLEAVED: for each run index, for each type,
// native, llama.cpp, wasm SIMD128, wasm relaxed, one after another, so a noisy minute hits all of
// them. The workload is ../shared/peers/prompt.json: for SmolLM2 its 101-token ChatML prompt; for
// Gemma 3 (a base model) the same user text raw, no chat template, after the BOS its file asks for
// (add_bos: every implementation's tokenizer puts it first); 128 greedy tokens, end-of-generation
// masked, after an untimed 16-token warm-up, a fresh process / browser per run.
// With --peers, also wllama (llama.cpp compiled to wasm, same Chromium, one thread) on the Q4_1
// file, after the rest. Prints markdown tables (min / median / max tok/s, ours ÷ llama.cpp per type)
// and writes bench-out/bench.json and bench.md. Speed is measured here, never asserted in a test.
// With --threads 1,2 (issue 12), each N >= 2 adds, in the same interleaved runs: plumbing native at
// N threads (plumbing bench --threads N), llama.cpp native at n_threads=N, and the threads build
// (www/pkg-threads, in a worker of a cross-origin-isolated page, N-1 helper workers started by
// www/threads.js); with --peers also wllama with COOP/COEP at N threads. Ratios are taken against
// llama.cpp at the same thread count, and the 2-thread browser against the 1-thread browser.
//
// Options: --runs N (5), --models LIST (smollm2,gemma3), --types LIST (SmolLM2's types; all six:
// q4_1,q4_0,q8_0,q4_k_m,q5_k_m,q6_k), --impls LIST (native,llamacpp,simd128,relaxed,firefox,threads), --threads LIST (1), --peers,
// --model-dir DIR (models/; the requantized files are DIR/quants/SmolLM2-135M-Instruct.<TYPE>.gguf,
// made by scripts/quants.sh; Gemma is DIR/gemma-3-270m-q4_k_m.gguf, from ./build.sh model),
// --shared DIR (../shared). WAIT_IDLE=seconds: how long each run waits for the machine to go quiet
// (600). PLUMBING_URL: the server of www/ (./build.sh bench starts one).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync, cpSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL } from '../browser/lib.mjs';
import { llamaCpp } from './llamacpp.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const list = (s) => s.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
const RUNS = Number(opt('--runs', 5));
const ALL_TYPES = ['q4_1', 'q4_0', 'q8_0', 'q4_k_m', 'q5_k_m', 'q6_k'];
const SMOL_TYPES = list(opt('--types', ALL_TYPES.join(',')));
const ALL_MODELS = ['smollm2', 'gemma3'];
const MODEL_SET = list(opt('--models', ALL_MODELS.join(',')));
// What is measured, one key per file: SmolLM2's types, then 'gemma3'.
const TYPES = [...(MODEL_SET.includes('smollm2') ? SMOL_TYPES : []), ...(MODEL_SET.includes('gemma3') ? ['gemma3'] : [])];
// firefox: the one-thread build firefox-esr picks (relaxed SIMD where it validates), one thread.
const ALL_IMPLS = ['native', 'llamacpp', 'simd128', 'relaxed', 'firefox', 'threads'];
const IMPLS = list(opt('--impls', ALL_IMPLS.join(',')));
// Thread counts: 1 is the rows above; each N >= 2 adds native, llama.cpp and the threads build at N.
const THREADS = [...new Set(list(opt('--threads', '1')).map(Number))];
const MULTI = THREADS.filter((n) => n >= 2);
// The implementation at N threads: `native-2t`, `llamacpp-2t`, `threads-2t` (the browser's threads build).
const at = (impl, n) => `${impl}-${n}t`;
const threadsOf = (i) => Number(/-(\d+)t$/.exec(i)?.[1] ?? 1);
const baseOf = (i) => i.replace(/-\d+t$/, '');
const refOf = (i) => (threadsOf(i) > 1 ? at('llamacpp', threadsOf(i)) : 'llamacpp');
const RUN_IMPLS = [...IMPLS.filter((i) => i !== 'threads'),
  ...(MULTI.length && THREADS.includes(1) && IMPLS.includes('threads') ? [at('threads', 1)] : []),
  ...MULTI.flatMap((n) => ['native', 'llamacpp', 'threads'].filter((i) => IMPLS.includes(i)).map((i) => at(i, n)))];
const PEERS = args.includes('--peers');
// POOL_SPIN=polls: how long the threads build's idle threads poll before they block (src/pool.rs; measuring).
const POOL_SPIN = Number(process.env.POOL_SPIN ?? 0);
const SHARED = opt('--shared', `${ROOT}../shared`);
const MODELS = opt('--model-dir', `${ROOT}models`).replace(/\/$/, '');
const PROMPT_FILE = `${SHARED}/peers/prompt.json`;
const PROMPT = JSON.parse(readFileSync(PROMPT_FILE, 'utf8'));
const TEXT = PROMPT.chatml.replace('{user}', PROMPT.user);
const N_PREDICT = PROMPT.n_predict ?? 128;
const OUT = `${ROOT}bench-out`;
mkdirSync(OUT, { recursive: true });
// Gemma 3 270M is a base model: the user text raw. Its prompt file (read by plumbing bench) sits
// with a copy of the peers' llama.cpp bench.py (which reads ../prompt.json next to itself) in
// bench-out/peers-gemma3/; chatml "{user}" is the text as it is, the BOS added by each tokenizer.
function rawPrompt(name) {
  const dir = `${OUT}/peers-${name}`;
  mkdirSync(`${dir}/llamacpp`, { recursive: true });
  const put = (f, text) => { rmSync(f, { force: true }); writeFileSync(f, text); };
  put(`${dir}/prompt.json`, `${JSON.stringify({ note: 'The user text of ../shared/peers/prompt.json raw (a base model: no chat template); the tokenizer adds the BOS the file asks for.', user: PROMPT.user, chatml: '{user}', n_predict: N_PREDICT }, null, 2)}\n`);
  put(`${dir}/llamacpp/bench.py`, readFileSync(`${SHARED}/peers/llamacpp/bench.py`));
  return { file: `${dir}/prompt.json`, text: PROMPT.user, peers: dir, what: 'raw text after the BOS' };
}
const SMOL_PROMPT = { file: PROMPT_FILE, text: TEXT, peers: `${SHARED}/peers`, what: 'ChatML' };
const GEMMA_PROMPT = TYPES.includes('gemma3') ? rawPrompt('gemma3') : null;
const promptOf = (t) => (t === 'gemma3' ? GEMMA_PROMPT : SMOL_PROMPT);
const TIMEOUT_S = 600; // one measurement (load, warm-up, 128 tokens; 512 for the memory run) at most

const log = (...a) => console.error('[bench]', ...a);
const stats = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  return n ? { min: s[0], median: n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2, max: s[n - 1], n } : null;
};
const fmt = (s, d = 1) => (s ? `${s.min.toFixed(d)} / ${s.median.toFixed(d)} / ${s.max.toFixed(d)}` : '–');
const commonPrefix = (a, b) => { let n = 0; while (n < a.length && n < b.length && a[n] === b[n]) n++; return n; };
const ratio = (a, b) => (a && b ? a.median / b.median : null);
const fmtRatio = (x) => (x == null ? '–' : `${x.toFixed(2)}×`);
// The line of an error worth a table cell: a Rust panic's location and message, else the first error line.
const firstLine = (e) => {
  const l = String(e?.message ?? e).trim().split('\n');
  const p = l.findIndex((x) => /panicked at/.test(x));
  if (p >= 0) return `${l[p].replace(/thread '[^']*' \(\d+\) /, '')} ${l[p + 1] ?? ''}`.trim();
  return l.find((x) => /error|Error|unreachable/.test(x)) ?? l[0];
};

for (const m of MODEL_SET) if (!ALL_MODELS.includes(m)) { console.error(`error: --models: unknown model ${m} (known: ${ALL_MODELS.join(', ')})`); process.exit(2); }
for (const t of SMOL_TYPES) if (!ALL_TYPES.includes(t)) { console.error(`error: --types: unknown type ${t} (known: ${ALL_TYPES.join(', ')})`); process.exit(2); }
for (const i of IMPLS) if (!ALL_IMPLS.includes(i)) { console.error(`error: --impls: unknown ${i} (known: ${ALL_IMPLS.join(', ')})`); process.exit(2); }
if (!(RUNS >= 1)) { console.error(`error: --runs needs a number >= 1, got ${opt('--runs')}`); process.exit(2); }
if (!THREADS.every((n) => Number.isInteger(n) && n >= 1 && n <= 64)) { console.error(`error: --threads needs counts from 1 to 64, got ${opt('--threads')}`); process.exit(2); }

// ------------------------------------------------------------------ the files

// Q4_1 is the shipped file; every other type is llama.cpp's requantization of it (scripts/quants.sh).
const modelFile = (t) => (t === 'gemma3' ? `${MODELS}/gemma-3-270m-q4_k_m.gguf` : t === 'q4_1' ? `${MODELS}/SmolLM2-135M-Instruct.Q4_1.gguf` : `${MODELS}/quants/SmolLM2-135M-Instruct.${t.toUpperCase()}.gguf`);
const modelUrl = (t) => new URL(`models/${relative(MODELS, modelFile(t))}`, BASE_URL).href;
{
  const missing = TYPES.map(modelFile).filter((f) => !existsSync(f));
  if (missing.length) {
    const names = TYPES.filter((t) => t !== 'gemma3' && !existsSync(modelFile(t))).map((t) => t.toUpperCase());
    console.error(`error: missing model files:\n  ${missing.join('\n  ')}\n` +
      (names.length ? `run scripts/quants.sh --only ${names.join(',')} (it makes models/quants/ with llama.cpp's quantizer; the first run builds its venv, minutes), or pick --types\n` : '') +
      (missing.includes(modelFile('gemma3')) ? 'run ./build.sh model (it fetches Gemma 3 270M), or pick --models smollm2\n' : ''));
    process.exit(1);
  }
}

// What each file holds: tensors per ggml type (the gguf package of the llama.cpp venv). SmolLM2's
// 576-wide rows are no multiple of 256, so a K-quant "mix" is mostly 32-value types; say so.
function typeMixes(files) {
  const py = process.env.LLAMA_PYTHON ?? `${ROOT}build/llama-venv/bin/python`;
  if (!existsSync(py)) return {};
  const code = 'import sys, json, collections, gguf\n' +
    'print(json.dumps({f: dict(collections.Counter(t.tensor_type.name for t in gguf.GGUFReader(f).tensors).most_common()) for f in sys.argv[1:]}))';
  const r = spawnSync(py, ['-c', code, ...files], { encoding: 'utf8', maxBuffer: 1 << 24 });
  try { return r.status === 0 ? JSON.parse(r.stdout) : {}; } catch { return {}; }
}
const MIX = typeMixes(TYPES.map(modelFile));
const mixText = (t) => Object.entries(MIX[modelFile(t)] ?? {}).filter(([k]) => k !== 'F32').map(([k, n]) => `${n} ${k}`).join(', ');

// ------------------------------------------------------------------ the machine

function machineInfo() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = (cpuinfo.match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
  const avx512 = flags.filter((f) => f.startsWith('avx512'));
  let chromium = null;
  try { chromium = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* reported as null */ }
  let firefox = null;
  try { firefox = execFileSync('/usr/bin/firefox-esr', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* reported as null */ }
  return {
    cpu_model: cpuinfo.match(/^model name\s*:(.*)$/m)?.[1]?.trim() ?? cpus()[0]?.model?.trim(),
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length || cpus().length,
    avx2: flags.includes('avx2'),
    avx512: avx512.includes('avx512f'),
    avx512_flags: avx512,
    amx_flags: flags.filter((f) => f.startsWith('amx')),
    chromium,
    firefox,
    node: process.version,
  };
}

function cpuBusy() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: l[0] + l[1] + l[2] + l[5] + l[6] + l[7], total: l.reduce((a, b) => a + b, 0) };
}
const busyCores = (a, b) => (b.total > a.total ? ((b.busy - a.busy) / (b.total - a.total)) * cpus().length : 0);
// Before each measurement: wait until other processes use < 0.25 cores, at most WAIT_IDLE s (600).
// Once a wait has run out, the machine is taken as busy for good: later waits are at most 30 s
// (the interleaving spreads the load over every implementation) and the table says so.
const WAIT_S = Number(process.env.WAIT_IDLE ?? 600);
let waitsRunOut = 0;
async function waitIdle() {
  const t0 = Date.now();
  const max = waitsRunOut ? Math.min(WAIT_S, 30) : WAIT_S;
  for (;;) {
    const a = cpuBusy(); await new Promise((r) => setTimeout(r, 1000)); const b = cpuBusy();
    const cores = busyCores(a, b);
    if (cores < 0.25) return cores;
    if (Date.now() - t0 > max * 1000) {
      if (WAIT_S > 0 && !waitsRunOut++) log(`the machine stays busy (${cores.toFixed(2)} cores after ${WAIT_S} s); measuring anyway, waiting at most 30 s from now on`);
      return cores;
    }
  }
}

// ------------------------------------------------------------------ native plumbing

function nativeRun(model, promptFile, threads = 1) {
  const r = spawnSync(`${ROOT}target/release/plumbing`, ['bench', '--model', model, '--prompt-file', promptFile, '--runs', '1', '--tokens', String(N_PREDICT),
    ...(threads > 1 ? ['--threads', String(threads)] : [])],
    { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_S * 1e3 });
  if (r.error) throw new Error(`target/release/plumbing: ${r.error.message}${r.error.code === 'ETIMEDOUT' ? ` (more than ${TIMEOUT_S} s)` : ' (./build.sh build)'}`);
  if (r.status !== 0) throw new Error(`plumbing bench ${r.signal ?? `exit ${r.status}`}: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  return { ...j.runs[0], kernels: j.kernels };
}

// ------------------------------------------------------------------ wasm in Chromium

// The threads build runs in a module worker of the (cross-origin-isolated) page: blocking waits are
// not allowed on the page's own thread. The same measurement, with n-1 helpers (www/threads.js;
// the page starts them, as PlumbingEngine does).
const THREADS_WORKER = `
import { startHelpers } from 'ORIGIN/threads.js';
self.onmessage = async ({ data: { url, text, tokens, warmup, n, spin } }) => {
  try {
    const t0 = performance.now();
    const m = await import('ORIGIN/pkg-threads/plumbing.js');
    const wasm = new Uint8Array(await (await fetch('ORIGIN/pkg-threads/plumbing_bg.wasm')).arrayBuffer());
    const compiled = await WebAssembly.compile(wasm);
    const exports = await m.default({ module_or_path: compiled });
    const { threads, failed } = await startHelpers({ module: m, exports, compiled, flavor: 'pkg-threads' }, n);
    if (threads !== n) throw new Error(threads + ' of ' + n + ' threads started: ' + failed);
    if (spin) m.pool_set_spin(spin);
    const res = await fetch(url);
    if (!res.ok) throw new Error(url + ': HTTP ' + res.status);
    const bytes = new m.ModelBytes(Number(res.headers.get('content-length')));
    let off = 0;
    for (const reader = res.body.getReader(); ;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes.write(off, value);
      off += value.length;
    }
    const fetched = performance.now();
    const e = m.Engine.load(bytes, () => {});
    bytes.free();
    const loadMs = performance.now() - t0;
    const memAfterLoad = m.wasm_memory_bytes();
    const ids = new Uint32Array(JSON.parse(e.tokenize_json(text, true)).ids);
    // pool: what the thread pool did during the prefill and during the decode (src/pool.rs Stats).
    const pool = {};
    const gen = (k) => {
      e.start(ids, JSON.stringify({ max_tokens: k, ignore_eos: true, temperature: 0, n_ctx: 2048 }));
      m.pool_stats_json();
      while (e.prefill(512) > 0);
      pool.prefill = JSON.parse(m.pool_stats_json());
      let out = '';
      for (;;) { const s = JSON.parse(e.step()); out += s.text; if (s.done) break; }
      pool.decode = JSON.parse(m.pool_stats_json());
      return { ...JSON.parse(e.stats_json()), text: out };
    };
    if (warmup) gen(16);
    const r = gen(tokens);
    self.postMessage({ pool, load_ms: loadMs, fetch_ms: fetched - t0, mem_after_load: memAfterLoad, mem_end: m.wasm_memory_bytes(),
      prompt_tokens: r.prompt_tokens, generated: r.generated, prefill_tok_s: r.prefill_tok_s, decode_tok_s: r.decode_tok_s,
      ttft_ms: r.ttft_ms, text: r.text, kernels: JSON.parse(m.build_info()).kernels, threads, read_ahead: JSON.parse(e.read_ahead_json()) });
  } catch (err) {
    self.postMessage({ error: String(err?.message ?? err) });
  }
};`;

async function wasmRun(pkg, url, text, tokens, warmup, threads = 0, browser = 'chromium') {
  const b = await launch({ browser });
  const problems = [];
  try {
    const page = await b.context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    await page.goto(new URL('models/manifest.json', BASE_URL).href);
    let timer;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no result after ${TIMEOUT_S} s`)), TIMEOUT_S * 1e3); });
    if (threads) {
      return await Promise.race([timeout, page.evaluate(async ({ src, msg }) => {
        if (!self.crossOriginIsolated) throw new Error('the page is not cross-origin isolated: no threads');
        const w = new Worker(URL.createObjectURL(new Blob([src.replaceAll('ORIGIN/', `${location.origin}/`)], { type: 'text/javascript' })), { type: 'module' });
        // The page starts the helpers the worker asks for, as PlumbingEngine does (www/engine.js).
        const helpers = (await import('/engine.js')).hostHelpers(w);
        try {
          const r = await new Promise((resolve, reject) => {
            w.onmessage = (ev) => resolve(ev.data);
            w.onerror = (ev) => reject(new Error(ev.message || 'the bench worker failed'));
            w.postMessage(msg);
          });
          if (r.error) throw new Error(r.error);
          return r;
        } finally { w.terminate(); helpers.terminate(); }
      }, { src: THREADS_WORKER, msg: { url, text, tokens, warmup, n: threads, spin: POOL_SPIN } })]).finally(() => clearTimeout(timer));
    }
    return await Promise.race([timeout, page.evaluate(async ({ pkg, url, text, tokens, warmup }) => {
      const t0 = performance.now();
      const m = await import(pkg);
      await m.default();
      const res = await fetch(url);
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
      const total = Number(res.headers.get('content-length'));
      const bytes = new m.ModelBytes(total);
      let off = 0;
      for (const reader = res.body.getReader(); ;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes.write(off, value);
        off += value.length;
      }
      const fetched = performance.now();
      const e = m.Engine.load(bytes, () => {});
      bytes.free();
      const loadMs = performance.now() - t0;
      const memAfterLoad = m.wasm_memory_bytes();
      const ids = new Uint32Array(JSON.parse(e.tokenize_json(text, true)).ids);
      const gen = (n) => {
        e.start(ids, JSON.stringify({ max_tokens: n, ignore_eos: true, temperature: 0, n_ctx: 2048 }));
        while (e.prefill(512) > 0);
        let out = '';
        for (;;) { const s = JSON.parse(e.step()); out += s.text; if (s.done) break; }
        return { ...JSON.parse(e.stats_json()), text: out };
      };
      if (warmup) gen(16);
      const r = gen(tokens);
      return { load_ms: loadMs, fetch_ms: fetched - t0, mem_after_load: memAfterLoad, mem_end: m.wasm_memory_bytes(),
        prompt_tokens: r.prompt_tokens, generated: r.generated, prefill_tok_s: r.prefill_tok_s, decode_tok_s: r.decode_tok_s,
        ttft_ms: r.ttft_ms, text: r.text, kernels: JSON.parse(m.build_info()).kernels, read_ahead: JSON.parse(e.read_ahead_json()) };
    }, { pkg, url, text, tokens, warmup })]).finally(() => clearTimeout(timer));
  } catch (e) {
    // A panic in the engine is a wasm trap ("unreachable"); the panic's message went to the console.
    throw new Error([e.message, ...problems].join('\n'));
  } finally {
    await b.close();
  }
}

// ------------------------------------------------------------------ the implementations

const machine = machineInfo();
// Each implementation: run(type) -> one run's record (load_ms, prefill_tok_s, decode_tok_s, text...).
const IMPL = {
  native: { run: (t) => nativeRun(modelFile(t), promptOf(t).file) },
  llamacpp: { run: null },
  simd128: { dir: 'pkg' },
  relaxed: { dir: 'pkg-relaxed' },
  firefox: { dir: 'pkg-relaxed', run: (t) => wasmRun('/pkg-relaxed/plumbing.js', modelUrl(t), promptOf(t).text, N_PREDICT, true, 0, 'firefox') },
};
for (const k of ['simd128', 'relaxed']) {
  const d = IMPL[k].dir;
  IMPL[k].run = (t) => wasmRun(`/${d}/plumbing.js`, modelUrl(t), promptOf(t).text, N_PREDICT, true);
  if (IMPLS.includes(k) && !existsSync(`${ROOT}www/${d}/plumbing_bg.wasm`)) {
    console.error(`error: www/${d}/plumbing_bg.wasm is missing: ./build.sh wasm ${k}`); process.exit(1);
  }
}
// The threads build on one thread too (no helpers): what the build itself costs, apart from the split.
const THREADS_AT = [...(MULTI.length && THREADS.includes(1) ? [1] : []), ...MULTI];
for (const n of THREADS_AT) {
  IMPL[at('threads', n)] = { dir: 'pkg-threads', run: (t) => wasmRun(null, modelUrl(t), promptOf(t).text, N_PREDICT, true, n) };
}
for (const n of MULTI) {
  IMPL[at('native', n)] = { run: (t) => nativeRun(modelFile(t), promptOf(t).file, n) };
  IMPL[at('llamacpp', n)] = { run: (t) => llama.run(modelFile(t), promptOf(t).peers, n) };
}
if (MULTI.length && IMPLS.includes('threads') && !existsSync(`${ROOT}www/pkg-threads/plumbing_bg.wasm`)) {
  console.error('error: www/pkg-threads/plumbing_bg.wasm is missing: ./build.sh wasm threads'); process.exit(1);
}
let llama = null;
if (IMPLS.includes('llamacpp')) {
  try {
    llama = llamaCpp({ root: ROOT, shared: SHARED, out: OUT, log, probeModel: modelFile(TYPES[0]) });
  } catch (e) { console.error(`error: ${e.message}`); process.exit(1); }
  IMPL.llamacpp.run = (t) => llama.run(modelFile(t), promptOf(t).peers);
}

// ------------------------------------------------------------------ the interleaved runs

const cells = new Map(); // `${type}/${impl}` -> {type, impl, runs: [], error}
const cell = (t, i) => {
  const k = `${t}/${i}`;
  if (!cells.has(k)) cells.set(k, { type: t, impl: i, runs: [], error: null });
  return cells.get(k);
};
// The order within a run of a type: native, llama.cpp, the wasm builds, llama.cpp again (so each of
// ours has a llama.cpp run next to it; llama.cpp's figures are over both).
const SEQ = ['native', 'llamacpp', 'simd128', 'relaxed', 'firefox'].filter((i) => IMPLS.includes(i));
if (IMPLS.includes('llamacpp') && IMPLS.includes('native') && ['simd128', 'relaxed', 'firefox'].some((i) => IMPLS.includes(i))) SEQ.push('llamacpp');
if (RUN_IMPLS.includes(at('threads', 1))) SEQ.push(at('threads', 1));
// At N threads: native, llama.cpp, the threads build, llama.cpp again (as above).
for (const n of MULTI) {
  const more = ['native', 'llamacpp', 'threads'].filter((i) => IMPLS.includes(i)).map((i) => at(i, n));
  if (IMPLS.includes('llamacpp') && IMPLS.includes('native') && IMPLS.includes('threads')) more.push(at('llamacpp', n));
  SEQ.push(...more);
}
log(`${machine.cpus} × ${machine.cpu_model}, AVX-512 ${machine.avx512 ? 'yes' : 'no'}; ${RUNS} runs of ${TYPES.join(', ')} × ${SEQ.join(', ')}, interleaved; ` +
  `prompt: SmolLM2 ChatML (${PROMPT.prompt_tokens_smollm2} tokens)${GEMMA_PROMPT ? ', Gemma 3 the raw user text after its BOS' : ''}; ${N_PREDICT} generated, greedy, end-of-generation masked`);
const order = [];
const t0 = Date.now();
for (let run = 0; run < RUNS; run++) {
  for (const t of TYPES) {
    for (const [slot, i] of SEQ.entries()) {
      const c = cell(t, i);
      if (c.error) continue; // it failed before: a todo!() kernel, a missing file; not retried
      const idle = await waitIdle();
      const a = cpuBusy();
      const w0 = Date.now();
      try {
        const r = await IMPL[i].run(t);
        const busy = busyCores(a, cpuBusy());
        c.runs.push({ run, slot, ...r, wall_s: (Date.now() - w0) / 1e3, busy_cores_before: idle, busy_cores_during: busy });
        order.push(`${run}/${t}/${i}`);
        log(`run ${run} ${t} ${i}: load ${r.load_ms.toFixed(0)} ms, prefill ${r.prefill_tok_s.toFixed(1)}, decode ${r.decode_tok_s.toFixed(1)} tok/s ` +
          `(machine busy ${busy.toFixed(2)} cores)${r.read_ahead ? `; read-ahead ${r.read_ahead.on ? 'on' : 'off'} (best step ${r.read_ahead.on_ms?.toFixed(1)} ms with, ${r.read_ahead.off_ms?.toFixed(1)} without)` : ''}${r.pool ? `; pool, decode: ${JSON.stringify(r.pool.decode)}, prefill: ${JSON.stringify(r.pool.prefill)}` : ''}`);
      } catch (e) {
        c.error = firstLine(e);
        c.error_full = String(e?.message ?? e).slice(0, 4000);
        log(`run ${run} ${t} ${i}: FAILED (${c.error}); not run again`);
      }
    }
  }
}
const elapsed = (Date.now() - t0) / 1e3;
llama?.close();

// ------------------------------------------------------------------ once more: memory, sizes, peers

// Memory after 512 tokens and the wasm sizes, per build, on Q4_1 (else the first type that ran).
const wasmInfo = {};
for (const k of ['relaxed', 'simd128'].filter((x) => IMPLS.includes(x))) {
  const d = IMPL[k].dir;
  const t = ['q4_1', ...TYPES].find((x) => TYPES.includes(x) && cell(x, k).runs.length) ?? TYPES[0];
  const c = cell(t, k);
  const raw = readFileSync(`${ROOT}www/${d}/plumbing_bg.wasm`);
  wasmInfo[k] = { wasm_bytes: raw.length, wasm_gzip_bytes: gzipSync(raw, { level: 9 }).length, type: t };
  if (c.runs.length) {
    try {
      const long = await wasmRun(`/${d}/plumbing.js`, modelUrl(t), promptOf(t).text, 512, false);
      Object.assign(wasmInfo[k], { mem_after_load: c.runs[0].mem_after_load, mem_after_128: c.runs[0].mem_end, mem_after_512: long.mem_end });
    } catch (e) { wasmInfo[k].error = firstLine(e); }
  }
}

function peersDir() {
  // shared/ is read-only in CI: run the peers from a copy; only wllama's packages are needed here.
  const dir = `${OUT}/peers`;
  if (!existsSync(`${dir}/setup.sh`)) cpSync(`${SHARED}/peers`, dir, { recursive: true });
  if (!existsSync(`${dir}/wllama/node_modules`)) {
    log('installing wllama (npm ci in bench-out/peers/wllama)');
    const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: `${dir}/wllama`, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error('npm ci of wllama failed');
  }
  return dir;
}

// wllama's JSON: {peer, modes: {"st": {summary: {load_ms, prefill_tok_s, decode_tok_s: {min, median, max}}, threads, text}}}.
function wllama() {
  const dir = peersDir();
  const model = modelFile('q4_1');
  // WAIT_IDLE reaches wllama's own idle wait; WAIT_IDLE=0 (measure now) also keeps its contended runs.
  const wait = process.env.WAIT_IDLE == null ? [] : ['--wait-idle', process.env.WAIT_IDLE, ...(Number(process.env.WAIT_IDLE) === 0 ? ['--max-retries', '0'] : [])];
  // At N threads too (--threads): wllama's `mt` mode serves its page with COOP/COEP (pthreads).
  const modes = MULTI.length ? ['st', 'mt'] : ['st'];
  const wl = spawnSync('node', ['bench.mjs', '--model', model, '--runs', String(RUNS), '--modes', modes.join(','),
    ...(MULTI.length ? ['--threads', String(MULTI[0])] : []), '--out-dir', `${OUT}/peers-raw`, ...wait],
    { cwd: `${dir}/wllama`, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (wl.status !== 0) throw new Error('wllama bench failed');
  const j = JSON.parse(wl.stdout);
  return modes.map((mode) => {
    const r = j.modes[mode];
    const n = mode === 'mt' ? MULTI[0] : 1;
    const th = [r.threads ?? n].flat();
    return { type: 'q4_1', impl: mode === 'mt' ? at('wllama', n) : 'wllama', threads: th.length === 1 ? th[0] : th,
      label: `wllama ${j.versions?.wllama ?? ''} (llama.cpp in wasm), Chromium${mode === 'mt' ? `, COOP/COEP, ${th.join('/')} threads` : ''}`.replace('  ', ' '), runs: [], text: r.text,
      load_ms: r.summary.load_ms, prefill_tok_s: r.summary.prefill_tok_s, decode_tok_s: r.summary.decode_tok_s };
  });
}

// ------------------------------------------------------------------ results

const nativeKernels = [...cells.values()].find((c) => c.impl === 'native' && c.runs.length)?.runs[0].kernels;
const wasmKernels = (k) => [...cells.values()].find((c) => c.impl === k && c.runs.length)?.runs[0].kernels;
const labelOf = (i) => {
  const n = threadsOf(i), th = n > 1 ? `, ${n} threads` : i === at('threads', 1) ? ', 1 thread' : '';
  if (baseOf(i) === 'native') return `plumbing native (${nativeKernels ?? '?'})${th}`;
  if (baseOf(i) === 'llamacpp') return `llama.cpp native (llama-cpp-python ${llama?.info.version ?? '?'})${th}`;
  const k = wasmKernels(i);
  return `plumbing wasm (${k ?? IMPL[i].dir}${baseOf(i) === 'threads' ? ', threads build' : ''}), ${i === 'firefox' ? 'Firefox' : 'Chromium'}${th}`;
};
const results = [];
for (const t of TYPES) {
  const nativeText = cell(t, 'native').runs[0]?.text;
  for (const i of RUN_IMPLS) {
    const ref = cell(t, refOf(i));
    const refP = stats(ref.runs.map((x) => x.prefill_tok_s));
    const refD = stats(ref.runs.map((x) => x.decode_tok_s));
    const llamaText = ref.runs[0]?.text;
    const c = cell(t, i);
    const r = {
      type: t, file: relative(ROOT, modelFile(t)), file_bytes: statSync(modelFile(t)).size, tensor_types: MIX[modelFile(t)] ?? null, impl: i, label: labelOf(i), threads: threadsOf(i),
      load_ms: stats(c.runs.map((x) => x.load_ms)), prefill_tok_s: stats(c.runs.map((x) => x.prefill_tok_s)),
      decode_tok_s: stats(c.runs.map((x) => x.decode_tok_s)), error: c.error, error_full: c.error_full,
      max_busy_cores_during: c.runs.length ? Math.max(...c.runs.map((x) => x.busy_cores_during)) : null,
      same_text_every_run: c.runs.length ? new Set(c.runs.map((x) => x.text)).size === 1 : null,
      same_text_as_native: c.runs.length && nativeText != null ? c.runs.every((x) => x.text === nativeText) : null,
      // How far the first run's text agrees with llama.cpp's (near-ties may part them; garbage parts at once).
      chars_as_llamacpp: c.runs.length && llamaText != null ? commonPrefix(c.runs[0].text, llamaText) : null,
      text_chars: c.runs.length ? c.runs[0].text.length : null,
      runs: c.runs,
    };
    if (baseOf(i) !== 'llamacpp') {
      r.ratio_to_llamacpp = { prefill: ratio(r.prefill_tok_s, refP), decode: ratio(r.decode_tok_s, refD) };
      // Also per run index: ours ÷ the mean of llama.cpp's runs of the same index (the ones next to it).
      const paired = (key) => stats(c.runs.map((x) => {
        const l = ref.runs.filter((y) => y.run === x.run).map((y) => y[key]);
        return l.length ? x[key] / (l.reduce((a, b) => a + b, 0) / l.length) : NaN;
      }));
      r.paired_ratio_to_llamacpp = { prefill: paired('prefill_tok_s'), decode: paired('decode_tok_s') };
    }
    results.push(r);
  }
}
let peers = [];
if (PEERS) {
  peers = wllama();
  for (const w of peers) {
    const ref = results.find((r) => r.type === 'q4_1' && r.impl === refOf(w.impl));
    w.ratio_to_llamacpp = { prefill: ratio(w.prefill_tok_s, ref?.prefill_tok_s), decode: ratio(w.decode_tok_s, ref?.decode_tok_s) };
  }
}

// ------------------------------------------------------------------ the tables

const date = new Date().toISOString();
const TYPE_NAME = (t) => (t === 'gemma3' ? 'Gemma 3 270M Q4_K_M' : t.toUpperCase());
// Prompt tokens per file as the runs counted them (Gemma's tokenizer is not SmolLM2's).
const promptTokens = (t) => results.find((r) => r.type === t && r.runs.length)?.runs[0].prompt_tokens;
const MB = (b) => (b / 1e6).toFixed(1);
const lines = [
  `Machine: ${machine.cpus} × ${machine.cpu_model}; AVX-512 ${machine.avx512 ? `yes (${machine.avx512_flags.join(' ')})` : 'no'}` +
    `${machine.amx_flags.length ? `; AMX ${llama?.info.amx ?? 'advertised'}` : ''}; ${machine.chromium ?? 'no Chromium'}${IMPLS.includes('firefox') && machine.firefox ? `, ${machine.firefox}` : ''}; ${date.slice(0, 10)}.`,
  `${MULTI.length ? `Every implementation on one thread, and at ${MULTI.join(', ')} threads where the row says so (ratios against llama.cpp at the same count)` : 'Every implementation on one thread'}; min / median / max of ${RUNS} runs, interleaved (each run: every type, each type: ${SEQ.join(', ')}); ` +
    `the ${PROMPT.prompt_tokens_smollm2}-token ChatML prompt for SmolLM2${GEMMA_PROMPT ? `, its user text raw after the BOS for Gemma 3 (${promptTokens('gemma3') ?? '?'} tokens)` : ''}, ${N_PREDICT} greedy tokens, end-of-generation masked. Took ${(elapsed / 60).toFixed(1)} min.`,
  '',
  '| type | implementation | load ms | prefill tok/s | decode tok/s | prefill ÷ llama.cpp | decode ÷ llama.cpp | text as llama.cpp\'s |',
  '|---|---|---|---|---|---|---|---|',
];
const textCell = (r) => {
  if (baseOf(r.impl) === 'llamacpp' || r.chars_as_llamacpp == null) return '';
  return r.chars_as_llamacpp === r.text_chars ? 'all' : `first ${r.chars_as_llamacpp} chars`;
};
const display = [...['llamacpp', 'native', 'relaxed', 'simd128', 'firefox'].filter((i) => IMPLS.includes(i)),
  ...RUN_IMPLS.filter((i) => i === at('threads', 1)),
  ...MULTI.flatMap((n) => ['llamacpp', 'native', 'threads'].filter((i) => IMPLS.includes(i)).map((i) => at(i, n)))];
for (const t of TYPES) {
  const rows = [...display.map((i) => results.find((r) => r.type === t && r.impl === i)), ...peers.filter((p) => p.type === t)];
  rows.forEach((r, n) => {
    const head = n === 0 ? `${TYPE_NAME(t)} (${MB(r.file_bytes ?? statSync(modelFile(t)).size)} MB)` : '';
    if (r.error) { lines.push(`| ${head} | ${r.label} | failed: ${r.error.replace(/\|/g, '\\|').slice(0, 100)} | | | | | |`); return; }
    const rr = r.ratio_to_llamacpp;
    lines.push(`| ${head} | ${r.label} | ${fmt(r.load_ms, 0)} | ${fmt(r.prefill_tok_s)} | ${fmt(r.decode_tok_s)} | ${rr ? fmtRatio(rr.prefill) : ''} | ${rr ? fmtRatio(rr.decode) : ''} | ${textCell(r)} |`);
  });
}
if (IMPLS.includes('llamacpp') && IMPLS.length > 1) {
  const ours = display.filter((i) => baseOf(i) !== 'llamacpp');
  lines.push('', `| ours ÷ llama.cpp (medians), prefill / decode | ${ours.map((i) => labelOf(i).replace(/, Chromium$/, '')).join(' | ')} |`,
    `|---|${ours.map(() => '---').join('|')}|`);
  for (const t of TYPES) {
    lines.push(`| ${TYPE_NAME(t)} | ${ours.map((i) => {
      const r = results.find((x) => x.type === t && x.impl === i);
      return r.error || !r.ratio_to_llamacpp.prefill ? '–' : `${fmtRatio(r.ratio_to_llamacpp.prefill)} / ${fmtRatio(r.ratio_to_llamacpp.decode)}`;
    }).join(' | ')} |`);
  }
}
if (Object.keys(MIX).length) lines.push('', `Tensors per type in each file: ${TYPES.map((t) => `${TYPE_NAME(t)} ${mixText(t)}`).join('; ')}.`);
if (SEQ.filter((i) => i === 'llamacpp').length > 1) lines.push('llama.cpp ran twice per run of a type (after our native run and after the wasm runs); its figures are over both.');
const busy = results.filter((r) => r.max_busy_cores_during != null);
if (busy.length) {
  const worst = Math.max(...busy.map((r) => r.max_busy_cores_during));
  lines.push('', `Machine load during the runs (all processes, ${machine.cpus} cores; one run of ours uses about 1): at most ${worst.toFixed(2)} cores` +
    `${waitsRunOut ? `; the machine never went quiet (${waitsRunOut} waits for it ran out)` : ''}.`);
}
const textNotes = results.filter((r) => ['simd128', 'relaxed', 'firefox', 'native', 'threads'].includes(baseOf(r.impl)) && r.impl !== 'native' && r.same_text_as_native === false).map((r) => `${TYPE_NAME(r.type)} ${r.impl}`);
// Issue 12's goals: the browser at 2 threads against itself at 1, and against llama.cpp native at 2.
for (const n of MULTI) {
  for (const t of TYPES) {
    const one = results.find((r) => r.type === t && r.impl === 'relaxed' && !r.error) ?? results.find((r) => r.type === t && r.impl === 'simd128' && !r.error);
    const many = results.find((r) => r.type === t && r.impl === at('threads', n) && !r.error);
    const ref = results.find((r) => r.type === t && r.impl === at('llamacpp', n) && !r.error);
    if (!one || !many) continue;
    const own = results.find((r) => r.type === t && r.impl === at('threads', 1) && !r.error);
    lines.push(`${TYPE_NAME(t)}: the browser at ${n} threads ÷ at 1: prefill ${fmtRatio(ratio(many.prefill_tok_s, one.prefill_tok_s))}, decode ${fmtRatio(ratio(many.decode_tok_s, one.decode_tok_s))}` +
      `${own ? ` (÷ the threads build itself at 1: prefill ${fmtRatio(ratio(many.prefill_tok_s, own.prefill_tok_s))}, decode ${fmtRatio(ratio(many.decode_tok_s, own.decode_tok_s))})` : ''}` +
      `${ref ? `; ÷ llama.cpp native at ${n}: prefill ${fmtRatio(ratio(many.prefill_tok_s, ref.prefill_tok_s))}, decode ${fmtRatio(ratio(many.decode_tok_s, ref.decode_tok_s))}` : ''}.`);
  }
}
const unstable = results.filter((r) => r.same_text_every_run === false).map((r) => `${TYPE_NAME(r.type)} ${r.impl}`);
if (textNotes.length) lines.push(`Text differs from the native build's: ${textNotes.join(', ')}.`);
if (unstable.length) lines.push(`Text differs between runs: ${unstable.join(', ')}.`);
for (const [k, w] of Object.entries(wasmInfo)) {
  let s = `${labelOf(k)}: wasm ${(w.wasm_bytes / 1e6).toFixed(2)} MB (${(w.wasm_gzip_bytes / 1e6).toFixed(2)} MB gzipped)`;
  if (w.mem_after_load) {
    s += `; memory with ${TYPE_NAME(w.type)} ${(w.mem_after_load / 1e6).toFixed(1)} MB after load (${(w.mem_after_load / statSync(modelFile(w.type)).size).toFixed(2)}× the file), ` +
      `${(w.mem_after_128 / 1e6).toFixed(1)} MB after 128 tokens, ${(w.mem_after_512 / 1e6).toFixed(1)} MB after 512`;
  }
  lines.push('', `${s}.`);
}
if (peers.length) {
  const ours = results.find((r) => r.type === 'q4_1' && r.impl === 'relaxed' && !r.error) ?? results.find((r) => r.type === 'q4_1' && r.impl === 'simd128' && !r.error);
  const w = peers[0];
  if (ours) lines.push('', `Our browser (${ours.impl}) ÷ wllama, Q4_1: prefill ${fmtRatio(ratio(ours.prefill_tok_s, w.prefill_tok_s))}, decode ${fmtRatio(ratio(ours.decode_tok_s, w.decode_tok_s))}.`);
}
const table = lines.join('\n');
console.log(table);
writeFileSync(`${OUT}/bench.json`, JSON.stringify({
  machine, date, runs: RUNS, types: TYPES, models: MODEL_SET, impls: IMPLS, threads: THREADS, elapsed_s: elapsed, order, wait_idle_s: WAIT_S, waits_run_out: waitsRunOut,
  workload: { prompt_file: PROMPT_FILE, prompt_tokens: PROMPT.prompt_tokens_smollm2, gemma3_prompt_file: GEMMA_PROMPT?.file ?? null, gemma3_prompt_tokens: GEMMA_PROMPT ? promptTokens('gemma3') ?? null : null, n_predict: N_PREDICT, warmup_tokens: 16, greedy: true, eog_masked: true },
  llamacpp: llama?.info ?? null, wasm: wasmInfo, results, peers,
}, null, 2));
writeFileSync(`${OUT}/bench.md`, `${table}\n`);
log(`wrote ${OUT}/bench.json and bench.md`);
