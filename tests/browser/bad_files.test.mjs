// The crafted bad files of tests/bad_files.rs, through the wasm engine in headless Chromium:
// each gets the same error as natively, none panics (a panic aborts the wasm instance), and the
// module still loads and runs a good model afterwards.
//
// The files come from `cargo run --release --example write_crafted` (target/crafted/, with
// cases.json), an explicit step of ./build.sh test before the browser tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = `${process.env.CARGO_TARGET_DIR ?? `${ROOT}target`}/crafted`;
const MODEL_URL = new URL('models/SmolLM2-135M-Instruct.Q4_1.gguf', BASE_URL).href;

if (!existsSync(`${DIR}/cases.json`)) {
  throw new Error(`${DIR}/cases.json is missing: run cargo run --release --example write_crafted`);
}
const CASES = JSON.parse(readFileSync(`${DIR}/cases.json`, 'utf8'));
const b64 = (name) => readFileSync(`${DIR}/${name}`).toString('base64');

let browser, page;

before(async () => {
  browser = await launch();
  page = await browser.context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(e.message));
  await page.goto(new URL('models/manifest.json', BASE_URL).href);
  await page.evaluate(async () => {
    const m = await import('/pkg/plumbing.js');
    await m.default();
    window.plumbing = m;
    window.fromB64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
    // Loads bytes (or the first `len` of them) and returns the error message, or "loaded".
    window.tryLoad = (u8, len = u8.length) => {
      try {
        const b = new m.ModelBytes(len);
        if (len) b.write(0, u8.subarray(0, len));
        window.lastEngine = m.Engine.load(b, () => {});
        return 'loaded';
      } catch (e) {
        return String(e?.message ?? e);
      }
    };
  });
});

after(async () => browser?.close());

test('every crafted file gets its own error in wasm, as natively', async () => {
  const files = CASES.filter((c) => c.file);
  assert.ok(files.length >= 60, `${files.length} file cases`);
  const got = [];
  for (const c of files) {
    got.push(await page.evaluate((s) => window.tryLoad(window.fromB64(s)), b64(c.file)));
  }
  const bad = files.map((c, i) => [c, got[i]]).filter(([c, msg]) => !c.expect.every((e) => msg.includes(e)));
  assert.deepEqual(bad.map(([c, msg]) => `${c.name}: ${msg}`), []);
  assert.deepEqual(page.problems, []);
});

test('the real model with a lying header gets its error in wasm', async () => {
  const real = CASES.filter((c) => c.real);
  assert.ok(real.length >= 10, 'cases.json was written with the model present');
  const got = await page.evaluate(async ({ url, cases }) => {
    const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const out = [];
    for (const c of cases) {
      // Patch in place, load, put the original bytes back.
      const saved = c.real.patch.map(([off, bytes]) => [off, buf.slice(off, off + bytes.length)]);
      for (const [off, bytes] of c.real.patch) buf.set(bytes, off);
      out.push(window.tryLoad(buf, c.real.truncate ?? buf.length));
      for (const [off, bytes] of saved) buf.set(bytes, off);
    }
    out.push(window.tryLoad(buf));
    return out;
  }, { url: MODEL_URL, cases: real });
  const bad = real.map((c, i) => [c, got[i]]).filter(([c, msg]) => !c.expect.every((e) => msg.includes(e)));
  assert.deepEqual(bad.map(([c, msg]) => `${c.name}: ${msg}`), []);
  assert.equal(got.at(-1), 'loaded', 'and unpatched it loads');
});

test('a file larger than wasm32 memory is refused before allocation', async () => {
  const msg = await page.evaluate(() => {
    try { new window.plumbing.ModelBytes(5e9); return 'allocated'; } catch (e) { return e.message; }
  });
  assert.match(msg, /^the model file has 5000000000 bytes; at most \d+ bytes fit in this engine's memory$/);
  const neg = await page.evaluate(() => { try { new window.plumbing.ModelBytes(-1); return 'allocated'; } catch (e) { return e.message; } });
  assert.match(neg, /bad model size -1/);
});

test('after all of that the module still loads and runs a tiny llama', async () => {
  const r = await page.evaluate((s) => {
    const msg = window.tryLoad(window.fromB64(s));
    const e = window.lastEngine;
    const info = JSON.parse(e.info_json());
    const ids = JSON.parse(e.tokenize_json('<|im_start|> the', true)).ids;
    e.start(new Uint32Array(ids), JSON.stringify({ temperature: 0, max_tokens: 4 }));
    while (e.prefill(32) > 0);
    const steps = [];
    for (;;) { const st = JSON.parse(e.step()); steps.push(st.id); if (st.done) break; }
    return { msg, n_layer: info.config.n_layer, n_vocab: info.config.n_vocab, ids, steps };
  }, b64('tiny.gguf'));
  assert.equal(r.msg, 'loaded');
  assert.equal(r.n_layer, 2);
  assert.equal(r.n_vocab, 275);
  assert.equal(r.ids[0], 1);
  assert.ok(r.steps.length >= 1 && r.steps.length <= 4);
  assert.deepEqual(page.problems, []);
});

test('the HTML-generating model produces its text as data', async () => {
  const text = await page.evaluate((s) => {
    window.tryLoad(window.fromB64(s));
    const e = window.lastEngine;
    e.start(new Uint32Array([10, 11]), JSON.stringify({ temperature: 0, max_tokens: 2 }));
    let t = '';
    for (;;) { const st = JSON.parse(e.step()); t += st.text; if (st.done) break; }
    return { t, name: JSON.parse(e.info_json()).name, xss: window.__xss ?? null };
  }, b64('xss.gguf'));
  assert.equal(text.t, '<img src=x onerror=window.__xss=1><script>window.__xss=2</script>');
  assert.match(text.name, /^<img src=x onerror=/);
  assert.equal(text.xss, null);
});
