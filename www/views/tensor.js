// One tensor, up close: its real values dequantized by the engine and downsampled to a heatmap,
// its histogram and stats, and one block (row, block) decoded code by code. The block geometry
// (values per block, bytes per block, blocks per row) and the rows and columns are the engine's
// (info's tensor.block, rows, cols), and so is every part of a block (tensorBlock: its f16
// scales, the sub-blocks' scales and minimums, the codes, the formula, the values); the page
// only lays them out. DOM: #tensor-detail and what is inside it.

import { absQuantile, lut } from '../colormap.js';
import { el } from '../components/util.js';
import { fmtBytes, fmtInt, fmtNum } from '../format.js';
import { latestOnly, STALE } from '../latest.js';

const $ = (id) => document.getElementById(id);


export function tensorView() {
  let engine = null;
  let current = null; // { t, view, g } of the tensor drawn
  const latestView = latestOnly(), latestBlock = latestOnly();
  const detail = $('tensor-detail');

  function meta(t) {
    return `${t.type} · ${t.shape.join(' × ')} · ${fmtInt(t.n_params)} params · ${fmtBytes(t.bytes)} at offset ${fmtInt(t.offset)}`;
  }

  function setStat(id, v) {
    const dd = $(id);
    dd.textContent = fmtNum(v, 6);
    dd.dataset.value = String(v);
  }

  /** Draws tensor t (an entry of info.tensors). */
  async function show(t) {
    const name = t.name;
    current = null;
    latestBlock.cancel(); // the previous tensor's block is not drawn any more
    detail.dataset.state = 'loading';
    $('td-name').textContent = name;
    $('td-meta').textContent = `${meta(t)} · computing…`;
    $('td-body').hidden = false;
    let view;
    try {
      view = await latestView(engine.tensorView(name, { maxW: 448, maxH: 448, bins: 96 }));
    } catch (e) {
      $('td-meta').textContent = `The engine could not draw ${name}: ${e.message}`;
      detail.dataset.state = 'error';
      return;
    }
    if (view === STALE) return;
    $('td-meta').textContent = meta(t);
    const q = absQuantile(view.heatmap, 0.995) || Math.max(Math.abs(view.min), Math.abs(view.max)) || 1;
    const hm = $('td-heatmap');
    hm.draw(view.heatmap, view.width, view.height, { lo: -q, hi: q });
    hm.label = `Heatmap of ${name}, ${view.rows} rows by ${view.cols} columns`;
    hm.dataset.rows = String(view.rows);
    hm.dataset.cols = String(view.cols);
    const cellW = view.cols / view.width, cellH = view.rows / view.height;
    $('td-heat-caption').textContent = `${fmtInt(view.rows)} rows × ${fmtInt(view.cols)} columns drawn as ${view.width} × ${view.height} pixels`
      + (cellW > 1 || cellH > 1 ? `; each pixel is the mean of ${fmtNum(cellH)} × ${fmtNum(cellW)} values.` : '; one pixel per value.')
      + ' Click to pick a block.';
    const legend = $('td-legend');
    legend.setAttribute('lo', String(-q));
    legend.setAttribute('hi', String(q));
    legend.setAttribute('label', 'pixel value (blue negative, red positive; clipped at the 99.5th percentile)');
    setStat('td-min', view.min);
    setStat('td-max', view.max);
    setStat('td-mean', view.mean);
    setStat('td-std', view.std);
    $('td-hist').draw(view.histogram, view.min, view.max);
    const g = geometry(t);
    current = { t, view, g };
    $('blk-row').max = String(g.rows - 1);
    $('blk-block').max = String(g.perRow - 1);
    $('blk-row').value = '0';
    $('blk-block').value = '0';
    detail.dataset.state = 'ready';
    detail.dataset.tensor = name;
    await showBlock();
  }

  async function showBlock() {
    if (!current) return;
    const { t, view, g } = current;
    const row = clampInt($('blk-row'), 0, g.rows - 1);
    const block = clampInt($('blk-block'), 0, g.perRow - 1);
    const col0 = block * g.elements;
    // Where the block sits on the heatmap.
    $('td-heatmap').marker = {
      x: (col0 / g.cols) * view.width, y: (row / g.rows) * view.height,
      w: Math.max(1, (g.elements / g.cols) * view.width), h: Math.max(1, view.height / g.rows),
    };
    let b;
    try {
      b = await latestBlock(engine.tensorBlock(t.name, row, block));
    } catch (e) {
      $('block').replaceChildren(el('p', 'error', e.message));
      return;
    }
    if (b === STALE) return;
    drawBlock(b, t, g);
  }

  $('blk-row').addEventListener('change', showBlock);
  $('blk-block').addEventListener('change', showBlock);
  $('td-log').addEventListener('change', (e) => $('td-hist').toggleAttribute('log', e.target.checked));
  $('td-heatmap').addEventListener('pl-cell', (e) => {
    if (!current) return;
    const { view, g } = current;
    const { x, y } = e.detail;
    const row = Math.min(g.rows - 1, Math.floor(((y + 0.5) / view.height) * g.rows));
    const col = Math.min(g.cols - 1, Math.floor(((x + 0.5) / view.width) * g.cols));
    $('blk-row').value = String(row);
    $('blk-block').value = String(Math.min(g.perRow - 1, Math.floor(col / g.elements)));
    showBlock();
  });

  return {
    show,
    /** The engine to ask (a new one per load). */
    setEngine: (e) => { engine = e; },
  };
}

/** The block geometry of tensor t, the engine's: rows and cols as tensorBlock() counts them, and
 * the unit it shows (`elements` values in `bytes` bytes, `perRow` to a row). */
function geometry(t) {
  return { rows: t.rows, cols: t.cols, elements: t.block.elements, bytes: t.block.bytes, perRow: t.block.per_row };
}

function clampInt(input, lo, hi) {
  let v = Math.round(Number(input.value));
  if (!Number.isFinite(v)) v = lo;
  v = Math.max(lo, Math.min(hi, v));
  input.value = String(v);
  return v;
}

// ------------------------------------------------------------ one block

/**
 * Draws a tensorBlock answer into #block and its explanation into #blk-explain: the block's named
 * f16 scales, for the K-quants the sub-blocks' scales and minimums as a row of small cells, then
 * the values sub-block by sub-block (each cell a code and the value it decodes to), and the bytes
 * as stored. Floats: their values only.
 */
function drawBlock(b, t, g) {
  const type = b.type ?? t.type;
  const values = b.values ?? [];
  const codes = b.codes ?? [];
  const scales = b.scales ?? [];
  const subSc = b.sub_scales ?? [], subMin = b.sub_mins ?? [];
  const bytes = b.bytes ?? [];
  const col0 = b.col ?? b.block * g.elements;
  const hasCodes = codes.length === values.length && codes.length > 0;
  // A float's own bits (little-endian in the block's bytes), shown under its value.
  const per = !b.code_bits && values.length ? bytes.length / values.length : 0;
  const bits = (i) => bytes.slice(i * per, (i + 1) * per).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');
  $('blk-explain').textContent = explain(b, type, values.length, bytes.length);

  const box = $('block');
  box.replaceChildren();
  box.dataset.type = type;
  box.dataset.subLen = String(b.sub_len ?? '');
  for (const k of ['d', 'm', 'dmin']) delete box.dataset[k];
  for (const [k, v] of scales) box.dataset[k] = String(v);
  if (box.dataset.d != null && box.dataset.m == null && box.dataset.dmin == null) box.dataset.m = '0';

  const head = el('div', 'head');
  const addHead = (k, v) => { const s = el('span'); s.append(el('b', '', `${k} `), document.createTextNode(v)); head.append(s); };
  addHead('row', String(b.row));
  addHead('block', `${b.block} (columns ${col0}–${col0 + values.length - 1})`);
  addHead('at byte', `${fmtInt(b.offset)} · ${bytes.length} bytes`);
  box.append(head);

  if (scales.length) {
    const sc = el('div', 'scales');
    for (const [k, v] of scales) {
      const s = el('span', 'scale');
      s.dataset.name = k;
      s.append(el('b', '', k), document.createTextNode(` ${fmtNum(v, 6)}`));
      s.title = `${k} = ${v} (a 16-bit float)`;
      sc.append(s);
    }
    if (b.formula) {
      const f = el('span', 'formula');
      f.append(el('b', '', 'weight'), document.createTextNode(` = ${b.formula}`));
      sc.append(f);
    }
    box.append(sc);
  }

  // The sub-blocks' integer scales and minimums, one small cell per sub-block.
  if (subSc.length) {
    const subs = el('div', 'subs');
    subs.setAttribute('role', 'table');
    subs.setAttribute('aria-label', `${subSc.length} sub-blocks: scale${subMin.length ? ' and minimum' : ''} of each, as stored`);
    subs.style.setProperty('--n', String(subSc.length));
    const line = (label, list, cls, hint) => {
      const r = el('div', 'subs-row');
      r.setAttribute('role', 'row');
      const th = el('span', 'lbl', label);
      th.setAttribute('role', 'rowheader');
      if (hint) th.title = hint;
      r.append(th);
      list.forEach((v, j) => {
        const c = el('span', cls, String(v));
        c.setAttribute('role', 'cell');
        c.dataset.sub = String(j);
        c.dataset.value = String(v);
        if (cls !== 'idx') c.title = `sub-block ${j}: ${label} ${v}`;
        r.append(c);
      });
      subs.append(r);
    };
    const bits = b.sub_bits ? `${b.sub_bits}-bit ` : '';
    line('sub', subSc.map((_, j) => j), 'idx', 'sub-block');
    line('sc', subSc, 'sc', `each sub-block's ${bits}scale`);
    if (subMin.length) line('m', subMin, 'mn', `each sub-block's ${bits}minimum`);
    box.append(subs);
  }

  // The values, grouped by sub-block (one group for the 32-value types and the floats).
  const amax = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
  const table = lut('diverging');
  const subLen = subSc.length ? b.sub_len : values.length;
  for (let j = 0; j * subLen < values.length; j++) {
    const grp = el('div', 'sub');
    grp.dataset.sub = String(j);
    if (subSc.length) {
      grp.dataset.sc = String(subSc[j]);
      if (subMin.length) grp.dataset.m = String(subMin[j]);
      const h = el('div', 'sub-top');
      h.append(el('b', '', `sub-block ${j}`), document.createTextNode(` · columns ${col0 + j * subLen}–${col0 + (j + 1) * subLen - 1} · `),
        el('span', 'mono', `sc ${subSc[j]}${subMin.length ? ` · m ${subMin[j]}` : ''}`));
      grp.append(h);
    }
    const cells = el('div', 'cells');
    for (let i = j * subLen; i < Math.min(values.length, (j + 1) * subLen); i++) {
      const v = values[i];
      const cell = el('div', 'cell');
      cell.dataset.value = String(v);
      if (hasCodes) cell.dataset.code = String(codes[i]);
      const tIdx = Math.round(((v / amax + 1) / 2) * 255);
      const [r, gr, bl] = [table[tIdx * 3], table[tIdx * 3 + 1], table[tIdx * 3 + 2]];
      cell.style.background = `rgb(${r} ${gr} ${bl})`;
      cell.classList.add(0.299 * r + 0.587 * gr + 0.114 * bl < 128 ? 'dark' : 'light');
      if (hasCodes) {
        cell.append(el('span', 'code', String(codes[i])), el('span', 'val', fmtNum(v, 3)));
        cell.title = `column ${col0 + i}: code ${codes[i]} → ${v}`;
      } else {
        cell.classList.add('float');
        cell.append(el('span', 'fval', fmtNum(v, 4)));
        if (per) cell.append(el('span', 'val', bits(i)));
        cell.title = `column ${col0 + i}: ${v}${per ? ` (bits ${bits(i)})` : ''}`;
      }
      cells.append(cell);
    }
    grp.append(cells);
    box.append(grp);
  }

  // The bytes as stored, 16 to a line.
  if (bytes.length) {
    const raw = el('details', 'raw');
    raw.append(el('summary', '', `the ${bytes.length} bytes as stored`));
    const pre = el('pre');
    const lines = [];
    for (let i = 0; i < bytes.length; i += 16) {
      lines.push(`${String(i).padStart(4)}  ${bytes.slice(i, i + 16).map((x) => x.toString(16).padStart(2, '0')).join(' ')}`);
    }
    pre.textContent = lines.join('\n');
    raw.append(pre);
    box.append(raw);
  }
}

/** The block's layout in words, from the engine's answer: what is stored and how a weight is decoded. */
function explain(b, type, n, nbytes) {
  const scales = (b.scales ?? []).map(([k]) => k);
  const subSc = b.sub_scales ?? [], subMin = b.sub_mins ?? [];
  if (!b.code_bits) {
    const per = n ? nbytes / n : 0;
    return `${type} stores plain numbers, ${per * 8}-bit floats (${per} bytes each): no scale and no code to decode. This run is ${n} values in ${nbytes} bytes; under each value, its bits as stored (hex).`;
  }
  const and = (xs, sep = ', ') => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(sep)}${sep.trim() === ';' ? '; and' : ' and'} ${xs.at(-1)}`);
  const parts = [];
  if (scales.length) parts.push(`${scales.length > 1 ? 'scales' : 'a scale'} ${and(scales)} (16-bit float${scales.length > 1 ? 's' : ''})`);
  if (subSc.length) {
    const bits = b.sub_bits ? `${b.sub_bits}-bit ` : '';
    parts.push(`${subSc.length} sub-blocks of ${b.sub_len} weights, each with a ${bits}scale sc${subMin.length ? ` and a ${bits}minimum m` : ''}`);
  }
  parts.push(`${n} codes q of ${b.code_bits} bits each`);
  const own = subSc.length ? (subMin.length ? ', where sc and m are its sub-block\'s scale and minimum' : ', where sc is its sub-block\'s scale') : '';
  return `${type} stores ${n} weights in ${nbytes} bytes: ${and(parts, subSc.length ? '; ' : ', ')}. Each weight is ${b.formula}${own}.`;
}
