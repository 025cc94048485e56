import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isExpgenError, featureKey, type Sign } from '@expgen/contract';
import { selectExemplars, type PromptExemplarRow, type SelectionSettings } from './selection.js';

const settings: SelectionSettings = { exemplarsPerPrompt: { min: 10, max: 20 }, fromTopRanks: 20, seed: 0 };

function rows(
  sign: Sign | 'random',
  count: number,
  activation: (rank: number) => number,
  feature = 7,
): PromptExemplarRow[] {
  return Array.from({ length: count }, (_, rank) => ({
    feature,
    sign,
    rank,
    activation: activation(rank),
    countFrom: 0,
    tokens: [3],
    activations: [activation(rank)],
  }));
}

const positive = rows('positive', 100, (r) => 100 - r);
const negative = rows('negative', 100, (r) => -100 + r);
const all = [...positive, ...negative, ...rows('random', 20, () => 1)];
const ranksOf = (selection: ReturnType<typeof selectExemplars>) => {
  assert.equal(selection.kind, 'selected');
  return selection.kind === 'selected' ? selection.rows.map((r) => r.rank) : [];
};

describe('selectExemplars', () => {
  const key = featureKey('mlp', 3, 7);
  it('draws between min and max distinct exemplars from the top ranks, shuffled', () => {
    const ranks = ranksOf(selectExemplars(all, { feature: key, sign: 'positive', settings }));
    assert.ok(ranks.length >= 10 && ranks.length <= 20, `${ranks.length}`);
    assert.equal(new Set(ranks).size, ranks.length);
    assert.ok(ranks.every((r) => r < 20));
  });
  it('is a function of (seed, feature, sign, variant)', () => {
    const pick = (feature = key, sign: Sign = 'positive', seed = 0, variant = 0) =>
      ranksOf(selectExemplars(all, { feature, sign, settings: { ...settings, seed }, variant }));
    assert.deepEqual(pick(), pick());
    assert.deepEqual(
      ranksOf(selectExemplars([...all].reverse(), { feature: key, sign: 'positive', settings })),
      pick(),
      'row order does not matter',
    );
    assert.notDeepEqual(pick(featureKey('mlp', 4, 7)), pick(), 'another feature');
    assert.notDeepEqual(pick(featureKey('sae:x', 3, 7)), pick(), 'another space');
    assert.notDeepEqual(pick(key, 'negative'), pick(), 'another sign');
    assert.notDeepEqual(pick(key, 'positive', 1), pick(), 'another seed');
    assert.notDeepEqual(pick(key, 'positive', 0, 1), pick(), 'another variant');
  });
  it('pins the selection for a fixed key (the documented PRNG and key)', () => {
    assert.deepEqual(ranksOf(selectExemplars(all, { feature: key, sign: 'positive', settings })), PINNED);
  });
  it('shuffles: over several features, the shown order is not always rank order', () => {
    const orders = Array.from({ length: 5 }, (_, i) =>
      ranksOf(
        selectExemplars(
          rows('positive', 30, (r) => 30 - r, i),
          { feature: featureKey('mlp', 0, i), sign: 'positive', settings },
        ),
      ),
    );
    assert.ok(orders.some((ranks) => ranks.some((r, i) => i > 0 && r < ranks[i - 1]!)));
  });
  it('clamps the size to the exemplars that exist', () => {
    const few = rows('positive', 4, (r) => 4 - r);
    const selection = selectExemplars(few, { feature: key, sign: 'positive', settings });
    assert.equal(selection.kind, 'selected');
    if (selection.kind !== 'selected') return;
    assert.deepEqual([...selection.rows.map((r) => r.rank)].sort(), [0, 1, 2, 3]);
    assert.ok(selection.drawnCount >= 10);
    assert.equal(selection.poolSize, 4);
  });
  it('min = max fixes the size', () => {
    const ranks = ranksOf(
      selectExemplars(all, {
        feature: key,
        sign: 'negative',
        settings: { ...settings, exemplarsPerPrompt: { min: 5, max: 5 }, fromTopRanks: 8 },
      }),
    );
    assert.equal(ranks.length, 5);
    assert.ok(ranks.every((r) => r < 8));
  });
  it('leaves out top-ranked rows that do not reach the sign', () => {
    const sparse = rows('positive', 20, (r) => (r < 3 ? 5 - r : 0));
    const selection = selectExemplars(sparse, { feature: key, sign: 'positive', settings });
    assert.equal(selection.kind, 'selected');
    if (selection.kind !== 'selected') return;
    assert.deepEqual([...selection.rows.map((r) => r.rank)].sort(), [0, 1, 2]);
    assert.equal(selection.notReaching, 17);
  });
  const skips: [string, PromptExemplarRow[], Sign, string, RegExp][] = [
    ['no rows of the sign', positive, 'negative', 'no-exemplars', /no negative exemplars/],
    [
      'positive never above zero',
      rows('positive', 10, () => 0),
      'positive',
      'never-reached',
      /largest exemplar activation is 0/,
    ],
    [
      'negative never below zero',
      rows('negative', 10, (r) => r),
      'negative',
      'never-reached',
      /smallest exemplar activation is 0/,
    ],
  ];
  for (const [name, input, sign, reason, detail] of skips) {
    it(`skips the sign: ${name}`, () => {
      const selection = selectExemplars(input, { feature: key, sign, settings });
      assert.equal(selection.kind, 'skipped');
      if (selection.kind !== 'skipped') return;
      assert.equal(selection.reason, reason);
      assert.match(selection.detail, detail);
      assert.match(selection.detail, /mlp\/3\/7/);
    });
  }
  const errors: [string, () => unknown, RegExp][] = [
    [
      'min > max',
      () =>
        selectExemplars(all, {
          feature: key,
          sign: 'positive',
          settings: { ...settings, exemplarsPerPrompt: { min: 5, max: 4 } },
        }),
      /describe\.exemplarsPerPrompt: min \(5\) is larger than max \(4\)/,
    ],
    [
      'rows of another feature',
      () =>
        selectExemplars(
          rows('positive', 3, () => 1, 8),
          { feature: key, sign: 'positive', settings },
        ),
      /row of feature 8/,
    ],
    [
      'a bad variant',
      () => selectExemplars(all, { feature: key, sign: 'positive', settings, variant: -1 }),
      /variant -1/,
    ],
  ];
  for (const [name, run, message] of errors) {
    it(`rejects ${name} with one clear line`, () => {
      assert.throws(
        run,
        (e: unknown) => isExpgenError(e) && message.test((e as Error).message) && !(e as Error).message.includes('\n'),
      );
    });
  }
});

const PINNED: number[] = [11, 19, 14, 4, 13, 9, 18, 8, 16, 3, 12, 10, 7, 1, 17, 15, 6];
