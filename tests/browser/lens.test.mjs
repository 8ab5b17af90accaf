// Inside the step, deeper (issue 13), on the real page in headless Chromium: step mode (one
// token per press, the same ids as a normal greedy run), the logit lens, the residual stream and
// the MLP neurons of the selected token, and inspecting never changes the generation.
//   PLUMBING_URL=http://127.0.0.1:8092/ node --test tests/browser/lens.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { launch, openPage, waitForModel, serverUp, BASE_URL } from './lib.mjs';

const PROMPT = 'Name three tools a plumber uses.';
const N = 10; // tokens per run

const readIds = (page) => page.$eval('#answer', (e) => e.tokens.map((t) => t.id));
const answerLength = (page) => page.$eval('#answer', (e) => e.length);

async function setup(page, { max = N } = {}) {
  await page.click('#tab-inference');
  await page.fill('#prompt', PROMPT);
  await page.fill('#max-tokens', String(max));
  // Greedy: temperature 0 (the sampler takes the arg max; top-k/top-p do not matter).
  await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  await page.fill('#seed', '1');
}

const waitDone = (page, timeout = 120_000) => page.waitForFunction(
  () => document.getElementById('answer').dataset.state === 'done', null, { timeout });

/** Waits until the generation is paused before position pos. */
const waitPaused = (page, pos, timeout = 60_000) => page.waitForFunction(
  (p) => document.getElementById('answer').dataset.paused === String(p), pos, { timeout });

async function greedyRun(page) {
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'running', null, { timeout: 10_000 }).catch(() => {});
  await waitDone(page);
  return readIds(page);
}

describe('step mode, the lens, the residual stream, the MLP', { timeout: 900_000 }, () => {
  let browser, page, greedy;

  before(async () => {
    if (!(await serverUp())) throw new Error(`no server at ${BASE_URL}: start one (plumbing serve --dir www --port N) and set PLUMBING_URL`);
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '');
    await waitForModel(page);
    await setup(page);
    greedy = await greedyRun(page);
    assert.equal(greedy.length, N, `the greedy run made ${greedy.length} tokens`);
  });

  after(async () => { await browser?.close(); });

  it('step mode: one token per press (button and key), the same ids as a normal greedy run', async () => {
    await page.click('#step');
    await waitPaused(page, 1);
    assert.equal(await answerLength(page), 1);
    assert.match(await page.textContent('#gen-status'), /Paused before token 1/);
    assert.equal(await page.$eval('#run-on', (b) => b.disabled), false, 'Continue is offered while paused');
    for (let p = 1; p < N; p++) {
      // Nothing more comes while paused.
      await page.waitForTimeout(p === 1 ? 400 : 30);
      assert.equal(await answerLength(page), p, `paused at ${p}: no token arrives without a press`);
      if (p % 2) await page.click('#step');
      else { await page.locator('#answer').focus(); await page.keyboard.press('n'); }
      if (p < N - 1) await waitPaused(page, p + 1);
    }
    await waitDone(page);
    assert.deepEqual(await readIds(page), greedy, 'step mode made the ids of the greedy run');
    assert.equal(await page.$eval('#answer', (e) => e.dataset.reason), 'max_tokens');
  });

  it('step mode: Continue runs on to the end, Stop ends a paused generation', async () => {
    await page.click('#step');
    await waitPaused(page, 1);
    await page.click('#step');
    await waitPaused(page, 2);
    await page.click('#run-on');
    await waitDone(page);
    assert.deepEqual(await readIds(page), greedy, 'step, step, continue: the greedy ids');

    await page.click('#step');
    await waitPaused(page, 1);
    const t0 = Date.now();
    await page.click('#stop');
    await waitDone(page, 5000);
    assert.ok(Date.now() - t0 < 2000, `a paused generation stopped in ${Date.now() - t0} ms`);
    assert.equal(await page.$eval('#answer', (e) => e.dataset.reason), 'aborted');
    assert.equal(await answerLength(page), 1);
    assert.equal(await page.$eval('#stop', (b) => b.disabled), true);
    assert.equal(await page.$eval('#run-on', (b) => b.disabled), true);
  });

  it('step mode: choosing an alternative pauses after the chosen token', async () => {
    await page.click('#step');
    for (let p = 1; p <= 3; p++) { await waitPaused(page, p); if (p < 3) await page.click('#step'); }
    await page.locator('#answer .tok[data-index="1"]').click();
    await page.waitForFunction(() => document.getElementById('inspector').dataset.pos === '1');
    const alt = await page.$$eval('#alts button', (bs) => Number(bs.find((b) => !b.classList.contains('picked')).dataset.rank));
    await page.click(`#alts button[data-rank="${alt}"]`);
    await waitPaused(page, 2);
    const tokens = await page.$eval('#answer', (e) => e.tokens.map((t) => ({ id: t.id, chosen: !!t.chosen })));
    assert.equal(tokens.length, 2, 'the chosen token is in place, nothing after it yet');
    assert.ok(tokens[1].chosen);
    assert.equal(tokens[0].id, greedy[0]);
    await page.click('#stop');
    await waitDone(page, 5000);
  });

  it('a Step pauses a generation that runs; Generate runs without pausing again', async () => {
    await page.fill('#max-tokens', '60');
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('answer').length >= 2, null, { timeout: 60_000 });
    await page.click('#step');
    await page.waitForFunction(() => document.getElementById('answer').dataset.paused != null, null, { timeout: 10_000 });
    const n = await answerLength(page);
    assert.equal(await page.$eval('#answer', (e) => e.dataset.paused), String(n), 'paused right after the token in flight');
    await page.waitForTimeout(300);
    assert.equal(await answerLength(page), n);
    await page.fill('#max-tokens', String(N));
    const ids = await greedyRun(page);
    assert.deepEqual(ids, greedy, 'Generate after a pause: a fresh greedy run, not paused');
    assert.deepEqual(page.problems, [], 'no console errors');
  });

  it('inspecting never changes the generation: lens, MLP and a neuron at every step; capture off', async () => {
    const nLayer = await page.$eval('#mlp-layer', (e) => Number(e.max) + 1);
    await page.click('#step');
    for (let p = 1; p < N; p++) {
      await waitPaused(page, p);
      // The paused step is looked at: its lens fills, an MLP layer is picked, a neuron opened.
      await page.waitForFunction((q) => {
        const d = document.getElementById('deeper');
        return d.dataset.pos === String(q) && d.dataset.state === 'done';
      }, p - 1, { timeout: 120_000 });
      if (p % 3 === 1) {
        await page.$eval('#mlp-layer', (e, l) => { e.value = String(l); e.dispatchEvent(new Event('input')); }, (p * 7) % nLayer);
        await page.waitForFunction((l) => document.getElementById('mlp-neurons').dataset.layer === String(l), (p * 7) % nLayer, { timeout: 30_000 });
        await page.locator('#mlp-neurons button.neuron').first().click();
        await page.waitForFunction(() => document.getElementById('neuron').dataset.state === 'done', null, { timeout: 60_000 });
        const closest = await page.$$eval('#nr-closest li', (lis) => lis.length);
        assert.equal(closest, 10, 'a neuron shows its 10 closest tokens');
      }
      await page.click('#step');
    }
    await waitDone(page);
    assert.deepEqual(await readIds(page), greedy, 'inspected step by step: the greedy ids');
    await page.uncheck('#capture-resid');
    assert.deepEqual(await greedyRun(page), greedy, 'residual capture off: the same ids');
    assert.match(await page.textContent('#dp-missing'), /not recorded/);
    await page.check('#capture-resid');
    assert.deepEqual(await greedyRun(page), greedy, 'and on again');
  });

  it('the lens: n_layer rows of 5, the last row\'s top-1 is the token generated; residual bars per layer', async () => {
    const nLayer = await page.$eval('#mlp-layer', (e) => Number(e.max) + 1);
    for (const i of [0, 3, N - 1]) {
      const lens = await lensOf(page, i);
      assert.equal(lens.rows.length, nLayer, `token ${i}: one row per layer`);
      for (const r of lens.rows) assert.equal(r.top.length, 5, `token ${i} layer ${r.layer}: 5 candidates`);
      const last = lens.rows[nLayer - 1];
      assert.ok(last.output, 'the last row is marked as the output');
      assert.equal(last.top[0].id, greedy[i], `token ${i}: the lens of the last layer ends on the token generated`);
      assert.ok(last.top[0].made, 'and outlines it');
      for (const r of lens.rows) {
        const ps = r.top.map((c) => c.prob);
        for (let k = 1; k < ps.length; k++) assert.ok(ps[k - 1] >= ps[k], `layer ${r.layer}: sorted`);
        assert.ok(ps.every((x) => x >= 0 && x <= 1) && ps.reduce((a, b) => a + b) <= 1 + 1e-5, `layer ${r.layer}: probabilities`);
      }
      // The last row is the real output: the step's own candidates and logits (the inspector's).
      const alts = await page.$$eval('#alts button', (bs) => bs.map((b) => ({ id: Number(b.dataset.id), logit: b.dataset.logit })));
      assert.deepEqual(last.top.map((c) => c.id), alts.slice(0, 5).map((a) => a.id), `token ${i}: the output row is the candidates' top 5`);
      assert.deepEqual(last.top.map((c) => c.logit), alts.slice(0, 5).map((a) => a.logit), `token ${i}: the last layer's logits are the step's, bit for bit`);
      const bars = await page.$$eval('#resid .rgroup', (gs) => gs.map((g) => [...g.querySelectorAll('.rbar')].map((b) => Number(b.style.getPropertyValue('--h')))));
      assert.equal(bars.length, nLayer, 'one residual group per layer');
      assert.ok(bars.every((g) => g.length === 2 && g.every((h) => h > 0)), 'attention and MLP bars, each of a positive norm');
    }
  });
});

// The lens computed in the browser against the native build's (examples/lens.rs --golden writes
// tests/golden/lens-smollm2.json: the page's "as written" request, temperature 0, capture on).
describe('the lens in the browser equals native, bit for bit', { timeout: 600_000 }, () => {
  let browser, page, golden;

  before(async () => {
    golden = JSON.parse(readFileSync(fileURLToPath(new URL('../golden/lens-smollm2.json', import.meta.url)), 'utf8'));
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '');
    await waitForModel(page);
    await page.click('#tab-inference');
    await page.fill('#prompt', golden.prompt);
    await page.check('#raw');
    await page.fill('#max-tokens', String(golden.steps));
    await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  });

  after(async () => { await browser?.close(); });

  it('the same prompt ids and greedy ids; each case\'s lens row (ids, logits, probabilities) as native', async () => {
    const ids = await greedyRun(page);
    const fed = await page.$eval('#fed', (e) => e.tokens.map((t) => t.id));
    assert.deepEqual(fed, golden.prompt_ids, 'the prompt as fed');
    assert.deepEqual(ids, golden.generated_ids, 'the greedy ids');
    const nLayer = await page.$eval('#mlp-layer', (e) => Number(e.max) + 1);
    let middle = 0;
    for (const c of golden.cases) {
      const i = c.pos - fed.length + 1; // the generated token this position chose
      const lens = await lensOf(page, i);
      const row = lens.rows[c.layer];
      assert.equal(row.layer, c.layer);
      // f32 both sides: the golden file holds them widened to f64 (exact), the page as f32's shortest digits.
      const f32 = Math.fround;
      const want = c.lens_layer.top.map((t) => ({ id: t.id, logit: f32(t.logit), prob: f32(t.prob) }));
      const got = row.top.map((t) => ({ id: t.id, logit: f32(Number(t.logit)), prob: f32(t.prob) }));
      assert.deepEqual(got, want, `pos ${c.pos} layer ${c.layer}: the browser's lens is native's, bit for bit`);
      if (c.layer > 0 && c.layer < nLayer - 1) middle++;
    }
    assert.ok(middle >= 1, 'a middle layer is among the cases');
  });
});

// Gemma 3 270M: another architecture (post-norms, GeGLU, a 262,144-token head, drawn layer by layer).
describe('the lens on Gemma 3 270M', { timeout: 900_000 }, () => {
  let browser, page;

  before(async () => {
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '?model=gemma-3-270m');
    await waitForModel(page, 600_000);
    await page.click('#tab-inference');
    await page.fill('#max-tokens', '3');
    await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
  });

  after(async () => { await browser?.close(); });

  it('18 rows; the last row\'s top-1 and logits are the step\'s; 18 residual groups; a neuron opens', async () => {
    const ids = await greedyRun(page);
    assert.equal(ids.length, 3);
    for (const i of [0, 2]) {
      const lens = await lensOf(page, i);
      assert.equal(lens.rows.length, 18, 'one row per layer');
      const last = lens.rows[17];
      assert.equal(last.top[0].id, ids[i], `token ${i}: the last layer's top-1 is the token generated`);
      const alts = await page.$$eval('#alts button', (bs) => bs.slice(0, 5).map((b) => ({ id: Number(b.dataset.id), logit: b.dataset.logit })));
      assert.deepEqual(last.top.map((c) => ({ id: c.id, logit: c.logit })), alts, `token ${i}: the step's logits, bit for bit`);
      assert.equal(await page.$$eval('#resid .rgroup', (g) => g.length), 18);
    }
    await page.locator('#mlp-neurons button.neuron').first().click();
    await page.waitForFunction(() => document.getElementById('neuron').dataset.state === 'done', null, { timeout: 120_000 });
    assert.equal(await page.$$eval('#nr-closest li', (l) => l.length), 10);
    assert.deepEqual(page.problems, [], 'no console errors');
  });
});

// Every synthetic architecture of scripts/archs.sh that is present (qwen2, qwen3, llama3, gemma3).
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARCHS = ['qwen2-deepseek', 'qwen3', 'llama3', 'gemma3-tiny'].map((n) => [n, `${ROOT}models/archs/${n}.gguf`]).filter(([, f]) => existsSync(f));
describe('the lens for each synthetic architecture', { timeout: 900_000, skip: !ARCHS.length && 'models/archs/ is empty (scripts/archs.sh makes it)' }, () => {
  let browser, page;
  before(async () => {
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '');
    await waitForModel(page);
  });
  after(async () => { await browser?.close(); });

  for (const [name, file] of ARCHS) {
    it(`${name}: n_layer rows, the last row's top-1 is the token generated, residual groups, MLP neurons`, async () => {
      await page.setInputFiles('#file-input', file);
      await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading');
      await waitForModel(page);
      await page.click('#tab-inference');
      await page.fill('#max-tokens', '3');
      await page.$eval('#temperature', (e) => { e.value = '0'; e.dispatchEvent(new Event('input')); });
      await greedyRun(page);
      const strip = (await answerLength(page)) ? 'answer' : 'reasoning-tokens';
      const ids = await page.$eval(`#${strip}`, (e) => e.tokens.map((t) => t.id));
      const nLayer = await page.$eval('#layer', (e) => Number(e.max) + 1);
      const lens = await lensOf(page, 0, strip);
      assert.equal(lens.rows.length, nLayer);
      assert.equal(lens.rows[nLayer - 1].top[0].id, ids[0], 'the last layer\'s top-1 is the token generated');
      assert.equal(await page.$$eval('#resid .rgroup', (g) => g.length), nLayer);
      assert.ok(await page.$$eval('#mlp-neurons button.neuron', (b) => b.length) > 0, 'MLP neurons listed');
    });
  }
});

/** Selects generated token i (of the answer, or of the reasoning) and reads the lens table once it is complete. */
async function lensOf(page, i, strip = 'answer') {
  await page.locator(`#${strip} .tok[data-index="${i}"]`).click();
  await page.waitForFunction((p) => {
    const d = document.getElementById('deeper');
    return d.dataset.pos === String(p) && d.dataset.state === 'done';
  }, i, { timeout: 120_000 });
  return page.evaluate(() => ({
    ms: Number(document.getElementById('deeper').dataset.lensMs),
    rows: [...document.querySelectorAll('#lens tbody tr')].map((tr) => ({
      layer: Number(tr.dataset.layer),
      output: tr.classList.contains('output'),
      top: [...tr.querySelectorAll('td.cand')].filter((td) => td.dataset.id).map((td) => ({
        id: Number(td.dataset.id), prob: Number(td.dataset.prob), logit: td.dataset.logit, made: td.classList.contains('made'),
      })),
    })),
  }));
}
