// www/models.js: which manifest entry a dropped file is, by models/manifest.json's own rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { matchEntry, recognisedOf, licenceName } from '../../www/models.js';

const manifest = JSON.parse(readFileSync(new URL('../../models/manifest.json', import.meta.url)));
const rec = (architecture, name, basename, size_label) => ({ architecture, name, basename, size_label });

test('the hosted models are recognised by their own metadata', () => {
  assert.equal(matchEntry(manifest, rec('llama', 'Smollm2 135M 8k Lc100K Mix1 Ep2', 'smollm2', '135M')).entry.id, 'smollm2-135m-instruct-q4_1');
  const g = matchEntry(manifest, rec('gemma3', 'Gemma 3 270m', 'gemma-3', '270M'));
  assert.equal(g.entry.id, 'gemma-3-270m');
  assert.ok(g.hosted);
});

test('bring-the-file entries, and another size of the same family said as such', () => {
  const d = matchEntry(manifest, rec('qwen2', 'DeepSeek R1 Distill Qwen 1.5B', 'DeepSeek-R1-Distill-Qwen', '1.5B'));
  assert.equal(d.entry.id, 'deepseek-r1-distill-qwen-1.5b');
  assert.equal(d.hosted, false);
  assert.ok(d.entry.openness.weights, 'its openness card');
  const seven = matchEntry(manifest, rec('qwen2', 'DeepSeek R1 Distill Qwen 7B', 'DeepSeek-R1-Distill-Qwen', '7B'));
  assert.equal(seven.entry.id, 'deepseek-r1-distill-qwen-1.5b');
  assert.equal(seven.sameSize, false);
  assert.equal(matchEntry(manifest, rec('qwen2', 'Qwen2.5 0.5B Instruct', 'Qwen2.5', '0.5B')).entry.id, 'qwen2.5-0.5b-instruct');
  assert.equal(matchEntry(manifest, rec('qwen3', 'Qwen3 0.6B', 'Qwen3', '0.6B')).entry.id, 'qwen3-0.6b');
  assert.equal(matchEntry(manifest, rec('llama', 'Llama 3.2 1B Instruct', 'Llama-3.2', '1B')).entry.id, 'llama-3.2-1b-instruct');
  assert.equal(matchEntry(manifest, rec('llama', 'SmolLM2 360M Instruct', 'SmolLM2', '360M')).entry.id, 'smollm2-360m-instruct');
});

test('the architecture must agree; unknown files match nothing', () => {
  assert.equal(matchEntry(manifest, rec('llama', 'Qwen3 0.6B', 'Qwen3', '0.6B')), null);
  assert.equal(matchEntry(manifest, rec('llama', 'my model', null, null)), null);
  assert.equal(matchEntry(manifest, {}), null);
});

test('every entry has a licence, an upstream and a match rule; hosted ones a sha256', () => {
  for (const e of [...manifest.models, ...manifest.bring_the_file]) {
    assert.notEqual(licenceName(e.licence), 'licence unknown', e.id);
    assert.match(e.upstream.url, /^https:\/\/huggingface\.co\//, e.id);
    assert.ok(e.match?.architecture, e.id);
  }
  for (const e of manifest.models) assert.match(e.sha256, /^[0-9a-f]{64}$/, e.id);
});

test('recognisedOf falls back to the metadata list', () => {
  const r = recognisedOf({ metadata: [{ key: 'general.architecture', value: 'gemma3' }, { key: 'general.size_label', value: '270M' }],
    tensors: [{ type: 'Q8_0', n_params: 10, bytes: 5 }, { type: 'F32', n_params: 2, bytes: 8 }, { type: 'Q8_0', n_params: 1, bytes: 1 }] });
  assert.equal(r.architecture, 'gemma3');
  assert.equal(r.n_params, 13);
  assert.deepEqual(r.types.find((t) => t.type === 'Q8_0'), { type: 'Q8_0', tensors: 2, params: 11, bytes: 6 });
});
