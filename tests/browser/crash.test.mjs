// A trap in the wasm engine (a Rust panic) is fatal to its instance, never to the page: the worker
// reports kind "crashed" with the panic's own text, the client starts a fresh worker, reloads the
// model from Cache Storage and goes on; every widget of a page says so and runs again.
// The panic is a deliberate one (Engine test_panic, reached through Req.TEST_PANIC): the API has
// no other.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, serverUp, BASE_URL, readWidget, waitWidget, clickRun } from './lib.mjs';

let browser;

before(async () => {
  if (!(await serverUp())) throw new Error(`no server at ${BASE_URL}`);
  browser = await launch();
});
after(async () => browser?.close());

test('a worker that never says it is ready: ready rejects (kind worker) naming the last step it reported', async () => {
  const page = await openPage(browser.context, 'embed.html');
  const r = await page.evaluate(async () => {
    const { PlumbingEngine, Kind } = await import('/engine.js');
    const blob = (src) => URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
    const outcome = async (workerUrl) => {
      const e = new PlumbingEngine({ workerUrl, startStallMs: 600 });
      const t0 = performance.now();
      try { await e.ready; return { ok: true }; } catch (err) {
        return { kind: err.kind, isWorker: err.kind === Kind.WORKER, message: err.message, ms: performance.now() - t0, alive: e.alive };
      }
    };
    return {
      silent: await outcome(blob('')),
      // Reports steps 300 ms apart (each restarts the clock), then stalls on the last one.
      stalls: await outcome(blob(`
        const say = (stage) => postMessage({ id: 0, type: 'starting', stage });
        say('one'); setTimeout(() => say('two'), 300); setTimeout(() => say('compiling ./pkg/plumbing_bg.wasm'), 600);`)),
    };
  });
  assert.ok(r.silent.isWorker, JSON.stringify(r.silent));
  assert.match(r.silent.message, /did not start: no news from its worker for 0\.6 s \(last step: starting the worker\)/);
  assert.equal(r.silent.alive, false);
  assert.ok(r.stalls.isWorker, JSON.stringify(r.stalls));
  assert.match(r.stalls.message, /\(last step: compiling \.\/pkg\/plumbing_bg\.wasm\)/);
  assert.ok(r.stalls.ms >= 1100, `each step restarted the clock: rejected after ${r.stalls.ms} ms`);
  await page.close();
});

test('a worker that stalls starting its helper threads is replaced by one on one thread, and the build says why', async () => {
  const page = await openPage(browser.context, 'embed.html');
  const r = await page.evaluate(async () => {
    const { PlumbingEngine } = await import('/engine.js');
    // The first worker stalls where the threads build starts its helpers; the client's second
    // one (named for one thread, as a blob: URL carries no ?threads=1) starts.
    const src = `
      const say = (stage) => postMessage({ id: 0, type: 'starting', stage });
      self.onmessage = () => {};
      if (!self.name.includes('one thread')) say('starting 1 helper thread');
      else { say('instantiating ./pkg-threads/plumbing_bg.wasm');
        setTimeout(() => postMessage({ id: 0, type: 'ready', build: { flavor: 'pkg-threads', threads: 1, threads_note: null } }), 100); }`;
    const e = new PlumbingEngine({ workerUrl: URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), startStallMs: 600 });
    const t0 = performance.now();
    try {
      const build = await e.ready;
      return { ok: true, build, same: build === e.build, ms: performance.now() - t0, alive: e.alive };
    } catch (err) { return { ok: false, message: err.message }; }
  });
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.build.threads, 1);
  assert.match(r.build.threads_note, /^one thread: the helper threads did not start \(no news from its worker for 0\.6 s \(last step: starting 1 helper thread\)\), so the engine restarted on one$/);
  assert.ok(r.same && r.alive, JSON.stringify(r));
  assert.ok(r.ms >= 600, `it waited for the stall first: ${r.ms} ms`);
  await page.close();
});

test('the client survives a panic: crashed with the panic text, a new worker, the model reloaded from the cache, the same answer', { timeout: 300_000 }, async () => {
  const page = await openPage(browser.context, 'embed.html');
  const r = await page.evaluate(async () => {
    const { PlumbingEngine, readManifest, Kind } = await import('/engine.js');
    const m = await readManifest('/models/manifest.json');
    const engine = new PlumbingEngine();
    const events = [];
    engine.addEventListener('crashed', (e) => events.push(['crashed', e.detail.message]));
    const restarted = new Promise((res) => engine.addEventListener('restarted', (e) => {
      events.push(['restarted', e.detail.info?.architecture ?? null, e.detail.error?.message ?? null]);
      res();
    }));
    const first = await engine.load(m.url, { sha256: m.sha256 });
    const greedy = async () => {
      const ids = [];
      const done = await engine.generate('Name a tool.', { temperature: 0, max_tokens: 8, onToken: (t) => ids.push(t.step.id) });
      return { ids, reason: done.reason };
    };
    const before = await greedy();
    let err = null;
    try { await engine.testPanic('boom'); } catch (e) { err = { kind: e.kind, message: e.message, isCrash: e.kind === Kind.CRASHED }; }
    await restarted;
    const after = await greedy();
    const stats = await engine.stats();
    return { firstSource: first.cache?.source, before, err, events, after, alive: engine.alive, build: engine.build, generated: stats.stats.generated };
  });
  assert.ok(r.err?.isCrash, `the request that crashed rejects with kind crashed: ${JSON.stringify(r.err)}`);
  assert.match(r.err.message, /test panic: boom/, 'the panic hook kept the panic\'s own text');
  assert.deepEqual(r.events.map((e) => e[0]), ['crashed', 'restarted']);
  assert.match(r.events[0][1], /test panic: boom/);
  assert.equal(r.events[1][1], 'llama', 'the model was reloaded');
  assert.equal(r.events[1][2], null);
  assert.ok(r.alive);
  assert.equal(r.after.ids.length, 8);
  assert.deepEqual(r.after.ids, r.before.ids, 'the new worker gives the same greedy answer');
  assert.match(r.build.wasm_sha256, /^[0-9a-f]{64}$/);
  assert.ok(page.problems.some((p) => /test panic: boom/.test(p)), 'console_error_panic_hook logged the panic');
  await page.close();
});

test('a crash while a generation streams ends it with kind crashed; a request made meanwhile waits for the reload and runs', { timeout: 300_000 }, async () => {
  const page = await openPage(browser.context, 'embed.html');
  const r = await page.evaluate(async () => {
    const { PlumbingEngine, readManifest } = await import('/engine.js');
    const m = await readManifest('/models/manifest.json');
    const engine = new PlumbingEngine();
    await engine.load(m.url, { sha256: m.sha256 });
    let tokens = 0;
    const running = engine.generate('Write a long story about pipes.', { max_tokens: 200, onToken: () => { tokens++; } })
      .then((d) => ({ ok: d.reason }), (e) => ({ kind: e.kind }));
    while (tokens < 3) await new Promise((res) => setTimeout(res, 10));
    const panic = await engine.testPanic('mid-generation').catch((e) => e.kind);
    // Made while the new worker starts and reloads the model: it waits for that, then runs.
    // (Requests already in the crashed worker's hands fail with kind crashed, like this one.)
    let restarted = false;
    engine.addEventListener('restarted', () => { restarted = true; }, { once: true });
    const queued = await engine.generate('Hi', { temperature: 0, max_tokens: 4 }).then((d) => d.reason, (e) => `error ${e.kind}: ${e.message}`);
    return { running: await running, panic, queued, restartedFirst: restarted };
  });
  // The generation had finished its turn or was cut by the crash; either way nothing hangs.
  assert.ok(r.running.ok || r.running.kind === 'crashed', JSON.stringify(r.running));
  assert.equal(r.panic, 'crashed');
  assert.equal(r.queued, 'max_tokens', 'a request made after the crash runs on the reloaded model');
  assert.ok(r.restartedFirst, 'it ran after the reload');
  await page.close();
});

test('every widget of a page says the engine restarted, and runs again', { timeout: 400_000 }, async () => {
  const page = await openPage(browser.context, 'blog-example.html');
  const chats = page.locator('plumbing-chat');
  assert.ok((await chats.count()) >= 2, 'the blog example has two widgets');
  await clickRun(chats.nth(0));
  const first = await waitWidget(chats.nth(0));
  assert.equal(first.state, 'done', JSON.stringify(first));
  // The widgets share one engine (PlumbingChat.engine); make it panic.
  await page.evaluate(() => customElements.get('plumbing-chat').engine.testPanic('widget test').catch(() => {}));
  const notes = await page.waitForFunction(() => [...document.querySelectorAll('plumbing-chat')]
    .map((w) => w.shadowRoot.querySelector('.note'))
    .every((n) => !n.hidden && /restarted and the model reloaded/.test(n.textContent)), null, { timeout: 120_000 })
    .then(() => true, () => false);
  assert.ok(notes, `every widget says so: ${JSON.stringify(await Promise.all([0, 1].map((i) => readWidget(chats.nth(i)))))}`);
  await clickRun(chats.nth(1));
  const second = await waitWidget(chats.nth(1));
  assert.equal(second.state, 'done', JSON.stringify(second));
  assert.ok(second.answer.length > 0);
  await page.close();
});

test('the page: its openness card shows the sha256 of the wasm it runs; a crash mid-generation is said, and the next generation works', { timeout: 400_000 }, async () => {
  const { waitForModel } = await import('./lib.mjs');
  const page = await openPage(browser.context, 'index.html#inference');
  await waitForModel(page);
  const shown = await page.$eval('#wasm-sha256', (e) => e.textContent.trim());
  const actual = await page.evaluate(async () => {
    const url = [...performance.getEntriesByType('resource')].map((e) => e.name).find((n) => /plumbing_bg\.wasm$/.test(n));
    return url ?? null;
  });
  // The worker fetched the wasm itself; hash the same file here and compare.
  const { createHash } = await import('node:crypto');
  const { readFileSync, existsSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const hashes = ['pkg', 'pkg-relaxed', 'pkg-threads'].filter((d) => existsSync(`${root}www/${d}/plumbing_bg.wasm`))
    .map((d) => createHash('sha256').update(readFileSync(`${root}www/${d}/plumbing_bg.wasm`)).digest('hex'));
  assert.ok(hashes.includes(shown), `the card shows ${shown}; the builds are ${hashes.join(', ')} (${actual})`);

  await page.fill('#prompt', 'Write a long story about plumbing.');
  await page.click('#generate');
  await page.waitForFunction(() => /Generating… ([3-9]|\d{2,}) tokens/.test(document.getElementById('gen-status').textContent), null, { timeout: 120_000 });
  // Make the engine's worker panic, as a bug in Rust would, in the middle of the generation.
  const worker = page.workers().find((w) => /\/worker\.js(\?|$)/.test(w.url()));
  assert.ok(worker, 'the page runs its engine in a worker');
  await worker.evaluate(() => self.onmessage({ data: { id: 987654321, type: 'testPanic', message: 'page test' } }));
  await page.waitForFunction(() => /restarted and the model reloaded/.test(document.getElementById('gen-status').textContent), null, { timeout: 120_000 });
  assert.match(await page.$eval('#gen-status', (e) => e.textContent), /test panic: page test/);
  // And it goes on: generate again.
  await page.fill('#prompt', 'Name a tool.');
  await page.waitForFunction(() => !document.getElementById('generate').disabled, null, { timeout: 60_000 });
  await page.click('#generate');
  await page.waitForFunction(() => /^Done/.test(document.getElementById('gen-status').textContent), null, { timeout: 120_000 });
  await page.close();
});
