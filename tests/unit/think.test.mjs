// www/think.js: the reasoning split, as the page and the widget stream it.  node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { thinkSplitter, tokenPart, thinkOf } from '../../www/think.js';

// Feeds tokens one by one and gathers the text of each part, and each token's part.
function feed(tokens, opts) {
  const s = thinkSplitter(opts);
  const parts = { think: '', answer: '', tag: [] };
  const per = [];
  for (const t of [...tokens, null]) {
    const before = s.state;
    const segs = t === null ? s.finish() : s.push(t);
    for (const x of segs) if (x.part === 'tag') parts.tag.push(x.text); else parts[x.part] += x.text;
    if (t !== null) per.push(tokenPart(segs, before));
  }
  return { ...parts, per, thought: s.thought };
}

test('a block the model opens: reasoning, then the answer', () => {
  const r = feed(['<think>', '\nLet', ' me see', '.\n', '</think>', '\n\n', 'It', ' is 4.']);
  assert.equal(r.think, '\nLet me see.\n');
  assert.equal(r.answer, '\n\nIt is 4.');
  assert.deepEqual(r.tag, ['<think>', '</think>']);
  assert.deepEqual(r.per, ['think', 'think', 'think', 'think', 'think', 'answer', 'answer', 'answer']);
  assert.ok(r.thought);
});

test('the template opened the block: the output starts inside it', () => {
  const r = feed(['Hmm', ', two', ' and two', '</think>', 'Four.'], { startInside: true });
  assert.equal(r.think, 'Hmm, two and two');
  assert.equal(r.answer, 'Four.');
  assert.deepEqual(r.per, ['think', 'think', 'think', 'think', 'answer']);
});

test('tags cut across tokens are held until they are known', () => {
  const s = thinkSplitter();
  assert.deepEqual(s.push('<thi'), []);
  assert.deepEqual(s.push('nk>a</th'), [{ part: 'tag', text: '<think>' }, { part: 'think', text: 'a' }]);
  assert.deepEqual(s.push('ink>b'), [{ part: 'tag', text: '</think>' }, { part: 'answer', text: 'b' }]);
});

test('no block: all of it is the answer, a lookalike included', () => {
  const r = feed(['<thin', 'g> is not a tag', ' and <think> later is text']);
  assert.equal(r.answer, '<thing> is not a tag and <think> later is text');
  assert.equal(r.think, '');
  assert.equal(r.thought, false);
});

test('an unfinished block: what was held comes out at the end as reasoning', () => {
  const r = feed(['<think>', 'still going </thi']);
  assert.equal(r.think, 'still going </thi');
  assert.equal(r.answer, '');
});

test('leading whitespace before the block stays in the answer part', () => {
  const r = feed(['\n', '<think>x</think>y']);
  assert.equal(r.answer, '\ny');
  assert.equal(r.think, 'x');
});

test('thinkOf reads the engine info', () => {
  assert.equal(thinkOf({ think: null }), null);
  assert.deepEqual(thinkOf({ think: { open: '<think>', close: '</think>', template_opens: true } }),
    { open: '<think>', close: '</think>', startInside: true });
});
