// The tokenizer view: the text typed, split live into tokens by the engine; the same text as the
// model is fed it (a user message through the chat template); and one token up close (its bytes
// and its row of token_embd). DOM: the Tokenizer panel (#tok-*, #tk-*).

import { el, visibleText } from '../components/util.js';
import { fmtInt, fmtNum } from '../format.js';
import { latestOnly, STALE } from '../latest.js';

const $ = (id) => document.getElementById(id);

const strip = (r) => r.ids.map((id, i) => ({ id, text: r.pieces[i], special: r.special?.[i] }));

export function tokenizerView() {
  let engine = null, chat = true;
  let timer = null;
  const latestText = latestOnly(), latestToken = latestOnly();

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tokenize, 60);
  }

  async function tokenize() {
    if (!engine) return;
    const run = latestText.start();
    const text = $('tok-input').value;
    try {
      const r = await run(engine.tokenize(text, { special: $('tok-special').checked }));
      if (r === STALE) return;
      $('tok-strip').set(strip(r));
      $('tok-strip').dataset.ids = r.ids.join(',');
      const chars = [...text].length;
      $('tok-count').textContent = `${fmtInt(r.ids.length)} tokens · ${fmtInt(chars)} characters${r.ids.length ? ` · ${(chars / r.ids.length).toFixed(2)} chars/token` : ''}`;
      const c = await run(fedAsUser(text));
      if (c === STALE) return;
      $('tok-chat').set(strip(c));
      const nSpecial = c.special?.filter(Boolean).length ?? 0;
      const added = c.template ? c.template.filter(Boolean).length : c.ids.length - r.ids.length;
      $('tok-chat-count').textContent = chat
        ? `${fmtInt(c.ids.length)} tokens fed, ${nSpecial} of them special; the template added ${fmtInt(added)} (a default system prompt, role markers).`
        : `${fmtInt(c.ids.length)} tokens fed, ${nSpecial} of them special: no chat template, so the text goes in as written${added ? `, after ${fmtInt(added)} added by the engine (the BOS)` : ''}.`;
    } catch (e) {
      $('tok-count').textContent = `tokenizer error: ${e.message}`;
    }
  }

  /** What the engine feeds for `text` as a user message: {ids, pieces, special, template}. */
  const fedAsUser = (text) => engine.prepare(chat ? { prompt: text } : { prompt: text, raw: true });

  function addFact(dl, k, v, wide) {
    const d = el('div', wide ? 'wide' : '');
    const dd = el('dd');
    if (v instanceof Node) dd.append(v); else dd.textContent = v;
    d.append(el('dt', '', k), dd);
    dl.append(d);
  }

  async function showToken(id) {
    $('tk-hint').hidden = true;
    $('tk-body').hidden = false;
    try {
      const r = await latestToken(Promise.all([engine.token(id), engine.embedding(id)]));
      if (r === STALE) return;
      const [t, values] = r;
      const dl = $('tk-facts');
      dl.replaceChildren();
      addFact(dl, 'id', String(t.id));
      addFact(dl, 'special', t.special ? 'yes' : 'no');
      addFact(dl, 'bytes', String(t.bytes?.length ?? 0));
      addFact(dl, 'vocabulary entry', t.piece, true);
      addFact(dl, 'text', visibleText(t.text ?? ''), true);
      addFact(dl, 'bytes (hex)', (t.bytes ?? []).map((b) => b.toString(16).padStart(2, '0')).join(' ') || '–', true);
      dl.dataset.id = String(t.id);
      let lo = Infinity, hi = -Infinity, ss = 0;
      for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); ss += v * v; }
      const a = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
      $('tk-embd').draw(values, values.length, 1, { lo: -a, hi: a });
      $('tk-legend').setAttribute('lo', String(-a));
      $('tk-legend').setAttribute('hi', String(a));
      $('tk-embd-n').textContent = fmtInt(values.length);
      $('tk-embd-meta').textContent = `min ${fmtNum(lo, 3)} · max ${fmtNum(hi, 3)} · ‖x‖ ${fmtNum(Math.sqrt(ss), 3)}`;
    } catch (e) {
      $('tk-embd-meta').textContent = `error: ${e.message}`;
    }
  }

  $('tok-input').addEventListener('input', schedule);
  $('tok-special').addEventListener('change', schedule);
  $('tok-ids').addEventListener('change', (e) => {
    for (const id of ['tok-strip', 'tok-chat']) $(id).toggleAttribute('show-ids', e.target.checked);
  });
  for (const id of ['tok-strip', 'tok-chat']) {
    $(id).addEventListener('pl-select', (e) => showToken(e.detail.token.id));
  }

  return {
    /** A model was loaded (engine: the one to ask): tokenize what is in the box. */
    show(e, info) {
      engine = e;
      chat = info ? (info.has_template ?? info.chat_template != null) : true;
      $('tok-chat-lede').textContent = chat
        ? 'Your text as a user message, rendered by the chat template stored in the GGUF. Special tokens are outlined.'
        : 'This model has no chat template (a base model): your text is fed as written, with the BOS the model asks for. Special tokens are outlined.';
      // The checkbox names one of this model's own special tokens.
      const example = $('tok-special-example');
      example.textContent = '<|im_start|>';
      const id = info?.bos_id ?? info?.eos_id;
      if (info && !String(info.chat_template ?? '').includes('<|im_start|>') && id != null) {
        e.token(id).then((t) => { if (engine === e && t?.piece) example.textContent = t.piece; }).catch(() => {});
      }
      schedule();
    },
    /** Nothing to ask until the next show(). */
    clear() { engine = null; latestText.cancel(); latestToken.cancel(); },
  };
}
