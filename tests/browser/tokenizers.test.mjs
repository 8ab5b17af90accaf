// The tokenizers in the browser (SIMD128 wasm build): Gemma 3's SentencePiece and the
// DeepSeek-R1-Distill-Qwen BPE give llama.cpp's ids, as natively (tests/tokenizers.rs), and
// Gemma's 262,144-piece tokenizer builds well under a second.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const golden = (name) => JSON.parse(readFileSync(`${ROOT}tests/golden/${name}`, 'utf8'));
const GEMMA = golden('gemma-3-270m-q4_k_m.json');
const DEEPSEEK = golden('deepseek-r1-distill-tokenizer.json');
const HARD = golden('tokenizers-hard.json');

let browser, page;

before(async () => {
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => console.error('pageerror', e.message));
  await page.goto(new URL('models/manifest.json', BASE_URL).href);
  await page.evaluate(async () => {
    const m = await import('/pkg/plumbing.js');
    await m.default();
    // Loads a model the way the worker does; returns the engine and the tokenizer phase's time.
    window.loadModel = async (url) => {
      const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
      const bytes = new m.ModelBytes(buf.length);
      for (let off = 0; off < buf.length; off += 1 << 20) bytes.write(off, buf.subarray(off, off + (1 << 20)));
      const t = {};
      const engine = m.Engine.load(bytes, (phase, done) => {
        if (phase === 'tokenizer') t[done ? 'end' : 'start'] = performance.now();
      });
      return { engine, tokenizerMs: t.end - t.start };
    };
  });
});

after(async () => browser?.close());

/** [text, ids] pairs: ids with special tokens parsed and no BOS added. */
async function tokenizeAll(url, cases) {
  return page.evaluate(async ({ url, cases }) => {
    const { engine, tokenizerMs } = await window.loadModel(url);
    // tokenize_json feeds the BOS once; the reference ids carry none unless the text has it.
    const info = JSON.parse(engine.info_json());
    const ids = cases.map(([t]) => JSON.parse(engine.tokenize_json(t, true)).ids);
    engine.free();
    return { ids, tokenizerMs, bos: info.add_bos ? info.bos_id : null };
  }, { url, cases });
}

function check(name, cases, got) {
  cases.forEach(([text, want], i) => {
    const fed = want[0] === got.bos || got.bos == null ? want : [got.bos, ...want];
    assert.deepEqual(got.ids[i], fed, `${name}: ${JSON.stringify(text)}`);
  });
}

test('Gemma 3: llama.cpp ids for every reference and hard text; the tokenizer builds in under a second', async () => {
  const cases = [
    ...GEMMA.tokenize.map((c) => [c.text, c.ids]),
    ...GEMMA.generate.map((c) => [c.prompt, c.prompt_ids]),
    ...HARD.models.gemma.map((c) => [c.text, c.ids]),
  ];
  const got = await tokenizeAll(new URL('models/gemma-3-270m-q4_k_m.gguf', BASE_URL).href, cases);
  assert.equal(got.bos, 2);
  check('gemma', cases, got);
  console.log(`gemma tokenizer built in ${got.tokenizerMs.toFixed(0)} ms (wasm, SIMD128 build)`);
  assert.ok(got.tokenizerMs < 1000, `${got.tokenizerMs} ms`);
});

test('DeepSeek-R1-Distill-Qwen: llama.cpp ids for every reference and hard text', async () => {
  const cases = [...DEEPSEEK.tokenize.map((c) => [c.text, c.ids]), ...HARD.models.deepseek.map((c) => [c.text, c.ids])];
  const got = await tokenizeAll(new URL('models/archs/qwen2-deepseek.gguf', BASE_URL).href, cases);
  check('deepseek', cases, got);
});
