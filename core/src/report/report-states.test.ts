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
    for (const id of ['expgen-f0', 'expgen-f1']) assert.deepEqual(legacy.get(id), current.get(id), id);
  });
});
