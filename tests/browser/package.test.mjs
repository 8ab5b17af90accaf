// The npm package, as a developer gets it, in headless Chromium on the real model:
//   node --test tests/browser/package.test.mjs
// scripts/dist.sh builds dist/ into a temp dir; `npm pack` makes the tarball there; `npm install
// <tarball> --offline` puts it into a scratch project's node_modules/; a scratch page imports the
// package with no bundler, through an import map made from the package's own `exports`, and
// generates: with PlumbingEngine, and with <plumbing-chat>. The model is not in the package: the
// scratch project links it next to the package's manifest, as its README says to.
// Served by a plain static server (no CSP, no isolation headers: a developer's own server).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, symlinkSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { launch, readWidget, waitWidget, clickRun } from './lib.mjs';
import { buildDist, startStatic, ROOT, MODEL } from './servers.mjs';

// The type check needs TypeScript in tests/node_modules (a devDependency of tests/package.json);
// without it that one test is skipped and says so.
const TSC = join(ROOT, 'tests/node_modules/typescript/bin/tsc');

const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'],
  { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The import map a page needs to import the package by name: from package.json's `exports`. */
function importMap(name, pkg) {
  const imports = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const file = typeof target === 'string' ? target : target.default;
    if (!file.endsWith('.js')) continue;
    imports[sub === '.' ? name : `${name}/${sub.slice(2)}`] = `./node_modules/${name}/${file.slice(2)}`;
  }
  return { imports };
}

const page = (map, body) => `<!doctype html>
<meta charset="utf-8"><title>scratch</title>
<script type="importmap">${JSON.stringify(map)}</script>
${body}`;

describe('the npm package: pack, install, import without a bundler, generate', { timeout: 900_000 }, () => {
  let dist, scratch, pkg, name, packed, server, browser;

  before(async () => {
    dist = buildDist();
    scratch = mkdtempSync(join(tmpdir(), 'plumbing-package-'));
    [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', scratch], dist.dir));
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
    npm(['install', '--offline', '--no-package-lock', join(scratch, packed.filename)], scratch);
    name = packed.name;
    const dir = join(scratch, 'node_modules', name);
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    symlinkSync(join(ROOT, 'models', MODEL.file), join(dir, 'models', MODEL.file));
    const map = importMap(name, pkg);
    server = await startStatic(scratch, {
      routes: {
        '/engine.html': page(map, `<script type="module">
import { PlumbingEngine, readManifest, Stop } from '${name}';
window.result = (async () => {
  const engine = new PlumbingEngine();
  const build = await engine.ready;
  const model = await readManifest(new URL('./node_modules/${name}/models/manifest.json', location.href));
  await engine.load(model.url, { sha256: model.sha256 });
  const tokens = [];
  const r = await engine.generate('What is the capital of France?', {
    max_tokens: 4, temperature: 0, onToken: (t) => tokens.push(t.step.text) });
  return { build, reason: r.reason, tokens, stops: Object.values(Stop), defaults: engine.defaults };
})().catch((e) => ({ error: \`\${e.kind}: \${e.message}\` }));
</script>`),
        '/widget.html': page(map, `<script type="module">import '${name}/widget';</script>
<plumbing-chat id="w" prompt="What is a pipe wrench for?" max-tokens="4" temperature="0"></plumbing-chat>`),
      },
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    dist?.cleanup();
  });

  it('packs what a developer needs, and not the model', () => {
    const files = packed.files.map((f) => f.path);
    const cargo = /^\[package\][^[]*?^version = "([^"]+)"/ms.exec(readFileSync(join(ROOT, 'Cargo.toml'), 'utf8'))[1];
    assert.equal(pkg.version, cargo, 'the version is the crate\'s');
    assert.equal(pkg.type, 'module');
    for (const f of ['package.json', 'README.md', 'engine.js', 'engine.d.ts', 'widget.js', 'widget.d.ts', 'protocol.js',
      'protocol.d.ts', 'worker.js', 'sha256.js', 'pkg/plumbing.js', 'pkg/plumbing_bg.wasm', 'models/manifest.json', 'sw.js']) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    if (existsSync(join(ROOT, 'www/pkg-relaxed/plumbing_bg.wasm'))) assert.ok(files.includes('pkg-relaxed/plumbing_bg.wasm'));
    assert.deepEqual(files.filter((f) => f.endsWith('.gguf')), [], 'no model in the tarball');
    assert.ok(packed.size < 10e6, `the tarball is ${packed.size} bytes`);
    for (const [sub, target] of Object.entries(pkg.exports)) {
      for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
        assert.ok(files.includes(file.slice(2)), `exports["${sub}"] -> ${file} is in the package`);
      }
    }
    assert.ok(files.includes(pkg.types.slice(2)));
    // The stamped service worker precaches its list from wherever the package is served.
    const stamped = /const BUILD = (\{.*\}); \/\/ stamped/.exec(readFileSync(join(dist.dir, 'sw.js'), 'utf8'));
    const listed = JSON.parse(stamped[1]).files.filter((f) => f !== './');
    assert.deepEqual(listed.filter((f) => !files.includes(f)), [], 'every file sw.js precaches is in the package');
    // The same wasm bytes as ./build.sh built (and printed the sha256 of).
    assert.equal(sha256(join(scratch, 'node_modules', name, 'pkg/plumbing_bg.wasm')), sha256(join(ROOT, 'www/pkg/plumbing_bg.wasm')));
  });

  it('the types say what the modules export', async () => {
    const dir = join(scratch, 'node_modules', name);
    const dts = (f) => readFileSync(join(dir, f), 'utf8');
    // The constants, value for value (protocol.js owns them; protocol.d.ts restates them).
    const protocol = await import(pathToFileURL(join(dir, 'protocol.js')).href);
    for (const table of ['Stop', 'Kind']) {
      const block = new RegExp(`export declare const ${table}: Readonly<\\{([^]*?)\\}>;`).exec(dts('protocol.d.ts'))[1];
      const typed = Object.fromEntries([...block.matchAll(/^ {2}([A-Z_]+): '([a-z_]+)';/gm)].map((m) => [m[1], m[2]]));
      assert.deepEqual(typed, { ...protocol[table] }, `protocol.d.ts ${table}`);
    }
    // Every public method and getter of PlumbingEngine is declared (engine.js imports in Node).
    const { PlumbingEngine } = await import(pathToFileURL(join(dir, 'engine.js')).href);
    const body = /export declare class PlumbingEngine extends EventTarget \{([^]*?)\n\}/.exec(dts('engine.d.ts'))[1];
    const declared = new Set([...body.matchAll(/^ {2}(?:readonly )?([a-zA-Z]+)[<(:]/gm)].map((m) => m[1]));
    const actual = Object.getOwnPropertyNames(PlumbingEngine.prototype).filter((n) => n !== 'constructor');
    assert.deepEqual(actual.filter((n) => !declared.has(n)), [], 'engine.d.ts declares every method of PlumbingEngine');
    const exported = Object.keys(await import(pathToFileURL(join(dir, 'engine.js')).href)).sort();
    const typedExports = [...dts('engine.d.ts').matchAll(/^export (?:declare (?:class|function) (\w+)|\{ ([^}]+) \} from)/gm)]
      .flatMap((m) => (m[1] ? [m[1]] : m[2].split(',').map((x) => x.trim()))).sort();
    assert.deepEqual(typedExports, exported, 'engine.d.ts declares what engine.js exports');
  });

  it('the types compile against a program that uses the client and the widget', { skip: !existsSync(TSC) && `no ${TSC}` }, () => {
    writeFileSync(join(scratch, 'main.ts'), `
import { PlumbingEngine, PlumbingError, readManifest, Kind, Stop, type GenParams, type Fed } from '${name}';
import { PlumbingChat } from '${name}/widget';
const engine = new PlumbingEngine();
engine.addEventListener('crashed', (e) => console.log(e.detail.message));
engine.addEventListener('restarted', (e) => console.log(e.detail.info?.defaults.temperature));
export async function main(): Promise<void> {
  const build = await engine.ready;
  const sha: string | undefined = build.wasm_sha256;
  const m = await readManifest(new URL('./node_modules/${name}/models/manifest.json', location.href));
  const r = await engine.load(m.url, { sha256: m.sha256, onProgress: (p) => console.log(p.phase, p.done / p.total) });
  const d: GenParams = r.info.defaults;
  let fed: Fed | null = null;
  const g = await engine.generate('Hi', { max_tokens: 3, temperature: 0, onPrompt: (f) => { fed = f; },
    onToken: (t) => console.log(t.step?.text) });
  if (g.reason === Stop.EOS || g.reason === 'max_tokens') console.log(g.stats?.decode_tok_s, d.top_k, sha, fed);
  try { await engine.prepare({ prompt: 'x', params: { top_p: 0.5 } }); } catch (e) {
    if (e instanceof PlumbingError && e.kind === Kind.REQUEST) console.log(e.message);
  }
  const w = document.querySelector('plumbing-chat');
  if (w) {
    w.maxTokens = 10; w.temperature = null;
    w.addEventListener('plumbing-done', (e) => console.log(e.detail.reason, e.detail.params?.seed));
    w.addEventListener('plumbing-error', (e) => console.log(e.detail.kind));
    await w.run();
  }
  console.log(PlumbingChat.define('my-chat'), document.createElement('plumbing-chat').state);
  // @ts-expect-error: not a parameter
  await engine.generate('x', { top_q: 1 });
}
`);
    for (const resolution of ['bundler', 'nodenext']) {
      const module = resolution === 'bundler' ? 'esnext' : 'nodenext';
      try {
        execFileSync(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom',
          '--module', module, '--moduleResolution', resolution, 'main.ts'], { cwd: scratch, encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        assert.fail(`tsc (moduleResolution ${resolution}):\n${e.stdout}${e.stderr}`);
      }
    }
  });

  it('PlumbingEngine, imported by the package name, loads the model and generates', async () => {
    const p = await browser.context.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(new URL('engine.html', server.url).href);
    const r = await p.evaluate(() => window.result);
    assert.equal(r.error, undefined, r.error);
    assert.ok(r.tokens.length >= 1 && r.tokens.join('').length > 0, `generated: ${JSON.stringify(r.tokens)}`);
    assert.ok(r.stops.includes(r.reason), r.reason);
    assert.equal(typeof r.defaults?.temperature, 'number', 'engine.defaults after load');
    const flavor = r.build.flavor ?? 'pkg';
    assert.equal(r.build.wasm_sha256, sha256(join(scratch, 'node_modules', name, flavor, 'plumbing_bg.wasm')),
      'the worker reports the sha256 of the wasm it runs');
    assert.ok(server.requests.includes(`/node_modules/${name}/worker.js`), 'the worker came from the package');
    assert.deepEqual(errors, []);
    await p.close();
  });

  it('<plumbing-chat>, imported as <name>/widget, runs from the package folder', async () => {
    const p = await browser.context.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(e.message));
    await p.goto(new URL('widget.html', server.url).href);
    const w = p.locator('#w');
    await clickRun(w);
    const got = await waitWidget(w);
    assert.equal(got.state, 'done', got.error);
    assert.ok(got.answer.length > 0, JSON.stringify(await readWidget(w)));
    assert.match(got.link, new RegExp(`/node_modules/${name}/index\\.html\\?`), 'See inside links to the page in the package');
    assert.deepEqual(errors, []);
    await p.close();
  });
});
