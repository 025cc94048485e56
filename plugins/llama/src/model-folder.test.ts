import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatorSource, tinyModelKey } from './model-folder.js';

const tiny = { seed: 0, layers: 2, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2 };

test('the tiny model cache key follows the options, the planting and the generator code', () => {
  const key = tinyModelKey({ ...tiny, planted: true });
  assert.match(key, /^[0-9a-f]{16}$/);
  assert.equal(tinyModelKey({ ...tiny, planted: true }), key, 'stable');
  assert.notEqual(tinyModelKey({ ...tiny, planted: false }), key);
  assert.equal(tinyModelKey(tiny), tinyModelKey({ ...tiny, planted: false }), 'planted defaults to false');
  assert.notEqual(tinyModelKey({ ...tiny, seed: 1, planted: true }), key);
  // Another version of the generator (any byte of its modules) gets another folder in the shared cache.
  assert.match(generatorSource(), /^[0-9a-f]{64}$/);
  assert.notEqual(tinyModelKey({ ...tiny, planted: true }, `${generatorSource()} changed`), key);
});
