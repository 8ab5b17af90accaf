// Reasoning apart from the answer: a streaming splitter for models that think between `<think>`
// and `</think>` (the DeepSeek-R1 distills, Qwen3). Pure: no DOM, no engine (tests/unit).
//
//   const s = thinkSplitter({ open: '<think>', close: '</think>', startInside: false });
//   s.push('<think>Let me see') -> [{part: 'tag', text: '<think>'}, {part: 'think', text: 'Let me see'}]
//   s.push('.</thi')           -> [{part: 'think', text: '.'}]   ('</thi' is held: it may be a tag)
//   s.push('nk>\n\nIt is 4.')  -> [{part: 'tag', text: '</think>'}, {part: 'answer', text: '\n\nIt is 4.'}]
//   s.finish()                 -> whatever was held, as what it turned out to be
//
// startInside: the chat template opened the block itself (its generation prompt ends with
// `<think>\n`), so the output starts inside the reasoning. A second `<think>` after the answer
// began is text of the answer: the block is opened once.

/** @param {{open?: string, close?: string, startInside?: boolean}} [o] */
export function thinkSplitter({ open = '<think>', close = '</think>', startInside = false } = {}) {
  // 'before': nothing but whitespace yet (a block may still open); 'think'; 'answer'.
  let state = startInside ? 'think' : 'before';
  let held = '';
  let sawTag = false;

  const out = [];
  const emit = (part, text) => {
    if (!text) return;
    const last = out[out.length - 1];
    if (part === 'tag') sawTag = true;
    if (last && last.part === part && part !== 'tag') last.text += text; else out.push({ part, text });
  };

  // The longest suffix of s that is a proper prefix of tag (it may be the start of one).
  function partial(s, tag) {
    for (let n = Math.min(s.length, tag.length - 1); n > 0; n--) if (tag.startsWith(s.slice(s.length - n))) return n;
    return 0;
  }

  function run(text, final) {
    let s = held + text;
    held = '';
    for (;;) {
      if (state === 'before') {
        const lead = s.match(/^\s*/)[0];
        const rest = s.slice(lead.length);
        if (rest.startsWith(open)) {
          emit('answer', lead);
          emit('tag', open);
          state = 'think';
          s = rest.slice(open.length);
          continue;
        }
        if (!final && rest.length < open.length && open.startsWith(rest)) { held = s; return; }
        if (rest.length || final) { state = 'answer'; continue; }
        held = s; // only whitespace so far
        return;
      }
      if (state === 'think') {
        const i = s.indexOf(close);
        if (i >= 0) {
          emit('think', s.slice(0, i));
          emit('tag', close);
          state = 'answer';
          s = s.slice(i + close.length);
          continue;
        }
        const keep = final ? 0 : partial(s, close);
        emit('think', s.slice(0, s.length - keep));
        held = s.slice(s.length - keep);
        return;
      }
      emit('answer', s);
      return;
    }
  }

  return {
    /** Feeds generated text; returns its segments [{part: 'think'|'answer'|'tag', text}]. */
    push(text) { out.length = 0; run(String(text ?? ''), false); return out.slice(); },
    /** The end of the output: held text is what it turned out to be. */
    finish() { out.length = 0; run('', true); return out.slice(); },
    /** 'before' | 'think' | 'answer': where the next text goes. */
    get state() { return state; },
    /** Whether a reasoning block was seen (or the template opened one). */
    get thought() { return startInside || sawTag; },
  };
}

/**
 * Which part a whole token belongs to, from the segments its text gave: the close tag ends the
 * reasoning (the token is the reasoning's last); a token of only held text goes where the
 * splitter stood before it.
 */
export function tokenPart(segments, stateBefore) {
  if (segments.some((x) => x.part === 'tag')) {
    // The open tag begins the reasoning; the close tag ends it: both belong to it.
    return 'think';
  }
  const last = [...segments].reverse().find((x) => x.text.length);
  if (last) return last.part === 'answer' ? 'answer' : 'think';
  return stateBefore === 'think' ? 'think' : 'answer';
}

/** The think tokens of a model's info (engine info.think), or null when it does not think. */
export function thinkOf(info) {
  const t = info?.think;
  return t && t.open && t.close ? { open: t.open, close: t.close, startInside: !!t.template_opens } : null;
}
