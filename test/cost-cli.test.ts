import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { COST_KEYS, type StageCost } from '@expgen/core';
import { assertOneLineError, runCli, tempDir } from './helpers/run-cli.js';

type Cost = Record<'describe' | 'score' | 'total', StageCost>;

/** What a run costs, as `--json`, the summary table and `cost.json` report it, and what `--dry-run` estimates. */
describe('cost accounting and estimates', () => {
  const dir = tempDir('expgen-cost-cli-');
  const small = ['--set', 'exemplars.sequences=300', '--set', 'activation.options.layers=[1]'];
  const ten = ['--set', 'describe.candidates=10'];
  const whole = join(dir, 'whole');
  let cost: Cost;

  before(async () => {
    const result = await runCli(['run', '--out', whole, ...small, ...ten, '--json']);
    assert.equal(result.code, 0, result.stderr);
    cost = JSON.parse(result.stdout).cost;
  });

  it('prints a cost object per stage and in total, with exactly the documented keys, and keeps it in cost.json', () => {
    for (const part of ['describe', 'score', 'total'] as const) {
      assert.deepEqual(Object.keys(cost[part]).sort(), [...COST_KEYS].sort(), part);
      for (const v of Object.values(cost[part])) assert.ok(Number.isFinite(v) && v >= 0);
    }
    assert.equal(cost.total.feature_signs, 256);
    assert.equal(cost.describe.feature_signs, 256);
    assert.equal(cost.score.feature_signs, 256);
    // The baseline describer reports no usage: one request per feature-sign, its prompt counted with the tokenizer.
    assert.equal(cost.describe.explainer_requests, 256);
    assert.ok(cost.describe.prompt_tokens > 256 * 200, `${cost.describe.prompt_tokens}`);
    assert.equal(cost.score.explainer_requests, 0);
    assert.equal(cost.describe.simulator_tokens, 0);
    assert.equal(cost.total.simulator_tokens, cost.score.simulator_tokens);
    assert.equal(cost.total.prompt_tokens, cost.describe.prompt_tokens);
    assert.deepEqual(JSON.parse(readFileSync(join(whole, 'cost.json'), 'utf8')), cost);
  });

  it('with 10 candidates and the default strategy, simulates at most half of what the naive method would', () => {
    assert.ok(cost.score.simulator_tokens > 0);
    assert.ok(
      2 * cost.score.simulator_tokens <= cost.score.simulator_tokens_naive,
      `${cost.score.simulator_tokens} of ${cost.score.simulator_tokens_naive} naive`,
    );
  });

  it("expgen describe --json prints the run folder's cost too", async () => {
    const result = await runCli(['describe', '--out', whole, ...small, ...ten, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout).cost as Cost;
    for (const k of COST_KEYS.filter((k) => k !== 'host_seconds'))
      assert.equal(printed.describe[k], cost.describe[k], k);
    assert.equal(printed.score.simulator_tokens, cost.score.simulator_tokens);
  });

  it('the summary table shows the cost; a finished stage run again adds nothing to it', async () => {
    const result = await runCli(['score', '--out', whole, ...small, ...ten]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /simulator tokens, naive method\s+0\s+[\d,]+\s+[\d,]+/);
    assert.match(result.stdout, /explainer requests\s+256\s+0\s+256/);
    const again = JSON.parse(readFileSync(join(whole, 'cost.json'), 'utf8')) as Cost;
    assert.equal(again.score.simulator_tokens, cost.score.simulator_tokens);
    assert.equal(again.score.feature_signs, 256);
  });

  it('a resumed stage counts each journaled feature once, from what its journal line recorded', async () => {
    const resumed = join(dir, 'resumed');
    cpSync(whole, resumed, { recursive: true });
    const journal = join(resumed, 'score', 'journal.jsonl');
    const lines = readFileSync(journal, 'utf8').split('\n').filter(Boolean);
    // As a kill would leave it: half the features done, the results not yet written.
    writeFileSync(journal, `${lines.slice(0, lines.length / 2).join('\n')}\n`);
    for (const f of ['results.jsonl', 'results.arrow', 'cost.json', join('score', 'cost.json')])
      writeFileSync(join(resumed, f), '');
    const result = await runCli(['score', '--out', resumed, ...small, ...ten, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const after = JSON.parse(result.stdout).cost as Cost;
    for (const k of ['feature_signs', 'simulator_tokens', 'simulator_tokens_naive'] as const)
      assert.equal(after.score[k], cost.score[k], k);
    for (const k of COST_KEYS.filter((k) => k !== 'host_seconds')) assert.equal(after.describe[k], cost.describe[k], k);
    assert.equal(
      readFileSync(join(resumed, 'results.jsonl'), 'utf8'),
      readFileSync(join(whole, 'results.jsonl'), 'utf8'),
    );
  });

  it('feature shards merged with `expgen merge` sum their costs', async () => {
    const shards = [0, 1].map((i) => join(dir, `shard-${i}`));
    const costs: Cost[] = [];
    for (const [i, out] of shards.entries()) {
      const result = await runCli([
        'run',
        '--out',
        out,
        ...small,
        ...ten,
        '--exemplars',
        whole,
        '--shard',
        `${i}/2`,
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      costs.push(JSON.parse(result.stdout).cost);
    }
    const merged = join(dir, 'merged');
    const result = await runCli(['merge', ...shards, '--out', merged, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const total = JSON.parse(result.stdout).cost as Cost;
    assert.deepEqual(JSON.parse(readFileSync(join(merged, 'cost.json'), 'utf8')), total);
    for (const k of COST_KEYS.filter((k) => k !== 'host_seconds'))
      for (const part of ['describe', 'score'] as const)
        assert.equal(total[part][k], costs[0]![part][k] + costs[1]![part][k], `${part}.${k}`);
    assert.equal(total.total.feature_signs, 256);
    assert.equal(total.describe.prompt_tokens, cost.describe.prompt_tokens);
  });

  it('--dry-run estimates the full Llama-3.1-8B run from the config alone: no model, no data, nothing written', async () => {
    const out = join(dir, 'never-written');
    // A model folder that is surely absent, whatever this machine holds under models/.
    const absent = join(dir, 'no-models', 'llama-3.1-8b-instruct-onnx');
    const result = await runCli([
      'run',
      '--config',
      'configs/distilled_llama.yaml',
      '--dry-run',
      '--json',
      '--out',
      out,
      '--set',
      `subject.options.model=${absent}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const estimate = JSON.parse(result.stdout);
    assert.equal(estimate.cost.total.feature_signs, 32 * 14_336 * 2);
    for (const part of ['describe', 'score', 'total'])
      assert.deepEqual(Object.keys(estimate.cost[part]).sort(), [...COST_KEYS].sort());
    assert.equal(estimate.cost.describe.explainer_requests, 917_504);
    assert.ok(estimate.cost.score.simulator_tokens <= 0.4 * estimate.cost.score.simulator_tokens_naive);
    assert.ok(estimate.gpu_hours.exemplars > 0 && estimate.gpu_hours.describe > 0 && estimate.gpu_hours.score > 0);
    assert.equal(estimate.money, null);
    assert.ok(
      estimate.assumed.some((a: string) => /Llama-3\.1-8B has 32 layers x 14,336/.test(a)),
      estimate.assumed,
    );
    assert.ok(!existsSync(out), 'a dry run writes nothing');
    assert.ok(!existsSync(absent));
  });

  it('prices hosted APIs in money with cost.* prices, and names the key it cannot do without', async () => {
    const result = await runCli([
      'run',
      '--config',
      'configs/distilled_llama.yaml',
      '--dry-run',
      '--json',
      '--out',
      join(dir, 'priced'),
      '--set',
      'cost.describerPrice={prompt: 0.1, completion: 0.2}',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const estimate = JSON.parse(result.stdout);
    const expected =
      (estimate.cost.describe.prompt_tokens * 0.1 + estimate.cost.describe.completion_tokens * 0.2) / 1e6;
    assert.ok(Math.abs(estimate.money.describe - expected) < 0.01, `${estimate.money.describe} vs ${expected}`);
    assert.equal(estimate.gpu_hours.describe, 0, 'a hosted describer uses no GPU of ours');
    const sae = await runCli([
      'run',
      '--config',
      'configs/distilled_llama.yaml',
      '--dry-run',
      '--set',
      'activation.component=sae',
    ]);
    assert.match(assertOneLineError(sae), /cost\.featuresPerLayer/);
  });
});
