import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tableFromIPC } from 'apache-arrow';
import { RESULT_COLUMNS } from '@expgen/core';
import { assertOneLineError, repoRoot, runCli, tempDir, testCacheDir } from './helpers/run-cli.js';

/** `expgen run` on the embedded default, as a new user runs it, and its parts: stages, shards, merge, resume. */
describe('expgen run on the embedded default', () => {
  const dir = tempDir('expgen-run-cli-');
  const small = ['--set', 'exemplars.sequences=300', '--set', 'activation.options.layers=[1]'];
  const whole = join(dir, 'whole');
  let stdout = '';

  before(async () => {
    const result = await runCli(['run', '--out', whole, ...small]);
    assert.equal(result.code, 0, result.stderr);
    stdout = result.stdout;
  });

  it('prints the summary with the mean score, its interval and the null baseline', () => {
    assert.match(stdout, /mean score, test split \(95% CI\)\s+-?\d\.\d{3} \[/);
    assert.match(stdout, /null baseline: shuffled descriptions \(95% CI\)/);
    assert.match(stdout, /results: .*results\.jsonl/);
  });

  it('writes one result row per feature and sign, every row with every field', () => {
    const rows = readRows(whole);
    assert.equal(rows.length, 128 * 2, 'layer 1 of the tiny model has 128 neurons, two signs each');
    for (const row of rows) {
      assert.deepEqual(
        Object.keys(row),
        RESULT_COLUMNS.map((c) => c.name),
      );
      assert.match(row.feature as string, /^mlp\/1\/\d+$/);
      assert.equal(row.feature, `${row.space}/${row.layer}/${row.index}`, 'the join keys are the parts of the key');
      assert.ok(['positive', 'negative'].includes(row.sign as string));
      if (row.status === 'scored') {
        assert.equal(typeof row.description, 'string');
        assert.ok(typeof row.score === 'number' && Math.abs(row.score) <= 1, 'a scored row has a score');
        assert.equal(row.reason, null);
        if (row.ci !== null)
          assert.ok(
            Array.isArray(row.ci) && row.ci.length === 2 && (row.ci as number[])[0]! <= (row.ci as number[])[1]!,
          );
      } else {
        assert.ok(['no_test_score', 'no_selection_score', 'failed', 'skipped'].includes(row.status as string));
        assert.equal(row.score, null);
        assert.equal(typeof row.reason, 'string', 'a row without a score says why');
        assert.equal(typeof row.description === 'string', row.status === 'no_test_score');
      }
    }
    assert.ok(rows.filter((r) => r.status === 'scored').length > 50, 'most features are scored');
    const table = tableFromIPC(readFileSync(join(whole, 'results.arrow')));
    assert.equal(table.numRows, rows.length);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      RESULT_COLUMNS.map((c) => c.name),
      'the columns of the JSON Lines, `scores` a struct with one typed struct per scorer',
    );
    assert.deepEqual(
      table.schema.fields.find((f) => f.name === 'scores')!.type.children.map((f: { name: string }) => f.name),
      ['correlation'],
    );
    const scored = rows.find((r) => r.status === 'scored')!;
    const [, , index] = (scored.feature as string).split('/');
    assert.ok(
      existsSync(join(whole, 'features', 'mlp', 'layer-01', `${index}.${scored.sign}.json`)),
      'per-feature detail with every candidate',
    );
  });

  it('scores the chosen descriptions well above the null baseline', async () => {
    const result = await runCli(['run', '--out', whole, ...small, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { summary } = JSON.parse(result.stdout);
    assert.ok(
      summary.mean_score > summary.null_baseline + 0.2,
      `mean ${summary.mean_score} vs null ${summary.null_baseline}`,
    );
    assert.ok(summary.mean_score_ci[0] > summary.null_baseline_ci[1], 'the intervals do not overlap');
    // Every status counted, and each mean over the rows it is taken over.
    const rows = readRows(whole);
    const count = (status: string) => rows.filter((r) => r.status === status).length;
    assert.deepEqual(summary.states, {
      scored: count('scored'),
      no_test_score: count('no_test_score'),
      no_selection_score: count('no_selection_score'),
      failed: count('failed'),
      skipped: count('skipped'),
    });
    assert.equal(summary.feature_signs, rows.length);
    assert.equal(summary.mean_score_rows, count('scored'));
    assert.equal(summary.null_baseline_rows, rows.filter((r) => r.status === 'scored' && r.null_score !== null).length);
  });

  it('running the stages one by one gives the same results', async () => {
    const out = join(dir, 'staged');
    for (const stage of ['exemplars', 'describe', 'score']) {
      const result = await runCli([stage, '--out', out, ...small]);
      assert.equal(result.code, 0, `${stage}: ${result.stderr}`);
    }
    assert.equal(readFileSync(join(out, 'results.jsonl'), 'utf8'), readFileSync(join(whole, 'results.jsonl'), 'utf8'));
  });

  it('feature shards merged with `expgen merge` hold the same results', async () => {
    const shards = [0, 1].map((i) => join(dir, `shard-${i}`));
    for (const [i, out] of shards.entries()) {
      const result = await runCli(['run', '--out', out, ...small, '--exemplars', whole, '--shard', `${i}/2`]);
      assert.equal(result.code, 0, result.stderr);
    }
    const merged = join(dir, 'merged');
    const result = await runCli(['merge', ...shards, '--out', merged]);
    assert.equal(result.code, 0, result.stderr);
    // The null baseline's pairs are drawn over the whole selection, so the null scores agree too, byte for byte.
    for (const file of ['results.jsonl', 'results.arrow', 'descriptions/candidates.jsonl'])
      assert.ok(readFileSync(join(merged, file)).equals(readFileSync(join(whole, file))), `${file} is byte-identical`);
    assert.match(
      assertOneLineError(await runCli(['merge', shards[0]!, '--out', join(dir, 'half')])),
      /shard\(s\) 1\/2 are missing/,
    );
  });

  it('killed with SIGKILL while scoring and started again, it loses and duplicates nothing', async () => {
    const out = join(dir, 'killed');
    const args = ['run', '--out', out, ...small];
    const child = spawn(process.execPath, [join(repoRoot, 'core/bin/run.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, XDG_CACHE_HOME: testCacheDir() },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const journal = join(out, 'score', 'journal.jsonl');
    let killed = false;
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      if (existsSync(journal) && readFileSync(journal, 'utf8').split('\n').length > 40) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await sleep(10);
    }
    await exited;
    assert.ok(killed, 'the run was killed mid-scoring');
    assert.ok(!existsSync(join(out, 'results.jsonl')), 'a killed run leaves no results that look complete');
    const resumed = await runCli(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(readFileSync(join(out, 'results.jsonl'), 'utf8'), readFileSync(join(whole, 'results.jsonl'), 'utf8'));
  });
});

function readRows(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'results.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
