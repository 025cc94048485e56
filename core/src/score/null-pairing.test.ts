import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Sign } from '@expgen/contract';
import {
  NullPairing,
  applyNullScores,
  mergeNullScores,
  readNullScores,
  scoreNullPairs,
  writeNullScores,
} from './null-pairing.js';

const features = Array.from({ length: 40 }, (_, i) => `mlp/0/${i}`);
const rows = features.flatMap((feature, i) =>
  (['positive', 'negative'] as Sign[]).map((sign) => ({
    feature,
    sign,
    // Some failed rows, as in a real run: they neither give nor get a null score.
    status: i % 5 === 3 ? 'failed' : 'scored',
    description: i % 5 === 3 ? null : `description of ${feature}`,
  })),
);
/** A deterministic stand-in for "simulate this description on that feature's test data". */
const pairValue = (description: string, target: string, sign: Sign) =>
  description === `description of ${target}`
    ? 1
    : ((description.length * 7 + target.length + (sign === 'positive' ? 1 : 0)) % 11) / 10;
/** Scored, like a judge behind a server, after a delay that differs per pair (answers arrive out of order). */
const scoreOn = async (description: string, target: string, sign: Sign) => {
  await new Promise((resolve) => setTimeout(resolve, (target.length * 13 + description.length) % 5));
  const value = pairValue(description, target, sign);
  return { null_score: value, scores: { correlation: value, detection: 1 - value } };
};

describe('null baseline pairs', () => {
  it('pair every feature with another, never itself, the same way for any seed-mate', () => {
    const a = NullPairing.over(features, 3);
    const b = NullPairing.over([...features, ...features], 3);
    const targets = features.map((f) => a.targetOf(f));
    assert.equal(new Set(targets).size, features.length, 'a permutation');
    for (const [i, f] of features.entries()) {
      assert.notEqual(targets[i], f);
      assert.equal(b.targetOf(f), targets[i], 'duplicates (one per sign) count once');
    }
    assert.equal(NullPairing.over(['mlp/0/0'], 3).targetOf('mlp/0/0'), null, 'one feature has no partner');
    assert.throws(() => a.targetOf('mlp/9/9'), /not in the run's feature selection/);
  });

  it('feature shards computing their own descriptions give exactly the unsharded null scores once merged', async () => {
    const pairing = NullPairing.over(features, 0);
    const whole = applyNullScores(rows, await scoreNullPairs(rows, pairing, scoreOn));
    const concurrent = await scoreNullPairs(rows, pairing, scoreOn, 8);
    assert.deepEqual(
      concurrent,
      await scoreNullPairs(rows, pairing, scoreOn),
      'the same scores in the same order, 8 at once',
    );
    assert.ok(whole.some((r) => r.null_score !== null));
    assert.ok(
      whole.every((r) => r.status === 'scored' || r.null_score === null),
      'only scored rows get one',
    );
    assert.ok(
      whole.every((r) => r.null_score !== 1),
      'never scored with its own description',
    );

    for (const count of [2, 3, 7]) {
      const dirs: string[] = [];
      const shardRows = [];
      for (let index = 0; index < count; index++) {
        const mine = rows.filter((r) => features.indexOf(r.feature) % count === index);
        const dir = mkdtempSync(join(tmpdir(), 'expgen-null-'));
        const scores = await scoreNullPairs(mine, NullPairing.over(features, 0), scoreOn);
        writeNullScores(dir, scores);
        dirs.push(dir);
        shardRows.push(...applyNullScores(mine, scores));
      }
      const out = mkdtempSync(join(tmpdir(), 'expgen-null-merged-'));
      const merged = mergeNullScores(shardRows, dirs, out);
      const byKey = new Map(merged.map((r) => [`${r.feature}:${r.sign}`, r.null_score]));
      for (const r of whole)
        assert.equal(byKey.get(`${r.feature}:${r.sign}`), r.null_score, `${count} shards: ${r.feature}`);
      const unsharded = mkdtempSync(join(tmpdir(), 'expgen-null-whole-'));
      writeNullScores(unsharded, await scoreNullPairs(rows, pairing, scoreOn));
      assert.deepEqual(readNullScores(out), readNullScores(unsharded), 'the merged file is the unsharded one');
    }
  });

  it("puts each reported scorer's null score on its entry of the row", async () => {
    const withScores = rows.map((r) => ({
      ...r,
      scores: {
        correlation: { status: r.status, score: 0.5, null_score: null },
        detection: { status: r.status, score: 0.9, null_score: null },
      },
    }));
    const applied = applyNullScores(
      withScores,
      await scoreNullPairs(withScores, NullPairing.over(features, 0), scoreOn),
    );
    const scored = applied.filter((r) => r.null_score !== null);
    assert.ok(scored.length > 0);
    for (const r of scored) {
      assert.equal(r.scores.correlation.null_score, r.null_score);
      assert.equal(r.scores.detection.null_score, 1 - r.null_score!);
      assert.equal(r.scores.detection.score, 0.9, 'the rest of the entry is kept');
    }
    for (const r of applied.filter((x) => x.status !== 'scored')) assert.equal(r.scores.detection.null_score, null);
  });

  it("gives a scorer's scored entry its null score on a row whose own test score is undefined", async () => {
    // Two rows in ten: a description was chosen, its simulation is constant on the test split (`no_test_score`), but
    // the judge scores it.
    const mixed = rows.map((r, i) => {
      const own = i % 10 < 2 ? 'no_test_score' : r.status;
      const judged = r.status === 'failed' ? 'failed' : 'scored';
      return {
        ...r,
        status: own,
        scores: {
          correlation: { status: own, score: null, null_score: null },
          detection: { status: judged, score: 0.9, null_score: null },
        },
      };
    });
    const targeted: string[] = [];
    const applied = applyNullScores(
      mixed,
      await scoreNullPairs(mixed, NullPairing.over(features, 0), async (description, target, sign) => {
        targeted.push(`${target}:${sign}`);
        return scoreOn(description, target, sign);
      }),
    );
    const undefinedHere = applied.filter((r) => r.status === 'no_test_score');
    assert.ok(undefinedHere.length > 0);
    for (const r of undefinedHere) {
      assert.equal(r.null_score, null, 'the row takes no null score of its own');
      assert.equal(r.scores.correlation.null_score, null);
    }
    assert.ok(
      undefinedHere.some((r) => r.scores.detection.null_score !== null),
      "the judge's entry has its null score",
    );
    // Without a scored entry, a `no_test_score` target is not scored at all.
    const plain = mixed.map(({ scores: _, ...r }) => r);
    const plainTargets: string[] = [];
    await scoreNullPairs(plain, NullPairing.over(features, 0), async (description, target, sign) => {
      plainTargets.push(`${target}:${sign}`);
      return scoreOn(description, target, sign);
    });
    assert.ok(plainTargets.length < targeted.length);
    const noTest = new Set(undefinedHere.map((r) => `${r.feature}:${r.sign}`));
    assert.ok(plainTargets.every((t) => !noTest.has(t)));
  });

  it('a shard made before null scores were kept merges as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-null-old-'));
    const old = [{ feature: 'mlp/0/0', sign: 'positive' as Sign, status: 'scored', null_score: 0.25 }];
    assert.deepEqual(mergeNullScores(old, [dir], mkdtempSync(join(tmpdir(), 'expgen-null-out-'))), old);
  });
});
