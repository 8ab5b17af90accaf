// www/latest.js: "the latest request wins".  node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latestOnly, STALE } from '../../www/latest.js';

// A promise settled by hand: the tests choose the order in which answers arrive.
function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}

test('one request: its value', async () => {
  const latest = latestOnly();
  assert.equal(await latest(Promise.resolve(7)), 7);
  assert.equal(await latest(8), 8, 'a plain value is a request that has already answered');
});

test('an older answer arriving last is STALE; the newest wins whatever the order', async () => {
  const latest = latestOnly();
  const a = deferred(), b = deferred();
  const ra = latest(a.promise), rb = latest(b.promise);
  b.resolve('b');
  a.resolve('a');
  assert.equal(await rb, 'b');
  assert.equal(await ra, STALE);
});

test('an older answer arriving first is STALE too (a newer request had started)', async () => {
  const latest = latestOnly();
  const a = deferred(), b = deferred();
  const ra = latest(a.promise), rb = latest(b.promise);
  a.resolve('a');
  assert.equal(await ra, STALE);
  b.resolve('b');
  assert.equal(await rb, 'b');
});

test('the current request\'s error is thrown; a stale one\'s is swallowed as STALE', async () => {
  const latest = latestOnly();
  const a = deferred(), b = deferred();
  const ra = latest(a.promise), rb = latest(b.promise);
  a.reject(new Error('old'));
  b.reject(new Error('new'));
  assert.equal(await ra, STALE);
  await assert.rejects(rb, /new/);
});

test('two gates do not interfere', async () => {
  const one = latestOnly(), two = latestOnly();
  const r1 = one(Promise.resolve(1));
  const r2 = two(Promise.resolve(2));
  assert.deepEqual([await r1, await r2], [1, 2]);
});

test('a ticket holds several awaits of one request; a newer start() makes all of them stale', async () => {
  const latest = latestOnly();
  const first = latest.start();
  assert.equal(first.current, true);
  assert.equal(await first(Promise.resolve('tokens')), 'tokens');
  assert.equal(await first(Promise.resolve('template')), 'template', 'the same request, still current');
  const second = latest.start();
  assert.equal(first.current, false);
  assert.equal(second.current, true);
  assert.equal(await first(Promise.resolve('late')), STALE);
  assert.equal(await second(Promise.resolve('ok')), 'ok');
  latest(Promise.resolve('another'));
  assert.equal(second.current, false, 'latest() starts a request too');
});

test('cancel() makes every request so far stale', async () => {
  const latest = latestOnly();
  const a = deferred();
  const ra = latest(a.promise);
  const t = latest.start();
  latest.cancel();
  a.resolve('a');
  assert.equal(await ra, STALE);
  assert.equal(t.current, false);
  assert.equal(await latest(Promise.resolve('after')), 'after');
});
