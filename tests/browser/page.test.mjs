// The page, driven in a headless browser against the running server and the real model.
//   node --test tests/browser/            (server at PLUMBING_URL, default http://127.0.0.1:8080/)
//   PLUMBING_BROWSER=firefox node --test tests/browser/page.test.mjs      (the same in Firefox)
// Golden data comes from the native CLI (target/release/plumbing), so the page and the CLI
// must agree: tensor list, min/max, token ids.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { launch, openPage, waitForModel, serverUp, BASE_URL, BROWSER, FIREFOX, named } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'models/SmolLM2-135M-Instruct.Q4_1.gguf');
const CLI = process.env.PLUMBING_BIN ?? join(ROOT, 'target/release/plumbing');

function cli(...args) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run ./build.sh first`);
  return JSON.parse(execFileSync(CLI, args, { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

// The module www/worker.js probes relaxed SIMD with (RELAXED_PROBE there).
const RELAXED_PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  65, 1, 253, 15, 65, 2, 253, 15, 65, 3, 253, 17, 253, 147, 2, 11];
const relaxedHere = (page) => page.evaluate((b) => WebAssembly.validate(new Uint8Array(b)), RELAXED_PROBE);
const kernelsShown = async (page) => /kernels (\S+)/.exec(await page.textContent('#build-info'))?.[1];

// The ids of the sampled generation of 'streams a generation' (prompt, 24 tokens, seed 7), for
// the fallback build to give the same ones.
let sampledIds = null;

const relClose = (a, b, tol = 1e-4) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-12);

// Reads the tokens of a <pl-tokens> element: [{id, text, prob?}]
const readTokens = (page, id) => page.$eval(`#${id}`, (e) => e.tokens.map((t) => ({ id: t.id, text: t.text, chosen: !!t.chosen })));

// Clicks token i of a <pl-tokens> element (inside its shadow root, as a person would).
async function clickToken(page, id, i) {
  await page.locator(`#${id} .tok[data-index="${i}"]`).click();
}

async function setValue(page, selector, value) {
  await page.fill(selector, String(value));
}

describe(named('the page, on the real model'), { timeout: 600_000 }, () => {
  let browser, page, inspect;

  before(async () => {
    if (!(await serverUp())) {
      throw new Error(`no server at ${BASE_URL}: start it with ./build.sh serve (or set PLUMBING_URL)`);
    }
    inspect = cli('inspect', '--model', MODEL, '--json');
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '');
  });

  after(async () => { await browser?.close(); });

  it('loads the model: the progress bar advances to done', async () => {
    const seen = new Set();
    for (let i = 0; i < 1800; i++) {
      const s = await page.$eval('#progress', (e) => ({ v: Number(e.getAttribute('value') ?? 0), st: e.getAttribute('state') }));
      seen.add(s.v);
      if (s.st === 'done' || s.st === 'error') break;
      await page.waitForTimeout(100);
    }
    await waitForModel(page);
    const bar = await page.$eval('#progress', (e) => ({ v: Number(e.getAttribute('value')), st: e.getAttribute('state'), label: e.getAttribute('label') }));
    assert.equal(bar.st, 'done', bar.label);
    assert.equal(bar.v, 100);
    const intermediate = [...seen].filter((v) => v > 0 && v < 100);
    assert.ok(intermediate.length >= 2, `the bar should move through intermediate values, saw ${[...seen].join(', ')}`);
    const phases = await page.$$eval('#phases li', (lis) => lis.map((l) => [l.dataset.phase, l.dataset.state]));
    assert.deepEqual(phases.filter(([, s]) => s !== 'done'), [], 'every loading phase is done');
    assert.deepEqual(page.problems, [], 'no console errors, CSP violations or failed requests');
  });

  // What each browser gets, measured (Debian's Chromium 156 and firefox-esr 153.8 both validate relaxed SIMD):
  // the page must say the build it runs, and it must be the one this browser can run.
  const KERNELS = { chromium: 'simd128+relaxed', firefox: 'simd128+relaxed' };

  it('says which build it runs: relaxed SIMD exactly where the browser validates it, threads on every core', async () => {
    const relaxed = await relaxedHere(page);
    const info = await page.textContent('#build-info');
    const kernels = await kernelsShown(page);
    assert.equal(kernels, relaxed ? 'simd128+relaxed' : 'simd128', `the page says "${info}"; relaxed SIMD validates: ${relaxed}`);
    assert.equal(kernels, KERNELS[BROWSER], `${BROWSER} runs the ${KERNELS[BROWSER]} build (the page says "${info}")`);
    // Threads (www/threads.js): the threads build on every core where the page is isolated, has
    // SharedArrayBuffer and relaxed SIMD (plumbing serve sends COOP/COEP): both browsers here.
    const env = await page.evaluate(() => ({ coi: crossOriginIsolated, sab: typeof SharedArrayBuffer === 'function', cores: navigator.hardwareConcurrency }));
    assert.ok(env.coi && env.sab, `${BROWSER}: cross-origin isolated ${env.coi}, SharedArrayBuffer ${env.sab}`);
    const n = Math.max(1, env.cores);
    assert.match(info, new RegExp(`kernels \\S+ · ${n} threads?(?! \\()`), `on all ${n} cores, no note`);
    assert.equal(page.workers().filter((w) => /threads-worker\.js$/.test(w.url())).length, n - 1, `${n - 1} helper workers`);
  });

  it('lists all 272 tensors of the file, the same as plumbing inspect', async () => {
    const names = await page.$$eval('tr[data-testid="tensor-row"]', (rows) => rows.map((r) => r.dataset.name));
    assert.equal(names.length, 272);
    assert.equal(inspect.tensors.length, 272);
    assert.deepEqual([...names].sort(), inspect.tensors.map((t) => t.name).sort());
  });

  it('draws blk.0.attn_q.weight: a non-blank heatmap with the min/max of plumbing inspect', async () => {
    const name = 'blk.0.attn_q.weight';
    await page.click(`tr[data-name="${name}"]`);
    await page.waitForFunction((n) => {
      const d = document.getElementById('tensor-detail');
      return d.dataset.state === 'ready' && d.dataset.tensor === n;
    }, name, { timeout: 60_000 });
    const pixels = await page.$eval('#td-heatmap', (e) => {
      const c = e.shadowRoot.querySelector('canvas');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const colours = new Set();
      let opaque = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] === 255) opaque++;
        colours.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
      }
      return { w: c.width, h: c.height, opaque, colours: colours.size };
    });
    assert.ok(pixels.w > 100 && pixels.h > 100, `heatmap is ${pixels.w}×${pixels.h}`);
    assert.equal(pixels.opaque, pixels.w * pixels.h, 'every pixel is painted');
    assert.ok(pixels.colours > 50, `the heatmap has structure (${pixels.colours} colours)`);
    const shown = await page.evaluate(() => ({
      min: Number(document.getElementById('td-min').dataset.value),
      max: Number(document.getElementById('td-max').dataset.value),
    }));
    const golden = inspect.tensors.find((t) => t.name === name);
    assert.ok(relClose(shown.min, golden.min), `min ${shown.min} vs plumbing inspect ${golden.min}`);
    assert.ok(relClose(shown.max, golden.max), `max ${shown.max} vs plumbing inspect ${golden.max}`);
    // The histogram counts every value of the tensor.
    const total = await page.$eval('#td-hist', (e) => e.data.counts.reduce((s, c) => s + c, 0));
    assert.equal(total, golden.n_params);
    // One Q4_1 block: 32 codes in 0..15 and values d × code + m.
    await page.waitForFunction(() => document.querySelectorAll('#block .cell').length === 32);
    const block = await page.$eval('#block', (b) => ({
      d: Number(b.dataset.d), m: Number(b.dataset.m),
      cells: [...b.querySelectorAll('.cell')].map((c) => [Number(c.dataset.code), Number(c.dataset.value)]),
    }));
    for (const [code, value] of block.cells) {
      assert.ok(code >= 0 && code <= 15, `code ${code}`);
      assert.ok(Math.abs(block.d * code + block.m - value) <= 1e-4 * Math.max(1, Math.abs(value)), `${block.d} × ${code} + ${block.m} vs ${value}`);
    }
  });

  it('tokenizes "Hello world" live into the ids of plumbing tokenize', async () => {
    const golden = cli('tokenize', '--model', MODEL, '--text', 'Hello world').ids;
    assert.deepEqual(golden, [19556, 905]);
    await page.click('#tab-tokenizer');
    await setValue(page, '#tok-input', 'Hello world');
    await page.waitForFunction(() => document.getElementById('tok-strip').dataset.ids === '19556,905', null, { timeout: 10_000 })
      .catch(() => {});
    const tokens = await readTokens(page, 'tok-strip');
    assert.deepEqual(tokens.map((t) => t.id), golden);
    assert.deepEqual(tokens.map((t) => t.text), ['Hello', ' world']);
    // What a person sees: the pieces with whitespace made visible, and their ids.
    const seen = await page.locator('#tok-strip .tok').allTextContents();
    assert.deepEqual(seen, ['Hello19556', '·world905']);
    assert.match(await page.textContent('#tok-count'), /^2 tokens/);
    // The chat-templated prompt marks its special tokens.
    const chat = await page.$eval('#tok-chat', (e) => e.tokens.filter((t) => t.special).map((t) => t.text));
    assert.ok(chat.includes('<|im_start|>') && chat.includes('<|im_end|>'), `special tokens: ${chat}`);
    // Selecting a token shows its id, bytes and embedding row.
    await clickToken(page, 'tok-strip', 1);
    await page.waitForFunction(() => document.getElementById('tk-facts').dataset.id === '905');
    const embd = await page.$eval('#tok-embedding, [data-testid="tok-embedding"]', (e) => e.data && { w: e.data.width, lo: e.data.lo, hi: e.data.hi });
    assert.equal(embd.w, inspect.config.n_embd);
    assert.ok(embd.hi > 0);
  });

  it('is usable from the keyboard: tabs, token strip, tensor table', async () => {
    // Token strip: arrows move, Enter selects.
    await page.locator('#tok-strip .tok[data-index="1"]').focus();
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('tk-facts').dataset.id === '19556', null, { timeout: 5000 });
    // Tabs: arrows move between views.
    await page.focus('#tab-tokenizer');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await page.getAttribute('#tab-weights', 'aria-selected'), 'true');
    assert.equal(await page.$eval('#panel-weights', (p) => p.hidden), false);
    assert.equal(await page.$eval('#panel-tokenizer', (p) => p.hidden), true);
    // Tensor table: the selected row is the one tab stop; ArrowDown + Enter selects the next row.
    const rows = await page.$$eval('tr[data-testid="tensor-row"]', (rs) => rs.map((r) => [r.dataset.name, r.tabIndex]));
    const stops = rows.filter(([, t]) => t === 0);
    assert.equal(stops.length, 1, 'one tab stop in the table');
    const i = rows.findIndex(([n]) => n === stops[0][0]);
    await page.focus(`tr[data-name="${stops[0][0]}"]`);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await page.waitForFunction((n) => document.getElementById('tensor-detail').dataset.tensor === n, rows[i + 1][0], { timeout: 30_000 });
  });

  it('streams a generation; every token has alternatives whose probabilities sum to <= 1', async () => {
    await page.click('#tab-inference');
    await setValue(page, '#prompt', 'Name three tools a plumber uses.');
    await setValue(page, '#max-tokens', 24);
    await setValue(page, '#seed', 7);
    const counts = new Set();
    let netDuring = [];
    await page.click('#generate');
    for (let i = 0; i < 1200; i++) {
      const s = await page.evaluate(() => ({
        n: document.getElementById('answer').length,
        st: document.getElementById('answer').dataset.state,
        net: document.getElementById('net').getAttribute('count'),
      }));
      if (s.st === 'running') { counts.add(s.n); netDuring.push(s.net); }
      if (s.st === 'done') break;
      await page.waitForTimeout(25);
    }
    assert.equal(await page.$eval('#answer', (e) => e.dataset.state), 'done');
    const tokens = await readTokens(page, 'answer');
    sampledIds = tokens.map((t) => t.id);
    assert.ok(tokens.length > 3, `${tokens.length} tokens`);
    assert.ok(counts.size >= 3, `tokens arrived one by one (saw counts ${[...counts].join(',')})`);
    assert.ok(netDuring.length > 0 && netDuring.every((c) => c === '0'), `network meter during generation: ${netDuring.join(',')}`);
    for (let i = 0; i < tokens.length; i++) {
      await clickToken(page, 'answer', i);
      await page.waitForFunction((p) => document.getElementById('inspector').dataset.pos === String(p), i);
      const alts = await page.$$eval('#alts button', (bs) => bs.map((b) => ({ id: Number(b.dataset.id), prob: Number(b.dataset.prob), picked: b.classList.contains('picked') })));
      assert.equal(alts.length, 10, `token ${i} shows 10 alternatives`);
      const sum = alts.reduce((s, a) => s + a.prob, 0);
      assert.ok(sum <= 1 + 1e-5, `token ${i}: probabilities sum to ${sum}`);
      assert.ok(alts.every((a) => a.prob >= 0), `token ${i}: probabilities are >= 0`);
      for (let k = 1; k < alts.length; k++) assert.ok(alts[k - 1].prob >= alts[k].prob - 1e-7, `token ${i}: sorted`);
      const picked = alts.find((a) => a.picked);
      if (picked) assert.equal(picked.id, tokens[i].id, `token ${i}: the sampled token is marked`);
    }
  });

  it('shows the attention of the selected token, captured in the forward pass', async () => {
    const fed = await page.$eval('#fed', (e) => e.length);
    await clickToken(page, 'answer', 2);
    // The attention is fetched from the worker: until it arrives the heatmap still shows the
    // previously selected token's (wider) one, so wait for this token's.
    await page.waitForFunction((w) => document.getElementById('attn-heads').data?.width === w && !document.getElementById('attn-box').hidden, fed + 2, { timeout: 10_000 })
      .catch(() => {});
    const a = await page.$eval('#attn-heads', (e) => ({ w: e.data.width, h: e.data.height }));
    assert.equal(a.h, inspect.config.n_head, 'one row per head');
    assert.equal(a.w, fed + 2, 'token 2 was produced by the pass that fed token 1, over prompt + 2 tokens');
  });

  it('continues from a chosen alternative', async () => {
    const before = await readTokens(page, 'answer');
    const pos = 1;
    await clickToken(page, 'answer', pos);
    await page.waitForFunction((p) => document.getElementById('inspector').dataset.pos === String(p), pos);
    const alt = await page.$$eval('#alts button', (bs) => {
      const b = bs.find((x) => !x.classList.contains('picked'));
      return { id: Number(b.dataset.id), rank: Number(b.dataset.rank) };
    });
    await page.click(`#alts button[data-rank="${alt.rank}"]`);
    await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'running', null, { timeout: 5000 }).catch(() => {});
    await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout: 120_000 });
    const afterTokens = await readTokens(page, 'answer');
    assert.equal(afterTokens[0].id, before[0].id, 'tokens before the choice are kept');
    assert.equal(afterTokens[pos].id, alt.id, 'the chosen token is in place');
    assert.ok(afterTokens[pos].chosen, 'and marked as chosen');
    const reason = await page.$eval('#answer', (e) => e.dataset.reason);
    if (reason !== 'eos') assert.ok(afterTokens.length > pos + 1, 'generation continued after it');
    assert.match(await page.textContent('#gen-status'), /^Done/);
  });

  it('Stop ends a generation within a token', async () => {
    await setValue(page, '#max-tokens', 400);
    await setValue(page, '#prompt', 'Write a long story about a plumber who fixes the pipes of a castle.');
    await page.click('#generate');
    await page.waitForFunction(() => document.getElementById('answer').length >= 6, null, { timeout: 60_000 });
    const atStop = await page.evaluate(() => {
      const n = document.getElementById('answer').length;
      document.getElementById('stop').click();
      return { n, t: performance.now() };
    });
    await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout: 10_000 });
    const end = await page.evaluate(() => ({ n: document.getElementById('answer').length, t: performance.now(), reason: document.getElementById('answer').dataset.reason }));
    assert.equal(end.reason, 'aborted');
    assert.ok(end.n - atStop.n <= 2, `${end.n - atStop.n} tokens arrived after Stop (at most the one in flight)`);
    assert.ok(end.t - atStop.t < 2000, `stopped in ${Math.round(end.t - atStop.t)} ms`);
    assert.equal(await page.$eval('#stop', (b) => b.disabled), true);
    assert.ok(end.n < 400);
  });

  it('the network meter reads zero requests since the model loaded', async () => {
    const net = await page.$eval('#net', (e) => e.getAttribute('count'));
    assert.equal(net, '0');
    assert.deepEqual(page.problems, [], 'no console errors, CSP violations or failed requests');
  });
});

// Where relaxed SIMD is missing the page falls back to ./pkg/ and says so. Firefox can be made
// such a browser (about:config javascript.options.wasm_relaxed_simd = false); the two builds
// compute the same numbers, so the same prompt and seed sample the same tokens.
describe(named('the page where relaxed SIMD is missing'), {
  timeout: 300_000, skip: !FIREFOX && 'Firefox only: its pref javascript.options.wasm_relaxed_simd turns relaxed SIMD off',
}, () => {
  it('runs the one-thread SIMD128 build, says so and why, and samples the same tokens as the relaxed build', async () => {
    const browser = await launch({ viewport: { width: 1400, height: 1000 }, firefoxPrefs: { 'javascript.options.wasm_relaxed_simd': false } });
    try {
      const page = await openPage(browser.context, '');
      assert.equal(await relaxedHere(page), false, 'relaxed SIMD is off in this browser');
      await waitForModel(page);
      const info = await page.textContent('#build-info');
      assert.equal(await kernelsShown(page), 'simd128', `the page says "${info}"`);
      assert.match(info, /· one thread: the threads build needs relaxed SIMD, which this browser lacks$/, 'and why one thread');
      await page.click('#tab-inference');
      await setValue(page, '#prompt', 'Name three tools a plumber uses.');
      await setValue(page, '#max-tokens', 24);
      await setValue(page, '#seed', 7);
      await page.click('#generate');
      await page.waitForFunction(() => document.getElementById('answer').dataset.state === 'done', null, { timeout: 120_000 });
      const ids = (await readTokens(page, 'answer')).map((t) => t.id);
      assert.ok(ids.length > 3, `${ids.length} tokens`);
      if (sampledIds) assert.deepEqual(ids, sampledIds, 'the same tokens as the simd128+relaxed build sampled');
      assert.deepEqual(page.problems, [], 'no console errors, CSP violations or failed requests');
    } finally {
      await browser.close();
    }
  });
});

// The block view of a K-quant file: models/quants/ (scripts/quants.sh makes it with llama.cpp's
// quantizer), loaded into the page as a file of one's own. The super-block's d and dmin, the
// sub-blocks' scales and minimums, and each code must give back the value shown beside it with
// ggml's own f32 arithmetic; the bytes by type must be plumbing inspect's.
const KQ = join(ROOT, 'models/quants/SmolLM2-135M-Instruct.Q4_K_M.gguf');

describe(named('the page, on a Q4_K_M file'), { timeout: 600_000 }, () => {
  const absent = !existsSync(KQ) && `${KQ} is absent: run scripts/quants.sh to make it`;
  let browser, page, inspect;
  const f = Math.fround;

  before(async () => {
    if (absent) return;
    inspect = cli('inspect', '--model', KQ, '--json');
    browser = await launch({ viewport: { width: 1400, height: 1000 } });
    page = await openPage(browser.context, '');
    await waitForModel(page);
    await page.setInputFiles('#file-input', KQ);
    await page.waitForFunction(() => document.getElementById('loader').dataset.state === 'loading', null, { timeout: 10_000 }).catch(() => {});
    await page.waitForFunction(() => ['done', 'error'].includes(document.getElementById('loader').dataset.state), null, { timeout: 120_000 });
    assert.equal(await page.$eval('#loader', (e) => e.dataset.state), 'done', await page.$eval('#load-error', (e) => e.textContent));
  });

  after(async () => { await browser?.close(); });

  async function openBlock(name, row, block) {
    await page.click(`tr[data-name="${name}"]`);
    await page.waitForFunction((n) => {
      const d = document.getElementById('tensor-detail');
      return d.dataset.state === 'ready' && d.dataset.tensor === n;
    }, name, { timeout: 60_000 });
    await page.fill('#blk-row', String(row));
    await page.fill('#blk-block', String(block));
    await page.$eval('#blk-block', (e) => e.dispatchEvent(new Event('change')));
    await page.waitForFunction(([r, b]) => {
      const h = document.querySelector('#block .head')?.textContent ?? '';
      return h.startsWith(`row ${r}block ${b} `) && document.querySelectorAll('#block .cell').length === 256;
    }, [row, block], { timeout: 30_000 });
    return page.$eval('#block', (box) => ({
      type: box.dataset.type, d: Number(box.dataset.d), dmin: box.dataset.dmin == null ? null : Number(box.dataset.dmin),
      formula: box.querySelector('.formula')?.textContent ?? '',
      explain: document.getElementById('blk-explain').textContent,
      sc: [...box.querySelectorAll('.subs .sc')].map((c) => Number(c.dataset.value)),
      mn: [...box.querySelectorAll('.subs .mn')].map((c) => Number(c.dataset.value)),
      subs: [...box.querySelectorAll('.sub')].map((s) => ({
        sc: Number(s.dataset.sc), m: s.dataset.m == null ? null : Number(s.dataset.m),
        cells: [...s.querySelectorAll('.cell')].map((c) => [Number(c.dataset.code), Number(c.dataset.value)]),
      })),
    }));
  }

  it('breaks the file down by type: bytes and tensors per type as plumbing inspect counts them', { skip: absent }, async () => {
    const want = {};
    for (const t of inspect.tensors) {
      want[t.type] ??= { bytes: 0, count: 0 };
      want[t.type].bytes += t.bytes;
      want[t.type].count += 1;
    }
    const shown = await page.$$eval('#bytes-type-legend tbody tr[data-type]', (rs) => Object.fromEntries(rs.map((r) => [r.dataset.type, { bytes: Number(r.dataset.bytes), count: Number(r.dataset.count) }])));
    assert.deepEqual(shown, want);
    assert.ok(want.Q4_K && want.Q6_K, `the file has Q4_K and Q6_K tensors: ${Object.keys(want)}`);
    const segs = await page.$$eval('#bytes-type-bar [data-type]', (ss) => ss.map((s) => s.dataset.type));
    assert.deepEqual([...segs].sort(), Object.keys(want).sort());
    // The type filter: only Q4_K rows, as many as the file has.
    await page.selectOption('#tensor-type', 'Q4_K');
    const types = await page.$$eval('tr[data-testid="tensor-row"]', (rs) => rs.map((r) => r.querySelector('td.type').textContent));
    assert.equal(types.length, want.Q4_K.count);
    assert.ok(types.every((t) => t === 'Q4_K'), types.join(','));
    await page.selectOption('#tensor-type', '');
    assert.equal(await page.$$eval('tr[data-testid="tensor-row"]', (rs) => rs.length), inspect.tensors.length);
  });

  it('shows a Q4_K block: d, dmin, 8 six-bit scales and minimums, and d·sc·q − dmin·m for each code', { skip: absent }, async () => {
    const t = inspect.tensors.find((x) => x.type === 'Q4_K');
    const b = await openBlock(t.name, 7, 2);
    assert.equal(b.type, 'Q4_K');
    assert.equal(b.formula, 'weight = d · sc · q − dmin · m');
    assert.match(b.explain, /8 sub-blocks of 32 weights, each with a 6-bit scale sc and a 6-bit minimum m/);
    assert.equal(b.sc.length, 8);
    assert.equal(b.mn.length, 8);
    assert.ok([...b.sc, ...b.mn].every((x) => Number.isInteger(x) && x >= 0 && x < 64), `${b.sc} / ${b.mn}`);
    assert.ok(b.d > 0 && b.dmin != null, `d ${b.d}, dmin ${b.dmin}`);
    assert.equal(b.subs.length, 8);
    b.subs.forEach((s, j) => {
      assert.deepEqual([s.sc, s.m], [b.sc[j], b.mn[j]], `sub-block ${j} is labelled with its scale and minimum`);
      assert.equal(s.cells.length, 32);
      // ggml's dequantize_row_q4_K, in f32: (d·sc)·q − (dmin·m).
      const d1 = f(b.d * s.sc), m1 = f(b.dmin * s.m);
      for (const [q, v] of s.cells) {
        assert.ok(q >= 0 && q < 16, `code ${q}`);
        assert.ok(f(f(d1 * q) - m1) === f(v), `sub-block ${j}: ${b.d}·${s.sc}·${q} − ${b.dmin}·${s.m} vs ${v}`);
      }
    });
  });

  it('shows a Q6_K block: d, 16 signed 8-bit scales, and d·sc·(q − 32) for each code', { skip: absent }, async () => {
    const t = inspect.tensors.find((x) => x.type === 'Q6_K');
    const b = await openBlock(t.name, 7, 2);
    assert.equal(b.type, 'Q6_K');
    assert.equal(b.formula, 'weight = d · sc · (q − 32)');
    assert.equal(b.sc.length, 16);
    assert.equal(b.mn.length, 0, 'Q6_K has no minimums');
    assert.ok(b.sc.every((x) => Number.isInteger(x) && x >= -128 && x < 128), `${b.sc}`);
    assert.equal(b.subs.length, 16);
    b.subs.forEach((s, j) => {
      assert.equal(s.cells.length, 16);
      const d1 = f(b.d * s.sc);
      // (=== : a zero's sign does not survive the page's data attributes, -0 reads "0")
      for (const [q, v] of s.cells) {
        assert.ok(q >= 0 && q < 64, `code ${q}`);
        assert.ok(f(d1 * (q - 32)) === f(v), `sub-block ${j}: ${b.d}·${s.sc}·(${q} − 32) vs ${v}`);
      }
    });
    assert.deepEqual(page.problems, [], 'no console errors, CSP violations or failed requests');
  });
});
