import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { configSchema } from '../config/config-schema.js';
import { claimStageOutput, stageConfig, withoutShard } from './stage-config.js';

const config = configSchema.parse({
  subject: { component: 'x' },
  activation: { component: 'x' },
  describer: { component: 'x' },
  simulator: { component: 'x' },
  scorer: { component: 'x' },
  datasets: [{ component: 'x' }],
});
/** Output in the stage's folder: a recorded config over no output protects nothing, so the tests make some. */
function someOutput(out: string, folder: string): void {
  mkdirSync(join(out, folder), { recursive: true });
  writeFileSync(join(out, folder, 'journal.jsonl'), '{}\n');
}
const refusal = (pattern: RegExp) => (error: unknown) => isExpgenError(error) && pattern.test((error as Error).message);

describe('stage configs and feature shards', () => {
  it('records the feature shard of describe and score, not of stage 1, and nothing when unsharded', () => {
    assert.equal(stageConfig(config, 'describe', { index: 1, count: 4 }).shard, '1/4');
    assert.equal(stageConfig(config, 'score', { index: 1, count: 4 }).shard, '1/4');
    assert.equal('shard' in stageConfig(config, 'exemplars', { index: 1, count: 4 }), false);
    assert.equal('shard' in stageConfig(config, 'score', { index: 0, count: 1 }), false);
    assert.deepEqual(withoutShard(stageConfig(config, 'score', { index: 1, count: 4 })), stageConfig(config, 'score'));
  });

  it('refuses to resume a folder with another shard, naming the key and both shards', () => {
    const out = mkdtempSync(join(tmpdir(), 'expgen-stage-config-'));
    claimStageOutput(out, config, 'score', { index: 0, count: 2 });
    someOutput(out, 'score');
    assert.equal(JSON.parse(readFileSync(join(out, 'stages', 'score.json'), 'utf8')).shard, '0/2');
    claimStageOutput(out, config, 'score', { index: 0, count: 2 }); // the same shard resumes
    assert.throws(
      () => claimStageOutput(out, config, 'score', { index: 1, count: 2 }),
      refusal(/holds score made with --shard 0\/2, not --shard 1\/2 \(shard differs\).*resume it with --shard 0\/2$/),
    );
    assert.throws(() => claimStageOutput(out, config, 'score'), refusal(/not without one \(shard differs\)/));
  });

  it('refuses a shard over an unsharded folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'expgen-stage-config-'));
    claimStageOutput(out, config, 'describe');
    someOutput(out, 'descriptions');
    assert.throws(
      () => claimStageOutput(out, config, 'describe', { index: 0, count: 3 }),
      refusal(/made with no --shard, not --shard 0\/3 \(shard differs\).*resume it without --shard$/),
    );
  });

  it('records the reported scorers with the score stage; none listed reads as a folder from before they existed', () => {
    assert.equal('scorers' in stageConfig(config, 'score'), false);
    const judged = configSchema.parse({ ...config, scorers: ['correlation', { component: 'detection', options: {} }] });
    assert.deepEqual(stageConfig(judged, 'score').scorers, judged.scorers);
    assert.equal('scorers' in stageConfig(judged, 'describe'), false);
    const out = mkdtempSync(join(tmpdir(), 'expgen-stage-config-'));
    claimStageOutput(out, config, 'score');
    someOutput(out, 'score');
    assert.throws(
      () => claimStageOutput(out, judged, 'score'),
      refusal(/made with a different config \(scorers differ\)/),
    );
  });
});
