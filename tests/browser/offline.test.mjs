// Offline and verified weights, in a headless browser on the real model:
//   node --test tests/browser/offline.test.mjs
//   PLUMBING_BROWSER=firefox node --test tests/browser/offline.test.mjs      (the same in Firefox)
// In Firefox (WebDriver BiDi) "offline" is emulation.setNetworkConditions {type: "offline"} per tab
// (puppeteer's setOfflineMode), and the server is stopped as in Chromium. BiDi does not say whether
// a response came from the service worker, so there the proof is: with the server gone and the tab
// offline, every request got a response and none failed. The quota test needs CDP: Chromium only.
// - Offline: a dist/ built by scripts/dist.sh into a temp dir, served by its own `plumbing serve`:
//   visit, generate, go offline (and stop the server), reload, generate again: for the page and
//   the blog example. No request may reach the network once offline.
// - A tampered model (one byte changed, the real manifest) is refused with both hashes; the page
//   and the widget stay usable; nothing is cached.
// - A download cut midway is not cached; the next visit downloads again and succeeds.
// - A full storage quota is said plainly (the model still runs, it is just not kept).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, waitForModel, readWidget, waitWidget, clickRun, named, FIREFOX } from './lib.mjs';
import { startPlumbing, startStatic, buildDist, tamperedSite, WWW, MODEL } from './servers.mjs';

const MODEL_CACHE = 'plumbing-models-v1';

/** The model entries in Cache Storage of the page's origin: [{url, sha256}] */
const cachedModels = (page) => page.evaluate(async (name) => {
  const c = await caches.open(name);
  return Promise.all((await c.keys()).map(async (r) => ({ url: r.url, sha256: (await c.match(r)).headers.get('x-plumbing-sha256') })));
}, MODEL_CACHE);

/** Waits until a service worker controls the page and the model is in Cache Storage. */
async function waitOfflineReady(page) {
  await page.waitForFunction(() => !!navigator.serviceWorker?.controller, null, { timeout: 60_000 });
  for (let i = 0; i < 300; i++) {
    if ((await cachedModels(page)).length) return;
    await page.waitForTimeout(100);
  }
  throw new Error('the model never reached Cache Storage');
}

/** Records requests and failures from the moment it is called. */
function watchNetwork(context) {
  const log = { requests: [], failed: [] };
  const onReq = (r) => log.requests.push(r);
  const onFail = (r) => log.failed.push(`${r.url()} ${r.failure()?.errorText}`);
  context.on('request', onReq);
  context.on('requestfailed', onFail);
  log.stop = () => { context.off('request', onReq); context.off('requestfailed', onFail); };
  return log;
}

/**
 * Every request answered without the network: by the service worker, or a blob:/data: URL.
 * (Firefox: answered at all, the server being stopped and the tab offline; see the top.)
 */
async function assertNoNetwork(log) {
  const leaked = [];
  for (const r of log.requests) {
    const url = r.url();
    if (url.startsWith('blob:') || url.startsWith('data:')) continue;
    const res = await r.response();
    if (FIREFOX ? !res : !res?.fromServiceWorker()) leaked.push(url);
  }
  assert.deepEqual(log.failed, [], 'no request failed');
  assert.deepEqual(leaked, [], 'every request was answered by the service worker');
}

/** Generates on the page (Inference tab) and returns the answer's text. */
async function generateOnPage(page) {
  await page.click('#tab-inference');
  await page.fill('#max-tokens', '24');
  await page.click('#generate');
  await page.waitForFunction(() => /^Done/.test(document.getElementById('gen-status')?.textContent ?? ''), null, { timeout: 120_000 });
  return page.$eval('#answer', (e) => e.tokens.map((t) => t.text).join(''));
}

describe(named('offline, from a dist/ built by scripts/dist.sh'), { timeout: 900_000 }, () => {
  let dist;
  before(() => { dist = buildDist(); });
  after(() => dist?.cleanup());

  for (const isolation of [true]) {
    it('the page: visit, generate, offline, reload, generate again', async () => {
      const server = await startPlumbing({ dir: dist.dir, isolation });
      const browser = await launch();
      try {
        const page = await browser.context.newPage();
        await page.goto(server.url);
        await waitForModel(page);
        assert.ok((await generateOnPage(page)).length > 0);
        await waitOfflineReady(page);
        const version = await page.evaluate(() => new Promise((r) => {
          navigator.serviceWorker.addEventListener('message', (e) => r(e.data.version), { once: true });
          navigator.serviceWorker.controller.postMessage('version');
        }));
        assert.equal(version, dist.version, 'the service worker is the stamped build');
        assert.ok((await page.evaluate(() => caches.keys())).includes(`plumbing-shell-${dist.version}`));

        await browser.context.setOffline(true);
        await server.stop(); // and nothing to reach even if something tried
        const log = watchNetwork(browser.context);
        await page.reload();
        await waitForModel(page);
        assert.match(await page.getAttribute('#progress', 'label'), /from this device's cache/);
        assert.ok((await generateOnPage(page)).length > 0, 'generated offline');
        log.stop();
        assert.ok(log.requests.length > 10, 'the reload did load the shell');
        await assertNoNetwork(log);
      } finally {
        await browser.close();
        await server.stop();
      }
    });
  }

  it('the blog example: click, offline, reload, the widget says cached and runs', async () => {
    const server = await startPlumbing({ dir: dist.dir });
    const browser = await launch({ viewport: { width: 1000, height: 900 } });
    try {
      const page = await browser.context.newPage();
      await page.goto(new URL('blog-example.html', server.url).href);
      const first = page.locator('#first');
      await clickRun(first);
      assert.equal((await waitWidget(first)).state, 'done');
      await waitOfflineReady(page);

      await browser.context.setOffline(true);
      await server.stop();
      const log = watchNetwork(browser.context);
      await page.reload();
      for (let i = 0; i < 50 && !/Cached/.test((await readWidget(first)).status); i++) await page.waitForTimeout(100);
      assert.match((await readWidget(first)).status, /Cached on this device: starts at once/);
      await clickRun(first);
      const w = await waitWidget(first);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 0);
      const embed = page.frameLocator('iframe.embed').locator('plumbing-chat');
      await clickRun(embed);
      assert.equal((await waitWidget(embed)).state, 'done', 'the iframe embed runs offline too');
      log.stop();
      await assertNoNetwork(log);
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});

describe(named('verified weights'), { timeout: 600_000 }, () => {
  let site, server, browser;
  before(async () => {
    site = tamperedSite();
    server = await startPlumbing({ dir: site.dir });
    browser = await launch();
  });
  after(async () => { await browser?.close(); await server?.stop(); site?.cleanup(); });

  it('the page refuses a tampered model with both hashes and stays usable', async () => {
    const page = await browser.context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await assert.rejects(waitForModel(page), /model did not load/);
    const msg = await page.$eval('#load-error', (e) => e.textContent);
    assert.match(msg, /\[hash\]/);
    assert.match(msg, new RegExp(`the manifest expects ${MODEL.sha256}`));
    const got = /sha256 of \S+ is ([0-9a-f]{64})/.exec(msg)?.[1];
    assert.ok(got && got !== MODEL.sha256, `the computed hash is shown: ${msg}`);
    assert.equal(await page.isVisible('#load-retry'), true, 'the page offers to try again');
    await page.click('#tab-open');
    assert.equal(await page.getAttribute('#tab-open', 'aria-selected'), 'true', 'tabs still work');
    assert.deepEqual(await cachedModels(page), [], 'nothing was cached');
    // Firefox reports the cache.put the worker refuses on purpose (its body stream errors, so the
    // entry is never committed) on the console as an error of its own, although the worker handles
    // that rejection (www/worker.js keepInCache): a four-line page with a handled put does the same.
    const firefoxOwn = /^Failed to read data from the ReadableStream: “(AbortError|Error: the download was not verified)/;
    assert.deepEqual(errors.filter((e) => !(FIREFOX && firefoxOwn.test(e))), []);
  });

  it('the widget refuses it too, shows both hashes, and can be tried again', async () => {
    const page = await browser.context.newPage();
    await page.goto(new URL('blog-example.html', server.url).href);
    const first = page.locator('#first');
    await clickRun(first);
    const w = await waitWidget(first);
    assert.equal(w.state, 'error');
    assert.match(w.error, /^Refused: this file is not the one the manifest names\./);
    assert.match(w.error, new RegExp(`the manifest expects ${MODEL.sha256}`));
    assert.match(w.error, /is [0-9a-f]{64}, the manifest expects/);
    assert.equal(await first.locator('button.run').isEnabled(), true);
    assert.deepEqual(await cachedModels(page), []);
  });
});

describe(named('a download cut midway'), { timeout: 600_000 }, () => {
  it('is not cached: the next visit downloads again and succeeds', async () => {
    const cut = await startStatic(WWW, { cutAfter: 40_000_000 });
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      await page.goto(new URL('blog-example.html', cut.url).href);
      const first = page.locator('#first');
      await clickRun(first);
      const w = await waitWidget(first);
      assert.equal(w.state, 'error');
      assert.match(w.error, /Could not download the model\./);
      assert.match(w.error, /broke at byte|ended at byte/);
      await page.waitForTimeout(500);
      assert.deepEqual(await cachedModels(page), [], 'no broken cache entry');
      const keys = await page.evaluate(async (name) => (await (await caches.open(name)).keys()).length, MODEL_CACHE);
      assert.equal(keys, 0);

      // The same origin again, now serving the whole file: the widget downloads it again.
      cut.options.cutAfter = null;
      const before = cut.requests.filter((p) => p.endsWith('.gguf')).length;
      await page.reload();
      const again = page.locator('#first');
      for (let i = 0; i < 50 && !/Downloads/.test((await readWidget(again)).status); i++) await page.waitForTimeout(100);
      assert.match((await readWidget(again)).status, /Downloads 98\.4 MB once/, 'not "cached"');
      await clickRun(again);
      assert.equal((await waitWidget(again)).state, 'done');
      assert.equal(cut.requests.filter((p) => p.endsWith('.gguf')).length, before + 1, 'downloaded again');
      assert.equal((await cachedModels(page))[0]?.sha256, MODEL.sha256, 'now kept, verified');
    } finally {
      await browser.close();
      await cut.stop();
    }
  });
});

describe(named('a full storage quota'), { timeout: 600_000, skip: FIREFOX && 'needs CDP (Storage.overrideQuotaForOrigin): Chromium only' }, () => {
  it('is reported plainly; the model still runs, and nothing is kept', async () => {
    const server = await startPlumbing({ dir: WWW, isolation: false });
    const browser = await launch();
    try {
      const page = await browser.context.newPage();
      const cdp = await browser.context.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(server.url).origin, quotaSize: 20 * 1024 * 1024 });
      await page.goto(new URL('blog-example.html', server.url).href);
      const first = page.locator('#first');
      await clickRun(first);
      const w = await waitWidget(first);
      assert.equal(w.state, 'done', w.error);
      // Either the quota check before the download or put() itself says it: plainly, with the size.
      assert.match(w.note, /^Not kept for offline use: storage is full: .*98\.4 MB.*will download again next time\.$/);
      assert.deepEqual(await cachedModels(page), []);
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
