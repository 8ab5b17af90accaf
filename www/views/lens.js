// "Through the layers": the selected token's forward pass, layer by layer. The logit lens (the
// residual stream after each layer put through the final norm and the output head: its top 5,
// the last row being the real output), what each attention and MLP block wrote into the stream
// (the L2 norm of what it adds), and for one layer the most activated MLP neurons; a neuron opens
// the tokens its down-projection is closest to. Every number is the engine's (src/inspect.rs,
// through the worker: LENS, RESIDUAL, MLP, NEURON); the arithmetic here is views/lens-math.js.
// While tokens stream nothing is asked (the lens of a layer costs a pass of the output head):
// the view fills when the generation is paused (step mode), done, or a token is selected.
// DOM: #deeper and what is inside it (#dp-*, #lens, #resid, #mlp-*, #neuron).

import { el, visibleText } from '../components/util.js';
import { fmtMs, fmtPct, fmtNum, fmtInt } from '../format.js';
import { latestOnly, STALE } from '../latest.js';
import { lensPosition, decidedAt, maxOf, barShare } from './lens-math.js';

const $ = (id) => document.getElementById(id);
const TOP = 5;

export function lensView() {
  let engine = null, info = null;
  let run = null, pos = -1;   // the generation and generated position shown
  let at = -1;                // its absolute context position (lensPosition)
  let rows = [];              // lens rows of `at` (as they arrive)
  let resid = null;           // residual_json of `at`
  let layer = 0;              // the MLP layer shown
  let neuron = null;          // the neuron shown (id), or null
  const lensLatest = latestOnly(), mlpLatest = latestOnly(), neuronLatest = latestOnly();
  const cache = new Map();    // absolute pos -> { rows, resid, ms }

  // ------------------------------------------------------------ state

  function reset() {
    lensLatest.cancel(); mlpLatest.cancel(); neuronLatest.cancel();
    cache.clear();
    run = null; pos = -1; at = -1; rows = []; resid = null; neuron = null;
    $('dp-hint').hidden = false;
    $('dp-body').hidden = true;
    $('dp-missing').hidden = true;
    delete $('deeper').dataset.pos;
    delete $('deeper').dataset.state;
  }

  /** Shows generated position p of generation r; live: tokens are streaming (nothing is asked). */
  function show(r, p, live = false) {
    if (!r?.steps[p]) return;
    const same = run === r && pos === p && !live && $('deeper').dataset.state === 'done';
    run = r; pos = p;
    if (same) return;
    at = lensPosition(r.fed.length, p);
    $('dp-hint').hidden = true;
    $('dp-title').textContent = `token ${p}`;
    const entry = r.steps[p];
    const shown = entry.chosenId != null ? entry.chosenText : entry.step.text || entry.step.piece;
    $('dp-token').replaceChildren(visibleText(shown ?? ''));
    if (!r.residuals) return missing('The residual stream was not recorded: tick "keep the residual stream" and generate again.');
    if (live) {
      // What is drawn stays, dimmed, so that the page does not jump at every token.
      lensLatest.cancel(); mlpLatest.cancel(); neuronLatest.cancel();
      $('deeper').dataset.state = 'waiting';
      return note('Tokens are streaming: the layers are looked at when the generation pauses (Step) or ends, or when you select a token.'
        + ($('dp-body').hidden ? '' : ' Below: the token looked at last.'), true);
    }
    $('dp-missing').hidden = true;
    $('dp-body').hidden = false;
    load();
  }

  /** A line instead of the views; keep: the views drawn so far stay, dimmed. */
  function note(text, keep = false) {
    const body = $('dp-body');
    if (keep && !body.hidden) body.classList.add('stale');
    else body.hidden = true;
    const m = $('dp-missing');
    m.hidden = false;
    m.textContent = text;
  }
  const missing = (text) => note(text);

  // ------------------------------------------------------------ asking the engine

  async function load() {
    const ticket = lensLatest.start();
    const here = at;
    const box = $('deeper');
    box.dataset.state = 'loading';
    box.dataset.pos = String(pos);
    const kept = cache.get(here);
    const nLayer = info.config.n_layer;
    // Until the new numbers come, the last ones stay (dimmed); layer by layer, rows fill in.
    const fresh = () => $('dp-body').classList.remove('stale');
    if (kept) { rows = kept.rows; resid = kept.resid; fresh(); drawLens(); drawResidual(); }
    else $('dp-body').classList.add('stale');
    try {
      if (!kept) {
        const r = await ticket(engine.residual(here));
        if (r === STALE) return;
        resid = r;
        rows = new Array(nLayer).fill(null);
        if (perLayer()) { fresh(); drawResidual(); drawLens(); }
      }
      loadMlp();
      const t0 = performance.now();
      if (!kept && !perLayer()) {
        const all = await ticket(engine.lens(here));
        if (all === STALE) return;
        rows = all.layers;
        fresh();
        drawResidual();
      } else {
        // A big output head: one layer per request, so that rows appear as they come and a Step
        // or a new selection gets in between; the last layer (the real output) first.
        const order = [nLayer - 1, ...Array.from({ length: nLayer - 1 }, (_, l) => l)];
        for (const l of order) {
          if (rows[l]) continue;
          const row = await ticket(engine.lens(here, { layer: l }));
          if (row === STALE) return;
          rows[l] = row;
          drawLens();
        }
      }
      const ms = kept?.ms ?? performance.now() - t0;
      cache.set(here, { rows, resid, ms });
      $('dp-ms').textContent = `lens of ${nLayer} layers: ${fmtMs(ms)}${kept ? ' (kept)' : ''}`;
      box.dataset.lensMs = String(Math.round(ms));
      box.dataset.state = 'done';
      drawLens();
    } catch (e) {
      if (!ticket.current) return;
      box.dataset.state = 'error';
      missing(/captur|not recorded|outside/i.test(e.message)
        ? `The engine no longer holds this position's residual stream (${e.message}).`
        : `Could not look inside: [${e.kind}] ${e.message}`);
    }
  }

  async function loadMlp() {
    const ticket = mlpLatest.start();
    const here = at;
    $('mlp-layer').value = String(layer);
    $('mlp-layer-out').textContent = String(layer);
    try {
      const m = await ticket(engine.mlp(here, layer));
      if (m === STALE) return;
      drawMlp(m);
      if (neuron != null) loadNeuron(neuron);
    } catch (e) {
      if (ticket.current) $('mlp-neurons').replaceChildren(el('li', 'muted small', `[${e.kind}] ${e.message}`));
    }
  }

  async function loadNeuron(id) {
    neuron = id;
    const ticket = neuronLatest.start();
    const box = $('neuron');
    box.hidden = false;
    box.dataset.state = 'loading';
    $('nr-title').textContent = `Neuron ${fmtInt(id)} of layer ${layer}`;
    $('nr-meta').textContent = 'computing its closest tokens…';
    for (const b of $('mlp-neurons').querySelectorAll('button')) b.setAttribute('aria-pressed', String(Number(b.dataset.id) === id));
    try {
      const n = await ticket(engine.neuron(layer, id, at));
      if (n === STALE) return;
      drawNeuron(n);
      box.dataset.state = 'done';
    } catch (e) {
      if (!ticket.current) return;
      box.dataset.state = 'error';
      $('nr-meta').textContent = `[${e.kind}] ${e.message}`;
    }
  }

  /** Layer by layer when one layer's output head is big (Gemma 3: 262,144 × 640 per layer). */
  function perLayer() { return info.config.n_vocab * info.config.n_embd > 60e6; }

  // ------------------------------------------------------------ drawing

  /** The token actually generated at this position (what the lens should end on). */
  function madeId() {
    const e = run?.steps[pos];
    return e ? e.chosenId ?? e.step.id : null;
  }

  function drawLens() {
    const body = $('lens').tBodies[0];
    const nLayer = rows.length;
    const made = madeId();
    const sampled = run?.steps[pos]?.step.id;
    const trs = [];
    for (let l = 0; l < nLayer; l++) {
      const row = rows[l];
      const tr = el('tr');
      tr.dataset.layer = String(l);
      if (l === nLayer - 1) tr.className = 'output';
      if (l === layer) tr.classList.add('current');
      const th = el('th', 'lyr');
      th.scope = 'row';
      th.textContent = String(l);
      if (l === nLayer - 1) th.append(el('span', 'out-mark', 'output'));
      tr.append(th);
      for (let k = 0; k < TOP; k++) {
        const c = row?.top[k];
        const td = el('td', 'cand');
        if (c) {
          td.dataset.id = String(c.id);
          td.dataset.prob = String(c.prob);
          td.dataset.logit = String(c.logit);
          td.title = `${c.text === '' ? '(no text)' : JSON.stringify(c.text)} · id ${c.id} · p ${fmtPct(c.prob, 2)} · logit ${fmtNum(c.logit)}`;
          // Tint: probability (alpha on the accent); the token generated here is outlined.
          td.style.setProperty('--p', String(Math.max(0, Math.min(1, c.prob))));
          if (c.prob >= 0.5) td.classList.add('hi');
          if (c.id === made) td.classList.add('made');
          if (c.id === sampled && made !== sampled) td.classList.add('sampled');
          const t = el('span', 'tt');
          t.append(visibleText(c.text));
          td.append(t, el('span', 'pp', c.prob >= 0.995 ? '100%' : fmtPct(c.prob, c.prob < 0.1 ? 1 : 0)));
        } else {
          td.classList.add('pending');
          td.append(el('span', 'tt', row === null ? '…' : ''));
        }
        tr.append(td);
      }
      trs.push(tr);
    }
    body.replaceChildren(...trs);
    $('lens').dataset.rows = String(rows.filter(Boolean).length);
    const d = decidedAt(rows);
    const line = $('lens-decided');
    line.replaceChildren();
    if (d) {
      const tok = rows[nLayer - 1].top[0];
      const t = el('span', 'mono tokchip');
      t.append(visibleText(tok.text));
      line.append(document.createTextNode('The output\'s top token '), t,
        document.createTextNode(d.settled === nLayer - 1 ? ` is top-1 only at the last layer`
          : ` is top-1 from layer ${d.settled} on`),
        document.createTextNode(d.seen != null && d.seen < d.settled ? ` (in the top ${TOP} from layer ${d.seen}).` : '.'));
    }
  }

  function drawResidual() {
    const box = $('resid');
    const nLayer = info.config.n_layer;
    if (!resid) { box.replaceChildren(); box.dataset.layers = '0'; return; }
    const log = $('resid-log').checked;
    const max = maxOf(resid.attn, resid.mlp);
    const groups = [];
    for (let l = 0; l < nLayer; l++) {
      const g = el('button', 'rgroup');
      g.type = 'button';
      g.dataset.layer = String(l);
      if (l === layer) g.classList.add('current');
      g.setAttribute('aria-label', `layer ${l}: attention adds ${fmtNum(resid.attn[l])}, MLP adds ${fmtNum(resid.mlp[l])}, stream ${fmtNum(resid.resid[l])}`);
      for (const [kind, v] of [['attn', resid.attn[l]], ['mlp', resid.mlp[l]]]) {
        const b = el('span', `rbar ${kind}`);
        b.style.setProperty('--h', String(barShare(v, max, log)));
        g.append(b);
      }
      g.append(el('span', 'rlab', l % 5 === 0 || l === nLayer - 1 ? String(l) : ''));
      groups.push(g);
    }
    box.replaceChildren(...groups);
    box.dataset.layers = String(nLayer);
    $('resid-max').textContent = fmtNum(max, 3);
    $('resid-embd').textContent = fmtNum(resid.embd, 4);
    hoverResidual(layer);
  }

  function hoverResidual(l) {
    if (!resid || l == null || l < 0 || l >= resid.attn.length) return;
    $('resid-hover').textContent = `layer ${l}: attention adds ${fmtNum(resid.attn[l])}, the MLP adds ${fmtNum(resid.mlp[l])}; the stream after it: ${fmtNum(resid.resid[l])}`;
  }

  function drawMlp(m) {
    const ol = $('mlp-neurons');
    const max = maxOf(m.neurons.map((n) => Math.abs(n.value)));
    ol.replaceChildren(...m.neurons.map((n, i) => {
      const li = el('li');
      const b = el('button', 'neuron');
      b.type = 'button';
      b.dataset.id = String(n.id);
      b.dataset.value = String(n.value);
      b.setAttribute('aria-pressed', String(n.id === neuron));
      const bar = el('span', `nbar ${n.value < 0 ? 'neg' : 'pos'}`);
      bar.style.setProperty('--w', String(Math.abs(n.value) / max));
      b.append(el('span', 'rank', String(i + 1)), el('span', 'nid mono', `#${n.id}`),
        el('span', 'ntrack'), el('span', 'nval mono', fmtNum(n.value, 4)));
      b.querySelector('.ntrack').append(bar);
      li.append(b);
      return li;
    }));
    ol.dataset.layer = String(m.layer);
    ol.dataset.count = String(m.neurons.length);
    $('mlp-meta').textContent = `the ${m.neurons.length} most activated of layer ${m.layer}'s ${fmtInt(info.config.n_ff)} neurons (after the gate), by |value|`;
  }

  function drawNeuron(n) {
    const value = n.value != null ? `its value here: ${fmtNum(n.value, 4)} (rank ${n.rank + 1} of this position's top 16)`
      : `not among this position's 16 most activated (|value| ≤ ${fmtNum(n.bound, 3)})`;
    const sign = n.value != null && n.value < 0 ? ' With its negative value here, what it writes points the other way: towards the opposite list.' : '';
    $('nr-meta').textContent = `${value}; its down-projection (column ${fmtInt(n.neuron)} of blk.${n.layer}.ffn_down, norm ${fmtNum(n.norm, 3)}) is closest to these token embeddings (cosine).${sign}`;
    for (const [id, list] of [['nr-closest', n.closest], ['nr-opposite', n.opposite]]) {
      $(id).replaceChildren(...list.map((c) => {
        const li = el('li');
        const t = el('span', 'mono tokchip');
        t.append(visibleText(c.text));
        t.title = `id ${c.id}`;
        li.append(t, el('span', 'cos mono', fmtNum(c.cos, 3)));
        return li;
      }));
    }
    $('neuron').dataset.neuron = String(n.neuron);
  }

  function pickLayer(l) {
    if (!Number.isInteger(l) || l < 0 || !info || l >= info.config.n_layer || l === layer) return;
    layer = l;
    neuron = null;
    neuronLatest.cancel();
    $('neuron').hidden = true;
    for (const g of $('resid').children) g.classList.toggle('current', Number(g.dataset.layer) === l);
    for (const tr of $('lens').tBodies[0].rows) tr.classList.toggle('current', Number(tr.dataset.layer) === l);
    hoverResidual(l);
    if (at >= 0 && $('deeper').dataset.state !== 'waiting' && run?.residuals) loadMlp();
  }

  // ------------------------------------------------------------ events

  $('mlp-layer').addEventListener('input', (e) => pickLayer(Number(e.target.value)));
  $('resid').addEventListener('click', (e) => {
    const g = e.target.closest?.('.rgroup');
    if (g) pickLayer(Number(g.dataset.layer));
  });
  $('resid').addEventListener('pointerover', (e) => {
    const g = e.target.closest?.('.rgroup');
    if (g) hoverResidual(Number(g.dataset.layer));
  });
  $('resid').addEventListener('pointerleave', () => hoverResidual(layer));
  $('resid-log').addEventListener('change', drawResidual);
  $('lens').addEventListener('click', (e) => {
    const tr = e.target.closest?.('tr[data-layer]');
    if (tr) pickLayer(Number(tr.dataset.layer));
  });
  $('mlp-neurons').addEventListener('click', (e) => {
    const b = e.target.closest?.('button.neuron');
    if (b) loadNeuron(Number(b.dataset.id));
  });

  return {
    show, reset,
    /** A model was loaded: the engine to ask, and its layer count. */
    setModel(e, newInfo) {
      engine = e; info = newInfo;
      layer = Math.min(layer, newInfo.config.n_layer - 1);
      $('mlp-layer').max = String(newInfo.config.n_layer - 1);
      reset();
    },
    /** Positions after generated position `p` were replaced: what was kept of them is gone. */
    forgetAfter(p) {
      if (!run) return;
      const from = lensPosition(run.fed.length, p);
      for (const k of [...cache.keys()]) if (k > from) cache.delete(k);
    },
    /** The worker was replaced: nothing it captured is kept. */
    forgetAll() { cache.clear(); },
  };
}
