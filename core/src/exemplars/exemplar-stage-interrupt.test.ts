import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { fakeActivationSource, fakeDataset, fakeSubjectModel, memoryLogger } from '@expgen/contract/testing';
import { configSchema } from '../config/config-schema.js';
import { selectFeatures } from '../engine/feature-selection.js';
import { Interrupt } from '../engine/interrupts.js';
import { runExemplarStage, type ExemplarStageInput } from './exemplar-stage.js';

/** Stage 1 stopped by SIGTERM (Slurm preemption, Kubernetes eviction): it writes a checkpoint, and resuming ends identically. */
describe('stage 1 on SIGTERM', () => {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', '42', 'and', 'ran', 'to', 'Paris', 'in', '1999', '!'];
  const documents = Array.from({ length: 130 }, (_, i) => ({
    id: `doc-${i}`,
    text: Array.from({ length: 12 + (i % 17) }, (_, j) => words[(i * 5 + j * ((i % 4) + 1)) % words.length]).join(' '),
  }));
  const settings = configSchema.parse({
    subject: { component: 'x' },
    activation: { component: 'x' },
    describer: { component: 'x' },
    simulator: { component: 'x' },
    scorer: { component: 'x' },
    datasets: [{ component: 'x' }],
    // No periodic checkpoint during the test: any checkpoint found was written because of the signal.
    exemplars: { sequences: 120, seqLen: 12, topK: 3, randomPerFeature: 2, batchSize: 5, checkpointSeconds: 3600 },
  }).exemplars;
  const input = (outDir: string, overrides: Partial<ExemplarStageInput> = {}): ExemplarStageInput => {
    const subject = fakeSubjectModel({ layers: 2, mlpWidth: 6 });
    const activation = fakeActivationSource(subject);
    return {
      subject,
      activation,
      datasets: [{ source: fakeDataset(documents, 'corpus'), ratio: 1 }],
      settings,
      selection: selectFeatures(null, activation),
      outDir,
      configHash: 'test-config',
      logger: memoryLogger(),
      progress: false,
      ...overrides,
    };
  };
  const temp = () => mkdtempSync(join(tmpdir(), 'expgen-interrupt-'));

  it('writes a checkpoint, stops with one line saying how to resume, and resumes to identical files', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    for (const stopAfter of [10, 75]) {
      const out = temp();
      const controller = new AbortController();
      const stopped = runExemplarStage(
        input(out, {
          signal: controller.signal,
          onBatch: (done) => {
            if (done >= stopAfter && !controller.signal.aborted) controller.abort(new Interrupt('SIGTERM'));
          },
        }),
      );
      await assert.rejects(stopped, (error: unknown) => {
        assert.ok(isExpgenError(error));
        assert.equal(error.exitCode, 143, 'the shell convention for SIGTERM');
        assert.match(
          error.message,
          /^interrupted by SIGTERM: stage 1 checkpoint written to .*checkpoint; run the same command again to resume where it stopped$/,
        );
        return true;
      });
      const checkpoint = join(out, 'exemplars', 'checkpoint', 'checkpoint.json');
      assert.ok(existsSync(checkpoint), 'the signal made the run write a checkpoint');
      const { sequencesDone } = JSON.parse(readFileSync(checkpoint, 'utf8')) as { sequencesDone: number };
      assert.ok(sequencesDone >= stopAfter, `the checkpoint holds the work done (${sequencesDone} sequences)`);
      assert.ok(sequencesDone < 120, 'the run stopped before the end');
      assert.ok(!existsSync(join(out, 'exemplars', 'manifest.json')), 'nothing looks complete');
      const resumed = await runExemplarStage(input(out));
      assert.equal(resumed.resumed, true);
      assertSameFiles(whole, out);
    }
  });
});

function assertSameFiles(a: string, b: string): void {
  const files = (dir: string) => {
    const out = new Map<string, Buffer>();
    const walk = (d: string) => {
      for (const name of readdirSync(d).sort()) {
        const path = join(d, name);
        if (statSync(path).isDirectory()) walk(path);
        else out.set(relative(dir, path), readFileSync(path));
      }
    };
    walk(join(dir, 'exemplars'));
    return out;
  };
  const left = files(a);
  const right = files(b);
  assert.deepEqual([...left.keys()], [...right.keys()], 'the same files');
  for (const [name, bytes] of left) assert.ok(bytes.equals(right.get(name)!), `${name} is byte-identical`);
}
