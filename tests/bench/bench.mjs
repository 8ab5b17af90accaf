// ./build.sh bench [--runs N] [--peers]: native plumbing and the wasm builds in headless
// Chromium (single thread), one after another, on ../shared/peers/prompt.json (101-token prompt,
// 128 greedy tokens, end-of-generation masked); with --peers, also llama.cpp (native, 1 thread)
// and wllama (same Chromium, single thread) from ../shared/peers, in the same invocation.
// Prints a markdown table and writes bench-out/bench.json. Speed is measured here, never
// asserted in a test.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync, statSync, cpSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL } from '../browser/lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const RUNS = Number(opt('--runs', 5));
const PEERS = args.includes('--peers');
const SHARED = opt('--shared', `${ROOT}../shared`);
const PROMPT = JSON.parse(readFileSync(`${SHARED}/peers/prompt.json`, 'utf8'));
const TEXT = PROMPT.chatml.replace('{user}', PROMPT.user);
const N_PREDICT = PROMPT.n_predict ?? 128;
const MODEL = `${ROOT}models/SmolLM2-135M-Instruct.Q4_1.gguf`;
const MODEL_URL = new URL('models/SmolLM2-135M-Instruct.Q4_1.gguf', BASE_URL).href;
const OUT = `${ROOT}bench-out`;
mkdirSync(OUT, { recursive: true });

const log = (...a) => console.error('[bench]', ...a);
const stats = (xs) => { const s = [...xs].sort((a, b) => a - b); return { min: s[0], median: s[(s.length - 1) >> 1], max: s[s.length - 1] }; };
const fmt = (s, d = 1) => (s ? `${s.min.toFixed(d)} / ${s.median.toFixed(d)} / ${s.max.toFixed(d)}` : '–');

// ------------------------------------------------------------------ an idle machine

function cpuBusy() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { busy: l[0] + l[1] + l[2] + l[5] + l[6] + l[7], total: l.reduce((a, b) => a + b, 0) };
}
async function waitIdle(maxSeconds = Number(process.env.WAIT_IDLE ?? 600)) {
  const t0 = Date.now();
  for (;;) {
    const a = cpuBusy(); await new Promise((r) => setTimeout(r, 1000)); const b = cpuBusy();
    const cores = ((b.busy - a.busy) / (b.total - a.total)) * cpus().length;
    if (cores < 0.25) return cores;
    if (Date.now() - t0 > maxSeconds * 1000) { log(`machine still busy (${cores.toFixed(2)} cores); measuring anyway`); return cores; }
  }
}

// ------------------------------------------------------------------ native

async function native() {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    await waitIdle();
    const out = execFileSync(`${ROOT}target/release/plumbing`, ['bench', '--model', MODEL, '--prompt-file', `${SHARED}/peers/prompt.json`, '--runs', '1', '--tokens', String(N_PREDICT)], { encoding: 'utf8' });
    runs.push(JSON.parse(out).runs[0]);
    log(`native run ${i}: prefill ${runs.at(-1).prefill_tok_s.toFixed(1)}, decode ${runs.at(-1).decode_tok_s.toFixed(1)} tok/s`);
  }
  const kernels = JSON.parse(execFileSync(`${ROOT}target/release/plumbing`, ['inspect', '--model', MODEL, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 })).kernels;
  return { name: `plumbing native (${kernels})`, threads: 1, runs, text: runs[0]?.text };
}

// ------------------------------------------------------------------ wasm in Chromium

async function wasmRun(pkg, tokens, warmup) {
  const b = await launch();
  try {
    const page = await b.context.newPage();
    await page.goto(new URL('models/manifest.json', BASE_URL).href);
    return await page.evaluate(async ({ pkg, url, text, tokens, warmup }) => {
      const t0 = performance.now();
      const m = await import(pkg);
      await m.default();
      const res = await fetch(url);
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
        ttft_ms: r.ttft_ms, text: r.text, kernels: JSON.parse(m.build_info()).kernels };
    }, { pkg, url: MODEL_URL, text: TEXT, tokens, warmup });
  } finally {
    await b.close();
  }
}

async function wasm(dir) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    await waitIdle();
    runs.push(await wasmRun(`/${dir}/plumbing.js`, N_PREDICT, true));
    log(`${dir} run ${i}: load ${runs.at(-1).load_ms.toFixed(0)} ms, prefill ${runs.at(-1).prefill_tok_s.toFixed(1)}, decode ${runs.at(-1).decode_tok_s.toFixed(1)} tok/s`);
  }
  const long = await wasmRun(`/${dir}/plumbing.js`, 512, false);
  const wasmFile = `${ROOT}www/${dir}/plumbing_bg.wasm`;
  const raw = readFileSync(wasmFile);
  return {
    name: `plumbing wasm (${runs[0].kernels}), headless Chromium`, threads: 1, runs, text: runs[0].text,
    mem_after_load: runs[0].mem_after_load, mem_after_128: runs[0].mem_end, mem_after_512: long.mem_end,
    wasm_bytes: raw.length, wasm_gzip_bytes: gzipSync(raw, { level: 9 }).length,
  };
}

// ------------------------------------------------------------------ peers

function peersDir() {
  // shared/ is read-only in CI: run the peers from a copy (their own set-up lands there).
  const dir = `${OUT}/peers`;
  if (!existsSync(`${dir}/setup.sh`)) cpSync(`${SHARED}/peers`, dir, { recursive: true });
  if (!existsSync(`${dir}/llamacpp/venv/bin/python`) || !existsSync(`${dir}/wllama/node_modules`)) {
    log('setting up the peers (llama.cpp builds from source: ~8 minutes)');
    const r = spawnSync('./setup.sh', [MODEL], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error('peers/setup.sh failed');
  }
  return dir;
}

function peers() {
  const dir = peersDir();
  const py = spawnSync(`${dir}/llamacpp/venv/bin/python`, ['llamacpp/bench.py', '--model', MODEL, '--runs', String(RUNS), '--threads', '1', '--out-dir', `${OUT}/peers-raw`],
    { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (py.status !== 0) throw new Error('llama.cpp bench failed');
  const wl = spawnSync('node', ['bench.mjs', '--model', MODEL, '--runs', String(RUNS), '--modes', 'st', '--out-dir', `${OUT}/peers-raw`],
    { cwd: `${dir}/wllama`, encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'] });
  if (wl.status !== 0) throw new Error('wllama bench failed');
  return [normalisePeer(JSON.parse(py.stdout)), normalisePeer(JSON.parse(wl.stdout))].flat();
}

// The peers' JSON: llama.cpp {peer, threads: {"1": {summary, text}}}, wllama {peer, modes:
// {"st": {summary, threads, text}}}; summary = {load_ms, prefill_tok_s, decode_tok_s: {min, median, max}}.
function normalisePeer(j) {
  const configs = j.threads ?? j.modes ?? {};
  return Object.entries(configs).map(([config, r]) => ({
    name: `${j.peer} (${/^\d+$/.test(config) ? `n_threads=${config}` : config})`,
    threads: r.threads ?? (/^\d+$/.test(config) ? Number(config) : 1),
    runs: [], summary: r.summary, text: r.text,
  }));
}

// ------------------------------------------------------------------ main

const results = [];
log(`${RUNS} runs each; prompt ${PROMPT.prompt_tokens_smollm2} tokens, ${N_PREDICT} generated, greedy, end-of-generation masked`);
results.push(await native());
for (const dir of ['pkg-relaxed', 'pkg']) if (existsSync(`${ROOT}www/${dir}/plumbing_bg.wasm`)) results.push(await wasm(dir));
if (PEERS) results.push(...peers());

for (const r of results) {
  if (r.summary) { Object.assign(r, { load_ms: r.summary.load_ms, prefill_tok_s: r.summary.prefill_tok_s, decode_tok_s: r.summary.decode_tok_s }); continue; }
  r.load_ms = stats(r.runs.map((x) => x.load_ms).filter(Number.isFinite));
  r.prefill_tok_s = stats(r.runs.map((x) => x.prefill_tok_s).filter(Number.isFinite));
  r.decode_tok_s = stats(r.runs.map((x) => x.decode_tok_s).filter(Number.isFinite));
}

const machine = `${cpus().length} × ${cpus()[0]?.model?.trim()}, Chromium ${execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()}`;
const lines = [
  `Machine: ${machine}; ${new Date().toISOString().slice(0, 10)}. min / median / max of ${RUNS} runs.`,
  '',
  '| implementation | threads | load ms | prefill tok/s | decode tok/s |',
  '|---|---|---|---|---|',
  ...results.map((r) => `| ${r.name} | ${r.threads} | ${fmt(r.load_ms, 0)} | ${fmt(r.prefill_tok_s)} | ${fmt(r.decode_tok_s)} |`),
];
for (const r of results.filter((x) => x.wasm_bytes)) {
  lines.push('', `${r.name}: wasm ${(r.wasm_bytes / 1e6).toFixed(2)} MB (${(r.wasm_gzip_bytes / 1e6).toFixed(2)} MB gzipped); ` +
    `memory ${(r.mem_after_load / 1e6).toFixed(1)} MB after load (${(r.mem_after_load / statSync(MODEL).size).toFixed(2)}× the model file), ` +
    `${(r.mem_after_128 / 1e6).toFixed(1)} MB after 128 tokens, ${(r.mem_after_512 / 1e6).toFixed(1)} MB after 512 tokens.`);
}
if (PEERS) {
  const ours = results.find((r) => r.name.startsWith('plumbing wasm'));
  const llama = results.find((r) => /llama/i.test(r.name) && !/wllama/i.test(r.name));
  const wll = results.find((r) => /wllama/i.test(r.name));
  lines.push('', '| ratio (medians) | prefill | decode |', '|---|---|---|');
  for (const [label, peer] of [['our browser / llama.cpp native', llama], ['our browser / wllama', wll]]) {
    if (ours && peer) lines.push(`| ${label} | ${(ours.prefill_tok_s.median / peer.prefill_tok_s.median).toFixed(2)}× | ${(ours.decode_tok_s.median / peer.decode_tok_s.median).toFixed(2)}× |`);
  }
}
const table = lines.join('\n');
console.log(table);
writeFileSync(`${OUT}/bench.json`, JSON.stringify({ machine, date: new Date().toISOString(), runs: RUNS, results }, null, 2));
writeFileSync(`${OUT}/bench.md`, `${table}\n`);
log(`wrote ${OUT}/bench.json and bench.md`);
