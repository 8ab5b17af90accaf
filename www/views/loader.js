// The loader card and the masthead's chips: starts a PlumbingEngine, loads the manifest's model
// or a GGUF of one's own (chosen, or dropped anywhere on the page), shows the phases on one
// progress bar, says what failed, and what the engine reports afterwards (a crash and its restart,
// a dead worker). DOM: #loader and what is inside it, #model-chip, #memory-chip, #net, #build-info.

import { PlumbingEngine, readManifest, Kind } from '../engine.js';
import { el } from '../components/util.js';
import { fmtBytes, fmtMs, fmtInt } from '../format.js';
import { recognisedOf, matchEntry } from '../models.js';
import { pageThreads, threadsText, threadsControl } from '../threads-page.js';

const $ = (id) => document.getElementById(id);

const PHASES = [
  ['download', 'download'], ['verify', 'sha256'], ['header', 'header'],
  ['tensors', 'tensors'], ['tokenizer', 'tokenizer'],
];
// Where each phase sits on the one progress bar (percent).
const SPAN = { download: [0, 88], verify: [88, 90], header: [90, 91], tensors: [91, 98], tokenizer: [98, 100] };

/**
 * hooks: onLoading() a load started (nothing to run on); onModel(model) the manifest entry (or
 * the chosen file) is known; onLoaded({engine, model, info, sha256, build, memory}) the model is ready;
 * onFailed(model, sha256) the load failed; onCrashed(message) the engine crashed and is being
 * restarted; onRestarted(message, info) it was, with the model reloaded.
 */
export function loaderView({ manifestUrl, onLoading, onModel, onLoaded, onFailed, onCrashed, onRestarted }) {
  const loader = $('loader'), bar = $('progress'), phases = $('phases');
  let engine = null, controller = null, manifest = null;
  // The manifest model to load: ?model=<id>, else the manifest's default; a pick changes it.
  let currentId = new URLSearchParams(location.search).get('model') || null;

  function resetPhases() {
    phases.replaceChildren();
    for (const [key, label] of PHASES) {
      const li = el('li');
      li.dataset.phase = key;
      li.dataset.state = 'pending';
      li.append(el('span', '', label), el('b', '', ''));
      phases.append(li);
    }
  }

  function phase(key, st, text) {
    const li = phases.querySelector(`[data-phase="${key}"]`);
    if (!li) return;
    if (st) li.dataset.state = st;
    if (text != null) li.querySelector('b').textContent = text;
  }

  function startEngine() {
    engine?.terminate();
    const e = new PlumbingEngine({ threads: pageThreads() });
    engine = e;
    e.onNetwork((x) => $('net').add(x));
    e.ready.then((build) => {
      if (build) $('build-info').textContent = `engine ${build.version ?? ''}${build.kernels ? ` · kernels ${build.kernels}` : ''} · ${threadsText(build)}`;
      threadsControl($('threads-pick'), build);
    }).catch(() => {});
    // A trap in the wasm (a Rust panic): the client restarts its worker and reloads the model.
    if (typeof e.addEventListener === 'function') {
      let message = '';
      e.addEventListener('crashed', (ev) => {
        if (e !== engine) return;
        // The panic's text; the worker may already have said "the engine crashed: " before it.
        message = String(ev.detail?.message ?? 'no message').replace(/^the engine crashed:\s*/i, '');
        bar.label = `The engine crashed: ${message}. Restarting it and reloading the model…`;
        onCrashed?.(message);
      });
      e.addEventListener('restarted', (ev) => {
        if (e !== engine) return;
        const { info, error } = ev.detail ?? {};
        if (info) {
          bar.label = `The engine crashed: ${message}. It was restarted and the model reloaded.`;
          $('net').arm(); // the new worker fetched its own code; the meter counts from the reload
        } else {
          bar.label = `The engine crashed: ${message}. It was restarted, but the model could not be reloaded${error ? `: ${error.message}` : ''}.`;
          $('load-retry').hidden = false;
        }
        onRestarted?.(message, info ?? null);
      });
    }
    return e;
  }

  function showFileHash(file, sha256) {
    $('file-hash').textContent = `${file.name} · ${fmtBytes(file.size)} · sha256 ${sha256}`;
    $('file-hash').hidden = false;
  }

  /** What the engine read in a file of one's own, and which manifest entry it is (if any). */
  function showRecognised(info) {
    const rec = recognisedOf(info);
    const match = matchEntry(manifest, rec);
    const box = $('recognised');
    const types = (rec.types ?? []).slice().sort((a, b) => b.bytes - a.bytes)
      .map((t) => `${t.type} ${t.tensors}`).join(', ');
    const think = info.think ? `thinks between ${info.think.open} and ${info.think.close}${info.think.template_opens ? ' (the template opens the block)' : ''}` : 'no reasoning block';
    const template = (info.has_template ?? info.chat_template != null) ? 'a chat template' : 'no chat template (a base model: text continuation)';
    const dl = el('dl', 'facts narrow');
    const row = (k, v) => { const d = el('div'); d.append(el('dt', '', k), el('dd', '', v)); dl.append(d); };
    row('architecture', rec.architecture ?? '?');
    row('name', [rec.name, rec.size_label].filter(Boolean).join(' · ') || 'not in the file');
    row('parameters', `${fmtInt(rec.n_params)} (${(rec.n_params / 1e6).toFixed(0)} M)`);
    row('tensors by type', types);
    row('template', template);
    row('reasoning', think);
    const said = el('p', 'small');
    if (match) {
      const size = match.sameSize ? '' : ` (another size of the same family: this file says ${rec.size_label}, the entry ${match.entry.match.size_label})`;
      said.append('Recognised as ', el('b', '', match.entry.name), size,
        match.entry.openness ? ': its openness card is in the Open? tab.' : '.');
    } else {
      said.textContent = 'Not one of the manifest\'s models: it runs, but the page has no openness facts for it.';
    }
    box.replaceChildren(el('h3', '', 'What the engine recognised'), dl, said);
    box.hidden = false;
    return match;
  }

  /** Loads the manifest's model `id` (default: the one picked, else the manifest's default), or
   * `file` (a File the person chose or dropped: no sha256 to check against, so its hash is shown
   * instead). Every load starts a fresh worker: the old one, and the model in it, are freed. */
  async function load(file = null, id = currentId) {
    if (!file) currentId = id;
    $('file-hash').hidden = true;
    $('recognised').hidden = true;
    loader.dataset.state = 'loading';
    $('load-error').hidden = true;
    $('load-retry').hidden = true;
    $('load-cancel').hidden = false;
    $('loader-title').textContent = 'Loading the model';
    bar.state = 'running';
    bar.value = 0;
    bar.max = 100;
    resetPhases();
    onLoading?.();

    const eng = startEngine();
    const ctl = new AbortController();
    controller = ctl;
    const t0 = performance.now();
    let model = null, sha256 = null;
    try {
      if (file) {
        if (!file.size) throw Object.assign(new Error(`${file.name} is empty (0 bytes)`), { kind: Kind.MODEL });
        // A blob: URL the worker fetches like any other (the CSP allows connect-src blob:).
        model = { name: file.name, url: URL.createObjectURL(file), bytes: file.size, user: true };
        $('model-chip').textContent = `${file.name} · your file`;
      } else {
        bar.label = 'Reading the manifest…';
        model = await readManifest(manifestUrl, currentId ?? undefined);
        manifest = model.manifest;
        currentId = model.id;
        $('model-chip').textContent = `${model.name} · ${model.quantization?.split(' ')[0] ?? ''}`;
      }
      onModel?.(model);
      bar.label = 'Starting the WebAssembly engine…';
      await eng.ready;
      let lastDone = 0, lastT = performance.now(), speed = 0;
      const result = await eng.load(model.url, {
        sha256: model.sha256,
        bytes: model.bytes,
        signal: ctl.signal,
        onProgress: (p) => {
          const [a, b] = SPAN[p.phase] ?? [0, 100];
          const frac = p.total ? p.done / p.total : 1;
          bar.value = (a + (b - a) * frac).toFixed(2);
          if (p.phase === 'download') {
            const now = performance.now();
            if (now - lastT > 250) {
              const inst = ((p.done - lastDone) / (now - lastT)) * 1000;
              speed = speed ? speed * 0.6 + inst * 0.4 : inst;
              lastDone = p.done; lastT = now;
            }
            const avg = p.ms ? (p.done / p.ms) * 1000 : 0;
            bar.label = `Downloading ${fmtBytes(p.done)} of ${fmtBytes(p.total)} · ${fmtBytes(speed || avg)}/s · ${fmtMs(p.ms)}`;
            phase('download', 'active', `${Math.round(frac * 100)}%`);
          } else if (p.phase === 'verify') {
            phase('download', 'done');
            phase('verify', 'done', 'match');
            sha256 = p.sha256;
            bar.label = file ? 'Reading the file…' : 'sha256 matches the manifest; reading the file…';
            if (file) showFileHash(file, p.sha256);
          } else {
            for (const [k] of PHASES) {
              if (k === p.phase) break;
              const li = phases.querySelector(`[data-phase="${k}"]`);
              if (li?.dataset.state !== 'done') phase(k, 'done');
            }
            phase(p.phase, 'active', `${p.done}/${p.total}`);
            bar.label = `Reading ${p.phase}: ${p.done} of ${p.total}`;
          }
        },
      });
      const tm = result.timings;
      phase('download', 'done', `${fmtMs(tm.download)} · ${fmtBytes((result.info.file_bytes / tm.download) * 1000)}/s`);
      phase('verify', 'done', file ? 'no manifest hash for your file' : `${fmtMs(tm.hash)} (while downloading)`);
      for (const k of ['header', 'tensors', 'tokenizer']) phase(k, 'done', tm[k] != null ? fmtMs(tm[k]) : '');
      bar.value = 100;
      bar.state = 'done';
      bar.label = `Loaded ${fmtBytes(result.info.file_bytes)}${result.cache?.source === 'cache' ? ' from this device\'s cache' : ''} in ${fmtMs(performance.now() - t0)}; everything below runs in this tab.`
        + (result.cache && !result.cache.stored ? ` Not kept for offline use: ${result.cache.reason}.` : '');
      loader.dataset.state = 'done';
      $('loader-title').textContent = 'Model loaded';
      $('load-cancel').hidden = true;
      setMemory(result.memory);
      $('net').arm();
      const match = file ? showRecognised(result.info) : null;
      onLoaded({ engine: eng, model, info: result.info, sha256: result.sha256, build: eng.build, memory: result.memory, match, cache: result.cache });
    } catch (e) {
      bar.state = 'error';
      loader.dataset.state = 'error';
      bar.label = e.kind === Kind.ABORTED ? 'Loading was cancelled.' : 'Loading failed.';
      for (const li of phases.querySelectorAll('[data-state="active"]')) li.dataset.state = 'error';
      // "[kind] message"; the kind once only when the engine's message starts with it ("unsupported: ...").
      const said = !e.kind || String(e.message).startsWith(e.kind);
      $('load-error').textContent = `${said ? '' : `[${e.kind}] `}${e.message}`;
      $('load-error').hidden = false;
      $('load-retry').hidden = false;
      $('load-cancel').hidden = true;
      onFailed?.(model, sha256);
    } finally {
      if (controller === ctl) controller = null;
      if (file && model) URL.revokeObjectURL(model.url);
    }
  }

  /** The worker died (out of memory, a crash it could not recover from): say so, offer a fresh one. */
  function died(e) {
    loader.dataset.state = 'error';
    bar.state = 'error';
    bar.label = 'The engine stopped.';
    $('load-error').textContent = `The engine's worker stopped (${e.message}). Load again to start a new one.`;
    $('load-error').hidden = false;
    $('load-retry').hidden = false;
  }

  function setMemory(bytes) { $('memory-chip').textContent = `wasm ${fmtBytes(bytes)}`; }

  // A GGUF of one's own: chosen, or dropped anywhere on the page.
  $('file-input').addEventListener('change', (e) => {
    const f = e.target.files?.[0];
    e.target.value = '';
    if (f) load(f);
  });
  document.addEventListener('dragover', (e) => {
    if (![...(e.dataTransfer?.types ?? [])].includes('Files')) return;
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (e) => { if (!e.relatedTarget) document.body.classList.remove('dragging'); });
  document.addEventListener('drop', (e) => {
    document.body.classList.remove('dragging');
    const f = e.dataTransfer?.files?.[0];
    if (!f) return;
    e.preventDefault();
    load(f);
  });
  $('load-cancel').addEventListener('click', () => controller?.abort());
  $('load-retry').addEventListener('click', () => load());

  /** The manifest, once read (null before): the picker and the openness comparison list it. */
  async function readAll() {
    if (!manifest) {
      try { manifest = (await readManifest(manifestUrl)).manifest; } catch { manifest = null; }
    }
    return manifest;
  }

  return {
    load, died, setMemory, readAll,
    get currentId() { return currentId; },
    /** The network meter: busy while the engine generates (no request may go out), else armed. */
    setBusy: (on) => { $('net').state = on ? 'busy' : 'armed'; },
  };
}
