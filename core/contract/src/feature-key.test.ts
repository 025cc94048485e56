import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isExpgenError } from './errors.js';
import {
  compareFeatureKeys,
  featureKey,
  formatFeatureKey,
  isValidSpace,
  parseFeatureKey,
  sameFeature,
  type FeatureKey,
} from './feature-key.js';

/** A deterministic scramble (items ordered by a hash of their position and the seed), so a failure reproduces. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const key = (i: number) => {
    const x = Math.sin((i + 1) * 12.9898 + seed * 78.233) * 43758.5453;
    return x - Math.floor(x);
  };
  return items
    .map((item, i) => ({ item, k: key(i) }))
    .sort((a, b) => a.k - b.k)
    .map((e) => e.item);
}

describe('formatFeatureKey / parseFeatureKey', () => {
  it('round-trips canonical keys', () => {
    for (const text of [
      'mlp/0/0',
      'mlp/12/4061',
      'resid/31/4095',
      'sae:llama-scope/12/4061',
      'sae:res-16k/3/16383',
      'my_space-2:A.b_c-9/7/1',
    ]) {
      const key = parseFeatureKey(text);
      assert.equal(formatFeatureKey(key), text);
      assert.deepEqual(parseFeatureKey(formatFeatureKey(key)), key);
    }
  });

  it('parses the parts into space, layer and index', () => {
    assert.deepEqual(parseFeatureKey('sae:llama-scope/12/4061'), { space: 'sae:llama-scope', layer: 12, index: 4061 });
    assert.deepEqual(parseFeatureKey('mlp/0/7'), { space: 'mlp', layer: 0, index: 7 });
  });

  it('formats keys built with featureKey', () => {
    assert.equal(formatFeatureKey(featureKey('resid', 3, 0)), 'resid/3/0');
  });

  for (const bad of [
    'mlp/1',
    'mlp/-1/2',
    'mlp/1/-2',
    'mlp/01/2',
    'mlp/1/02',
    'MLP/1/2',
    'mlp/1/2/3',
    '',
    'mlp//2',
    'mlp/1/',
    '/1/2',
    'mlp/1.5/2',
    'mlp/1e3/2',
    'mlp/ 1/2',
    'mlp/1/2 ',
    ' mlp/1/2',
    '1mlp/1/2',
    'sae:/1/2',
    'sae:a:b/1/2',
    'sae:a b/1/2',
    'mlp/0x1/2',
    'mlp/99999999999999999999/0',
  ]) {
    it(`rejects ${JSON.stringify(bad)} with a one-line ExpgenError`, () => {
      assert.throws(
        () => parseFeatureKey(bad),
        (error: unknown) => {
          assert.ok(isExpgenError(error), 'an ExpgenError');
          assert.ok(!error.message.includes('\n'), 'one line');
          return true;
        },
      );
    });
  }

  it('says what the expected form is', () => {
    assert.throws(
      () => parseFeatureKey('mlp/1'),
      /feature key "mlp\/1" is not valid: expected \{space\}\/\{layer\}\/\{index\}/,
    );
    assert.throws(() => parseFeatureKey('MLP/1/2'), /feature space "MLP" is not valid/);
  });
});

describe('featureKey', () => {
  it('rejects negative, fractional and unsafe layers and indices', () => {
    for (const [layer, index] of [
      [-1, 0],
      [0, -1],
      [1.5, 0],
      [0, 0.5],
      [Number.NaN, 0],
      [0, Infinity],
      [2 ** 53, 0],
    ] as const) {
      assert.throws(
        () => featureKey('mlp', layer, index),
        (e: unknown) => isExpgenError(e) && /must be a non-negative integer/.test(e.message),
      );
    }
  });

  it('validates the space', () => {
    assert.ok(isValidSpace('mlp'));
    assert.ok(isValidSpace('sae:llama-scope-r8'));
    assert.ok(isValidSpace('sae:Res_16K.v2'));
    assert.ok(!isValidSpace('Mlp'));
    assert.ok(!isValidSpace(''));
    assert.ok(!isValidSpace('sae:'));
    assert.ok(!isValidSpace('a/b'));
    assert.throws(() => featureKey('a/b', 0, 0), /feature space "a\/b" is not valid/);
  });
});

describe('compareFeatureKeys', () => {
  const ordered: FeatureKey[] = [
    'mlp/0/0',
    'mlp/0/1',
    'mlp/0/2',
    'mlp/0/10',
    'mlp/0/100',
    'mlp/1/0',
    'mlp/2/5',
    'mlp/10/0',
    'mlp/10/3',
    'resid/0/0',
    'resid/3/1',
    'sae:a/0/0',
    'sae:llama-scope/2/9',
    'sae:llama-scope/12/4061',
    'sae:llama-scope-r8/0/0',
    'sae:z/0/0',
  ].map(parseFeatureKey);

  it('sorts a shuffled list into space, then numeric layer, then numeric index order', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const sorted = shuffled(ordered, seed).sort(compareFeatureKeys);
      assert.deepEqual(sorted.map(formatFeatureKey), ordered.map(formatFeatureKey));
    }
  });

  it('orders spaces by code unit, not locale (uppercase-free spaces, "-" before letters)', () => {
    assert.ok(compareFeatureKeys(parseFeatureKey('sae:a-b/0/0'), parseFeatureKey('sae:aa/0/0')) < 0);
    assert.ok(
      compareFeatureKeys(parseFeatureKey('sae:B/0/0'), parseFeatureKey('sae:a/0/0')) < 0,
      '"B" (0x42) sorts before "a" (0x61)',
    );
  });

  it('is reflexive and agrees with sameFeature', () => {
    for (const a of ordered) {
      assert.equal(compareFeatureKeys(a, { ...a }), 0);
      assert.ok(sameFeature(a, { ...a }));
    }
    assert.ok(!sameFeature(ordered[0]!, ordered[1]!));
  });

  it('is antisymmetric', () => {
    for (const a of ordered) {
      for (const b of ordered)
        assert.equal(
          Math.sign(compareFeatureKeys(a, b)),
          0 - Math.sign(compareFeatureKeys(b, a)) || 0,
          `${formatFeatureKey(a)} vs ${formatFeatureKey(b)}`,
        );
    }
  });

  it('is transitive on a sample', () => {
    const sample = shuffled(ordered, 7);
    for (const a of sample) {
      for (const b of sample) {
        for (const c of sample) {
          if (compareFeatureKeys(a, b) <= 0 && compareFeatureKeys(b, c) <= 0) {
            assert.ok(
              compareFeatureKeys(a, c) <= 0,
              `${formatFeatureKey(a)} <= ${formatFeatureKey(b)} <= ${formatFeatureKey(c)}`,
            );
          }
        }
      }
    }
  });

  it('is a total order: any two distinct keys compare non-zero', () => {
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++)
        if (i !== j) assert.notEqual(compareFeatureKeys(ordered[i]!, ordered[j]!), 0);
    }
  });
});
