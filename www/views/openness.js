// The openness card: the model part by part as the manifest describes it (weights, inference code,
// training code, training data), the sha256 of the file in this tab against the manifest's, and the
// sha256 of the wasm running in this tab. DOM: #open-lede, #open-grid, #open-note.

import { el } from '../components/util.js';

const $ = (id) => document.getElementById(id);

function link(url, text) {
  const a = el('a', '', text ?? url);
  a.href = url;
  if (/^https?:/.test(url)) { a.rel = 'noopener'; a.target = '_blank'; }
  return a;
}

export function opennessView() {
  /**
   * model: the manifest entry (or the chosen file); sha256: of the file in this tab, if known;
   * loaded: whether the file finished loading; build: the engine's READY build (wasm_sha256).
   */
  function show({ model: m, sha256, loaded, build }) {
    const o = m?.openness;
    const grid = $('open-grid');
    grid.replaceChildren();
    if (!o) {
      $('open-lede').textContent = 'The manifest has no openness facts for this model.';
      if (build?.wasm_sha256) grid.append(wasmBlock(build));
      return;
    }
    $('open-lede').textContent = `${m.name}, part by part, as the ${o.definition?.name ?? 'Open Source AI Definition'} splits it.`;
    $('open-lede').append(' ', link(o.definition.url, 'Read the definition.'));
    const parts = [
      ['weights', 'Weights', o.weights],
      ['inference_code', 'Inference code', o.inference_code],
      ['training_code', 'Training code', o.training_code],
      ['training_data', 'Training data', o.training_data],
    ];
    for (const [key, title, p] of parts) {
      if (!p) continue;
      const box = el('section', 'part');
      box.dataset.part = key;
      const h = el('h3', '', title);
      const badgeClass = p.status === 'open' ? 'open' : p.status === 'available' ? 'available' : 'partial';
      h.append(el('span', `badge ${badgeClass}`, p.status));
      box.append(h, el('p', '', p.summary));
      if (key === 'weights') box.append(hashBlock(m, sha256, loaded));
      if (key === 'inference_code' && build?.wasm_sha256) box.append(wasmBlock(build));
      if (p.facts?.length) {
        const ul = el('ul');
        for (const f of p.facts) {
          const li = el('li', '', `${f.text} `);
          if (f.url) li.append(link(f.url, 'source'));
          ul.append(li);
        }
        box.append(ul);
      }
      if (p.datasets?.length) box.append(datasetTable(p.datasets));
      grid.append(box);
    }
    $('open-note').textContent = o.note ?? '';
    if (o.paper) { $('open-note').append(' Paper: ', link(o.paper.url, o.paper.title)); }
  }

  return { show };
}

function datasetTable(datasets) {
  const wrap = el('div', 'table-wrap');
  const t = el('table', 'datasets');
  const head = el('tr');
  for (const c of ['dataset', 'used for', 'notes']) head.append(el('th', '', c));
  t.append(el('thead'));
  t.tHead.append(head);
  const tb = el('tbody');
  for (const d of datasets) {
    const tr = el('tr');
    const name = el('td');
    name.append(link(d.url, d.name));
    const notes = el('td', '', [d.licence ? `licence ${d.licence}` : '', d.note ?? ''].filter(Boolean).join('; '));
    if (d.source) { notes.append(notes.textContent ? ' · ' : '', link(d.source, 'source')); }
    tr.append(name, el('td', '', d.stage), notes);
    tb.append(tr);
  }
  t.append(tb);
  wrap.append(t);
  return wrap;
}

function hashRow(k, v, id) {
  const r = el('div');
  const c = el('code', '', v ?? '…');
  if (id) c.id = id;
  r.append(el('span', 'muted', k), c);
  return r;
}

function hashBlock(m, sha256, loaded) {
  const div = el('div', 'hashes');
  div.dataset.testid = 'hashes';
  div.append(hashRow('expected', m.sha256, 'sha-expected'),
    hashRow('this tab', sha256 ?? (loaded ? '?' : 'computed while downloading'), 'sha-computed'));
  const v = el('p', 'verdict');
  v.id = 'sha-verdict';
  if (sha256) {
    const ok = sha256 === m.sha256;
    v.classList.add(ok ? 'ok' : 'bad');
    v.textContent = ok ? '✓ The file in this tab is byte for byte the one the manifest pins.' : '✗ The hashes differ.';
  } else v.textContent = '';
  const wrap = el('div');
  wrap.append(div, v);
  const src = m.source;
  if (src) {
    const p = el('p', 'small muted', `Fetched for this project with: ${src.fetch ?? ''} `);
    if (src.url) p.append(link(src.url, 'package'));
    wrap.append(p);
  }
  return wrap;
}

/** The wasm this tab runs (hashed by the worker from the bytes it instantiated), and how to get
 * the same bytes oneself. */
function wasmBlock(build) {
  const p = el('p', 'small wasm-build');
  p.dataset.testid = 'wasm-hash';
  const file = build.wasm_url ? new URL(build.wasm_url, location.href).pathname.split('/').slice(-2).join('/') : '';
  const code = el('code', '', build.wasm_sha256);
  code.id = 'wasm-sha256';
  p.append('This tab runs wasm sha256 ', code, file ? ` (${file}). ` : '. ',
    el('code', '', './build.sh'), ' prints each wasm file\'s sha256; a clean build of the same commit gives the same bytes.');
  return p;
}
