// "Inside the step": one generated token up close: its probability, the distribution's entropy,
// the candidates the sampler kept (click one to continue from there), and the attention of the
// forward pass that produced it, per head of a layer and per layer (mean over heads). The
// arithmetic is views/attention-math.js; this file only asks the engine and draws.
// DOM: #inspector and what is inside it (#in-*, #alts, #layer, #attn-*).

import { el, visibleText } from '../components/util.js';
import { fmtInt, fmtMs, fmtPct } from '../format.js';
import { latestOnly, STALE } from '../latest.js';
import { headRows, layerMeans, topAttended, attentionAt, contextTokens } from './attention-math.js';

const $ = (id) => document.getElementById(id);

/**
 * onChoose(pos, id): the person picked candidate `id` at generated position `pos`.
 * deeper: the view of the same token through the layers (views/lens.js), shown along.
 */
export function inspectorView({ onChoose, deeper }) {
  let engine = null;
  let run = null;           // the generation shown: { fed, steps, capture } (views/inference.js)
  let pos = -1;             // the position shown
  let attn = null;          // { pos, nHead, nCtx, layers } of that position
  let timer = null;
  const cache = new Map();  // pos -> attention of the current generation
  const latest = latestOnly();

  function reset() {
    clearTimeout(timer);
    latest.cancel();
    cache.clear();
    attn = null;
    pos = -1;
    $('in-hint').hidden = false;
    $('in-body').hidden = true;
    $('attn-heads').clear();
    $('attn-layers').clear();
    deeper?.reset();
  }

  /** Shows position p of generation r; live: while streaming, at most every 120 ms, so that the
   * inspector never slows the tokens. */
  function show(r, p, live = false) {
    if (!r.steps[p]) return;
    run = r;
    pos = p;
    clearTimeout(timer);
    if (live) timer = setTimeout(() => render(p), 120);
    else render(p);
    deeper?.show(r, p, live);
  }

  /** The generation paused or ended: the deeper view may now ask the engine for the token shown. */
  function settle() {
    if (run && pos >= 0) deeper?.show(run, pos, false);
  }

  function render(p) {
    const entry = run.steps[p];
    if (!entry) return;
    const { step } = entry;
    $('in-hint').hidden = true;
    $('in-body').hidden = false;
    $('inspector').dataset.pos = String(p);
    $('in-pos').textContent = `token ${p}${entry.chosenId != null ? ' (you chose)' : ''}`;
    const shown = entry.chosenId != null ? entry.chosenText : step.text || step.piece;
    $('in-text').replaceChildren(visibleText(shown ?? ''));
    const prob = entry.chosenId != null ? step.top.find((c) => c.id === entry.chosenId)?.prob : step.prob;
    $('in-prob').textContent = prob != null ? fmtPct(prob) : '–';
    $('in-entropy').textContent = `${step.entropy.toFixed(2)} nats`;
    $('in-kept').textContent = fmtInt(step.kept);
    $('in-ms').textContent = step.ms != null ? fmtMs(step.ms) : '–';
    $('in-top-title').textContent = `Top ${step.top.length} candidates`;
    $('alts').set(step, { chosenId: entry.chosenId });
    renderAttention(p);
  }

  async function renderAttention(p) {
    const ticket = latest.start();
    let a = cache.get(p);
    try {
      if (!a) {
        a = await ticket(engine.attention(p));
        if (a === STALE) return;
        if (a.available) cache.set(p, a);
      }
    } catch (e) {
      a = { available: false, error: e.message };
    }
    if (!ticket.current) return;
    const box = $('attn-box'), missing = $('attn-missing');
    if (!a.available) {
      box.hidden = true;
      missing.hidden = false;
      missing.textContent = a.error ? `Attention unavailable: ${a.error}`
        : run.capture ? 'The attention of this step is no longer kept (the worker keeps the most recent steps within a memory budget).'
          : 'Attention was not captured: tick "keep attention" and generate again.';
      return;
    }
    box.hidden = false;
    missing.hidden = true;
    attn = { pos: p, ...a };
    draw();
  }

  function draw() {
    const a = attn;
    if (!a) return;
    const layer = Number($('layer').value);
    $('layer-out').textContent = String(layer);
    const { nHead, nCtx } = a;
    const heads = a.layers[layer];
    $('attn-heads').draw(headRows(heads, nHead, nCtx), nCtx, nHead, { lo: 0, hi: 1 });
    $('attn-heads').dataset.layer = String(layer);
    $('attn-layers').draw(layerMeans(a.layers, nHead, nCtx), nCtx, a.layers.length, { lo: 0, hi: 1 });
    $('attn-layers').marker = { x: 0, y: layer, w: nCtx, h: 1 };
    // The most attended tokens of this layer (mean over heads).
    const ctx = contextTokens(run.fed, run.steps, nCtx);
    const ol = $('attn-top');
    ol.replaceChildren();
    for (const { pos: j, share } of topAttended(heads, nHead, nCtx, 6)) {
      const li = el('li');
      const t = el('span', 'mono');
      t.append(visibleText(ctx[j]?.text ?? '?'));
      li.append(document.createTextNode(`#${j} `), t, el('span', 'pct', fmtPct(share)));
      ol.append(li);
    }
  }

  function hover(e, which) {
    const a = attn;
    const line = $('attn-hover');
    if (!a || !e.detail) { line.textContent = '\u00a0'; return; }
    const { x, y } = e.detail;
    const tok = contextTokens(run.fed, run.steps, a.nCtx)[x];
    const v = attentionAt(a, which, Number($('layer').value), x, y);
    line.replaceChildren(document.createTextNode(`layer ${v.layer}${v.head != null ? ` head ${v.head}` : ' (mean)'} → #${x} `));
    const s = el('span');
    s.append(visibleText(tok?.text ?? '?'));
    line.append(s, document.createTextNode(` : ${fmtPct(v.share, 2)}`));
  }

  $('layer').addEventListener('input', draw);
  $('attn-layers').addEventListener('pl-cell', (e) => { $('layer').value = String(e.detail.y); draw(); });
  $('attn-heads').addEventListener('pl-hover', (e) => hover(e, 'heads'));
  $('attn-layers').addEventListener('pl-hover', (e) => hover(e, 'layers'));
  $('alts').addEventListener('pl-choose', (e) => { if (pos >= 0) onChoose(pos, e.detail.id); });

  return {
    show, reset, settle,
    /** A model was loaded: the engine to ask, and its layer count for the slider. */
    setModel(e, info) { engine = e; $('layer').max = String(info.config.n_layer - 1); deeper?.setModel(e, info); },
    /** Positions after `p` were replaced (a person chose at p): their attention is gone. */
    forgetAfter(p) { for (const k of [...cache.keys()]) if (k > p) cache.delete(k); deeper?.forgetAfter(p); },
    /** The worker was replaced (a crash): nothing it captured is kept. */
    forgetAll() { cache.clear(); deeper?.forgetAll(); },
  };
}
