import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fakeTokenizer } from '@expgen/contract/testing';
import { RESULT_STATUSES, STATUS_LABELS, STATUS_MEANINGS } from '../score/result-states.js';
import type { RunSummary } from '../score/results.js';
import { blocks, HOSTILE, makeRun } from './report-fixtures.test-util.js';
import { writeReport } from './write-report.js';

describe('the report and result statuses', () => {
  const tokenizer = fakeTokenizer();

  it('explains every result status in the index: a legend with counts, and each sign without a score names its status', async () => {
    const dir = makeRun(3);
    const html = readFileSync((await writeReport({ runDir: dir, tokenizer })).path, 'utf8');
    const meta = blocks(html).get('expgen-meta') as {
      run: { summary: RunSummary };
      index: {
        states: { status: string; label: string; meaning: string; count: number }[];
        entries: { positive: { status: string; description: string | null; score: number | null } }[];
        reasons: string[];
      };
    };
    assert.deepEqual(
      meta.index.states.map((s) => [s.status, s.label, s.meaning, s.count]),
      RESULT_STATUSES.map((s) => [
        s,
        STATUS_LABELS[s],
        STATUS_MEANINGS[s],
        { scored: 4, no_test_score: 1, failed: 1 }[s as string] ?? 0,
      ]),
    );
    assert.ok(
      meta.index.states.every((s) => s.meaning.length > 20),
      'every status is explained in words',
    );
    assert.deepEqual(meta.run.summary.states, {
      scored: 4,
      no_test_score: 1,
      no_selection_score: 0,
      failed: 1,
      skipped: 0,
    });
    assert.equal(meta.run.summary.mean_score_rows, 4);
    const chosenWithoutScore = meta.index.entries[2]!.positive;
    assert.deepEqual(
      [chosenWithoutScore.status, chosenWithoutScore.description, chosenWithoutScore.score],
      ['no_test_score', `${HOSTILE[2]} (positive)`, null],
    );
    assert.ok(meta.index.reasons.includes('constant <i>on test</i>'));
    // The page script renders the legend and the status words (the browser test checks the rendered page).
    assert.match(html, /function statesLegend\(/);
    assert.match(html, /state\.label \+ ': ' \+ \(reason \|\| state\.meaning\)/);
  });

  it("reads a run folder written before format 2 (camelCase names) as today's, its statuses restated", async () => {
    const current = blocks(readFileSync((await writeReport({ runDir: makeRun(3), tokenizer })).path, 'utf8'));
    const legacy = blocks(
      readFileSync((await writeReport({ runDir: makeRun(3, { legacy: true }), tokenizer })).path, 'utf8'),
    );
    type Meta = {
      index: { states: unknown; entries: { positive: { status: string }; negative: { status: string } }[] };
    };
    const [a, b] = [current.get('expgen-meta') as Meta, legacy.get('expgen-meta') as Meta];
    assert.deepEqual(b.index.states, a.index.states);
    assert.deepEqual(
      b.index.entries.map((e) => [e.positive.status, e.negative.status]),
      a.index.entries.map((e) => [e.positive.status, e.negative.status]),
    );
    // The folder before format 2 reported one scorer, so its pages list none under `scores`.
    const withoutScores = (page: unknown) => {
      const p = page as { signs: { scores: unknown[] }[] };
      return { ...p, signs: p.signs.map((sign) => ({ ...sign, scores: [] })) };
    };
    for (const id of ['expgen-f0', 'expgen-f1'])
      assert.deepEqual(withoutScores(legacy.get(id)), withoutScores(current.get(id)), id);
  });

  it("shows every reported scorer in the index and the run summary, each entry's status where it has no score", async () => {
    const html = readFileSync((await writeReport({ runDir: makeRun(3), tokenizer })).path, 'utf8');
    const data = blocks(html);
    const meta = data.get('expgen-meta') as {
      run: { summary: RunSummary };
      index: { entries: Record<'positive' | 'negative', { scores: unknown[] }>[]; reasons: string[] };
    };
    const [first, , third] = meta.index.entries;
    assert.deepEqual(first!.positive.scores, [
      ['correlation', 0.5],
      ['detection', 0.9],
    ]);
    const failedJudge = first!.negative.scores[1] as [string, null, string, number];
    assert.deepEqual(failedJudge.slice(0, 3), ['detection', null, 'failed']);
    assert.match(
      meta.index.reasons[failedJudge[3]]!,
      /every one of the 20 judgment\(s\) .* failed: <i>unreadable<\/i>/,
    );
    // A description without a test score by the selection scorer, scored by the judge.
    const [correlation, detection] = third!.positive.scores as [string, unknown, string?, number?][];
    assert.deepEqual(correlation!.slice(0, 3), ['correlation', null, 'no_test_score']);
    assert.deepEqual(detection, ['detection', 0.9]);
    const { correlation: c, detection: d } = meta.run.summary.scores;
    assert.deepEqual([c!.states.scored, c!.states.no_test_score, c!.states.failed], [4, 1, 1]);
    assert.deepEqual([d!.states.scored, d!.states.no_test_score, d!.states.failed], [4, 0, 2]);
    assert.equal(d!.mean_score_rows, 4);
    assert.equal(d!.failures, 20 + 4 * 2);
    // The feature page lists the judge's failed entry with its status and reason.
    const page = data.get('expgen-f0') as { signs: { scores: { name: string; status: string; reason: string }[] }[] };
    assert.deepEqual(
      page.signs[1]!.scores.map((v) => [v.name, v.status]),
      [
        ['correlation', 'scored'],
        ['detection', 'failed'],
      ],
    );
    assert.match(html, /function runSummary\(/);
    assert.match(html, /v\[0\] \+ ': ' \+ st\.label \+ ': ' \+ why/);
  });
});
