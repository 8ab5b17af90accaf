// One tensor, up close: its real values dequantized by the engine and downsampled to a heatmap,
// its histogram and stats, and one block (row, block) decoded code by code. The block geometry
// (values per block, bytes per block, blocks per row) and the rows and columns are the engine's
// (info's tensor.block, rows, cols); the page does not compute them. DOM: #tensor-detail and
// what is inside it.

import { absQuantile, lut } from '../colormap.js';
import { el } from '../components/util.js';
import { fmtBytes, fmtInt, fmtNum } from '../format.js';
import { latestOnly, STALE } from '../latest.js';

const $ = (id) => document.getElementById(id);

const DECODE = {
  Q4_1: (n, bytes) => `Q4_1 stores ${n} weights in ${bytes} bytes: a scale d and a minimum m (16-bit floats) and ${n} four-bit codes. Each weight is d × code + m.`,
  Q8_0: (n, bytes) => `Q8_0 stores ${n} weights in ${bytes} bytes: a scale d (16-bit float) and ${n} signed 8-bit codes. Each weight is d × code.`,
};

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
    const type = b.type ?? t.type;
    const values = b.values ?? [];
    $('blk-explain').textContent = DECODE[type]?.(g.elements, g.bytes) ?? `${type} stores plain numbers; there is no code to decode.`;
    const box = $('block');
    box.replaceChildren();
    box.dataset.type = type;
    box.dataset.d = b.d != null ? String(b.d) : '';
    box.dataset.m = b.m != null ? String(b.m) : '0';
    const head = el('div', 'head');
    const addHead = (k, v) => { const s = el('span'); s.append(el('b', '', `${k} `), document.createTextNode(v)); head.append(s); };
    addHead('row', String(b.row ?? row));
    addHead('block', `${b.block ?? block} (columns ${col0}–${col0 + (values.length || g.elements) - 1})`);
    if (b.d != null) addHead('d', fmtNum(b.d, 6));
    if (b.m != null) addHead('m', fmtNum(b.m, 6));
    box.append(head);
    const amax = Math.max(1e-12, ...values.map((v) => Math.abs(v)));
    const table = lut('diverging');
    values.forEach((v, i) => {
      const cell = el('div', 'cell');
      cell.dataset.value = String(v);
      if (b.codes) cell.dataset.code = String(b.codes[i]);
      const tIdx = Math.round(((v / amax + 1) / 2) * 255);
      const [r, gr, bl] = [table[tIdx * 3], table[tIdx * 3 + 1], table[tIdx * 3 + 2]];
      cell.style.background = `rgb(${r} ${gr} ${bl})`;
      cell.classList.add(0.299 * r + 0.587 * gr + 0.114 * bl < 128 ? 'dark' : 'light');
      if (b.codes) cell.append(el('span', 'code', String(b.codes[i])));
      cell.append(el('span', 'val', fmtNum(v, 3)));
      cell.title = `column ${col0 + i}: ${b.codes ? `code ${b.codes[i]} → ` : ''}${v}`;
      box.append(cell);
    });
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
