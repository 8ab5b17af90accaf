// Two wasm builds of the engine in one headless Chromium page, finely interleaved: the A/B for a
// kernel change on a machine too noisy for separate runs (a noisy minute hits both builds alike).
//
//   node tests/bench/ab.mjs /pkg-base/plumbing.js /pkg-relaxed/plumbing.js models/gemma-3-270m-q4_k_m.gguf [rounds 8] [tokens 32] [repeat 1]
//
// The two builds are paths on the server at PLUMBING_URL (e.g. a copy of the previous build in
// www/pkg-base/, which git ignores as it does every www/pkg*). Each round runs a prompt's prefill
// (its text `repeat` times: ~23 tokens each) and `tokens` greedy decode steps with A, then B (the order alternates by round); printed: the
// best and the median per build (tok/s) and B ÷ A, the start of each build's text (the
// same, if the change keeps the numbers), and its read-ahead trial (Engine.read_ahead_json) where it has one.
import { launch, BASE_URL } from '../browser/lib.mjs';

const [A, B, model, rounds = '8', tokens = '32', repeat = '1'] = process.argv.slice(2);
if (!A || !B || !model) {
  console.error('usage: node tests/bench/ab.mjs /pkgA/plumbing.js /pkgB/plumbing.js model.gguf [rounds] [tokens] [repeat]');
  process.exit(2);
}
const TEXT = Array(Number(repeat)).fill('What is the capital of France? Answer in one sentence, then explain how you know, in three short points.').join(' ');
const b = await launch();
try {
  const page = await b.context.newPage();
  await page.goto(new URL('models/manifest.json', BASE_URL).href);
  const r = await page.evaluate(async ({ pkgs, url, rounds, tokens, text }) => {
    const buf = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const mods = [];
    for (const pkg of pkgs) {
      const m = await import(pkg);
      await m.default();
      const bytes = new m.ModelBytes(buf.length);
      for (let off = 0; off < buf.length; off += 1 << 24) bytes.write(off, buf.subarray(off, Math.min(buf.length, off + (1 << 24))));
      const e = m.Engine.load(bytes, () => {});
      bytes.free();
      const ids = new Uint32Array(JSON.parse(e.tokenize_json(text, true)).ids);
      mods.push({ pkg, e, ids, pre: [], dec: [], text: '' });
    }
    for (let i = 0; i < rounds; i++) {
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        const m = mods[k];
        m.e.start(m.ids, JSON.stringify({ max_tokens: tokens, ignore_eos: true, temperature: 0, n_ctx: 1024 }));
        const t0 = performance.now();
        while (m.e.prefill(512) > 0);
        const t1 = performance.now();
        let out = '';
        for (;;) { const s = JSON.parse(m.e.step()); out += s.text; if (s.done) break; }
        const t2 = performance.now();
        m.pre.push((m.ids.length / (t1 - t0)) * 1000);
        m.dec.push((tokens / (t2 - t1)) * 1000);
        m.text = out;
      }
    }
    const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    return mods.map((m) => ({ pkg: m.pkg, ra: m.e.read_ahead_json?.() ?? '', n: m.ids.length, pre: [Math.max(...m.pre), med(m.pre)], dec: [Math.max(...m.dec), med(m.dec)], text: m.text.slice(0, 60) }));
  }, { pkgs: [A, B], url: new URL(model, BASE_URL).href, rounds: Number(rounds), tokens: Number(tokens), text: TEXT });
  const f = (v) => `best ${v[0].toFixed(1)} median ${v[1].toFixed(1)}`;
  for (const x of r) console.log(`${x.pkg}: prefill (${x.n} tokens) ${f(x.pre)} | decode ${f(x.dec)} tok/s | ${JSON.stringify(x.text)}${x.ra ? ` | read-ahead ${x.ra}` : ''}`);
  const q = (i, j) => (r[1][i][j] / r[0][i][j]).toFixed(3);
  console.log(`B ÷ A: prefill best ${q('pre', 0)} median ${q('pre', 1)}; decode best ${q('dec', 0)} median ${q('dec', 1)}`);
} finally {
  await b.close();
}
