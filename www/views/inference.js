// The inference view: the message and the sampling controls, Generate / Restart / Stop, the answer
// streaming token by token, the prompt as fed, and the live stats. Selecting a token of the answer
// opens it in the inspector (views/inspector.js); picking a candidate there continues from it.
// The controls start from the engine's defaults (info.defaults, the one GenParams::default());
// ?temperature=, ?top-k=, ?top-p=, ?seed=, ?max-tokens= override them; ?prompt= sets the message.
// A model without a chat template (a base model: Gemma 3 270M) gets a continuation box: the text
// is fed as written (raw), and the output continues it. A model that thinks (info.think: `<think>`
// … `</think>`) streams its reasoning into #reasoning, apart from the answer; every token of both
// opens in the inspector. Step mode (the Step button, or the key N or "." outside a text box)
// generates one token per press, so that each step can be inspected before the next; Continue
// runs on; Stop works at any moment. It is the same generation, paced (a Pacer, www/engine.js).
// DOM: #gen-form and what is inside it, #reasoning, #answer, #fed, #fed-count, #live (#st-*).

const CHAT_PROMPT = 'What is a pipe wrench for? Answer in two sentences.';
const BASE_PROMPT = 'A pipe wrench is a tool that';

import { Stop, Kind } from '../protocol.js';
import { Pacer } from '../engine.js';
import { fmtInt, fmtMs, fmtRate, fmtBytes } from '../format.js';
import { latestOnly } from '../latest.js';
import { thinkSplitter, tokenPart, thinkOf } from '../think.js';

const $ = (id) => document.getElementById(id);

const WHY = {
  [Stop.EOS]: 'the model ended its answer', [Stop.MAX_TOKENS]: 'max tokens reached',
  [Stop.CONTEXT_FULL]: 'the context is full', [Stop.ABORTED]: 'stopped',
};

// The controls and the GenParams key each one sets.
const CONTROLS = [
  ['temperature', 'temperature'], ['top-k', 'top_k'], ['top-p', 'top_p'], ['seed', 'seed'], ['max-tokens', 'max_tokens'],
];

/**
 * inspector: views/inspector.js; onMemory(bytes) the wasm memory grew; onBusy(on) a generation
 * runs (the network meter); onWorkerDied(error) the engine's worker is gone.
 */
export function inferenceView({ inspector, onMemory, onBusy, onWorkerDied, onFinished }) {
  let engine = null, info = null;
  let run = null;              // the generation shown: { fed, steps, capture, seed }
  let running = null;          // { controller, promise, pacer } while one runs
  let stepping = false;        // step mode: one token per press of Step, until Continue or Generate
  let follow = true;           // the inspector follows the newest token until a person picks one
  let initialised = false;     // the controls got the engine's defaults
  const runs = latestOnly();   // the newest generation owns the answer

  // ------------------------------------------------------------ controls

  // The value next to each slider: as the engine gave it, then with two decimals as it moves.
  function showOutputs(e) {
    const show = (v) => (e ? Number(v).toFixed(2) : String(Number(v)));
    $('temp-out').textContent = show($('temperature').value);
    $('topp-out').textContent = show($('top-p').value);
  }

  /** Sets the controls to the engine's defaults, then to the query's overrides (once). */
  function initControls(defaults) {
    if (initialised) return;
    initialised = true;
    const q = new URLSearchParams(location.search);
    for (const [id, key] of CONTROLS) {
      // The engine's floats are f32 (0.7 arrives as 0.699999988): seven digits say them exactly.
      const d = defaults[key];
      const v = q.get(id) || (typeof d === 'number' ? String(Number(d.toPrecision(7))) : '');
      $(id).value = v;
    }
    $('seed').placeholder = defaults.seed == null ? 'random' : '';
    showOutputs(null);
  }

  /** The params of the controls; an empty one is left to the engine's default. */
  function params() {
    const num = (id) => { const s = $(id).value.trim(); const v = Number(s); return s !== '' && Number.isFinite(v) ? v : null; };
    const p = { capture_attention: $('capture').checked };
    const t = num('temperature'), k = num('top-k'), tp = num('top-p'), seed = num('seed'), max = num('max-tokens');
    if (t != null) p.temperature = t;
    if (k != null) p.top_k = Math.max(0, Math.round(k));
    if (tp != null) p.top_p = tp;
    if (seed != null) p.seed = Math.max(0, Math.round(seed));
    if (max != null) p.max_tokens = Math.max(1, Math.round(max));
    return p;
  }

  function setEnabled(on) { $('generate').disabled = !on; $('step').disabled = !on; }

  /** Chat (the model has a template) or continuation (a base model): the box says which. */
  function setMode(newInfo) {
    const chat = newInfo.has_template ?? newInfo.chat_template != null;
    const box = $('prompt');
    $('prompt-label').textContent = chat ? 'Your message' : 'Text to continue';
    $('answer-title').textContent = chat ? 'Answer' : 'Continuation';
    const note = $('prompt-mode');
    note.hidden = chat;
    note.textContent = chat ? '' : 'This is a base model: it has no chat template and does not answer questions; it continues the text you write, fed as is (after its BOS token).';
    if (!asked && (box.value === CHAT_PROMPT || box.value === BASE_PROMPT)) box.value = chat ? CHAT_PROMPT : BASE_PROMPT;
    box.dataset.mode = chat ? 'chat' : 'continue';
    $('raw').disabled = !chat;
    $('raw').checked = !chat || new URLSearchParams(location.search).get('raw') === '1';
    if (chat && $('raw').checked) $('prompt-label').textContent = 'Text to feed as written';
  }

  function setRunning(on) {
    $('stop').disabled = !on;
    $('generate').textContent = on ? 'Restart' : 'Generate';
    if (!on) setPaused(null);
    onBusy?.(on);
  }

  /** pos: the generation waits before generating position pos (step mode); null: it does not. */
  function setPaused(pos) {
    $('run-on').disabled = pos == null;
    const answer = $('answer');
    if (pos == null) delete answer.dataset.paused;
    else answer.dataset.paused = String(pos);
  }

  /** One token: of the paused generation, or pause the running one, or start one in step mode. */
  function stepOnce() {
    if (!info || $('generate').disabled) return;
    stepping = true;
    if (running) running.pacer.step();
    else start();
  }

  function runOn() {
    stepping = false;
    running?.pacer.run();
    if (running) $('gen-status').textContent = 'Generating…';
  }

  function onPaused(ticket, r, m) {
    if (!ticket.current) return;
    setPaused(m.pos);
    inspector.settle();
    $('gen-status').textContent = `Paused before token ${m.pos} · Step (key N) for the next one, Continue to run on`;
  }

  // ------------------------------------------------------------ generating

  async function stopRunning() {
    const r = running;
    if (!r) return;
    r.controller.abort();
    try { await r.promise; } catch { /* reported by its own handler */ }
  }

  /** A new generation; in step mode (after a Step) it pauses after its first token. */
  async function start({ step = stepping } = {}) {
    if (!info) return;
    stepping = step;
    await stopRunning();
    const ticket = runs.start();
    const p = params();
    const residuals = $('capture-resid').checked;
    run = { fed: [], steps: [], capture: p.capture_attention, residuals, seed: p.seed ?? null, think: thinkOf(info), where: [] };
    const r = run;
    resetParts(r);
    follow = true;
    $('answer').set([]);
    $('fed').set([]);
    inspector.reset();
    const controller = new AbortController();
    $('gen-status').textContent = 'Reading the prompt…';
    $('answer').dataset.state = 'running';
    const raw = $('raw').checked;
    const pacer = new Pacer({ step });
    const promise = engine.generate($('prompt').value, {
      ...p,
      raw,
      signal: controller.signal,
      pacer,
      residuals,
      onPaused: (m) => onPaused(ticket, r, m),
      onPrompt: (m) => {
        if (!ticket.current) return;
        r.fed = m.ids.map((id, i) => ({ id, text: m.pieces[i], special: m.special?.[i] }));
        // A prompt that ends inside an opened block (the template's, or one's own raw text):
        // the output starts in the reasoning.
        if (r.think && !r.think.startInside && String(m.text ?? '').trimEnd().endsWith(r.think.open)) {
          r.think = { ...r.think, startInside: true };
          resetParts(r);
        }
        if (m.params?.seed != null) r.seed = m.params.seed;
        $('fed').set(r.fed);
        $('fed-count').textContent = `(${m.ids.length} tokens)`;
      },
      onProgress: (m) => {
        if (ticket.current) $('gen-status').textContent = `Prefill: ${m.done} of ${m.total} prompt tokens`;
      },
      onToken: (m) => ticket.current && onToken(r, m),
    });
    await followRun(ticket, r, controller, promise, pacer);
  }

  async function continueFrom(pos, id) {
    const r = run;
    if (!info || !r || pos < 0 || pos >= r.steps.length) return;
    await stopRunning();
    const ticket = runs.start();
    inspector.forgetAfter(pos);
    follow = true;
    const controller = new AbortController();
    $('gen-status').textContent = `Continuing from token ${pos}…`;
    $('answer').dataset.state = 'running';
    const pacer = new Pacer({ step: stepping });
    const promise = engine.choose(pos, id, {
      ...params(),
      signal: controller.signal,
      pacer,
      onPaused: (m) => onPaused(ticket, r, m),
      onToken: (m) => ticket.current && onToken(r, m),
    });
    await followRun(ticket, r, controller, promise, pacer);
  }

  async function followRun(ticket, r, controller, promise, pacer) {
    running = { controller, promise, pacer };
    setRunning(true);
    try {
      const res = await promise;
      if (!ticket.current) return;
      const s = res.stats;
      $('gen-status').textContent = `Done: ${WHY[res.reason] ?? res.reason} · ${s?.generated ?? r.steps.length} tokens`
        + `${s?.decode_tok_s ? ` · ${fmtRate(s.decode_tok_s)}` : ''}${r.seed != null ? ` · seed ${r.seed}` : ''}`;
      $('answer').dataset.reason = res.reason;
      if (s) setStats(s, res.memory);
      finishParts(r);
      onFinished?.({ reason: res.reason, stats: s });
    } catch (e) {
      if (ticket.current) $('gen-status').textContent = `Error [${e.kind}]: ${e.message}`;
      if (e.kind === Kind.WORKER) { info = null; setEnabled(false); onWorkerDied?.(e); }
    } finally {
      if (ticket.current) {
        running = null;
        setRunning(false);
        $('answer').dataset.state = 'done';
        inspector.settle();
      }
    }
  }

  function answerToken(step, chosen) {
    const id = chosen?.id ?? step.id;
    const text = chosen ? chosen.text : step.text;
    const eog = info.eog_ids?.includes(id);
    return {
      id,
      text: text !== '' ? text : eog ? (chosen ? chosen.text : step.piece) || '⏎end' : '▯',
      special: eog,
      prob: chosen ? step.top.find((c) => c.id === id)?.prob : step.prob,
      chosen: !!chosen,
    };
  }

  function onToken(r, m) {
    const answer = $('answer');
    if (m.chosen) {
      // choose(): position pos now holds the chosen id; the distribution it came from is unchanged.
      const pos = m.chosen.pos;
      const prev = r.steps[pos];
      r.steps.length = pos + 1;
      const alt = prev.step.top.find((c) => c.id === m.chosen.id);
      prev.chosenId = m.chosen.id;
      prev.chosenText = alt?.text ?? '';
      replay(r, pos);
      place(r, pos, answerToken(prev.step, { id: m.chosen.id, text: prev.chosenText }), prev.step.ms);
      select(pos);
    }
    if (m.step) {
      const step = m.step;
      if (step.pos !== r.steps.length) {
        // Should not happen: positions arrive in order. Keep the page consistent anyway.
        r.steps.length = Math.min(r.steps.length, step.pos);
        replay(r, r.steps.length);
      }
      r.steps.push({ step });
      place(r, step.pos, answerToken(step), step.ms);
      setPaused(null);
      $('gen-status').textContent = `Generating… ${r.steps.length} tokens`;
      if (follow) select(step.pos, true);
    }
    if (m.stats) setStats(m.stats, m.memory, stepping ? m.step?.ms : null);
  }

  // ------------------------------------------------------------ reasoning apart

  // Each generated position lives in one of two strips: #reasoning-tokens or #answer.
  // r.where[pos] = {part, index}; the splitter (www/think.js) decides from the token's text.
  function resetParts(r) {
    r.split = r.think ? thinkSplitter(r.think) : null;
    r.where = [];
    r.thinkTokens = 0;
    r.thinkMs = 0;
    r.thinkDone = false;
    $('reasoning-tokens').set([]);
    $('reasoning').hidden = !(r.think?.startInside);
    showThinkMeta(r);
  }

  function place(r, pos, tok, ms) {
    let part = 'answer';
    if (r.split) {
      const before = r.split.state;
      // A tag that is a special token may decode to no text: its piece is the tag.
      const step = r.steps[pos]?.step;
      const text = tok.text === '' || tok.text === '▯' ? (step?.piece === r.think.open || step?.piece === r.think.close ? step.piece : '') : tok.text;
      const segs = r.split.push(text);
      part = tokenPart(segs, before);
      if (segs.some((x) => x.part === 'tag' && x.text === r.think.close)) r.thinkDone = true;
    }
    const strip = part === 'think' ? $('reasoning-tokens') : $('answer');
    if (part === 'think') {
      $('reasoning').hidden = false;
      r.thinkTokens++;
      r.thinkMs += ms ?? 0;
      showThinkMeta(r);
    }
    strip.append({ ...tok, pos });
    r.where[pos] = { part, index: strip.length - 1 };
  }

  // Rebuild both strips for positions [0, n) (after choose() rewound the run).
  function replay(r, n) {
    resetParts(r);
    $('answer').set([]);
    for (let p = 0; p < n; p++) {
      const s = r.steps[p];
      place(r, p, answerToken(s.step, s.chosenId != null ? { id: s.chosenId, text: s.chosenText } : null), s.step.ms);
    }
  }

  function finishParts(r) {
    if (r.split) { r.split.finish(); showThinkMeta(r); }
  }

  function showThinkMeta(r) {
    $('reasoning-meta').textContent = r.thinkTokens
      ? `(${fmtInt(r.thinkTokens)} tokens · ${fmtMs(r.thinkMs)}${r.thinkDone ? '' : ' · still thinking'})` : '';
  }

  /** Selects position pos of the answer and shows it in the inspector. */
  function select(pos, live = false) {
    if (!run?.steps[pos]) return;
    const w = run.where[pos];
    const strip = w?.part === 'think' ? $('reasoning-tokens') : $('answer');
    if (w && strip.selectedIndex !== w.index) strip.select(w.index);
    inspector.show(run, pos, live);
  }

  // stepMs: in step mode the engine's decode rate counts the pauses too; the step's own time is shown.
  function setStats(s, memory, stepMs = null) {
    $('st-ttft').textContent = s.ttft_ms != null ? fmtMs(s.ttft_ms) : '–';
    $('st-prefill').textContent = fmtRate(s.prefill_tok_s);
    if (stepMs != null) $('st-decode').textContent = `${fmtMs(stepMs)}/step`;
    else if (!stepping) $('st-decode').textContent = fmtRate(s.decode_tok_s);
    $('st-ctx').textContent = `${fmtInt(s.n_ctx_used)} / ${fmtInt(s.n_ctx)}`;
    $('st-gen').textContent = fmtInt(s.generated);
    if (memory) setMemory(memory);
  }

  function setMemory(bytes) {
    $('st-mem').textContent = fmtBytes(bytes);
    onMemory?.(bytes);
  }

  // ?prompt=... (the widget's "See inside" link): the message to start from.
  const asked = new URLSearchParams(location.search).get('prompt');
  if (asked) $('prompt').value = asked;

  $('raw').addEventListener('change', (e) => {
    if ($('prompt').dataset.mode === 'chat') $('prompt-label').textContent = e.target.checked ? 'Text to feed as written' : 'Your message';
  });
  $('temperature').addEventListener('input', showOutputs);
  $('top-p').addEventListener('input', showOutputs);
  $('gen-form').addEventListener('submit', (e) => { e.preventDefault(); start({ step: false }); });
  $('step').addEventListener('click', stepOnce);
  $('run-on').addEventListener('click', runOn);
  // N or "." steps, where a key does not type: not in a text box, and only on the inference tab.
  document.addEventListener('keydown', (e) => {
    if ((e.key !== 'n' && e.key !== 'N' && e.key !== '.') || e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t?.closest?.('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) return;
    if ($('panel-inference').hidden) return;
    e.preventDefault();
    stepOnce();
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); start({ step: false }); }
  });
  $('stop').addEventListener('click', () => {
    if (!running) return;
    running.controller.abort();
    $('gen-status').textContent = 'Stopping…';
  });
  for (const id of ['answer', 'reasoning-tokens']) {
    $(id).addEventListener('pl-select', (e) => {
      follow = false;
      select(e.detail.token?.pos ?? e.detail.index);
    });
  }

  return {
    /** A model was loaded: the engine to ask, its info; the controls get the engine's defaults. */
    show(e, newInfo, memory) {
      engine = e;
      info = newInfo;
      inspector.setModel(e, newInfo);
      initControls(newInfo.defaults);
      setMode(newInfo);
      if (memory != null) $('st-mem').textContent = fmtBytes(memory);
      setEnabled(true);
    },
    /** Nothing to run on (a load started, the engine crashed). */
    disable() { setEnabled(false); },
    /** The engine crashed and was restarted with the model reloaded: say so, and go on. */
    restarted(message, newInfo) {
      inspector.forgetAll();
      info = newInfo;
      $('gen-status').textContent = info ? `The engine crashed: ${message}. It was restarted and the model reloaded.`
        : `The engine crashed: ${message}. It was restarted, but the model could not be reloaded: load it again.`;
      setEnabled(!!info);
    },
    /** Continue the shown generation from position pos with token id (the inspector's choice). */
    continueFrom,
  };
}
