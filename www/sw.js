// The offline cache: the app shell (HTML, JS, CSS, wasm, manifest) on the first visit, so that
// after one visit the page and the widget load with the network off.
//
// Two modes:
// - a stamped build (scripts/dist.sh replaces the BUILD line below with the version and the list
//   of every file dist/ holds, the model aside): the shell is precached into
//   "plumbing-shell-<version>" and served cache-first, so nothing goes to the network at all; a
//   new build is a new sw.js (its bytes change), which installs beside the old one and deletes the
//   old caches when it activates. No list of files is written by hand anywhere, so none can go stale.
// - unstamped (www/ while developing, BUILD = null): nothing is precached; every same-origin GET in
//   this worker's scope is served network-first, so a rebuilt wasm or an edited script is never
//   hidden by the cache, and kept as it passes, so the cache answers offline for whatever a page
//   under this service worker has loaded once.
//
// The model is not handled here. The engine's worker keeps it in the "plumbing-models-v1" cache
// itself, and only after its sha256 matched the manifest (www/worker.js, keepInCache): the worker
// may not be controlled by this service worker on the first visit, or at all when the widget is
// hosted on another origin. GGUF requests pass through untouched.

const BUILD = null; // stamped by scripts/dist.sh: {"version": "...", "files": ["./", "index.html", ...]}

const VERSION = BUILD?.version ?? 'dev';
const SHELL = `plumbing-shell-${VERSION}`;
const MODELS = 'plumbing-models-v1'; // same name as MODEL_CACHE in protocol.js
const FILES = (BUILD?.files ?? []).map((f) => new URL(f, self.registration.scope).href);
const LISTED = new Set(FILES);

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    // cache: 'reload' skips the HTTP cache so the shell is the server's current one.
    await cache.addAll(FILES.map((url) => new Request(url, { cache: 'reload' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('plumbing-shell-') && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || req.headers.has('range')) return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || /\.gguf$/i.test(url.pathname)) return;
  const key = stripQuery(url, req);
  if (BUILD && LISTED.has(key)) {
    event.respondWith(cacheFirst(req, key));
  } else {
    event.respondWith(networkFirst(req, key));
  }
});

// The page is opened with ?prompt=...: the cached copy is the same file without the query.
function stripQuery(url, req) {
  if (req.mode !== 'navigate') return url.href.split('#')[0];
  const u = new URL(url.href);
  u.search = '';
  u.hash = '';
  return u.href;
}

async function cacheFirst(req, key) {
  const hit = await caches.match(key, { cacheName: SHELL });
  return hit ?? fetch(req);
}

async function networkFirst(req, key) {
  try {
    const res = await fetch(req);
    if (res.ok && res.type === 'basic' && (LISTED.has(key) || req.mode === 'navigate' || inScope(key))) {
      const copy = res.clone();
      caches.open(SHELL).then((c) => c.put(key, copy)).catch(() => {});
    }
    return res;
  } catch (e) {
    const hit = await caches.match(key, { cacheName: SHELL });
    if (hit) return hit;
    throw e;
  }
}

function inScope(href) { return href.startsWith(self.registration.scope); }

// The page asks which version serves it (shown in its footer; used by the tests).
self.addEventListener('message', (event) => {
  if (event.data === 'version') event.source?.postMessage({ type: 'sw-version', version: VERSION, models: MODELS });
});
