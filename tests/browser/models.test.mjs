// Several models on the page and in the widget (issue #11), in headless Chromium:
//   node --test tests/browser/models.test.mjs      (server at PLUMBING_URL, default :8080, www/)
// The picker switches SmolLM2 -> Gemma 3 270M in a fresh worker (the old model freed); Gemma's
// weights table, tokenizer (ids equal `plumbing tokenize`), continuation (a base model), the
// attention of its 18 layers × 4 heads; the side-by-side openness answered from what the tab did;
// Gemma again with the network off; the widget with model="gemma-3-270m"; and, when helper C's
// models/archs/qwen2-deepseek.gguf exists, a dropped thinking model's reasoning apart; and every
// view (weights, tokenizer ids as the CLI's, a generation, attention) for each models/archs/ file.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { launch, openPage, waitForModel, serverUp, BASE_URL, readWidget, waitWidget, clickRun } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANIFEST = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
const GEMMA = MANIFEST.models.find((m) => m.id === 'gemma-3-270m');
const GEMMA_FILE = join(ROOT, 'models', GEMMA.file);
const DEEPSEEK = join(ROOT, 'models/archs/qwen2-deepseek.gguf');
const CLI = process.env.PLUMBING_BIN ?? join(ROOT, 'target/release/plumbing');

function cli(...args) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run ./build.sh first`);
  return JSON.parse(execFileSync(CLI, args, { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

const readTokens = (page, id) => page.$eval(`#${id}`, (e) => e.tokens.map((t) => ({ id: t.id, text: t.text, pos: t.pos })));
const chip = (page) => page.textContent('#model-chip');
const memory = (page) => page.$eval('#memory-chip', (e) => e.textContent);
const mb = (s) => { const m = /([\d.]+)\s*(kB|MB|GB)/.exec(s); return m ? Number(m[1]) * { kB: 1e-3, MB: 1, GB: 1e3 }[m[2]] : NaN; };

async function generate(page, maxTokens) {
  await page.click('#tab-inference');
  await page.fill('#temperature', '0').catch(() => {});
  await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  await page.fill('#max-tokens', String(maxTokens));
  await page.click('#generate');
  await page.waitForFunction(() => /^Done/.test(document.getElementById('gen-status').textContent), null, { timeout: 300_000, polling: 200 });
}

describe('several models', { timeout: 1_200_000 }, () => {
  before(async () => {
    if (!(await serverUp())) throw new Error(`no server at ${BASE_URL}: start it with ./build.sh serve (or set PLUMBING_URL)`);
    assert.ok(existsSync(GEMMA_FILE), `${GEMMA_FILE} is missing: ./build.sh model fetches it`);
  });

  describe('the page', () => {
    let browser, page;
    before(async () => {
      browser = await launch({ viewport: { width: 1400, height: 1000 } });
      page = await openPage(browser.context, '');
      await waitForModel(page);
    });
    after(async () => { await browser?.close(); });

    it('lists the manifest models with size, licence and whether they are here; the bring-the-file list', async () => {
      const picks = await page.$$eval('#picker .pick', (bs) => bs.map((b) => ({ id: b.dataset.id, checked: b.getAttribute('aria-checked'), text: b.textContent })));
      assert.deepEqual(picks.map((p) => p.id), MANIFEST.models.map((m) => m.id));
      assert.equal(picks.find((p) => p.checked === 'true').id, MANIFEST.default);
      const g = picks.find((p) => p.id === 'gemma-3-270m');
      assert.match(g.text, /253\.1 MB/);
      assert.match(g.text, /Gemma Terms of Use/);
      assert.match(g.text, /base model/);
      assert.match(picks[0].text, /loaded in this tab/);
      const bring = await page.$$eval('#bring-table tbody tr', (rs) => rs.map((r) => r.dataset.id));
      assert.deepEqual(bring, MANIFEST.bring_the_file.map((b) => b.id));
    });

    it('Open?: the models side by side; the seed\'s question is "not yet" until a model ran here', async () => {
      await page.click('#tab-open');
      const heads = await page.$$eval('#compare thead th[data-id]', (t) => t.map((x) => x.dataset.id));
      assert.deepEqual(heads, ['smollm2-135m-instruct-q4_1', 'gemma-3-270m', 'deepseek-r1-distill-qwen-1.5b']);
      const parts = await page.$$eval('#compare tbody tr[data-part]', (t) => t.map((x) => x.dataset.part));
      assert.deepEqual(parts, ['weights', 'inference_code', 'training_code', 'training_data']);
      const answers = await page.$$eval('#compare .seed-row td', (t) => t.map((x) => x.dataset.answer));
      assert.deepEqual(answers, ['not yet', 'not yet', 'not yet']);
      const weights = await page.$eval('#compare tr[data-part="weights"]', (r) => [...r.querySelectorAll('td')].map((td) => td.textContent));
      assert.match(weights[0], /Apache-2\.0/);
      assert.match(weights[1], /Gemma Terms of Use \(not OSI-approved\)/);
      assert.match(weights[2], /MIT/);
      await generate(page, 4);
      await page.click('#tab-open');
      const seed = await page.$eval('#compare .seed-row td[data-id="smollm2-135m-instruct-q4_1"]', (td) => ({ a: td.dataset.answer, t: td.textContent }));
      assert.equal(seed.a, 'yes', seed.t);
      assert.match(seed.t, /sha256 checked: matches the manifest/);
      assert.match(seed.t, /ran here: 4 tokens/);
    });

    it('picking Gemma 3 loads it in a fresh worker: the old model is freed', async () => {
      const before = mb(await memory(page));
      await page.click('#picker .pick[data-id="gemma-3-270m"]');
      await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading');
      await waitForModel(page, 600_000);
      assert.match(await chip(page), /^Gemma 3 270M/);
      assert.equal(await page.$eval('#picker .pick[data-id="gemma-3-270m"]', (b) => b.getAttribute('aria-checked')), 'true');
      const gemmaMem = mb(await memory(page));
      assert.ok(gemmaMem > GEMMA.bytes / 1e6, `wasm memory ${gemmaMem} MB holds the ${GEMMA.bytes} bytes`);
      assert.ok(gemmaMem <= 1.3 * GEMMA.bytes / 1e6 + 1, `wasm memory ${gemmaMem} MB ≤ 1.3 × the file`);
      // One worker's memory, not both: a fresh instance does not add SmolLM2's.
      assert.ok(gemmaMem < before + GEMMA.bytes / 1e6, `${gemmaMem} MB after ${before} MB`);
    });

    it('weights: 236 tensors, roles for every one, Gemma\'s shape', async () => {
      await page.click('#tab-weights');
      assert.match(await page.textContent('#tensor-count'), /236/);
      const facts = await page.textContent('#facts');
      assert.match(facts, /gemma3/);
      assert.match(facts, /18/);
      assert.match(facts, /4 query · 1 key\/value/);
      assert.match(facts, /256/);
    });

    it('tokenizer: "Hello world" gives the ids of plumbing tokenize; no template, so the text is fed raw', async () => {
      const golden = cli('tokenize', '--model', GEMMA_FILE, '--text', 'Hello world').ids;
      await page.click('#tab-tokenizer');
      await page.fill('#tok-input', 'Hello world');
      await page.waitForFunction((ids) => document.getElementById('tok-strip').dataset.ids === ids, golden.join(','), { timeout: 20_000 }).catch(() => {});
      const tokens = await readTokens(page, 'tok-strip');
      assert.deepEqual(tokens.map((t) => t.id), golden);
      assert.match(await page.textContent('#tok-chat-lede'), /no chat template/);
      const fed = await page.$eval('#tok-chat', (e) => e.tokens.map((t) => t.id));
      assert.deepEqual(fed.slice(-golden.length), golden, 'the fed prompt ends with the text\'s own ids');
    });

    it('inference: a continuation box; the continuation streams; attention of 18 layers × 4 heads', async () => {
      await page.click('#tab-inference');
      assert.equal(await page.textContent('#prompt-label'), 'Text to continue');
      assert.equal(await page.$eval('#prompt', (e) => e.dataset.mode), 'continue');
      assert.equal(await page.isHidden('#prompt-mode'), false);
      let streamed = 0;
      const watch = setInterval(async () => { try { streamed = Math.max(streamed, await page.$eval('#answer', (e) => e.length)); } catch { /* closed */ } }, 50);
      await generate(page, 12);
      clearInterval(watch);
      const toks = await readTokens(page, 'answer');
      assert.equal(toks.length, 12, await page.textContent('#gen-status'));
      assert.ok(toks.map((t) => t.text).join('').trim().length > 0, 'some text');
      assert.equal(await page.isHidden('#reasoning'), true, 'Gemma does not think');
      await page.locator('#answer .tok[data-index="3"]').click();
      await page.waitForFunction(() => document.getElementById('attn-heads').data != null && !document.getElementById('attn-box').hidden, null, { timeout: 20_000 });
      assert.equal(await page.$eval('#layer', (e) => e.max), '17');
      const rows = await page.$eval('#attn-heads', (e) => e.data?.height ?? e.data?.rows ?? null);
      if (rows != null) assert.equal(rows, 4);
    });

    it('Open?: Gemma\'s card and its "yes" from this tab', async () => {
      await page.click('#tab-open');
      assert.match(await page.textContent('#open-lede'), /Gemma 3 270M/);
      const td = await page.$eval('#compare .seed-row td[data-id="gemma-3-270m"]', (x) => ({ a: x.dataset.answer, t: x.textContent }));
      assert.equal(td.a, 'yes', td.t);
      assert.match(await page.textContent('#sha-verdict'), /byte for byte/);
    });

    it('with the network off, ?model=gemma-3-270m loads from this device\'s cache', async () => {
      await page.goto(new URL('?model=gemma-3-270m', BASE_URL).href); // a controlled load: the shell passes the service worker
      await waitForModel(page, 600_000);
      await browser.context.setOffline(true);
      try {
        await page.reload();
        await waitForModel(page, 600_000);
        assert.match(await chip(page), /^Gemma 3 270M/);
        assert.match(await page.$eval('#progress', (e) => e.getAttribute('label')), /from this device's cache/);
      } finally {
        await browser.context.setOffline(false);
      }
    });
  });

  describe('the widget', () => {
    let browser, page;
    before(async () => { browser = await launch({ viewport: { width: 800, height: 900 } }); });
    after(async () => { await browser?.close(); });

    it('model="gemma-3-270m" names Gemma, continues the text, and links to the page with that model', async () => {
      page = await openPage(browser.context, 'embed.html?model=gemma-3-270m&prompt=The%20pipe%20wrench%20is&max-tokens=8&temperature=0');
      const w = page.locator('plumbing-chat');
      for (let i = 0; i < 100 && !/MB/.test((await readWidget(w)).meta); i++) await page.waitForTimeout(100);
      const idle = await readWidget(w);
      assert.equal(idle.model, 'Gemma 3 270M');
      assert.match(idle.meta, /Gemma Terms of Use/);
      assert.match(idle.meta, /base model: continues your text/);
      await clickRun(w);
      const done = await waitWidget(w, ['done', 'error'], 600_000);
      assert.equal(done.state, 'done', done.error);
      assert.match(done.stats, /^8 tokens/);
      assert.ok(done.answer.trim().length > 0);
      assert.match(done.link, /[?&]model=gemma-3-270m/);
    });

    it('an unknown id is refused by name, listing the ids; a bring-the-file id says where to get it', async () => {
      page = await openPage(browser.context, 'embed.html?model=nope');
      const w = page.locator('plumbing-chat');
      const r = await waitWidget(w, ['error'], 20_000);
      assert.match(r.error, /no model "nope".*gemma-3-270m/);
      page = await openPage(browser.context, 'embed.html?model=deepseek-r1-distill-qwen-1.5b');
      const d = await waitWidget(page.locator('plumbing-chat'), ['error'], 20_000);
      assert.match(d.error, /not hosted here.*huggingface\.co\/deepseek-ai/);
    });
  });

/** A copy of the synthetic DeepSeek file whose general.name says DeepSeek-R1-Distill-Qwen-1.5B
 * (the same length, patched in place): what a real distill's metadata looks like to the page. */
  function deepseekNamed() {
  const bytes = readFileSync(DEEPSEEK);
  const from = Buffer.from('plumbing synthetic qwen2-deepseek');
  const to = Buffer.from('DeepSeek-R1-Distill-Qwen-1.5B-toy');
  const at = bytes.indexOf(from);
  assert.ok(at > 0 && to.length === from.length, 'the synthetic file\'s general.name');
  to.copy(bytes, at);
  const out = join(mkdtempSync(join(tmpdir(), 'plumbing-ds-')), 'deepseek-r1-distill-qwen-1.5b-tiny.gguf');
  writeFileSync(out, bytes);
  return out;
}

  describe('a dropped model that thinks', { skip: !existsSync(DEEPSEEK) && `${DEEPSEEK} is missing (scripts/archs.sh makes it)` }, () => {
    let browser, page;
    before(async () => {
      browser = await launch({ viewport: { width: 1400, height: 1000 } });
      page = await openPage(browser.context, '');
      await waitForModel(page);
    });
    after(async () => { await browser?.close(); });

    it('is recognised (qwen2, its template, <think>); the reasoning streams into its own part, the inspector on it', async () => {
      await page.setInputFiles('#file-input', DEEPSEEK);
      await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading');
      await waitForModel(page);
      const rec = await page.textContent('#recognised');
      assert.match(rec, /qwen2/);
      assert.match(rec, /a chat template/);
      assert.match(rec, /thinks between <think> and <\/think>/);
      // Random weights do not open the block themselves: a raw prompt that ends inside it (as a
      // template that opens the block does) starts the output in the reasoning.
      await page.click('#tab-inference');
      await page.check('#raw');
      await page.fill('#prompt', '<｜begin▁of▁sentence｜><｜User｜>What is 2+2?<｜Assistant｜><think>\n');
      await generate(page, 10);
      assert.equal(await page.isHidden('#reasoning'), false);
      const think = await readTokens(page, 'reasoning-tokens');
      const answer = await readTokens(page, 'answer');
      assert.equal(think.length + answer.length, 10);
      const closed = think.some((t) => t.text.includes('</think>'));
      if (!closed) assert.equal(answer.length, 0, 'no </think>: all of it is reasoning');
      assert.match(await page.textContent('#reasoning-meta'), new RegExp(`^\\(${think.length} tokens · `));
      // The inspector opens a reasoning token like any other.
      await page.locator('#reasoning-tokens .tok[data-index="2"]').click();
      await page.waitForFunction(() => document.getElementById('inspector').dataset.pos === '2', null, { timeout: 10_000 });
    });

    it('a file whose metadata names DeepSeek-R1-Distill-Qwen-1.5B shows that entry\'s openness card and counts for it', async () => {
      await page.setInputFiles('#file-input', deepseekNamed());
      await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading');
      await waitForModel(page);
      assert.match(await page.textContent('#recognised'), /Recognised as DeepSeek-R1-Distill-Qwen-1\.5B: its openness card is in the Open\? tab/);
      await generate(page, 3);
      await page.click('#tab-open');
      assert.match(await page.textContent('#open-lede'), /^DeepSeek-R1-Distill-Qwen-1\.5B, part by part/);
      assert.match(await page.textContent('#open-grid'), /MIT/);
      const td = await page.$eval('#compare .seed-row td[data-id="deepseek-r1-distill-qwen-1.5b"]', (x) => ({ a: x.dataset.answer, t: x.textContent }));
      assert.equal(td.a, 'yes', td.t);
      assert.match(td.t, /your file, read from this device/);
    });
  });
  // Every view for each synthetic architecture of helper C's scripts/archs.sh that is present.
  const ARCHS = ['qwen2-deepseek', 'qwen3', 'llama3', 'gemma3-tiny'].map((n) => [n, join(ROOT, 'models/archs', `${n}.gguf`)]).filter(([, f]) => existsSync(f));
  describe('every view, for each synthetic architecture', { skip: !ARCHS.length && 'models/archs/ is empty (scripts/archs.sh makes it)' }, () => {
    let browser, page;
    before(async () => {
      browser = await launch({ viewport: { width: 1400, height: 1000 } });
      page = await openPage(browser.context, '');
      await waitForModel(page);
    });
    after(async () => { await browser?.close(); });

    for (const [name, file] of ARCHS) {
      it(`${name}: weights, tokenizer ids as plumbing tokenize, a generation, its attention`, async () => {
        const inspect = cli('inspect', '--model', file, '--json');
        await page.setInputFiles('#file-input', file);
        await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading');
        await waitForModel(page);
        assert.match(await page.textContent('#recognised'), new RegExp(inspect.architecture));
        await page.click('#tab-weights');
        assert.match(await page.textContent('#tensor-count'), new RegExp(String(inspect.tensors.length)));
        const text = 'Hello world, 2024: café';
        const golden = cli('tokenize', '--model', file, '--text', text).ids;
        await page.click('#tab-tokenizer');
        await page.fill('#tok-input', text);
        await page.waitForFunction((ids) => document.getElementById('tok-strip').dataset.ids === ids, golden.join(','), { timeout: 20_000 }).catch(() => {});
        assert.deepEqual((await readTokens(page, 'tok-strip')).map((t) => t.id), golden);
        await generate(page, 4);
        const n = (await readTokens(page, 'answer')).length + (await readTokens(page, 'reasoning-tokens')).length;
        assert.ok(n >= 1 && n <= 4, `${n} tokens`);
        const strip = (await readTokens(page, 'answer')).length ? 'answer' : 'reasoning-tokens';
        await page.locator(`#${strip} .tok[data-index="0"]`).click();
        await page.waitForFunction(() => document.getElementById('attn-heads').data != null && !document.getElementById('attn-box').hidden, null, { timeout: 20_000 });
        assert.equal(await page.$eval('#layer', (e) => e.max), String(inspect.config.n_layer - 1));
      });
    }
  });
});
