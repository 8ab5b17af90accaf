// www/format.js: how the page and the widget write numbers.  node --test tests/unit/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtBytes, fmtMs, fmtInt, fmtNum, fmtAxis, fmtPct, fmtRate } from '../../www/format.js';

test('fmtBytes: decimal units, the model file reads 98.4 MB', () => {
  assert.equal(fmtBytes(0), '0 B');
  assert.equal(fmtBytes(999.4), '999 B');
  assert.equal(fmtBytes(1000), '1.0 kB');
  assert.equal(fmtBytes(98_400_000), '98.4 MB');
  assert.equal(fmtBytes(98_437_120), '98.4 MB');
  assert.equal(fmtBytes(1.5e9), '1.50 GB');
  assert.equal(fmtBytes(NaN), '–');
  assert.equal(fmtBytes(Infinity), '–');
  assert.equal(fmtBytes(undefined), '–');
});

test('fmtMs: one decimal under 10 ms, whole ms under a second, seconds with two decimals', () => {
  assert.equal(fmtMs(4.24), '4.2 ms');
  assert.equal(fmtMs(312.4), '312 ms');
  assert.equal(fmtMs(999), '999 ms');
  assert.equal(fmtMs(1000), '1.00 s');
  assert.equal(fmtMs(1234), '1.23 s');
  assert.equal(fmtMs(NaN), '–');
});

test('fmtInt: thousands separators, whatever the locale of the machine', () => {
  assert.equal(fmtInt(49152), '49,152');
  assert.equal(fmtInt(134515008), '134,515,008');
  assert.equal(fmtInt(0), '0');
  assert.equal(fmtInt('2048'), '2,048');
});

test('fmtNum: significant digits, exponent form when very large or very small', () => {
  assert.equal(fmtNum(0), '0');
  assert.equal(fmtNum(0.123456), '0.1235');
  assert.equal(fmtNum(-0.123456, 6), '-0.123456');
  assert.equal(fmtNum(1.5), '1.5');
  assert.equal(fmtNum(123456), '1.235e+5');
  assert.equal(fmtNum(1e-5, 3), '1.00e-5');
  assert.equal(fmtNum(0.0001234, 6), '1.234e-4');
  assert.equal(fmtNum(NaN), 'NaN');
  assert.equal(fmtNum(-Infinity), '-Infinity');
});

test('fmtAxis: three significant digits without trailing zeros, for legends and histograms', () => {
  assert.equal(fmtAxis(0), '0');
  assert.equal(fmtAxis(1), '1');
  assert.equal(fmtAxis(-4.78125), '-4.78');
  assert.equal(fmtAxis(0.5), '0.5');
  assert.equal(fmtAxis(0.25), '0.25');
  assert.equal(fmtAxis(120), '120');
  assert.equal(fmtAxis(12345), '1.23e+4');
  assert.equal(fmtAxis(0.0005), '5.00e-4');
  assert.equal(fmtAxis(NaN), 'NaN');
});

test('fmtPct and fmtRate', () => {
  assert.equal(fmtPct(0.1234), '12.3%');
  assert.equal(fmtPct(0.001234, 2), '0.12%');
  assert.equal(fmtPct(1), '100.0%');
  assert.equal(fmtRate(31.44), '31.4 tok/s');
  assert.equal(fmtRate(0), '–');
  assert.equal(fmtRate(undefined), '–');
});
