import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { catRequest, catTokenizer } from './judges.test-util.js';
import {
  drawDetection,
  drawFuzzing,
  fireThreshold,
  firingTokens,
  quantileGroups,
  sequenceFires,
  type DetectionDraw,
} from './sequence-draw.js';

const detection: DetectionDraw = {
  activating: 10,
  nonActivating: 10,
  hardNegatives: 5,
  hardNegativeTokens: 5,
  activeFraction: 0.3,
  quantiles: 5,
};

describe('what a judge is shown', () => {
  const request = catRequest();
  it('fires at a fraction of the strongest top exemplar, in the sign direction only', () => {
    assert.equal(fireThreshold(request, 0.3), 3);
    const threshold = fireThreshold(request, 0.3);
    assert.ok(sequenceFires(request.sequences.top[0]!, 'positive', threshold));
    assert.ok(!sequenceFires(request.sequences.random[0]!, 'positive', threshold), 'a weak cat does not fire');
    assert.ok(sequenceFires(request.sequences.random[9]!, 'positive', threshold), 'a strong random cat fires');
    assert.ok(!sequenceFires(request.sequences.opposite[0]!, 'positive', threshold), 'a dog goes the other way');
    assert.ok(sequenceFires(request.sequences.opposite[0]!, 'negative', 3), '...and fires for the negative sign');
    const marks = firingTokens(request.sequences.top[0]!, 'positive', threshold);
    assert.ok(marks.some(Boolean) && !marks.every(Boolean), 'only the cat tokens fire');
    assert.equal(fireThreshold({ ...request, sequences: { ...request.sequences, top: [] } }, 0.3), null);
  });

  it('detection: activating across quantiles, non-activating from random, hard negatives that hold the firing tokens', () => {
    const shown = drawDetection(request, detection);
    const groups = new Map<string, number>();
    for (const s of shown) groups.set(s.group, (groups.get(s.group) ?? 0) + 1);
    assert.deepEqual(
      [...groups.entries()].filter(([g]) => g.startsWith('activating')).map(([, n]) => n),
      [2, 2, 2, 2, 2],
      'two from each of five quantiles',
    );
    const threshold = fireThreshold(request, 0.3);
    for (const s of shown) {
      const sequence = request.sequences[s.list][s.index]!;
      assert.equal(
        s.truth,
        sequenceFires(sequence, 'positive', threshold),
        `${s.group}: the truth is whether it fires`,
      );
      assert.equal(s.marks, null, 'detection marks nothing');
    }
    const non = shown.filter((s) => s.group === 'non_activating');
    assert.equal(non.length, 7, 'the random sequences that do not fire, less the hard negatives');
    assert.ok(non.every((s) => s.list === 'random'));
    const hard = shown.filter((s) => s.group === 'hard_negative');
    assert.equal(hard.length, 2, 'the two weak cats are left: they hold "cat" and do not fire');
    assert.ok(hard.every((s) => s.list === 'random' && s.index < 2));
    const keys = shown.map((s) => `${s.list}:${s.index}`);
    assert.equal(new Set(keys).size, keys.length, 'no sequence twice');
  });

  it('draws the same sequences for the null baseline and any description; another seed draws others', () => {
    const key = (r: typeof request) => drawDetection(r, detection).map((s) => `${s.list}:${s.index}:${s.group}`);
    assert.deepEqual(key(catRequest({ description: 'dogs', purpose: 'null' })), key(request));
    assert.notDeepEqual(key(catRequest({ seed: 1 })), key(request));
  });

  it('fuzzing: firing sequences marked right, and as many marked wrong on tokens that do not fire', () => {
    const shown = drawFuzzing(request, { activating: 6, mismarked: 6, activeFraction: 0.3, quantiles: 3 });
    const threshold = fireThreshold(request, 0.3);
    assert.equal(shown.filter((s) => s.truth).length, 6);
    assert.equal(shown.filter((s) => !s.truth).length, 6);
    for (const s of shown) {
      const fires = firingTokens(request.sequences[s.list][s.index]!, 'positive', threshold);
      if (s.truth) assert.deepEqual(s.marks, fires, 'right: exactly the firing tokens');
      else {
        assert.ok(s.marks!.some(Boolean), 'wrong marks exist');
        assert.ok(
          s.marks!.every((m, t) => !m || !fires[t]),
          'wrong marks sit on tokens that do not fire',
        );
        assert.equal(s.marks!.filter(Boolean).length, fires.filter(Boolean).length, 'as many as the true ones');
      }
    }
  });

  it('cuts the firing sequences into quantile groups by peak, strongest first, leaving out empty groups', () => {
    const made = (peak: number, index: number) => ({
      list: 'top' as const,
      index,
      peak,
      sequence: catRequest().sequences.top[0]!,
    });
    const groups = quantileGroups([made(1, 0), made(5, 1), made(3, 2)], 5);
    assert.deepEqual(
      groups.map((g) => [g.label, g.members.map((m) => m.peak)]),
      [
        ['q2', [5]],
        ['q4', [3]],
        ['q5', [1]],
      ],
    );
  });

  it('encodes words as tokens', () => {
    assert.equal(catTokenizer().decode(request.sequences.random[9]!.tokens), 'one cat here');
  });
});
