// Shared helpers for the browser tests: start headless Chromium (the system's, via
// playwright-core; no browser download) and open pages of the running server.
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require('../node_modules/playwright-core');

export const BASE_URL = process.env.PLUMBING_URL ?? 'http://127.0.0.1:8080/';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
export const CHROMIUM = CANDIDATES.find((p) => p && existsSync(p));

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/**
 * Starts Chromium with a fresh profile. Returns {context, close()}.
 * options: {viewport, colorScheme, offline}
 */
export async function launch({ viewport = { width: 1400, height: 900 }, colorScheme = 'light', deviceScaleFactor = 1 } = {}) {
  if (!CHROMIUM) throw new Error('no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');
  const dir = mkdtempSync(join(tmpdir(), 'plumbing-chromium-'));
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
  await page.waitForFunction(() => {
    const s = document.getElementById('loader')?.dataset.state;
    return s === 'done' || s === 'error';
  }, null, { timeout, polling: 250 });
  const st = await page.$eval('#loader', (e) => e.dataset.state);
  if (st !== 'done') throw new Error(`model did not load: ${await page.$eval('#load-error', (e) => e.textContent)}`);
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

/** What a <plumbing-chat> (a playwright Locator) shows a person, read from its shadow root. */
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
