// Runtime limits on the page, with the real model: Stop during prefill, Restart while a
// generation runs, and a prompt longer than the context (the page says so and stays usable).
// Stop during decode is in page.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, waitForModel } from './lib.mjs';

let browser, page;
const answer = () => page.evaluate(() => {
  const a = document.getElementById('answer');
  return { n: a.length, state: a.dataset.state, reason: a.dataset.reason, status: document.getElementById('gen-status').textContent };
});
const waitDone = (timeout = 120_000) => page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout });

before(async () => {
  browser = await launch();
  page = await openPage(browser.context, '#inference');
  await waitForModel(page);
  await page.click('#tab-inference');
});

after(async () => browser?.close());

test('Stop during prefill ends the generation before its first token', async () => {
  await page.fill('#prompt', 'The plumber checked every pipe in the old house, one by one. '.repeat(60));
  await page.fill('#max-tokens', '50');
  await page.click('#generate');
  await page.waitForFunction(() => /^Prefill: \d+ of \d+/.test(document.getElementById('gen-status').textContent), null, { timeout: 30_000, polling: 10 });
  const t0 = Date.now();
  await page.click('#stop');
  await waitDone(10_000);
  const a = await answer();
  assert.equal(a.reason, 'aborted', a.status);
  assert.equal(a.n, 0, 'no token was generated');
  assert.ok(Date.now() - t0 < 3000, `stopped in ${Date.now() - t0} ms`);
});

test('Restart while a generation runs replaces it with a new one', async () => {
  await page.fill('#prompt', 'Tell me about pipes.');
  await page.fill('#max-tokens', '200');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('answer').length >= 3, null, { timeout: 60_000 });
  await page.fill('#max-tokens', '5');
  await page.click('#generate'); // labelled "Restart" while running
  await waitDone();
  const a = await answer();
  assert.ok(a.n <= 5, `${a.n} tokens: the new run's, not the old one's`);
  assert.match(a.status, /^Done/);
  assert.deepEqual(page.problems, []);
});

test('a prompt longer than the context is refused with the numbers, and the page stays usable', async () => {
  await page.fill('#prompt', 'pipe valve fitting '.repeat(1200));
  await page.fill('#max-tokens', '5');
  await page.click('#generate');
  await page.waitForFunction(() => /^Error/.test(document.getElementById('gen-status').textContent), null, { timeout: 60_000 });
  assert.match((await answer()).status, /the prompt has \d+ tokens; the context holds \d+/);
  await page.fill('#prompt', 'Hi');
  await page.click('#generate');
  await waitDone();
  assert.match((await answer()).status, /^Done/);
});

test('the worker dying mid-generation is reported, and Load again starts a new one that works', async () => {
  await page.fill('#prompt', 'Tell me about pipes.');
  await page.fill('#max-tokens', '200');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('answer').length >= 2, null, { timeout: 60_000 });
  // Crash the engine's worker from the inside: an uncaught error, as a crash or an out-of-memory
  // abort would raise.
  // The engine's own worker only: the threads build's helpers (threads-worker.js) sit in a wasm
  // wait loop and never run what is posted to them (evaluating in one would wait forever).
  const workers = page.workers().filter((w) => /\/worker\.js(\?|$)/.test(w.url()));
  assert.equal(workers.length, 1, 'the engine runs in one worker');
  await workers[0].evaluate(() => { setTimeout(() => { throw new Error('simulated crash'); }); }).catch(() => {});
  await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'error', null, { timeout: 20_000 });
  assert.match(await page.textContent('#load-error'), /worker stopped/);
  assert.ok(await page.isVisible('#load-retry'));
  page.problems.length = 0;
  await page.click('#load-retry');
  await waitForModel(page);
  await page.click('#tab-inference');
  await page.fill('#prompt', 'Hi');
  await page.fill('#max-tokens', '5');
  await page.click('#generate');
  await waitDone();
  const a = await answer();
  assert.match(a.status, /^Done/);
  assert.ok(a.n >= 1, 'the new worker generates');
});
