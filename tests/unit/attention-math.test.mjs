// www/views/attention-math.js: what the attention inspector draws.  node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headRows, layerMeans, meanOverHeads, topAttended, attentionAt, contextTokens } from '../../www/views/attention-math.js';

const close = (got, want, tol = 1e-6) => {
  assert.equal(got.length, want.length, `length ${got.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `[${i}] ${got[i]} vs ${want[i]}`);
};

// Two layers of two heads over a context of three tokens; each head's row sums to 1.
const nHead = 2, nCtx = 3;
const layers = [
  Float32Array.from([0.5, 0.25, 0.25, /* head 1 */ 0.1, 0.1, 0.8]),
  Float32Array.from([1, 0, 0, /* head 1 */ 0, 0, 1]),
];
const a = { nHead, nCtx, layers };

test('headRows: each head scaled to its own maximum', () => {
  const rows = headRows(layers[0], nHead, nCtx);
  assert.ok(rows instanceof Float32Array);
  close(rows, [1, 0.5, 0.5, 0.125, 0.125, 1]);
  close(headRows(layers[1], nHead, nCtx), [1, 0, 0, 0, 0, 1]);
});

test('headRows: a head that attends nowhere stays 0 (no NaN)', () => {
  close(headRows(new Float32Array(6), nHead, nCtx), [0, 0, 0, 0, 0, 0]);
});

test('layerMeans: every layer\'s mean over heads, scaled to that layer\'s maximum', () => {
  const over = layerMeans(layers, nHead, nCtx);
  assert.equal(over.length, layers.length * nCtx);
  // layer 0: means 0.3, 0.175, 0.525; layer 1: 0.5, 0, 0.5.
  close(over, [0.3 / 0.525, 0.175 / 0.525, 1, 1, 0, 1], 1e-6);
  close(layerMeans([new Float32Array(6)], nHead, nCtx), [0, 0, 0]);
});

test('meanOverHeads and topAttended: the most attended positions, largest first, ties in order', () => {
  assert.ok(Math.abs(meanOverHeads(layers[0], nHead, nCtx, 2) - 0.525) < 1e-7);
  const top = topAttended(layers[0], nHead, nCtx, 2);
  assert.deepEqual(top.map((t) => t.pos), [2, 0]);
  assert.ok(Math.abs(top[0].share - 0.525) < 1e-7 && Math.abs(top[1].share - 0.3) < 1e-7);
  assert.deepEqual(topAttended(layers[1], nHead, nCtx).map((t) => t.pos), [0, 2, 1], 'a tie keeps position order');
  assert.equal(topAttended(layers[0], nHead, nCtx, 6).length, 3, 'no more than the context');
});

test('attentionAt: a head of the chosen layer, or a layer\'s mean over heads', () => {
  const h = attentionAt(a, 'heads', 0, 2, 1);
  assert.equal(h.layer, 0);
  assert.equal(h.head, 1);
  assert.ok(Math.abs(h.share - 0.8) < 1e-7);
  const l = attentionAt(a, 'layers', 0, 0, 1); // the slider's layer does not matter on the layers map
  assert.deepEqual(l, { layer: 1, head: null, share: 0.5 });
});

test('contextTokens: the prompt as fed, then the generated tokens (a person\'s choice wins)', () => {
  const fed = [{ id: 1, text: 'a' }, { id: 2, text: 'b' }];
  const steps = [
    { step: { id: 3, text: 'c', piece: 'c' } },
    { step: { id: 4, text: '', piece: '<|im_end|>' } },
    { step: { id: 5, text: 'x', piece: 'x' }, chosenId: 6, chosenText: 'y' },
  ];
  assert.deepEqual(contextTokens(fed, steps, 1), [{ id: 1, text: 'a' }]);
  assert.deepEqual(contextTokens(fed, steps, 4).map((t) => [t.id, t.text]), [[1, 'a'], [2, 'b'], [3, 'c'], [4, '<|im_end|>']]);
  assert.deepEqual(contextTokens(fed, steps, 5).at(-1), { id: 6, text: 'y' });
  assert.equal(contextTokens(fed, steps, 9).length, 5, 'no more tokens than there are');
  assert.equal(fed.length, 2, 'the prompt is not changed');
});

test('on a real-sized step (9 heads, 30 layers, softmax rows): rows in 0..1 with a 1 each, top shares sum to <= 1', () => {
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const H = 9, C = 47, L = 30;
  const ls = Array.from({ length: L }, () => {
    const x = new Float32Array(H * C);
    for (let h = 0; h < H; h++) {
      let z = 0;
      for (let j = 0; j < C; j++) z += (x[h * C + j] = Math.exp(4 * rand()));
      for (let j = 0; j < C; j++) x[h * C + j] /= z;
    }
    return x;
  });
  for (const m of [headRows(ls[7], H, C), layerMeans(ls, H, C)]) {
    for (let r = 0; r < m.length / C; r++) {
      const row = m.subarray(r * C, (r + 1) * C);
      assert.ok(row.every((v) => v >= 0 && v <= 1 + 1e-6), `row ${r} in 0..1`);
      assert.ok(Math.abs(Math.max(...row) - 1) < 1e-6, `row ${r} has its maximum at 1`);
    }
  }
  const top = topAttended(ls[7], H, C, 6);
  assert.equal(top.length, 6);
  for (let k = 1; k < top.length; k++) assert.ok(top[k - 1].share >= top[k].share);
  assert.ok(topAttended(ls[7], H, C, C).reduce((t, x) => t + x.share, 0) <= 1 + 1e-5, 'the shares of all positions sum to 1');
});
