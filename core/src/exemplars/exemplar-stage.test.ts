import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import type { SourceDocument } from '@expgen/contract';
import { configSchema, type ExpgenConfig } from '../config/config-schema.js';
import { selectFeatures } from '../engine/feature-selection.js';
import { memoryLogger, fakeActivationSource, fakeDataset, fakeSubjectModel } from '@expgen/contract/testing';
import { CorpusStream } from './corpus/index.js';
import { layerStateBytes, runExemplarStage, type ExemplarStageInput } from './exemplar-stage.js';
import { mergeExemplarOutputs, readExemplarFile } from './storage/index.js';

const WORDS = [
  'the',
  'cat',
  'sat',
  'on',
  'a',
  'mat',
  '42',
  'and',
  'then',
  'ran',
  'to',
  'Paris',
  'in',
  '1999',
  '!',
  'x',
];

/** Documents of 10-40 words from a fixed generator: enough variety for every feature to rank differently. */
function documents(count: number): SourceDocument[] {
  let state = 12345;
  const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  return Array.from({ length: count }, (_, i) => {
    const words = Array.from({ length: 10 + Math.floor(next() * 30) }, () => WORDS[Math.floor(next() * WORDS.length)]);
    return i % 7 === 3
      ? {
          id: `chat-${i}`,
          messages: [
            { role: 'user', content: words.slice(0, 6).join(' ') },
            { role: 'assistant', content: words.slice(6).join(' ') },
          ],
        }
      : { id: `doc-${i}`, text: words.join(' ') };
  });
}

function settings(overrides: Partial<ExpgenConfig['exemplars']> = {}): ExpgenConfig['exemplars'] {
  const base = configSchema.parse({
    subject: { component: 'x' },
    activation: { component: 'x' },
    describer: { component: 'x' },
    simulator: { component: 'x' },
    scorer: { component: 'x' },
    datasets: [{ component: 'x' }],
    exemplars: {
      sequences: 120,
      seqLen: 12,
      topK: 3,
      randomPerFeature: 2,
      extremesKept: 50,
      histogramBins: 8,
      histogramRange: [-3, 3],
      batchSize: 5,
      windowsPerDocument: 3,
      shortDocuments: 'pad',
    },
  }).exemplars;
  return { ...base, ...overrides };
}

function input(
  outDir: string,
  overrides: Partial<ExemplarStageInput> = {},
  exemplarSettings = settings(),
): ExemplarStageInput {
  const subject = fakeSubjectModel({ layers: 2, mlpWidth: 6 });
  const activation = fakeActivationSource(subject);
  return {
    subject,
    activation,
    datasets: [{ source: fakeDataset(documents(60), 'corpus'), ratio: 1 }],
    settings: exemplarSettings,
    selection: selectFeatures(null, activation),
    outDir,
    configHash: 'test-config',
    logger: memoryLogger(),
    progress: false,
    ...overrides,
  };
}

/** Every data file under a folder (exemplars and distributions, manifest), as relative path -> bytes. */
function dataFiles(dir: string): Map<string, Buffer> {
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
}

function assertSameFiles(a: string, b: string): void {
  const left = dataFiles(a);
  const right = dataFiles(b);
  assert.deepEqual([...left.keys()], [...right.keys()], 'the same files');
  for (const [name, bytes] of left) assert.ok(bytes.equals(right.get(name)!), `${name} is byte-identical`);
}

const temp = () => mkdtempSync(join(tmpdir(), 'expgen-stage-'));

describe('stage 1: exemplars', () => {
  it('keeps exactly what a full sort of every sequence keeps', async () => {
    const out = temp();
    const stage = input(out);
    const summary = await runExemplarStage(stage);
    assert.equal(summary.end.reason, 'completed');

    // The reference: every sequence of the same stream, full per-token values, sorted by (extreme, id).
    const stream = new CorpusStream({
      ...stage.settings,
      tokenizer: stage.subject.tokenizer,
      sources: [{ source: fakeDataset(documents(60), 'corpus') }],
    });
    const rows: { id: number; split: string; values: Float32Array; length: number; from: number }[] = [];
    for await (const s of stream.sequences()) {
      const result = await stage.subject.forward({
        tokens: s.tokens,
        batch: 1,
        seqLen: s.tokens.length,
        lengths: Int32Array.of(s.length),
        hooks: [{ hook: 'mlp/1', reduce: 'full' }],
      });
      rows.push({
        id: s.sequenceId,
        split: s.split,
        values: result.hooks[0]!.full!,
        length: s.length,
        from: s.rankFrom,
      });
    }
    const width = 6;
    for (const split of ['train', 'valid', 'test']) {
      const file = await readExemplarFile(join(out, 'exemplars', 'mlp', 'layer-01', `${split}.arrow`));
      for (let f = 0; f < width; f++) {
        const extremes = rows
          .filter((r) => r.split === split)
          .map((r) => {
            let max = -Infinity;
            let min = Infinity;
            for (let t = r.from; t < r.length; t++) {
              const v = r.values[t * width + f]!;
              max = Math.max(max, v);
              min = Math.min(min, v);
            }
            return { id: r.id, max, min, r };
          });
        const top = [...extremes].sort((a, b) => b.max - a.max || a.id - b.id).slice(0, 3);
        const bottom = [...extremes].sort((a, b) => a.min - b.min || a.id - b.id).slice(0, 3);
        const { positive, negative } = file.feature(f);
        assert.deepEqual(
          positive.map((row) => Number(row.sequence)),
          top.map((e) => e.id),
          `${split} feature ${f}: top-k ids`,
        );
        assert.deepEqual(
          negative.map((row) => Number(row.sequence)),
          bottom.map((e) => e.id),
          `${split} feature ${f}: bottom-k ids`,
        );
        positive.forEach((row, rank) => {
          assert.equal(row.activation, Math.fround(top[rank]!.max));
          const expected = Array.from({ length: top[rank]!.r.length }, (_, t) => top[rank]!.r.values[t * width + f]!);
          assert.deepEqual(
            [...row.activations],
            expected,
            `${split} feature ${f}: per-token activations of rank ${rank}`,
          );
        });
      }
    }
  });

  it('resumes after a crash at any batch and ends with identical files', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    for (const crashAfter of [7, 23, 61]) {
      const out = temp();
      const crashing = input(
        out,
        {
          onBatch: (done) => {
            if (done >= crashAfter) throw new Error('simulated crash');
          },
        },
        settings({ checkpointSeconds: 0 }),
      );
      await assert.rejects(runExemplarStage(crashing), /simulated crash/);
      assert.ok(existsSync(join(out, 'exemplars', 'checkpoint', 'checkpoint.json')), 'a checkpoint was written');
      assert.ok(!existsSync(join(out, 'exemplars', 'manifest.json')), 'nothing looks complete');
      const resumed = await runExemplarStage(input(out, {}, settings({ checkpointSeconds: 0 })));
      assert.equal(resumed.resumed, true);
      assertSameFiles(whole, out);
    }
  });

  it('shards merged equal a single run', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    const shards = [0, 1, 2].map((index) => {
      const dir = temp();
      return { dir, run: runExemplarStage(input(dir, { shard: { index, count: 3 } })) };
    });
    for (const s of shards) await s.run;
    const merged = join(temp(), 'merged');
    await mergeExemplarOutputs(
      shards.map((s) => s.dir),
      merged,
    );
    assertSameFiles(whole, merged);
  });

  it('a memory budget splits the layers into passes with the same result', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    const grouped = temp();
    const oneLayer = layerStateBytes(6, settings(), 3);
    const summary = await runExemplarStage(input(grouped, {}, settings({ memoryBudgetGB: (1.5 * oneLayer) / 1e9 })));
    assert.deepEqual(summary.groups, [[0], [1]]);
    assertSameFiles(whole, grouped);
  });

  it('reports a source that runs dry and refuses another config over an existing output', async () => {
    const out = temp();
    const logger = memoryLogger();
    const summary = await runExemplarStage(input(out, { logger }, settings({ sequences: 10_000 })));
    assert.equal(summary.end.reason, 'source-exhausted');
    assert.ok(logger.lines.some((l) => /ran out of documents/.test(l)));
    await assert.rejects(runExemplarStage(input(out, { configHash: 'another' })), /another config/);
  });
});
