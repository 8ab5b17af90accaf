// Inside the step, deeper (issue 13), on the real page in headless Chromium: step mode (one
// token per press, the same ids as a normal greedy run), the logit lens, the residual stream and
// the MLP neurons of the selected token, and inspecting never changes the generation.
//   PLUMBING_URL=http://127.0.0.1:8092/ node --test tests/browser/lens.test.mjs
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
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
});
