// Servers the widget and offline tests start for themselves (and stop): extra `plumbing serve`
// processes (e.g. --no-isolation, or a dist/ built into a temp dir), and a small Node static
// server for what plumbing serve does not do on purpose: another origin with CORS, a host page
// without any security headers (a typical blog), and a model download cut midway.
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { createReadStream, statSync, existsSync, mkdtempSync, symlinkSync, readdirSync, mkdirSync, copyFileSync, openSync, readSync, writeSync, closeSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WWW = join(ROOT, 'www');
export const PLUMBING = process.env.PLUMBING_BIN ?? join(ROOT, 'target/release/plumbing');
export const MANIFEST = JSON.parse(readFileSync(join(ROOT, 'models/manifest.json'), 'utf8'));
export const MODEL = MANIFEST.models.find((m) => m.id === MANIFEST.default);

async function waitUp(url, what) {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not answer at ${url}`);
}

/**
 * Starts `plumbing serve --dir <dir> --port 0` and reads the port it bound from its first line on
 * stderr (a port picked here and passed could be taken by another server first). Returns
 * {url, port, proc, stop()}.
 */
export async function startPlumbing({ dir = WWW, isolation = true } = {}) {
  if (!existsSync(PLUMBING)) throw new Error(`${PLUMBING} is missing: run ./build.sh first`);
  const args = ['serve', '--dir', dir, '--port', '0'];
  if (!isolation) args.push('--no-isolation');
  const proc = spawn(PLUMBING, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`plumbing serve named no port in 10 s: ${err}`)), 10_000);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`plumbing serve exited (${code}): ${err}`)); });
  }).catch((e) => { proc.kill(); throw e; });
  const url = `http://127.0.0.1:${port}/`;
  try { await waitUp(url, `plumbing serve (${err})`); } catch (e) { proc.kill(); throw e; }
  return {
    url, port, proc,
    async stop() {
      if (proc.exitCode != null || proc.signalCode) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.svg': 'image/svg+xml', '.gguf': 'application/octet-stream',
};

/**
 * A static server for `dir`. options: {cors: add Access-Control-Allow-Origin: *,
 * cutAfter: bytes after which a .gguf response is cut (the socket is destroyed; the
 * Content-Length still announces the whole file), routes: {path: html string}}.
 * Returns {url, stop(), requests: [path], options} (set options.cutAfter = null to stop cutting).
 */
export async function startStatic(dir, options = {}) {
  const opts = { cors: false, cutAfter: null, routes: {}, ...options }; // may be changed while it runs
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    requests.push(path);
    const headers = { 'cache-control': 'no-cache' };
    const { cors, cutAfter, routes } = opts;
    if (cors) Object.assign(headers, { 'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' });
    if (routes[path] != null) {
      res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      return res.end(routes[path]);
    }
    const file = resolve(dir, normalize(`.${path.endsWith('/') ? `${path}index.html` : path}`));
    if (!file.startsWith(resolve(dir)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers);
      return res.end('not found');
    }
    const size = statSync(file).size;
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size });
    if (req.method === 'HEAD') return res.end();
    if (cutAfter != null && file.endsWith('.gguf')) {
      const s = createReadStream(file, { start: 0, end: cutAfter - 1 });
      s.pipe(res, { end: false });
      s.on('end', () => setTimeout(() => res.socket?.destroy(), 50)); // the connection drops mid-body
      return;
    }
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  return {
    url, requests, options: opts,
    async stop() {
      if (!server.listening) return;
      server.closeAllConnections?.();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A copy of www/ in a temp dir (symlinks to every entry) whose models/ holds a tampered model:
 * the real file with one byte changed, and the real manifest (so the sha256 no longer matches).
 * Returns {dir, cleanup()}.
 */
export function tamperedSite() {
  const dir = mkdtempSync(join(tmpdir(), 'plumbing-tampered-'));
  for (const name of readdirSync(WWW)) {
    if (name === 'models') continue;
    symlinkSync(join(WWW, name), join(dir, name));
  }
  mkdirSync(join(dir, 'models'));
  copyFileSync(join(ROOT, 'models/manifest.json'), join(dir, 'models/manifest.json'));
  const file = join(dir, 'models', MODEL.file);
  copyFileSync(join(ROOT, 'models', MODEL.file), file);
  const fd = openSync(file, 'r+');
  const at = Math.floor(MODEL.bytes / 2); // inside a tensor: only the hash can tell
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] ^= 0x01;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
  return { dir, at, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Builds dist/ into a temp dir with scripts/dist.sh. Returns {dir, version, cleanup()}. */
export function buildDist() {
  const parent = mkdtempSync(join(tmpdir(), 'plumbing-dist-'));
  const dir = join(parent, 'dist');
  execFileSync(join(ROOT, 'scripts/dist.sh'), [dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const { version } = JSON.parse(readFileSync(join(dir, 'version.json'), 'utf8'));
  return { dir, version, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

export { writeFileSync };
