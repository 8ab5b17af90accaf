// The weights view: what the GGUF header says (facts, all metadata), where the file's bytes go,
// and the table of every tensor (sortable, filterable, grouped by layer, keyboard-navigable).
// Picking a row hands the tensor to views/tensor.js. Each tensor's group (embedding, attention,
// mlp, norm, output, other), layer, type and block geometry come from the engine's info. The bytes
// are broken down twice: by part of the model and by weight type (bytes, tensors, bits per
// weight); the table filters by text and by type. DOM: the Weights panel's #file-lede, #facts,
// #metadata, #meta-count, #bytes-bar, #bytes-legend, #tensors, #tensor-count, #tensor-filter,
// #group-layers, and what this view adds next to them (#bytes-type-bar, #bytes-type-legend,
// #tensor-type).

import { el } from '../components/util.js';
import { fmtBytes, fmtInt, fmtNum, fmtPct } from '../format.js';

const $ = (id) => document.getElementById(id);

// The engine's tensor groups, in the order the bar shows them, and the bytes that are no tensor's.
const CATEGORIES = [
  ['embedding', 'token embedding'], ['attention', 'attention (q, k, v, output)'],
  ['mlp', 'MLP (gate, up, down)'], ['norm', 'norms'], ['output', 'output head'],
  ['other', 'other tensors'], ['header', 'header, metadata, vocabulary'],
];

/** onSelect(tensor, row): a row was picked (click, Enter or Space). */
export function weightsView({ onSelect }) {
  let info = null, model = null;
  let tensors = [];        // info.tensors + index and share of the file
  let selected = null;     // name
  let sort = { key: 'name', dir: 1 };
  const collapsed = new Set();
  const table = $('tensors');
  const { typeBar, typeLegend, typeSelect } = addTypeParts();

  function metaValue(key) {
    return info.metadata?.find((m) => m.key === key)?.value;
  }

  function renderFacts() {
    const c = info.config;
    const params = info.tensors.reduce((s, t) => s + t.n_params, 0);
    const licence = metaValue('general.license') ?? model?.licence?.spdx;
    const rows = [
      ['name', info.name ?? metaValue('general.name') ?? '–'],
      ['architecture', info.architecture],
      ['file', `${fmtBytes(info.file_bytes)} · GGUF v${info.gguf_version}`],
      ['parameters', `${fmtInt(params)} (${(params / 1e6).toFixed(1)} M)`],
      ['tensors', fmtInt(info.tensors.length)],
      ['weight types', byType().map((x) => `${x.type} (${x.count})`).join(', ')],
      ['layers', c.n_layer],
      ['attention heads', `${c.n_head} query · ${c.n_head_kv} key/value`],
      ['head size', c.head_dim],
      ['embedding width', c.n_embd],
      ['MLP width', c.n_ff],
      ['vocabulary', fmtInt(c.n_vocab)],
      ['context', c.n_ctx ? `${fmtInt(c.n_ctx)} tokens (trained ${fmtInt(c.n_ctx_train)})` : `trained on ${fmtInt(c.n_ctx_train)} tokens`],
      ['RoPE θ', fmtInt(c.rope_theta)],
      ['RMSNorm ε', fmtNum(c.rms_eps, 3)],
      ['output head', c.tied_output ? 'tied to token_embd' : c.tied_output === false ? 'its own tensor' : '–'],
      ['licence', licence ?? 'not stated in the file'],
      ['special ids', `bos ${info.bos_id} · eos ${info.eos_id} · end-of-generation ${(info.eog_ids ?? []).join(', ')}`],
    ];
    const dl = $('facts');
    dl.replaceChildren();
    for (const [k, v] of rows) {
      const d = el('div');
      d.append(el('dt', '', k), el('dd', '', String(v)));
      if (k === 'special ids' || k === 'weight types') d.className = 'wide';
      dl.append(d);
    }
    $('file-lede').textContent = `${info.name ?? 'The model'} as stored in this GGUF file: what the header says about itself.`;
  }

  function renderMetadata() {
    const tbody = $('metadata').tBodies[0];
    tbody.replaceChildren();
    const meta = info.metadata ?? [];
    $('meta-count').textContent = `(${meta.length} keys)`;
    for (const m of meta) {
      const tr = el('tr');
      const td = el('td');
      if (Array.isArray(m.value) || m.len != null) {
        const items = Array.isArray(m.value) ? m.value : [];
        const shown = items.map((x) => (typeof x === 'string' ? JSON.stringify(x) : String(x))).join(', ');
        td.append(document.createTextNode(`[${shown}${(m.len ?? items.length) > items.length ? ', …' : ''}]`));
        if ((m.len ?? 0) > items.length) td.append(el('span', 'summary', ` first ${items.length} of ${fmtInt(m.len)}`));
      } else if (typeof m.value === 'string' && (m.value.length > 160 || m.value.includes('\n'))) {
        td.append(el('span', 'long', m.value));
      } else {
        td.textContent = typeof m.value === 'string' ? m.value : JSON.stringify(m.value);
      }
      const type = m.len != null ? `${m.type} × ${fmtInt(m.len)}` : m.type;
      tr.append(el('td', '', m.key), el('td', '', type), td);
      tbody.append(tr);
    }
  }

  // ------------------------------------------------------------ where the bytes go

  function renderBytes() {
    const file = info.file_bytes;
    const sums = Object.fromEntries(CATEGORIES.map(([k]) => [k, 0]));
    let tensorBytes = 0;
    for (const t of tensors) { sums[t.group] = (sums[t.group] ?? 0) + t.bytes; tensorBytes += t.bytes; }
    sums.header += file - tensorBytes;
    const bar = $('bytes-bar'), legend = $('bytes-legend');
    bar.replaceChildren();
    legend.replaceChildren();
    for (const [k, label] of CATEGORIES) {
      const v = sums[k];
      if (!v) continue;
      const share = v / file;
      const seg = el('span', `cat-${k}`);
      seg.style.flexBasis = `${share * 100}%`;
      seg.title = `${label}: ${fmtBytes(v)} (${fmtPct(share)})`;
      bar.append(seg);
      const li = el('li');
      li.append(el('span', `sw cat-${k}`), el('span', '', label), el('span', 'n', `${fmtBytes(v)} · ${fmtPct(share)}`));
      legend.append(li);
    }
    bar.setAttribute('aria-label', `Share of the file: ${CATEGORIES.filter(([k]) => sums[k])
      .map(([k, l]) => `${l} ${fmtPct(sums[k] / file)}`).join(', ')}`);
    renderTypes();
  }

  /** The tensors per ggml type: bytes, count and bits per weight (the engine's block geometry),
   * the most bytes first. */
  function byType() {
    const m = new Map();
    for (const t of info.tensors) {
      const e = m.get(t.type) ?? { type: t.type, bytes: 0, count: 0, params: 0, bits: (t.block.bytes * 8) / t.block.elements };
      e.bytes += t.bytes;
      e.count += 1;
      e.params += t.n_params;
      m.set(t.type, e);
    }
    return [...m.values()].sort((a, b) => b.bytes - a.bytes || a.type.localeCompare(b.type));
  }

  function renderTypes() {
    const file = info.file_bytes;
    const types = byType();
    typeBar.replaceChildren();
    typeLegend.tBodies[0].replaceChildren();
    for (const x of types) {
      const share = x.bytes / file;
      const seg = el('span', typeClass(x.type));
      seg.dataset.type = x.type;
      seg.style.flexBasis = `${share * 100}%`;
      seg.title = `${x.type}: ${x.count} tensors, ${fmtBytes(x.bytes)} (${fmtPct(share)}), ${fmtNum(x.bits, 5)} bits per weight`;
      if (share > 0.06) seg.append(el('span', 'seg-label', x.type));
      typeBar.append(seg);
      const tr = el('tr');
      tr.dataset.type = x.type;
      tr.dataset.bytes = String(x.bytes);
      tr.dataset.count = String(x.count);
      const pick = el('button', 'type-pick');
      pick.type = 'button';
      pick.title = `Show only the ${x.type} tensors in the table (again: every type)`;
      pick.append(el('span', `sw ${typeClass(x.type)}`), el('span', 'mono', x.type));
      pick.addEventListener('click', () => {
        typeSelect.value = typeSelect.value === x.type ? '' : x.type;
        renderTable();
      });
      const th = el('th');
      th.scope = 'row';
      th.append(pick);
      tr.append(th, el('td', 'num', fmtNum(x.bits, 5)), el('td', 'num', fmtInt(x.count)), el('td', 'num', fmtInt(x.params)),
        el('td', 'num', fmtBytes(x.bytes)), el('td', 'num', fmtPct(share)));
      typeLegend.tBodies[0].append(tr);
    }
    // The bytes that are no tensor's, so that the bar is the whole file as the one above is.
    const rest = file - types.reduce((s, x) => s + x.bytes, 0);
    if (rest > 0) {
      const seg = el('span', 'cat-header');
      seg.style.flexBasis = `${(rest / file) * 100}%`;
      seg.title = `header, metadata, vocabulary (no tensor's): ${fmtBytes(rest)} (${fmtPct(rest / file)})`;
      typeBar.append(seg);
      const tr = el('tr', 'rest');
      const th = el('th');
      th.scope = 'row';
      th.colSpan = 4;
      th.append(el('span', 'sw cat-header'), document.createTextNode(' header, metadata, vocabulary (no tensor)'));
      tr.append(th, el('td', 'num', fmtBytes(rest)), el('td', 'num', fmtPct(rest / file)));
      typeLegend.tBodies[0].append(tr);
    }
    typeBar.setAttribute('aria-label', `Share of the file by weight type: ${types.map((x) => `${x.type} ${fmtPct(x.bytes / file)} (${x.count} tensors)`).join(', ')}`);
    const keep = typeSelect.value;
    typeSelect.replaceChildren(el('option', '', `every type (${info.tensors.length})`));
    typeSelect.options[0].value = '';
    for (const x of types) {
      const o = el('option', '', `${x.type} (${x.count})`);
      o.value = x.type;
      typeSelect.append(o);
    }
    typeSelect.value = types.some((x) => x.type === keep) ? keep : '';
  }

  // ------------------------------------------------------------ the tensor table

  function renderTable() {
    for (const tb of [...table.tBodies]) tb.remove();
    const filter = $('tensor-filter').value.trim().toLowerCase();
    const only = typeSelect.value;
    const grouped = $('group-layers').checked;
    const { key, dir } = sort;
    const cmp = (a, b) => {
      let r;
      if (key === 'name') r = a.name.localeCompare(b.name, 'en', { numeric: true });
      else if (key === 'type' || key === 'shape') r = String(key === 'shape' ? a.shape.join('×') : a.type).localeCompare(String(key === 'shape' ? b.shape.join('×') : b.type), 'en', { numeric: true });
      else r = a[key] - b[key];
      return r * dir || a.index - b.index;
    };
    const rows = tensors.filter((t) => (!only || t.type === only)
      && (!filter || t.name.toLowerCase().includes(filter) || t.type.toLowerCase().includes(filter)));
    $('tensor-count').textContent = filter || only ? `(${rows.length} of ${tensors.length})` : `(${tensors.length})`;
    for (const tr of typeLegend.tBodies[0].rows) tr.classList.toggle('on', tr.dataset.type === only);

    // Grouped: the tensors outside the layers first, then layer by layer.
    const groups = new Map();
    if (grouped) {
      const layers = [...new Set(rows.map((t) => t.layer))].sort((a, b) => (a ?? -1) - (b ?? -1));
      for (const l of layers) groups.set(l, rows.filter((t) => t.layer === l).sort(cmp));
    } else {
      groups.set(undefined, [...rows].sort(cmp));
    }
    const maxShare = Math.max(...tensors.map((t) => t.share));
    for (const [layer, list] of groups) {
      const tb = el('tbody');
      if (layer !== undefined) tb.append(groupRow(tb, layer, list));
      for (const t of list) tb.append(tensorRow(t, maxShare));
      table.append(tb);
    }
    for (const th of table.tHead.rows[0].cells) {
      const b = th.querySelector('button');
      const on = b.dataset.sort === key;
      th.setAttribute('aria-sort', on ? (dir > 0 ? 'ascending' : 'descending') : 'none');
    }
    const sel = table.querySelector('tr.t-row[aria-selected="true"]') ?? table.querySelector('tr.t-row');
    if (sel) sel.tabIndex = 0;
  }

  function groupRow(tb, layer, list) {
    const gkey = String(layer);
    if (collapsed.has(gkey)) tb.classList.add('collapsed');
    const tr = el('tr', 'group');
    const th = el('th');
    th.colSpan = 6;
    th.scope = 'rowgroup';
    const b = el('button');
    b.type = 'button';
    b.setAttribute('aria-expanded', String(!collapsed.has(gkey)));
    const bytes = list.reduce((s, t) => s + t.bytes, 0), params = list.reduce((s, t) => s + t.n_params, 0);
    b.append(el('span', 'chev', '▾'), el('span', '', layer == null ? 'outside the layers' : `layer ${layer}`),
      el('span', 'g-meta', `${list.length} tensor${list.length === 1 ? '' : 's'} · ${fmtInt(params)} params · ${fmtBytes(bytes)}`));
    b.addEventListener('click', () => {
      const now = !tb.classList.toggle('collapsed');
      b.setAttribute('aria-expanded', String(now));
      if (now) collapsed.delete(gkey); else collapsed.add(gkey);
    });
    th.append(b);
    tr.append(th);
    return tr;
  }

  function tensorRow(t, maxShare) {
    const tr = el('tr', 't-row');
    tr.dataset.name = t.name;
    tr.setAttribute('data-testid', 'tensor-row');
    tr.tabIndex = -1;
    tr.setAttribute('aria-selected', String(selected === t.name));
    const name = el('td', 'name');
    const dot = t.name.lastIndexOf('.', t.name.length - 8);
    if (t.layer != null && dot > 0) {
      name.append(el('span', 'pre', t.name.slice(0, dot + 1)), document.createTextNode(t.name.slice(dot + 1)));
    } else name.textContent = t.name;
    const type = el('td', 'type');
    type.append(el('span', typeClass(t.type), t.type));
    const share = el('td', 'num share-cell');
    const s = el('span', 'share');
    const i = el('i');
    i.style.width = `${(t.share / maxShare) * 3}rem`;
    s.append(i, document.createTextNode(fmtPct(t.share, 2)));
    share.append(s);
    tr.append(name, type, el('td', 'shape', t.shape.join(' × ')), el('td', 'num params', fmtInt(t.n_params)),
      el('td', 'num', fmtBytes(t.bytes)), share);
    return tr;
  }

  /** Marks `name` as the selected row (the table's one tab stop) and asks for its detail. */
  function select(name, row) {
    const t = tensors.find((x) => x.name === name);
    if (!t) return;
    selected = name;
    for (const r of table.querySelectorAll('tr.t-row')) {
      const on = r.dataset.name === name;
      r.setAttribute('aria-selected', String(on));
      r.tabIndex = on ? 0 : -1;
    }
    row?.focus?.({ preventScroll: true });
    onSelect(t);
  }

  table.tHead.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-sort]');
    if (!b) return;
    const key = b.dataset.sort;
    sort = { key, dir: sort.key === key ? -sort.dir : key === 'name' ? 1 : -1 };
    renderTable();
  });
  table.addEventListener('click', (e) => {
    const tr = e.target.closest('tr.t-row');
    if (tr) select(tr.dataset.name, tr);
  });
  table.addEventListener('keydown', (e) => {
    const tr = e.target.closest?.('tr.t-row');
    if (!tr) return;
    const rows = [...table.querySelectorAll('tr.t-row')].filter((r) => r.offsetParent);
    const i = rows.indexOf(tr);
    let j = null;
    if (e.key === 'ArrowDown') j = Math.min(rows.length - 1, i + 1);
    else if (e.key === 'ArrowUp') j = Math.max(0, i - 1);
    else if (e.key === 'Home') j = 0;
    else if (e.key === 'End') j = rows.length - 1;
    else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(tr.dataset.name, tr); return; }
    if (j == null) return;
    e.preventDefault();
    tr.tabIndex = -1;
    rows[j].tabIndex = 0;
    rows[j].focus();
  });
  $('tensor-filter').addEventListener('input', () => renderTable());
  $('group-layers').addEventListener('change', () => renderTable());
  typeSelect.addEventListener('change', () => renderTable());

  return {
    /** A model was loaded: draw its facts, metadata, bytes and tensors; pick a first tensor. */
    show(newInfo, newModel) {
      info = newInfo;
      model = newModel;
      tensors = info.tensors.map((t, i) => ({ ...t, index: i, share: t.bytes / info.file_bytes }));
      renderFacts();
      renderMetadata();
      renderBytes();
      renderTable();
      // Start with something to look at: the first attention matrix.
      const first = tensors.find((t) => t.name === 'blk.0.attn_q.weight') ?? tensors.find((t) => t.shape.length === 2);
      if (first && !selected) select(first.name);
    },
  };
}

/** The class that colours a ggml type (style.css: .ty-F32 ... .ty-Q6_K; .ty-other for any other). */
const TYPES = new Set(['F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']);
function typeClass(type) { return TYPES.has(type) ? `ty ty-${type}` : 'ty ty-other'; }

/** Adds, once, the bar and legend of bytes by type below the bar by part, and the type filter
 * next to the text filter. */
function addTypeParts() {
  const legend = $('bytes-legend');
  const card = legend.parentElement;
  const cap = (text) => el('h3', 'bar-cap', text);
  $('bytes-bar').before(cap('By part of the model'));
  const typeBar = el('div', 'bytes-bar by-type');
  typeBar.id = 'bytes-type-bar';
  typeBar.setAttribute('data-testid', 'bytes-by-type');
  typeBar.setAttribute('role', 'img');
  const typeLegend = el('table', 'type-table');
  typeLegend.id = 'bytes-type-legend';
  typeLegend.setAttribute('data-testid', 'bytes-type-table');
  const head = el('tr');
  for (const [h, num] of [['type', false], ['bits/weight', true], ['tensors', true], ['parameters', true], ['bytes', true], ['share', true]]) {
    const th = el('th', num ? 'num' : '', h);
    th.scope = 'col';
    head.append(th);
  }
  typeLegend.append(el('thead'), el('tbody'));
  typeLegend.tHead.append(head);
  card.append(cap('By weight type'), typeBar, typeLegend);
  const label = el('label', 'inline');
  label.append(el('span', 'sr-only', 'Only tensors of type'));
  const typeSelect = el('select');
  typeSelect.id = 'tensor-type';
  label.append(typeSelect);
  $('tensor-filter').closest('label').before(label);
  return { typeBar, typeLegend, typeSelect };
}
