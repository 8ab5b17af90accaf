// Every requantized file of models/quants/ (scripts/quants.sh: llama.cpp's quantizer, the types of
// models/quants.json) in headless Chromium, in both wasm builds: the greedy ids equal the native
// CLI's, and the raw logits of a forced sequence equal the native build's byte for byte (as
// engine.test.mjs checks for the shipped Q4_1 file). The page's server serves models/ as
// www/models, so the files are at models/quants/<file>. One page per file, so that a file that
// fails (a kernel still todo!()) does not take the others with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launch, BASE_URL } from './lib.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = `${ROOT}models/quants/`;
const CLI = `${ROOT}target/release/plumbing`;
const GREEDY = 16; // greedy ids compared
const FORCED = 8; // positions whose raw logits are compared byte for byte
const ONLY = (process.env.PLUMBING_QUANTS ?? '').split(',').filter(Boolean);

const MANIFEST = existsSync(`${DIR}manifest.json`) ? JSON.parse(readFileSync(`${DIR}manifest.json`, 'utf8')) : null;
const LIST = JSON.parse(readFileSync(`${ROOT}models/quants.json`, 'utf8')).quants.map((q) => q.name).filter((n) => !ONLY.length || ONLY.includes(n));

let browser;
before(async () => { browser = await launch(); });
after(async () => browser?.close());

if (!MANIFEST) {
  test('requantized files', () => assert.fail('models/quants/manifest.json is missing: run scripts/quants.sh (./build.sh test runs it first)'));
}

for (const name of MANIFEST ? LIST : []) {
  test(`${name}: both wasm builds give the native greedy ids and logits byte for byte`, { timeout: 600_000 }, async () => {
    const f = MANIFEST.files.find((x) => x.name === name);
    assert.ok(f, `models/quants/manifest.json has no ${name} (models/quants.json lists it): run scripts/quants.sh`);
    const ref = JSON.parse(readFileSync(`${DIR}${f.reference}`, 'utf8'));
    const c = ref.generate.find((g) => g.name === 'capital');
    const model = `${DIR}${f.file}`;
    const native = execFileSync(CLI, ['generate', '--model', model, '--raw', '--prompt', c.prompt, '--max-tokens', String(GREEDY), '--ignore-eos', '--temperature', '0', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim().split('\n').map((l) => JSON.parse(l)).filter((l) => 'id' in l).map((l) => l.id);
    assert.equal(native.length, GREEDY);
    const forced = c.token_ids.slice(0, FORCED);
    const logitsFile = `${ROOT}target/browser-quants-${name}.f32`;
    execFileSync(CLI, ['generate', '--model', model, '--raw', '--prompt', c.prompt, '--temperature', '0',
      '--force-ids', forced.join(','), '--logits', logitsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    const nativeLogits = readFileSync(logitsFile);

    const page = await browser.context.newPage();
    try {
      await page.goto(new URL('models/quants/manifest.json', BASE_URL).href);
      const got = await page.evaluate(async ([url, ids, forced, greedy]) => {
        const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
        const b64 = (u8) => { let s = ''; for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000)); return btoa(s); };
        const out = {};
        for (const flavor of ['pkg', 'pkg-relaxed']) {
          try {
            const m = await import(`/${flavor}/plumbing.js`);
            await m.default();
            const bytes = new m.ModelBytes(buf.length);
            for (let off = 0; off < buf.length; off += 1 << 20) bytes.write(off, buf.subarray(off, off + (1 << 20)));
            const e = m.Engine.load(bytes, () => {});
            e.start(new Uint32Array(ids), JSON.stringify({ max_tokens: greedy, ignore_eos: true, temperature: 0 }));
            while (e.prefill(32) > 0);
            const gen = [];
            for (;;) { const s = JSON.parse(e.step()); gen.push(s.id); if (s.done) break; }
            e.start(new Uint32Array(ids), JSON.stringify({ max_tokens: forced.length, temperature: 0 }));
            while (e.prefill(32) > 0);
            const parts = [];
            for (const id of forced) {
              parts.push(e.next_logits());
              const r = JSON.parse(e.choose(parts.length - 1, id));
              if (r.done && parts.length < forced.length) break;
            }
            e.free();
            const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
            let o = 0;
            for (const p of parts) { all.set(p, o); o += p.length; }
            out[flavor] = { ids: gen, logits: b64(new Uint8Array(all.buffer)) };
          } catch (err) {
            out[flavor] = { error: String(err?.message ?? err) };
          }
        }
        return out;
      }, [new URL(`models/quants/${f.file}`, BASE_URL).href, c.prompt_ids, forced, GREEDY]);
      for (const flavor of ['pkg', 'pkg-relaxed']) {
        const r = got[flavor];
        assert.ok(!r.error, `${name}, ${flavor}: ${r.error}`);
        assert.deepEqual(r.ids, native, `${name}, ${flavor}: greedy ids`);
        const logits = Buffer.from(r.logits, 'base64');
        assert.equal(logits.length, nativeLogits.length, `${name}, ${flavor}: ${FORCED} positions of logits`);
        const bad = logits.findIndex((b, i) => b !== nativeLogits[i]);
        const n = nativeLogits.length / 4 / FORCED;
        assert.equal(bad, -1, `${name}, ${flavor}: first differing byte at ${bad} (position ${Math.floor(bad / 4 / n)}, id ${Math.floor(bad / 4) % n})`);
      }
      console.log(`${name} (${f.bytes} bytes): greedy ${GREEDY} ids and ${FORCED} positions of logits equal native in both builds`);
    } finally {
      await page.close();
    }
  });
}
