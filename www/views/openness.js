// The openness card: the model part by part as the manifest describes it (weights, inference code,
// training code, training data), the sha256 of the file in this tab against the manifest's, and the
// sha256 of the wasm running in this tab; and above it the models side by side (#compare): the
// seed's question answered per model from what this tab did, then each part of the definition.
// DOM: #compare, #open-lede, #open-grid, #open-note.

import { el } from '../components/util.js';
import { fmtBytes, fmtInt } from '../format.js';
import { licenceName } from '../models.js';

const $ = (id) => document.getElementById(id);

function link(url, text) {
  const a = el('a', '', text ?? url);
  a.href = url;
  if (/^https?:/.test(url)) { a.rel = 'noopener'; a.target = '_blank'; }
  return a;
}

const PARTS = [
  ['weights', 'Weights and their licence'],
  ['inference_code', 'Inference code'],
  ['training_code', 'Training code'],
  ['training_data', 'Training data (where to get it)'],
];

function badge(status) {
  const st = String(status ?? 'unknown');
  const cls = st === 'open' ? 'open' : st === 'available' || st === 'mostly published' ? 'available'
    : /not released|restricted|not /.test(st) ? 'closed' : 'partial';
  return el('span', `badge ${cls}`, st);
}

/**
 * The comparison: one column per model of the manifest (hosted, then the "bring the file" entry
 * that has an openness card; a dropped file counts for the entry it matched). tab: id -> what this
 * tab did with that model ({source, url, sha256, sha256ok, user, ran: {tokens}, netDuring}).
 */
export function compareTable(manifest, tab) {
  const t = $('compare');
  t.replaceChildren();
  if (!manifest) return;
  const cols = [...manifest.models.map((m) => ({ m, hosted: true })),
    ...(manifest.bring_the_file ?? []).filter((m) => m.openness).map((m) => ({ m, hosted: false }))];
  const head = el('tr');
  head.append(el('th', '', ''));
  for (const { m, hosted } of cols) {
    const th = el('th');
    th.scope = 'col';
    th.dataset.id = m.id;
    th.append(link(m.upstream.url, m.name), el('span', 'muted small', hosted ? ` · ${fmtBytes(m.bytes)}` : ' · bring the file'));
    head.append(th);
  }
  t.append(el('thead'));
  t.tHead.append(head);
  const tb = el('tbody');

  // The seed's question, from this tab.
  const q = el('tr', 'seed-row');
  q.dataset.testid = 'seed-row';
  const qh = el('th', '', 'Can I download it, build it and run it on my own machine without the company\'s servers?');
  qh.scope = 'row';
  q.append(qh);
  for (const { m, hosted } of cols) {
    const did = tab.get(m.id);
    const td = el('td');
    td.dataset.id = m.id;
    const lines = [];
    if (did) {
      const from = did.user ? 'your file, read from this device' : `downloaded from ${new URL(did.url, location.href).host}${did.source === 'cache' ? ' (this device\'s copy, checked again)' : ''}`;
      lines.push(from);
      lines.push(did.user ? `sha256 ${did.sha256.slice(0, 12)}… (no manifest hash for a file of one's own)` : did.sha256ok ? 'sha256 checked: matches the manifest' : 'sha256 differs: refused');
      lines.push(did.ran ? `ran here: ${fmtInt(did.ran.tokens)} tokens generated in WebAssembly in this tab, ${did.ran.net ?? 0} network requests while it ran` : 'loaded here; not run yet (generate in the Inference tab)');
    } else {
      lines.push(hosted ? `not tried in this tab yet: pick it above (${fmtBytes(m.bytes)})` : 'not hosted here: get a GGUF from its upstream and drop it on the page');
    }
    const yes = did?.ran && (did.user || did.sha256ok);
    td.dataset.answer = yes ? 'yes' : 'not yet';
    td.append(el('span', `badge ${yes ? 'open' : 'partial'}`, yes ? 'yes' : 'not yet'));
    const ul = el('ul', 'small');
    for (const l of lines) ul.append(el('li', '', l));
    td.append(ul);
    q.append(td);
  }
  tb.append(q);

  for (const [key, title] of PARTS) {
    const tr = el('tr');
    tr.dataset.part = key;
    const th = el('th', '', title);
    th.scope = 'row';
    tr.append(th);
    for (const { m } of cols) {
      const p = m.openness?.[key];
      const td = el('td');
      td.dataset.id = m.id;
      if (!p) { td.append(el('span', 'muted', 'no facts in the manifest')); tr.append(td); continue; }
      td.append(badge(p.status));
      if (key === 'weights') td.append(el('p', 'small', `Licence: ${licenceName(m.licence)}${m.licence?.osi_approved === false ? ' (not OSI-approved)' : ''}.`));
      td.append(el('p', 'small', p.summary));
      const src = (p.facts ?? []).filter((f) => f.url);
      if (src.length) {
        const s = el('p', 'small sources');
        s.append('Sources: ');
        src.forEach((f, i) => { if (i) s.append(', '); const a = link(f.url, String(i + 1)); a.title = f.text; s.append(a); });
        td.append(s);
      }
      if (key === 'training_data') {
        const ds = p.datasets ?? [];
        const d = el('p', 'small datasets-inline');
        if (ds.length) {
          d.append('Get it: ');
          ds.forEach((x, i) => { if (i) d.append(', '); d.append(link(x.url, x.name)); });
        } else d.textContent = 'No dataset to download.';
        td.append(d);
      }
      tr.append(td);
    }
    tb.append(tr);
  }
  t.append(tb);
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
      $('open-lede').textContent = m?.user ? 'This file is none of the manifest\'s models: the page has no openness facts for it.' : 'The manifest has no openness facts for this model.';
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
      h.append(badge(p.status));
      box.append(h, el('p', '', p.summary));
      if (key === 'weights' && m.sha256) box.append(hashBlock(m, sha256, loaded));
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

  return { show, compare: compareTable };
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
