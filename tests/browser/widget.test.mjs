// <plumbing-chat>, driven in a headless browser on the real model:
//   node --test tests/browser/widget.test.mjs      (server at PLUMBING_URL, default :8080, www/)
//   PLUMBING_BROWSER=firefox node --test tests/browser/widget.test.mjs      (the same in Firefox)
// The blog example (lazy, streaming, one model for every widget, the queue, Stop, "see inside"),
// the iframe embed, a server without COOP/COEP, and the README snippet on a page of another
// origin. Extra servers are started here on free ports and stopped at the end.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, serverUp, BASE_URL, readWidget, waitWidget, clickRun, named } from './lib.mjs';
import { startPlumbing, startStatic, WWW, MODEL } from './servers.mjs';

const HEAVY = /\.gguf$|\.wasm$|\/pkg[^/]*\/|\/worker\.js$|\/sw\.js$/;
const isModel = (u) => u.endsWith('.gguf');

/** Records every request of the browser context (pages, frames, workers): [{url, at}] */
function recordRequests(context) {
  const seen = [];
  context.on('request', (r) => seen.push({ url: r.url(), at: Date.now() }));
  return seen;
}

/** Waits until every widget of the page (and of its iframes) has read its manifest. */
async function waitDescribed(page, frames = []) {
  for (const scope of [page, ...frames]) {
    const chats = scope.locator('plumbing-chat');
    const n = await chats.count();
    for (let i = 0; i < n; i++) {
      await assert.doesNotReject(async () => {
        for (let k = 0; k < 100 && !/MB/.test((await readWidget(chats.nth(i))).meta); k++) await page.waitForTimeout(100);
      });
      assert.match((await readWidget(chats.nth(i))).meta, /MB/, 'the widget shows the model size');
    }
  }
}

describe(named('the <plumbing-chat> widget'), { timeout: 900_000 }, () => {
  before(async () => {
    if (!(await serverUp())) throw new Error(`no server at ${BASE_URL}: start it with ./build.sh serve (or set PLUMBING_URL)`);
  });

  describe('the blog example', () => {
    let browser, page, requests;
    before(async () => {
      browser = await launch({ viewport: { width: 1100, height: 1000 } });
      requests = recordRequests(browser.context);
      page = await openPage(browser.context, 'blog-example.html');
    });
    after(async () => { await browser?.close(); });

    it('downloads nothing heavy until a widget is clicked, and says what a click costs', async () => {
      const frame = page.frameLocator('iframe.embed');
      await waitDescribed(page, [frame]);
      await page.waitForTimeout(800);
      const heavy = requests.filter((r) => HEAVY.test(new URL(r.url).pathname));
      assert.deepEqual(heavy, [], 'no model, wasm, worker or service worker before a click');
      assert.equal(page.workers().length, 0, 'no worker started');
      const w = await readWidget(page.locator('#first'));
      assert.equal(w.state, 'idle');
      assert.equal(w.model, MODEL.name);
      assert.match(w.meta, /Apache-2\.0/);
      assert.match(w.meta, /98\.4 MB/);
      assert.match(w.status, /Downloads 98\.4 MB once \(checked by sha256\)/);
      assert.equal(w.answer, '');
      assert.deepEqual(page.problems, []);
    });

    it('one click downloads the model once and streams an answer, with Stop and tok/s', async () => {
      const first = page.locator('#first');
      await clickRun(first);
      // The answer grows while the widget runs: sample it.
      const lengths = new Set();
      let sawStop = false;
      for (let i = 0; i < 3000; i++) {
        const w = await readWidget(first);
        if (w.state === 'running') { lengths.add(w.answer.length); sawStop ||= w.running; }
        if (w.state === 'done' || w.state === 'error') break;
        await page.waitForTimeout(20);
      }
      const w = await waitWidget(first);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 10, `an answer: ${JSON.stringify(w.answer)}`);
      assert.ok([...lengths].filter((n) => n > 0).length >= 3, `the answer streamed (lengths seen ${[...lengths]})`);
      assert.ok(sawStop, 'Stop was offered while it ran');
      assert.match(w.stats, /^\d+ tokens · \d+\.\d tok\/s/);
      assert.match(w.status, /^Done/);
      assert.equal(requests.filter((r) => isModel(r.url)).length, 1, 'the model was downloaded once');
      assert.deepEqual(page.problems, []);
    });

    it('a second widget runs at once on the same model: no second download, no new worker', async () => {
      const workers = page.workers().length;
      const second = page.locator('#second');
      assert.match((await readWidget(second)).status, /Loaded on this page/);
      await clickRun(second);
      const w = await waitWidget(second);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 0);
      assert.equal(requests.filter((r) => isModel(r.url)).length, 1, 'still one model download');
      assert.equal(page.workers().length, workers, 'the same worker');
    });

    it('a second run while one runs is queued, and says so; both finish', async () => {
      const first = page.locator('#first'), second = page.locator('#second');
      await clickRun(first);
      await waitWidget(first, ['running']);
      await clickRun(second);
      const q = await readWidget(second);
      assert.equal(q.state, 'queued');
      assert.match(q.status, /Queued: waits for another widget on this page to finish/);
      const a = await waitWidget(first), b = await waitWidget(second);
      assert.equal(a.state, 'done');
      assert.equal(b.state, 'done');
      assert.ok(b.answer.trim().length > 0, 'the queued run ran after the first');
    });

    it('Stop ends a run; Stop on a queued run cancels it before it starts', async () => {
      const first = page.locator('#first'), second = page.locator('#second');
      // A run long enough to be stopped: the page's own prompt asks for two sentences, which a fast
      // build finishes before the clicks below reach it.
      const prompt = await first.getAttribute('prompt');
      await first.evaluate((el) => {
        el.setAttribute('max-tokens', '400');
        el.setAttribute('prompt', 'Write a long story about a plumber who fixes the pipes of a whole city, chapter by chapter.');
      });
      await clickRun(first);
      await waitWidget(first, ['running']);
      await clickRun(second);
      assert.equal((await readWidget(second)).state, 'queued');
      await second.locator('button.stop').click();
      await page.waitForTimeout(300);
      await first.locator('button.stop').click();
      const a = await waitWidget(first), b = await waitWidget(second);
      assert.equal(a.status, 'Stopped.');
      assert.equal(b.status, 'Cancelled before it started.');
      assert.equal(b.answer, '');
      assert.ok(a.answer.trim().length > 0, 'the stopped run keeps what it wrote');
      await first.evaluate((el, p) => { el.removeAttribute('max-tokens'); el.setAttribute('prompt', p); }, prompt);
    });

    it('"See inside" opens the full page with the same prompt', async () => {
      const w = await readWidget(page.locator('#first'));
      const url = new URL(w.link);
      assert.equal(url.pathname.replace(/.*\//, ''), 'index.html');
      assert.equal(url.searchParams.get('prompt'), 'What is a pipe wrench for? Answer in two sentences.');
      assert.equal(url.hash, '#inference');
      const inside = await browser.context.newPage();
      await inside.goto(w.link);
      assert.equal(await inside.inputValue('#prompt'), 'What is a pipe wrench for? Answer in two sentences.');
      assert.equal(await inside.getAttribute('#tab-inference', 'aria-selected'), 'true');
      await inside.close();
    });

    it('the iframe embed runs from the cached model: no second download', async () => {
      const embed = page.frameLocator('iframe.embed').locator('plumbing-chat');
      assert.match((await readWidget(embed)).status, /Cached on this device/);
      await clickRun(embed);
      const w = await waitWidget(embed);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 0);
      assert.equal(requests.filter((r) => isModel(r.url)).length, 1, 'the embed read the verified copy from Cache Storage');
      assert.deepEqual(page.problems, []);
    });
  });

  describe('without cross-origin isolation', () => {
    let server, browser;
    before(async () => {
      server = await startPlumbing({ dir: WWW, isolation: false });
      browser = await launch({ viewport: { width: 900, height: 1000 } });
    });
    after(async () => { await browser?.close(); await server?.stop(); });

    it('the widget and the iframe embed work on a page with no COOP/COEP', async () => {
      const page = await browser.context.newPage();
      page.problems = [];
      page.on('pageerror', (e) => page.problems.push(e.message));
      const res = await page.goto(new URL('blog-example.html', server.url).href);
      assert.equal(res.headers()['cross-origin-embedder-policy'], undefined);
      assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), false);
      const first = page.locator('#first');
      await clickRun(first);
      const w = await waitWidget(first);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 10);
      const embed = page.frameLocator('iframe.embed').locator('plumbing-chat');
      await clickRun(embed);
      const e = await waitWidget(embed);
      assert.equal(e.state, 'done', e.error);
      assert.ok(e.answer.trim().length > 0);
      assert.deepEqual(page.problems, []);
    });

    it('embed.html on its own takes the options as URL parameters', async () => {
      const page = await browser.context.newPage();
      await page.goto(new URL('embed.html?prompt=Say%20hi&max-tokens=5&seed=7&temperature=0&theme=dark&compact', server.url).href);
      const chat = page.locator('plumbing-chat');
      const attrs = await chat.evaluate((el) => ({
        prompt: el.prompt, max: el.maxTokens, seed: el.seed, t: el.temperature, theme: el.theme, compact: el.compact, autorun: el.autorun,
      }));
      assert.deepEqual(attrs, { prompt: 'Say hi', max: 5, seed: 7, t: 0, theme: 'dark', compact: true, autorun: false });
      await clickRun(chat);
      const w = await waitWidget(chat);
      assert.equal(w.state, 'done', w.error);
      assert.match(w.stats, /^[1-5] tokens/);
    });
  });

  describe('the README snippet on a page of another origin', () => {
    let host, blog, browser;
    before(async () => {
      host = await startStatic(WWW, { cors: true });       // where widget.js lives (a static host with CORS)
      blog = await startStatic(WWW, {                        // someone's blog: no CSP, no COOP/COEP
        routes: {
          '/post.html': `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>my post</title><h1>My post</h1>
<script type="module" src="${host.url}widget.js"></script>
<plumbing-chat prompt="What is a pipe wrench for?" max-tokens="40"></plumbing-chat>`,
        },
      });
      browser = await launch({ viewport: { width: 900, height: 800 } });
    });
    after(async () => { await browser?.close(); await blog?.stop(); await host?.stop(); });

    it('loads everything from the widget\'s host and runs', async () => {
      const page = await browser.context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
      await page.goto(new URL('post.html', blog.url).href);
      const chat = page.locator('plumbing-chat');
      await waitDescribed(page);
      await clickRun(chat);
      const w = await waitWidget(chat);
      assert.equal(w.state, 'done', w.error);
      assert.ok(w.answer.trim().length > 0);
      assert.ok(page.workers()[0]?.url().startsWith('blob:'), 'the worker started from a blob: URL');
      assert.ok(host.requests.includes(`/models/${MODEL.file}`), 'the model came from the widget\'s host');
      assert.ok(host.requests.some((r) => /^\/pkg(-relaxed)?\/plumbing_bg\.wasm$/.test(r)), host.requests.join(' '));
      assert.deepEqual(blog.requests.filter((p) => p !== '/post.html' && p !== '/favicon.ico'), [], 'nothing was asked of the blog\'s host');
      assert.ok(w.link.startsWith(host.url), 'See inside points at the widget\'s host');
      assert.deepEqual(problems, []);
    });
  });
});
