import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest, editDistance } from './suggest.js';

test('edit distance counts insertions, deletions, substitutions and swapped neighbours', () => {
  assert.equal(editDistance('run', 'run'), 0);
  assert.equal(editDistance('runn', 'run'), 1);
  assert.equal(editDistance('features', 'featrues'), 1);
  assert.equal(editDistance('plugin', 'plugins'), 1);
  assert.equal(editDistance('', 'abc'), 3);
});

test('closest suggests only what is near enough to be a typo', () => {
  const commands = ['run', 'exemplars', 'describe', 'score', 'plugins', 'config', 'report', 'merge'];
  assert.equal(closest('runn', commands), 'run');
  assert.equal(closest('Plugin', commands), 'plugins');
  assert.equal(closest('scroe', commands), 'score');
  assert.equal(closest('frobnicate', commands), null);
  assert.equal(closest('x', commands), null);
  assert.equal(closest('anything', []), null);
});
