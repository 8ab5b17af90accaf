// www/views/lens-math.js: the small arithmetic of the "Through the layers" view.  node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lensPosition, decidedAt, maxOf, barShare } from '../../www/views/lens-math.js';

test('lensPosition: generated token p was chosen by the pass that fed the token before it', () => {
  assert.equal(lensPosition(12, 0), 11, 'the first token: the prompt\'s last position');
  assert.equal(lensPosition(12, 5), 16);
});

const row = (layer, ...ids) => ({ layer, top: ids.map((id) => ({ id })) });

test('decidedAt: the first layer from which the output\'s top-1 stays top-1, and where it first shows', () => {
  const layers = [row(0, 1, 2), row(1, 2, 9), row(2, 9, 2), row(3, 9, 1), row(4, 9, 5)];
  assert.deepEqual(decidedAt(layers), { id: 9, settled: 2, seen: 1 });
  // A top-1 that flips back: only the final unbroken run counts.
  assert.deepEqual(decidedAt([row(0, 9), row(1, 3, 9), row(2, 9)]), { id: 9, settled: 2, seen: 0 });
  assert.deepEqual(decidedAt([row(0, 7)]), { id: 7, settled: 0, seen: 0 });
});

test('decidedAt: nothing while rows are missing', () => {
  assert.equal(decidedAt([row(0, 1), null, row(2, 1)]), null);
  assert.equal(decidedAt([]), null);
});

test('maxOf and barShare: linear and log1p bars, never past the track', () => {
  assert.equal(maxOf([1, 5], [3, NaN, 7]), 7);
  assert.equal(maxOf([], [0]), 1);
  assert.equal(barShare(5, 10), 0.5);
  assert.equal(barShare(10, 10, true), 1);
  assert.ok(Math.abs(barShare(1, 10, true) - Math.log1p(1) / Math.log1p(10)) < 1e-12);
  assert.equal(barShare(0, 10), 0);
  assert.equal(barShare(20, 10), 1);
  assert.equal(barShare(-1, 10), 0);
});
