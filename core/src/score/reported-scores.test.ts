import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { JudgeRequest, JudgeScorer, Judgment } from '@expgen/contract';
import { fakeProvenance } from '@expgen/contract/testing';
import { binaryCounts, binaryStatistics } from '@expgen/plugin-kit';
import { tableFromIPC } from 'apache-arrow';
import { formatSummary } from './format-summary.js';
import { described, FEATURES, pearsonScorer, score, settings, writeExemplars } from './score-fixtures.test-util.js';

/**
 * A judge scorer that shows the first 4 top exemplars (true) and the 3 random sequences (false), and answers right
 * for the feature's own description and "yes" to everything for another's (the null baseline: balanced accuracy
 * 0.5). Feature 0's positive sign loses one answer (a failure).
 */
function fakeJudge(): JudgeScorer & { requests: JudgeRequest[] } {
  const requests: JudgeRequest[] = [];
  const provenance = fakeProvenance('scorer', 'fake-judge');
  return {
    method: 'judge',
    provenance,
    requests,
    async judge(request) {
      requests.push(request);
      const own = request.purpose === 'report';
      const judgments: Judgment[] = [
        ...request.sequences.top.slice(0, 4).map((_, index) => ({ list: 'top' as const, index, truth: true })),
        ...request.sequences.random.map((_, index) => ({ list: 'random' as const, index, truth: false })),
      ].map((j, i) => ({
        ...j,
        group: j.truth ? 'activating' : 'non-activating',
        answer:
          own && request.feature.index === 0 && request.sign === 'positive' && i === 0 ? null : own ? j.truth : true,
      }));
      return {
        judgments,
        failures: judgments.some((j) => j.answer === null) ? ['prompt 1: one answer missing'] : [],
        stats: {},
        usage: { calls: 2, promptTokens: 100, completionTokens: 10, cachedCalls: 1 },
        judgedBy: provenance,
      };
    },
    valueOfJudgments: (judgments) =>
      binaryStatistics(binaryCounts(judgments.map((j) => ({ truth: j.truth, answer: j.answer! })))).balancedAccuracy,
  };
}

describe('stage 3 with several scorers', () => {
  const exemplars = mkdtempSync(join(tmpdir(), 'expgen-scores-exemplars-'));
  writeExemplars(exemplars);
  const selection = pearsonScorer('known');

  it('gives every row each scorer with its interval, null baseline, judgments and failures', async () => {
    const judge = fakeJudge();
    const reported = [
      { name: 'pearson', scorer: selection, sameAsSelection: true },
      { name: 'fake_judge', scorer: judge, sameAsSelection: false },
    ];
    const { rows, cost, outDir, summary } = await score(exemplars, {
      settings: settings(),
      scorer: selection,
      reported,
    });
    for (const row of rows) {
      assert.deepEqual(Object.keys(row.scores), ['pearson', 'fake_judge']);
      const own = row.scores['pearson']!;
      assert.deepEqual(
        [own.score, own.ci, own.null_score, own.judgments, own.failures],
        [row.score, row.ci, row.null_score, 9, 0],
        'the selection scorer is reported from the row: computed once',
      );
      const judged = row.scores['fake_judge']!;
      const lost = row.feature === 'mlp/0/0' && row.sign === 'positive' ? 1 : 0;
      assert.deepEqual([judged.score, judged.judgments, judged.failures], [1, 7 - lost, lost]);
      assert.deepEqual(judged.ci, [1, 1]);
      assert.equal(judged.null_score, 0.5, "another feature's description, judged on this feature's data");
    }
    // Report requests: each feature's chosen description on its own test lists; null requests: a partner's.
    const report = judge.requests.filter((r) => r.purpose === 'report');
    const nulls = judge.requests.filter((r) => r.purpose === 'null');
    assert.equal(report.length, 2 * FEATURES);
    assert.equal(nulls.length, 2 * FEATURES);
    for (const r of report) {
      const row = rows.find((x) => x.feature === `mlp/0/${r.feature.index}` && x.sign === r.sign)!;
      assert.equal(r.description, row.description);
      assert.equal(r.sequences.top.length, 6);
      assert.equal(r.sequences.opposite.length, 6);
      assert.equal(r.sequences.random.length, 3);
      assert.equal(r.seed, 0);
    }
    for (const r of nulls) {
      const row = rows.find((x) => x.feature === `mlp/0/${r.feature.index}` && x.sign === r.sign)!;
      assert.notEqual(r.description, row.description, 'a null request judges with another description');
      const twin = report.find((x) => x.feature.index === r.feature.index && x.sign === r.sign)!;
      assert.deepEqual(r.sequences, twin.sequences, "on the same feature's sequences");
    }
    assert.equal(cost.explainer_requests, 2 * (report.length + nulls.length), 'judge requests, report and null');
    assert.equal(cost.prompt_tokens, 100 * (report.length + nulls.length));
    assert.equal(cost.cached_calls, report.length + nulls.length);
    const judgeSummary = summary.scores['fake_judge']!;
    assert.deepEqual(
      [judgeSummary.mean_score, judgeSummary.mean_score_rows, judgeSummary.null_baseline, judgeSummary.failures],
      [1, 2 * FEATURES, 0.5, 1],
    );
    assert.equal(judgeSummary.states.scored, 2 * FEATURES);
    assert.equal(summary.scores['pearson']!.mean_score, summary.mean_score);

    const jsonl = readFileSync(join(outDir, 'results.jsonl'), 'utf8').split('\n')[0]!;
    assert.deepEqual(Object.keys(JSON.parse(jsonl).scores['fake_judge']), [
      'status',
      'reason',
      'score',
      'ci',
      'null_score',
      'judgments',
      'failures',
    ]);
    // In Arrow, `scores` is a struct of one typed struct per scorer, shaped as the JSON Lines are.
    const table = tableFromIPC(readFileSync(join(outDir, 'results.arrow')));
    const entry =
      'Struct<{status:Utf8, reason:Utf8, score:Float64, ci:List<Float64>, null_score:Float64, judgments:Int32, failures:Int32}>';
    assert.equal(
      String(table.schema.fields.find((f) => f.name === 'scores')?.type),
      `Struct<{pearson:${entry}, fake_judge:${entry}}>`,
    );
    const first = table.getChild('scores')!.get(0)!.toJSON() as Record<string, { toJSON(): Record<string, unknown> }>;
    assert.equal(first['fake_judge']!.toJSON()['null_score'], 0.5);
    assert.equal(first['fake_judge']!.toJSON()['status'], 'scored');

    const judgments = JSON.parse(
      readFileSync(join(outDir, 'features', 'mlp', 'layer-00', '0.positive.judgments.json'), 'utf8'),
    );
    const shown = judgments.scorers['fake_judge'];
    assert.equal(shown.shown.length, 7);
    assert.deepEqual(shown.failure_reasons, ['prompt 1: one answer missing']);
    assert.deepEqual(Object.keys(shown.shown[0]), ['list', 'index', 'rank', 'sequence', 'group', 'truth', 'answer']);
    assert.equal(shown.shown[0].answer, null);
  });

  it("says why a judge's entry has no score: every judgment failed, or the row has no chosen description", async () => {
    const judge = fakeJudge();
    const judgeOf = judge.judge.bind(judge);
    // Feature 1's negative sign: every answer unreadable. Feature 2's positive sign: no description to judge.
    judge.judge = async (request) => {
      const result = await judgeOf(request);
      if (request.feature.index !== 1 || request.sign !== 'negative' || request.purpose !== 'report') return result;
      return {
        ...result,
        judgments: result.judgments.map((j) => ({ ...j, answer: null })),
        failures: ['prompt 1: no [ANSWER] list', 'prompt 2: no [ANSWER] list'],
      };
    };
    const { rows, summary } = await score(exemplars, {
      settings: settings(),
      scorer: selection,
      reported: [
        { name: 'pearson', scorer: selection, sameAsSelection: true },
        { name: 'fake_judge', scorer: judge, sameAsSelection: false },
      ],
      described: described().map((d) =>
        d.feature === 'mlp/0/2' && d.sign === 'positive'
          ? { ...d, status: 'failed', reason: 'every candidate failed (refusal)', candidates: [] }
          : d,
      ),
    });
    const row = (feature: string, sign: string) => rows.find((r) => r.feature === feature && r.sign === sign)!;
    const failed = row('mlp/0/1', 'negative');
    assert.equal(failed.status, 'scored', "the row's own score stands");
    assert.deepEqual(
      { ...failed.scores['fake_judge']! },
      {
        status: 'failed',
        reason: 'every one of the 7 judgment(s) of the scorer "fake_judge" failed: prompt 1: no [ANSWER] list',
        score: null,
        ci: null,
        null_score: null,
        judgments: 0,
        failures: 7,
      },
    );
    const undescribed = row('mlp/0/2', 'positive');
    for (const name of ['pearson', 'fake_judge'])
      assert.deepEqual(
        [undescribed.scores[name]!.status, undescribed.scores[name]!.reason, undescribed.scores[name]!.score],
        ['failed', 'every candidate failed (refusal)', null],
      );
    const judged = summary.scores['fake_judge']!;
    assert.deepEqual(
      [judged.states.scored, judged.states.failed, judged.mean_score_rows, judged.null_baseline_rows],
      // Feature 2's positive description is missing, so the feature it is the partner of has no null score.
      [2 * FEATURES - 2, 2, 2 * FEATURES - 2, 2 * FEATURES - 3],
    );
    assert.equal(judged.failures, 7 + 1);
    assert.match(formatSummary(summary), /^ {2}fake_judge: not scored +failed 2$/m);
  });

  it('a second scorer of simulations is evaluated on the same simulations, its null baseline too', async () => {
    const reported = [
      { name: 'pearson', scorer: selection, sameAsSelection: true },
      { name: 'pearson_by_score', scorer: pearsonScorer('score'), sameAsSelection: false },
    ];
    const { rows } = await score(exemplars, { settings: settings(), scorer: selection, reported });
    for (const row of rows) {
      const a = row.scores['pearson']!;
      const b = row.scores['pearson_by_score']!;
      for (const k of ['score', 'null_score'] as const) assert.ok(Math.abs(a[k]! - b[k]!) < 1e-12, `${k}`);
      assert.ok(Math.abs(a.ci![0] - b.ci![0]) < 1e-12 && Math.abs(a.ci![1] - b.ci![1]) < 1e-12);
      assert.equal(b.judgments, 9);
    }
  });

  it('resumed, it asks the judge nothing for journaled features and writes the same results', async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'expgen-scores-resume-'));
    const reported = (judge: JudgeScorer) => [
      { name: 'pearson', scorer: selection, sameAsSelection: true },
      { name: 'fake_judge', scorer: judge, sameAsSelection: false },
    ];
    const first = fakeJudge();
    await score(exemplars, { settings: settings(), scorer: selection, reported: reported(first), outDir });
    const text = readFileSync(join(outDir, 'results.jsonl'), 'utf8');
    const again = fakeJudge();
    const rerun = await score(exemplars, {
      settings: settings(),
      scorer: selection,
      reported: reported(again),
      outDir,
    });
    assert.equal(again.requests.filter((r) => r.purpose === 'report').length, 0, 'every feature-sign was journaled');
    assert.equal(readFileSync(join(outDir, 'results.jsonl'), 'utf8'), text);
    assert.equal(rerun.cost.explainer_requests, 2 * (2 * FEATURES + again.requests.length));
  });

  it("refuses a judgment that is not one of the request's sequences, naming the plugin", async () => {
    const judge = fakeJudge();
    const judgeOf = judge.judge.bind(judge);
    judge.judge = async (request) => {
      const result = await judgeOf(request);
      return { ...result, judgments: [{ list: 'random', index: 99, group: 'x', truth: true, answer: true }] };
    };
    await assert.rejects(
      score(exemplars, {
        settings: settings(),
        scorer: selection,
        reported: [{ name: 'fake_judge', scorer: judge, sameAsSelection: false }],
      }),
      /plugin "@expgen\/core\/testing" failed in scorer "fake-judge" judging mlp\/0\/\d \((positive|negative)\): it returned a judgment that is not one of a sequence it was given \(list random, index 99/,
    );
  });

  it('without reported scorers, rows carry the selection scorer alone, under its name', async () => {
    const { rows, outDir } = await score(exemplars, { settings: settings() });
    assert.deepEqual(Object.keys(rows[0]!.scores), ['pearson']);
    assert.ok(!existsSync(join(outDir, 'features', 'mlp', 'layer-00', '0.positive.judgments.json')));
  });
});
