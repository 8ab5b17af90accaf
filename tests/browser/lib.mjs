// Shared helpers for the browser tests: start a headless browser with a fresh profile and open
// pages of the running server. PLUMBING_BROWSER picks it:
// - chromium (the default): the system's Chromium via playwright-core; `context` is Playwright's.
// - firefox: Debian's firefox-esr via puppeteer-core over WebDriver BiDi (no browser download);
//   `context` is a thin shim (below) with the part of Playwright's API that the engine, page,
//   widget and offline tests use, so that one test file runs in both.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const BASE_URL = process.env.PLUMBING_URL ?? 'http://127.0.0.1:8080/';

/** Which browser these tests drive: 'chromium' or 'firefox'. Test names carry it (`named`). */
export const BROWSER = process.env.PLUMBING_BROWSER ?? 'chromium';
if (!['chromium', 'firefox'].includes(BROWSER)) throw new Error(`PLUMBING_BROWSER=${BROWSER}: use chromium or firefox`);
export const FIREFOX = BROWSER === 'firefox';
/** A test or suite name that says which browser ran it: "the page [firefox]". */
export const named = (name) => `${name} [${BROWSER}]`;

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const CHROMIUM = CANDIDATES.find((p) => p && existsSync(p));
export const FIREFOX_PATH = [process.env.FIREFOX_PATH, '/usr/bin/firefox-esr'].find((p) => p && existsSync(p));

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Starts the browser (PLUMBING_BROWSER) with a fresh profile. Returns {context, close()}.
 * options: {browser, viewport, colorScheme, deviceScaleFactor, firefoxPrefs: about:config prefs (Firefox only)}
 */
export async function launch(options = {}) {
  // options.browser ('chromium' | 'firefox') overrides PLUMBING_BROWSER (the bench runs both).
  if (options.browser ? options.browser === 'firefox' : FIREFOX) return launchFirefox(options);
  const { viewport = { width: 1400, height: 900 }, colorScheme = 'light', deviceScaleFactor = 1 } = options;
  if (!CHROMIUM) throw new Error('no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
  const dir = mkdtempSync(join(tmpdir(), 'plumbing-chromium-'));
  const { chromium } = require('../node_modules/playwright-core');
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport,
    colorScheme,
    deviceScaleFactor,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Opens a page and records what went wrong on it: console errors, uncaught exceptions, CSP
 * violations and failed requests, in page.problems.
 */
export async function openPage(context, path = '', { wait = 'load' } = {}) {
  const page = context.pages()[0] ?? (await context.newPage());
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => page.problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(new URL(path, BASE_URL).href, { waitUntil: wait });
  return page;
}

/** Waits until the page says the model is loaded (or failed: throws with the page's message). */
export async function waitForModel(page, timeout = 180_000) {
  try {
    await page.waitForFunction(() => {
      const s = document.getElementById('loader')?.dataset.state;
      return s === 'done' || s === 'error';
    }, null, { timeout, polling: 250 });
  } catch (e) {
    // Say where the load stood, so that a timeout in CI can be told apart from a slow machine.
    throw new Error(`${e.message}; the page then: ${await loadState(page)}; problems: ${JSON.stringify(page.problems ?? [])}`);
  }
  const st = await page.$eval('#loader', (e) => e.dataset.state);
  if (st !== 'done') throw new Error(`model did not load: ${await page.$eval('#load-error', (e) => e.textContent)}`);
}

/** What the loader shows (state, bar, each phase, error, build line), as one line. */
export async function loadState(page) {
  try {
    return await page.evaluate(() => {
      const $ = (id) => document.getElementById(id);
      const bar = $('progress');
      const phases = [...document.querySelectorAll('#phases li')].map((l) => `${l.dataset.phase}=${l.dataset.state}`);
      return JSON.stringify({
        loader: $('loader')?.dataset.state, bar: bar?.getAttribute('value'), label: bar?.getAttribute('label'),
        phases, error: $('load-error')?.textContent, build: $('build-info')?.textContent,
        isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency,
      });
    });
  } catch (e) {
    return `(could not read it: ${e.message})`;
  }
}

/** Is the server at BASE_URL answering? */
export async function serverUp() {
  try {
    const r = await fetch(BASE_URL, { signal: AbortSignal.timeout(3000) });
    return r.ok;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- <plumbing-chat> widgets

/** What a <plumbing-chat> (a Locator) shows a person, read from its shadow root. */
export function readWidget(widget) {
  return widget.evaluate((el) => {
    const q = (s) => el.shadowRoot.querySelector(s);
    const t = (s) => q(s)?.textContent ?? '';
    return {
      state: el.state, status: t('.status'), answer: t('.answer'), stats: t('.stats'),
      error: q('.error').hidden ? '' : t('.error'), note: q('.note').hidden ? '' : t('.note'),
      model: t('.model'), meta: t('.meta'), link: q('.link').href,
      running: !q('.stop').hidden,
    };
  });
}

/** Waits until the widget's state is one of `states` (default: done or error). */
export async function waitWidget(widget, states = ['done', 'error'], timeout = 180_000) {
  const t0 = Date.now();
  for (;;) {
    const st = await widget.evaluate((el) => el.state);
    if (states.includes(st)) return readWidget(widget);
    if (Date.now() - t0 > timeout) throw new Error(`widget still "${st}" after ${timeout} ms: ${JSON.stringify(await readWidget(widget))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Clicks the widget's run button as a person would (inside its shadow root). */
export async function clickRun(widget) {
  await widget.locator('button.run').click();
}

// ---------------------------------------------------------------- Firefox (puppeteer-core, WebDriver BiDi)
//
// A thin shim with Playwright's names over puppeteer's BiDi API, for the calls the engine, page,
// widget and offline tests make. Selectors pierce open shadow roots the way Playwright's CSS
// engine does (`#tok-strip .tok` reaches into <pl-tokens>' shadow root); locators wait up to 30 s
// for their element as Playwright's do. What BiDi does not offer is said where it matters:
// responses never say `fromServiceWorker()` (puppeteer's BiDi answer is always false), and there
// is no CDP (`newCDPSession` throws).

const ACTION_TIMEOUT = 30_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function launchFirefox({ viewport = { width: 1400, height: 900 }, colorScheme = 'light', deviceScaleFactor = 1, firefoxPrefs = {} } = {}) {
  if (!FIREFOX_PATH) throw new Error('no Firefox found (apt-get install firefox-esr, or set FIREFOX_PATH)');
  const puppeteer = require('../node_modules/puppeteer-core');
  const dir = mkdtempSync(join(tmpdir(), 'plumbing-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    userDataDir: dir,
    defaultViewport: { ...viewport, deviceScaleFactor },
    protocolTimeout: 600_000,
    // prefers-color-scheme by a pref (puppeteer's emulateMediaFeatures needs CDP): 0 dark, 1 light.
    extraPrefsFirefox: { 'layout.css.prefers-color-scheme.content-override': colorScheme === 'dark' ? 0 : 1, ...firefoxPrefs },
  });
  const context = new FxContext(browser, { ...viewport, deviceScaleFactor });
  for (const raw of await browser.pages()) await context._adopt(raw);
  return {
    context,
    async close() {
      await browser.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Playwright's request, from puppeteer's HTTPRequest. */
const fxRequest = (r) => ({
  url: () => r.url(),
  failure: () => r.failure(),
  response: async () => r.response(),
  raw: r,
});

class FxContext {
  constructor(browser, viewport) {
    this.browser = browser;
    this.viewport = viewport;
    this._pages = [];
    this._listeners = []; // [event, fn] for every page, present and future
    this._initScripts = []; // [fn or source, arg] for every page, present and future
    this._offline = false;
  }

  async _adopt(raw) {
    const page = new FxPage(this, raw);
    this._pages.push(page);
    raw.once('close', () => { this._pages = this._pages.filter((p) => p !== page); });
    await raw.setViewport(this.viewport); // (the tab Firefox starts with does not get defaultViewport)
    for (const [event, fn] of this._listeners) page._attach(event, fn);
    for (const [script, arg] of this._initScripts) await raw.evaluateOnNewDocument(script, arg);
    if (this._offline) await raw.setOfflineMode(true);
    return page;
  }

  pages() { return [...this._pages]; }
  async newPage() { return this._adopt(await this.browser.newPage()); }

  on(event, fn) {
    this._listeners.push([event, fn]);
    for (const p of this._pages) p._attach(event, fn);
  }

  /** Playwright's addInitScript (a function with its argument, a source string or {content}): BiDi's preload scripts. */
  async addInitScript(script, arg) {
    const s = typeof script === 'object' && script?.content != null ? script.content : script;
    this._initScripts.push([s, arg]);
    await Promise.all(this._pages.map((p) => p.raw.evaluateOnNewDocument(s, arg)));
  }

  off(event, fn) {
    this._listeners = this._listeners.filter(([e, f]) => !(e === event && f === fn));
    for (const p of this._pages) p._detach(event, fn);
  }

  /** WebDriver BiDi's emulation.setNetworkConditions {type: offline}, per tab (puppeteer's setOfflineMode). */
  async setOffline(offline) {
    this._offline = offline;
    await Promise.all(this._pages.map((p) => p.raw.setOfflineMode(offline)));
  }

  async newCDPSession() { throw new Error('Firefox over WebDriver BiDi has no CDP session'); }
  async close() { await this.browser.close(); }
}

class FxPage {
  constructor(context, raw) {
    this.context = context;
    this.raw = raw;
    this.keyboard = raw.keyboard;
    this._wrapped = new Map(); // [event, fn] -> the listener given to puppeteer
  }

  _attach(event, fn) {
    const wrap = event === 'request' || event === 'requestfailed' ? (r) => fn(fxRequest(r)) : fn;
    this._wrapped.set(fn, [...(this._wrapped.get(fn) ?? []), [event, wrap]]);
    this.raw.on(event, wrap);
  }

  _detach(event, fn) {
    const list = this._wrapped.get(fn) ?? [];
    for (const [e, w] of list) if (e === event) this.raw.off(e, w);
    this._wrapped.set(fn, list.filter(([e]) => e !== event));
  }

  on(event, fn) { this._attach(event, fn); return this; }
  off(event, fn) { this._detach(event, fn); return this; }

  goto(url, { waitUntil = 'load', timeout = 60_000 } = {}) {
    return this.raw.goto(url, { waitUntil: waitUntil === 'networkidle' ? 'networkidle0' : waitUntil, timeout });
  }

  reload({ waitUntil = 'load', timeout = 60_000 } = {}) { return this.raw.reload({ waitUntil, timeout }); }
  close() { return this.raw.close(); }
  url() { return this.raw.url(); }
  screenshot(opts) { return this.raw.screenshot(opts); }
  waitForTimeout(ms) { return sleep(ms); }
  /** The page's dedicated workers. Firefox 153's BiDi cannot call a function in a worker's realm: evaluate() says so. */
  workers() {
    return this.raw.workers().map((w) => ({
      url: () => w.url(),
      evaluate: (fn, arg) => w.evaluate(fn, arg).catch((e) => {
        throw new Error(`Firefox's WebDriver BiDi cannot evaluate in a worker (${w.url()}): ${String(e.message).split('\n')[0]}`);
      }),
    }));
  }
  evaluate(fn, arg) { return this.raw.evaluate(fn, arg); }

  waitForFunction(fn, arg, { timeout = ACTION_TIMEOUT, polling = 100 } = {}) {
    return this.raw.waitForFunction(fn, { timeout, polling: polling === 'raf' ? 100 : polling }, arg);
  }

  locator(selector) { return new FxLocator(() => this.raw.mainFrame(), [{ selector }]); }
  frameLocator(selector) { return new FxFrameLocator(() => this.raw.mainFrame(), selector); }

  $eval(selector, fn, arg) { return this.locator(selector).evaluate(fn, arg); }
  $$eval(selector, fn, arg) { return this.locator(selector).evaluateAll(fn, arg); }
  click(selector) { return this.locator(selector).click(); }
  fill(selector, value) { return this.locator(selector).fill(value); }
  focus(selector) { return this.locator(selector).focus(); }
  getAttribute(selector, name) { return this.locator(selector).getAttribute(name); }
  textContent(selector) { return this.locator(selector).textContent(); }
  inputValue(selector) { return this.locator(selector).inputValue(); }
  isVisible(selector) { return this.locator(selector).isVisible(); }
  async isHidden(selector) { return !(await this.locator(selector).isVisible()); }
  isEnabled(selector) { return this.locator(selector).isEnabled(); }
  isChecked(selector) { return this.locator(selector).isChecked(); }
  check(selector) { return this.locator(selector).setChecked(true); }
  uncheck(selector) { return this.locator(selector).setChecked(false); }
  selectOption(selector, value) { return this.locator(selector).selectOption(value); }
  setInputFiles(selector, path) { return this.locator(selector).setInputFiles(path); }
}

/**
 * Runs in the page: the elements a chain of selectors reaches, each step searching inside the
 * elements of the one before, through open shadow roots. A step is {selector, nth}; with `all`
 * the last step's elements, else the first (or the nth).
 */
function deepQuery(chain, all) {
  const scopes = (root) => {
    const out = [root];
    if (root.shadowRoot) out.push(...scopes(root.shadowRoot));
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) out.push(...scopes(el.shadowRoot));
    return out;
  };
  // Top-level pieces of a selector: by commas (alternatives) or by descendant spaces.
  const split = (sel, sep) => {
    const parts = [];
    let depth = 0, quote = null, cur = '';
    for (const ch of sel) {
      if (quote) { if (ch === quote) quote = null; cur += ch; continue; }
      if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '[' || ch === '(') depth++;
      else if (ch === ']' || ch === ')') depth--;
      else if (ch === sep && depth === 0) { parts.push(cur.trim()); cur = ''; continue; }
      cur += ch;
    }
    parts.push(cur.trim());
    return parts.filter((p) => p);
  };
  const descendantParts = (sel) => {
    const out = [];
    for (const t of split(sel, ' ')) {
      if (out.length && (/^[>+~]$/.test(t) || /[>+~]$/.test(out[out.length - 1]))) out[out.length - 1] += ` ${t}`;
      else out.push(t);
    }
    return out;
  };
  const deepAll = (root, sel) => {
    const found = new Set();
    const alts = split(sel, ',');
    if (alts.length > 1) {
      for (const a of alts) for (const e of deepAll(root, a)) found.add(e);
      return [...found];
    }
    for (const s of scopes(root)) for (const e of s.querySelectorAll(sel)) found.add(e);
    const parts = descendantParts(sel);
    for (let i = 1; i < parts.length; i++) {
      for (const host of deepAll(root, parts.slice(0, i).join(' '))) {
        if (host.shadowRoot) for (const e of deepAll(host.shadowRoot, parts.slice(i).join(' '))) found.add(e);
      }
    }
    return [...found];
  };
  let roots = [document];
  for (let k = 0; k < chain.length; k++) {
    const { selector, nth } = chain[k];
    let els = [];
    for (const r of roots) els.push(...deepAll(r, selector));
    els = [...new Set(els)];
    if (nth != null) els = els[nth < 0 ? els.length + nth : nth] ? [els[nth < 0 ? els.length + nth : nth]] : [];
    if (k === chain.length - 1) return all ? els : (els[0] ?? null);
    roots = els.slice(0, 1);
    if (!roots.length) return all ? [] : null;
  }
  return null;
}

class FxFrameLocator {
  constructor(frameFn, selector) { this.frameFn = frameFn; this.selector = selector; }

  _frame() {
    return async () => {
      const iframe = await new FxLocator(this.frameFn, [{ selector: this.selector }])._handle();
      const frame = await iframe.contentFrame();
      if (!frame) throw new Error(`${this.selector} has no frame`);
      return frame;
    };
  }

  locator(selector) { return new FxLocator(this._frame(), [{ selector }]); }
}

class FxLocator {
  constructor(frameFn, chain) { this.frameFn = frameFn; this.chain = chain; }

  locator(selector) { return new FxLocator(this.frameFn, [...this.chain, { selector }]); }
  nth(i) {
    const chain = this.chain.map((s) => ({ ...s }));
    chain[chain.length - 1].nth = i;
    return new FxLocator(this.frameFn, chain);
  }
  first() { return this.nth(0); }
  get _what() { return this.chain.map((s) => s.selector + (s.nth != null ? `[nth=${s.nth}]` : '')).join(' >> '); }

  /** The element, waited for up to `timeout` ms (an ElementHandle). */
  async _handle(timeout = ACTION_TIMEOUT) {
    const t0 = Date.now();
    for (;;) {
      const frame = await this.frameFn();
      const h = await frame.evaluateHandle(deepQuery, this.chain, false);
      const el = h.asElement();
      if (el) return el;
      await h.dispose();
      if (Date.now() - t0 > timeout) throw new Error(`no element for ${this._what} after ${timeout} ms`);
      await sleep(100);
    }
  }

  async _all() {
    const frame = await this.frameFn();
    return frame.evaluateHandle(deepQuery, this.chain, true);
  }

  async count() { const h = await this._all(); try { return await h.evaluate((els) => els.length); } finally { await h.dispose(); } }
  async evaluate(fn, arg) { const h = await this._handle(); try { return await h.evaluate(fn, arg); } finally { await h.dispose(); } }
  async evaluateAll(fn, arg) { const h = await this._all(); try { return await h.evaluate(fn, arg); } finally { await h.dispose(); } }
  allTextContents() { return this.evaluateAll((els) => els.map((e) => e.textContent ?? '')); }
  getAttribute(name) { return this.evaluate((e, n) => e.getAttribute(n), name); }
  textContent() { return this.evaluate((e) => e.textContent); }
  inputValue() { return this.evaluate((e) => e.value); }
  isEnabled() { return this.evaluate((e) => !e.disabled && !e.closest('fieldset[disabled]')); }
  focus() { return this.evaluate((e) => e.focus()); }
  isChecked() { return this.evaluate((e) => !!e.checked); }
  async isHidden() { return !(await this.isVisible()); }
  check() { return this.setChecked(true); }
  uncheck() { return this.setChecked(false); }

  /** As Playwright's check/uncheck: click it unless it is already so, then it must be so. */
  async setChecked(on) {
    if ((await this.isChecked()) === on) return;
    await this.click();
    if ((await this.isChecked()) !== on) throw new Error(`${this._what}: still ${on ? 'unchecked' : 'checked'} after a click`);
  }

  async isVisible() {
    const frame = await this.frameFn();
    const h = await frame.evaluateHandle(deepQuery, this.chain, false);
    try {
      return await h.evaluate((e) => {
        if (!e) return false;
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
      });
    } finally { await h.dispose(); }
  }

  /** As Playwright does: wait until the element is visible and enabled, scroll it into view, click its centre. */
  async click() {
    const t0 = Date.now();
    for (;;) {
      const h = await this._handle();
      const ok = await h.evaluate((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden' && !e.disabled;
      });
      if (ok) { try { await h.click(); } finally { await h.dispose(); } return; }
      await h.dispose();
      if (Date.now() - t0 > ACTION_TIMEOUT) throw new Error(`${this._what} is not visible and enabled after ${ACTION_TIMEOUT} ms`);
      await sleep(100);
    }
  }

  /** As Playwright's fill: focus, replace the value, one input event. */
  fill(value) {
    return this.evaluate((e, v) => {
      e.focus();
      e.value = v;
      e.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
    }, String(value));
  }

  async selectOption(value) { const h = await this._handle(); try { await h.select(value); } finally { await h.dispose(); } }
  async setInputFiles(path) { const h = await this._handle(); try { await h.uploadFile(path); } finally { await h.dispose(); } }
}
