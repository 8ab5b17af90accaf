// A model file is untrusted: the page opens a GGUF of one's own (file input or drop), shows its
// hash, shows every string from it and from the model as text (never HTML), reports a bad file
// clearly and stays usable, and runs under the served Content-Security-Policy without a violation.
//
// Uses target/crafted/ (written by `cargo run --release --example write_crafted`):
// xss.gguf is a tiny llama whose general.name, vocabulary and greedy output are HTML.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { launch, openPage, waitForModel, BASE_URL } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = `${process.env.CARGO_TARGET_DIR ?? `${ROOT}target`}/crafted`;
if (!existsSync(`${DIR}/xss.gguf`)) throw new Error(`${DIR}/xss.gguf is missing: run cargo run --release --example write_crafted`);
const CASES = JSON.parse(readFileSync(`${DIR}/cases.json`, 'utf8'));
const IMG = '<img src=x onerror=window.__xss=1>';
const SCRIPT = '<script>window.__xss=2</script>';

let browser, page;

// Everything the page shows that could have become markup: <img src=x> or a <script> from the
// model, in the document or any shadow root; and whether any of it ran.
function scanForInjection() {
  const roots = [document];
  for (let i = 0; i < roots.length; i++) {
    for (const e of roots[i].querySelectorAll('*')) if (e.shadowRoot) roots.push(e.shadowRoot);
  }
  let imgs = 0, scripts = 0;
  for (const r of roots) {
    imgs += r.querySelectorAll('img[src="x"]').length;
    scripts += [...r.querySelectorAll('script')].filter((s) => s.textContent.includes('__xss')).length;
  }
  return { imgs, scripts, ran: window.__xss ?? null, csp: window.__csp ?? [] };
}

async function loadFile(path) {
  await page.setInputFiles('#file-input', path);
  await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading', null, { timeout: 10_000 }).catch(() => {});
  await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('loader').dataset.state), null, { timeout: 60_000 });
}

before(async () => {
  browser = await launch();
  await browser.context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  page = await openPage(browser.context, '');
  await waitForModel(page);
});

after(async () => browser?.close());

test('the page is served with a CSP that forbids inline script and eval', async () => {
  const res = await fetch(BASE_URL);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
  assert.match(csp, /object-src 'none'/);
  for (const path of ['app.js', 'worker.js', 'engine.js']) {
    const r = await fetch(new URL(path, BASE_URL));
    assert.ok(r.headers.get('content-security-policy'), `${path} carries the CSP too`);
  }
  assert.deepEqual(await page.evaluate(() => window.__csp), [], 'loading the real model raised no CSP violation');
});

test('a GGUF whose name, vocabulary and output are HTML is shown literally and runs nothing', async () => {
  const path = `${DIR}/xss.gguf`;
  await loadFile(path);
  assert.equal(await page.$eval('#loader', (e) => e.dataset.state), 'done', await page.$eval('#load-error', (e) => e.textContent));
  // The hash of the file is shown.
  const sha = createHash('sha256').update(readFileSync(path)).digest('hex');
  assert.match(await page.textContent('#file-hash'), new RegExp(`xss\\.gguf · .* · sha256 ${sha}$`));
  assert.match(await page.textContent('#model-chip'), /^xss\.gguf · your file$/);
  // general.name, as text.
  assert.ok((await page.textContent('#file-lede')).startsWith(`<img src=x onerror="window.__xss='name'"><script>window.__xss='name-script'</script>`));
  assert.ok((await page.textContent('#metadata')).includes("<script>window.__xss='name-script'</script>"));
  // The model's output, as text.
  await page.click('#tab-inference');
  await page.fill('#prompt', 'hi');
  await page.fill('#max-tokens', '4');
  await page.$eval('#temperature', (e) => { e.value = '0'; for (const t of ['input', 'change']) e.dispatchEvent(new Event(t, { bubbles: true })); });
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout: 60_000 });
  const answer = await page.$eval('#answer', (e) => e.tokens.map((t) => t.text).join(''));
  assert.equal(answer, (IMG + SCRIPT).repeat(2));
  const shown = (await page.locator('#answer .tok').allTextContents()).join('');
  assert.ok(shown.includes('onerror=window.__xss=1>') && shown.includes(SCRIPT), `a person sees the markup as text: ${shown}`);
  // Open the inspector on a token: its alternatives are the HTML pieces, as text.
  await page.locator('#answer .tok[data-index="0"]').click();
  await page.waitForFunction(() => document.getElementById('inspector').dataset.pos === '0', null, { timeout: 10_000 });
  const alts = (await page.locator('#alts button').allTextContents()).join(' ');
  assert.ok(alts.includes('<img·src=x·onerror=window.__xss=1>'), `the alternatives show the markup as text: ${alts}`);
  // The tokenizer view of the same text.
  await page.click('#tab-tokenizer');
  await page.fill('#tok-input', IMG + SCRIPT).catch(() => {});
  await page.waitForTimeout(500);
  const scan = await page.evaluate(scanForInjection);
  assert.deepEqual(scan, { imgs: 0, scripts: 0, ran: null, csp: [] });
  assert.deepEqual(page.problems, []);
});

test('a bad file of ones own says exactly why, and the page recovers', async () => {
  const mamba = CASES.find((c) => c.name === 'architecture mamba');
  await loadFile(`${DIR}/${mamba.file}`);
  assert.equal(await page.$eval('#loader', (e) => e.dataset.state), 'error');
  const msg = await page.textContent('#load-error');
  // The engine's kind ("unsupported") starts its message, so the page says it once.
  assert.match(msg, /^unsupported: architecture "mamba"; this engine runs "llama"/);
  assert.equal(await page.$eval('#generate', (b) => b.disabled), true, 'nothing to generate with');

  const nan = CASES.find((c) => c.name === 'NaN scale (Q4_1 d)');
  await loadFile(`${DIR}/${nan.file}`);
  assert.match(await page.textContent('#load-error'), /tensor blk\.1\.attn_q\.weight \(Q4_1\) has an infinite or NaN scale in block 3/);

  await loadFile(`${DIR}/tiny.gguf`);
  assert.equal(await page.$eval('#loader', (e) => e.dataset.state), 'done');
  assert.equal(await page.$eval('#load-error', (e) => e.hidden), true);
  await page.click('#tab-inference');
  await page.fill('#prompt', 'the');
  await page.fill('#max-tokens', '3');
  await page.click('#generate');
  await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout: 60_000 });
  assert.ok(await page.$eval('#answer', (e) => e.tokens.length) >= 1);
  assert.deepEqual(await page.evaluate(() => window.__csp), []);
  assert.deepEqual(page.problems, []);
});
