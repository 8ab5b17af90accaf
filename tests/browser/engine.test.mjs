// The wasm engine in a headless browser (PLUMBING_BROWSER: chromium, or firefox), without the
// page: SIMD kernels against their scalar twins, the tokenizer against llama.cpp's ids, greedy
// decoding against the native build, and bad files refused with a clear error (no panic).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL, named } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GOLDEN = JSON.parse(readFileSync(`${ROOT}tests/golden/smollm2-135m-instruct-q4_1.json`, 'utf8'));
const MODEL_URL = new URL('models/SmolLM2-135M-Instruct.Q4_1.gguf', BASE_URL).href;
const CLI = `${ROOT}target/release/plumbing`;
const MODEL = `${ROOT}models/SmolLM2-135M-Instruct.Q4_1.gguf`;

let browser, page;

before(async () => {
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('pageerror', e.message));
  await page.goto(new URL('models/manifest.json', BASE_URL).href);
  // Load the engine module and the model once for all tests, the way the worker does.
  await page.evaluate(async (url) => {
    const m = await import('/pkg/plumbing.js');
    await m.default();
    window.plumbing = m;
    const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const bytes = new m.ModelBytes(buf.length);
    for (let off = 0; off < buf.length; off += 1 << 20) bytes.write(off, buf.subarray(off, off + (1 << 20)));
    window.engine = m.Engine.load(bytes, () => {});
  }, MODEL_URL);
});

after(async () => browser?.close());

test(named('SIMD128 kernels equal their scalar twins'), async () => {
  for (const seed of [1, 2, 3]) {
    const r = JSON.parse(await page.evaluate((s) => window.plumbing.kernel_selftest(s), seed));
    assert.equal(r.arch, 'simd128');
    assert.ok(r.checks.length >= 5);
    assert.ok(r.checks.some((c) => c.name === 'quantize_q8_1'), 'the activations\' quantization is checked');
    for (const c of r.checks) assert.ok(c.ok, `${c.name}: ${c.mismatches} of ${c.cases} differ (max ${c.max_ulp} ulp)`);
  }
});

test(named('tokenizer ids equal llama.cpp for every reference case'), async () => {
  const texts = [...GOLDEN.tokenize.map((c) => [c.text, c.ids]), ...GOLDEN.generate.map((c) => [c.prompt, c.prompt_ids])];
  const got = await page.evaluate((ts) => ts.map(([t]) => JSON.parse(window.engine.tokenize_json(t, true)).ids), texts);
  texts.forEach(([t, ids], i) => assert.deepEqual(got[i], ids, JSON.stringify(t)));
});

test(named('greedy decoding in the browser equals native for the first 16 tokens (SIMD128 build)'), async () => {
  const c = GOLDEN.generate.find((g) => g.name === 'capital');
  const native = execFileSync(CLI, ['generate', '--model', MODEL, '--raw', '--prompt', c.prompt, '--max-tokens', '16', '--ignore-eos', '--temperature', '0', '--json'], { encoding: 'utf8' })
    .trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'id' in l).map((l) => l.id);
  const wasm = await page.evaluate((ids) => {
    const e = window.engine;
    e.start(new Uint32Array(ids), JSON.stringify({ max_tokens: 16, ignore_eos: true, temperature: 0 }));
    while (e.prefill(32) > 0);
    const out = [];
    for (;;) { const s = JSON.parse(e.step()); out.push(s.id); if (s.done) break; }
    return out;
  }, c.prompt_ids);
  assert.equal(native.length, 16);
  assert.deepEqual(wasm, native);
  const tie = c.positions.findIndex((p) => p.margin < 0.3);
  assert.ok(tie > 0);
  assert.deepEqual(wasm.slice(0, tie), c.token_ids.slice(0, tie), `and llama.cpp's, up to its first near-tie (position ${tie})`);
});

test(named('bad files get a clear error, and the engine module survives them'), async () => {
  const errs = await page.evaluate(async (url) => {
    const m = window.plumbing;
    const head = new Uint8Array(await (await fetch(url, { headers: { Range: 'bytes=0-99999' } })).arrayBuffer()).slice(0, 100000);
    const tryLoad = (u8) => {
      try { const b = new m.ModelBytes(u8.length); b.write(0, u8); m.Engine.load(b, () => {}); return 'loaded'; } catch (e) { return String(e.message ?? e); }
    };
    return {
      truncated: tryLoad(head),
      notGguf: tryLoad(new TextEncoder().encode('<html>this is not a model</html>')),
      empty: tryLoad(new Uint8Array(0)),
      after: JSON.parse(window.engine.tokenize_json('Hello world', true)).ids,
    };
  }, MODEL_URL);
  assert.match(errs.truncated, /at offset \d+; the file has 100000 bytes/);
  assert.match(errs.notGguf, /not a GGUF file/);
  assert.match(errs.empty, /not a GGUF file/);
  assert.deepEqual(errs.after, [19556, 905]);
});

test(named('a prompt longer than the context is refused with the numbers'), async () => {
  const msg = await page.evaluate(() => {
    try { window.engine.start(new Uint32Array(40), JSON.stringify({ n_ctx: 32 })); return 'started'; } catch (e) { return e.message; }
  });
  assert.match(msg, /the prompt has 40 tokens; the context holds 32/);
});

// The module the worker probes relaxed SIMD with (www/worker.js RELAXED_PROBE): where a browser
// does not validate it, the page runs ./pkg/ and says so (page.test.mjs checks what it says).
const RELAXED_PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 1, 253, 15, 65, 2, 253, 15, 65, 3, 253, 17, 253, 147, 2, 11];
const relaxedHere = () => page.evaluate((b) => WebAssembly.validate(new Uint8Array(b)), RELAXED_PROBE);

test(named('the relaxed-SIMD build: kernels equal their scalar twins, and the same greedy ids as native'), async (t) => {
  if (!(await relaxedHere())) return t.skip('this browser does not validate relaxed SIMD: the page runs ./pkg/');
  const c = GOLDEN.generate.find((g) => g.name === 'capital');
  const native = execFileSync(CLI, ['generate', '--model', MODEL, '--raw', '--prompt', c.prompt, '--max-tokens', '32', '--ignore-eos', '--temperature', '0', '--json'], { encoding: 'utf8' })
    .trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'id' in l).map((l) => l.id);
  const r = await page.evaluate(async ([url, ids]) => {
    const m = await import('/pkg-relaxed/plumbing.js');
    await m.default();
    const self = JSON.parse(m.kernel_selftest(9));
    const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const bytes = new m.ModelBytes(buf.length);
    for (let off = 0; off < buf.length; off += 1 << 20) bytes.write(off, buf.subarray(off, off + (1 << 20)));
    const e = m.Engine.load(bytes, () => {});
    e.start(new Uint32Array(ids), JSON.stringify({ max_tokens: 32, ignore_eos: true, temperature: 0 }));
    const out = [];
    for (;;) { const s = JSON.parse(e.step()); out.push(s.id); if (s.done) break; }
    const readAhead = JSON.parse(e.read_ahead_json());
    e.free();
    return { self, out, readAhead };
  }, [MODEL_URL, c.prompt_ids]);
  assert.equal(r.self.arch, 'simd128+relaxed');
  for (const k of r.self.checks) assert.ok(k.ok, `${k.name}: ${k.mismatches} of ${k.cases} differ (max ${k.max_ulp} ulp)`);
  // The first eight decode steps tried the kernels' read-ahead off and on (src/wasm.rs,
  // ReadAheadTrial), and one was kept; the ids below were computed under both.
  const ra = r.readAhead;
  assert.equal(ra.steps, 8, JSON.stringify(ra));
  assert.equal(typeof ra.on, 'boolean', JSON.stringify(ra));
  assert.ok(ra.off_ms > 0 && ra.on_ms > 0 && ra.on === ra.on_ms < ra.off_ms, JSON.stringify(ra));
  assert.deepEqual(r.out, native, 'bit-identical arithmetic gives identical greedy ids, whatever the read-ahead');
});

// The README says the browser computes the native logits bit for bit: check every position of a
// forced sequence, raw logits (before sampling), in both wasm builds against the native CLI.
test(named('every wasm build computes the native logits bit for bit at every position of a forced sequence'), async () => {
  const c = GOLDEN.generate.find((g) => g.name === 'capital');
  const forced = c.token_ids.slice(0, 12);
  const file = `${ROOT}target/browser-logits-native.f32`;
  execFileSync(CLI, ['generate', '--model', MODEL, '--raw', '--prompt', c.prompt, '--temperature', '0',
    '--force-ids', forced.join(','), '--logits', file]);
  const native = new Uint8Array(readFileSync(file));
  for (const flavor of (await relaxedHere()) ? ['pkg', 'pkg-relaxed'] : ['pkg']) {
    const got = await page.evaluate(async ([url, flavor, ids, forced]) => {
      const m = flavor === 'pkg' ? window.plumbing : await import(`/${flavor}/plumbing.js`);
      if (flavor !== 'pkg') await m.default();
      let e = window.engine;
      if (flavor !== 'pkg') {
        const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const bytes = new m.ModelBytes(buf.length);
        for (let off = 0; off < buf.length; off += 1 << 20) bytes.write(off, buf.subarray(off, off + (1 << 20)));
        e = m.Engine.load(bytes, () => {});
      }
      e.start(new Uint32Array(ids), JSON.stringify({ max_tokens: forced.length, temperature: 0 }));
      while (e.prefill(32) > 0);
      const parts = [];
      for (const id of forced) {
        parts.push(e.next_logits());
        // Feed the forced token: choose() at the next position puts it there and runs the pass.
        const pos = parts.length - 1;
        const r = JSON.parse(e.choose(pos, id));
        if (r.done && parts.length < forced.length) break;
      }
      if (flavor !== 'pkg') e.free();
      const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) { all.set(p, o); o += p.length; }
      // As base64: 2.4 M bytes as an array of numbers is slow over WebDriver BiDi.
      const u8 = new Uint8Array(all.buffer);
      let bin = '';
      for (let i = 0; i < u8.length; i += 0x8000) bin += String.fromCharCode(...u8.subarray(i, i + 0x8000));
      return btoa(bin);
    }, [MODEL_URL, flavor, c.prompt_ids, forced]).then((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
    assert.equal(got.length, native.length, `${flavor}: ${forced.length} positions of logits`);
    const bad = got.findIndex((b, i) => b !== native[i]);
    assert.equal(bad, -1, `${flavor}: first differing byte at ${bad} (position ${Math.floor(bad / 4 / 49152)})`);
  }
});
