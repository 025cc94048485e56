import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import type { SourceDocument, SubjectModel } from '@expgen/contract';
import { configSchema, type ExpgenConfig } from '../config/config-schema.js';
import { selectFeatures } from '../engine/feature-selection.js';
import { memoryLogger, fakeActivationSource, fakeDataset, fakeSubjectModel } from '@expgen/contract/testing';
import { CorpusStream } from './corpus/index.js';
import { layerStateBytes, runExemplarStage, type ExemplarStageInput } from './exemplar-stage.js';
import { deviceBytes } from './host/exemplar-collector.js';
import { mergeExemplarOutputs, readDistributionFile, readExemplarFile } from './storage/index.js';

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

/** A subject that ignores `extremeThresholds` and `denseRows`: dense extremes, as subjects written before them. */
function denseExtremesSubject<S extends SubjectModel>(subject: S): S {
  return {
    ...subject,
    forward: (request) =>
      subject.forward({
        ...request,
        hooks: request.hooks.map(({ extremeThresholds: _e, denseRows: _d, ...hook }) => hook),
      }),
  };
}

/** Counts the bytes each gated forward returns (the random rows' full passes aside). */
function countingSubject<S extends SubjectModel>(subject: S): S & { batches: { rows: number; bytes: number }[] } {
  const batches: { rows: number; bytes: number }[] = [];
  return {
    ...subject,
    batches,
    forward: async (request) => {
      const result = await subject.forward(request);
      if (request.hooks.some((h) => h.reduce === 'gated'))
        batches.push({ rows: request.batch, bytes: result.hooks.reduce((sum, h) => sum + deviceBytes(h), 0) });
      return result;
    },
  };
}

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

  it('writes identical files with any number of merge workers, equal to the ungated reference path', async () => {
    const reference = temp();
    await runExemplarStage(input(reference, { gating: 'none' }));
    for (const workers of [1, 2, 3]) {
      const out = temp();
      await runExemplarStage(input(out, {}, settings({ workers })));
      assertSameFiles(reference, out);
    }
    // A subject that ignores the extremes gate (dense extremes, as subjects written before it do): same files.
    const dense = temp();
    await runExemplarStage(
      input(dense, { subject: denseExtremesSubject(fakeSubjectModel({ layers: 2, mlpWidth: 6 })) }),
    );
    assertSameFiles(reference, dense);
  });

  it('in steady state, a tenth of the bytes per sequence of dense extremes leave the subject', async () => {
    // One split, few extremes kept and a long stream: the lists fill early and few values pass the gates after.
    const long = settings({
      sequences: 1200,
      windowsPerDocument: 8,
      extremesKept: 4,
      topK: 2,
      randomPerFeature: 0,
      batchSize: 8,
      splits: { train: 1, valid: 0, test: 0 },
      histogramSequences: 20,
    });
    const datasets = [{ source: fakeDataset(documents(400), 'corpus'), ratio: 1 }];
    const secondHalfBytes = async (subject: ReturnType<typeof fakeSubjectModel>) => {
      const counting = countingSubject(subject);
      const out = temp();
      const stage = input(out, { subject: counting, datasets }, long);
      await runExemplarStage({ ...stage, activation: fakeActivationSource(counting) });
      const half = counting.batches.slice(counting.batches.length / 2);
      return { out, perSequence: half.reduce((a, b) => a + b.bytes, 0) / half.reduce((a, b) => a + b.rows, 0) };
    };
    const gated = await secondHalfBytes(fakeSubjectModel({ layers: 2, mlpWidth: 6 }));
    const dense = await secondHalfBytes(denseExtremesSubject(fakeSubjectModel({ layers: 2, mlpWidth: 6 })));
    assertSameFiles(gated.out, dense.out);
    assert.ok(
      gated.perSequence * 10 <= dense.perSequence,
      `second half: ${gated.perSequence.toFixed(1)} bytes per sequence gated, ${dense.perSequence.toFixed(1)} with dense extremes`,
    );
  });

  it('checkpoints the same bytes whatever the number of workers, and resumes with another number', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    const checkpoints: Map<string, Buffer>[] = [];
    for (const workers of [1, 3]) {
      const out = temp();
      const crashing = input(
        out,
        {
          onBatch: (done) => {
            if (done >= 40) throw new Error('simulated crash');
          },
        },
        settings({ checkpointSeconds: 0, workers }),
      );
      await assert.rejects(runExemplarStage(crashing), /simulated crash/);
      const folder = join(out, 'exemplars', 'checkpoint');
      checkpoints.push(new Map(readdirSync(folder).map((name) => [name, readFileSync(join(folder, name))])));
      // Resumed with the other number of workers: the same files as an uninterrupted run.
      await runExemplarStage(input(out, {}, settings({ checkpointSeconds: 0, workers: 4 - workers })));
      assertSameFiles(whole, out);
    }
    const [one, three] = checkpoints as [Map<string, Buffer>, Map<string, Buffer>];
    assert.deepEqual([...one.keys()].sort(), [...three.keys()].sort());
    for (const [name, bytes] of one) assert.ok(bytes.equals(three.get(name)!), `${name} is byte-identical`);
  });

  it('a run over a few features keeps state and files for those features only, with the same results', async () => {
    const whole = temp();
    await runExemplarStage(input(whole));
    const few = temp();
    const stage = input(few);
    const selection = selectFeatures('mlp/1/2,mlp/1/4,mlp/0/*', stage.activation);
    const logger = memoryLogger();
    await runExemplarStage({ ...stage, selection, logger });
    const manifest = JSON.parse(readFileSync(join(few, 'exemplars', 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.layers, [
      { space: 'mlp', layer: 0, features: 6 },
      { space: 'mlp', layer: 1, features: 6, selected: [2, 4] },
    ]);
    assert.ok(
      logger.lines.some((l) => l.includes('for 2 layer(s)')),
      'the state is sized by the selection (see the log)',
    );
    for (const split of ['train', 'valid', 'test']) {
      const file = (dir: string, layer: string) => join(dir, 'exemplars', 'mlp', layer, `${split}.arrow`);
      const all = await readExemplarFile(file(whole, 'layer-01'));
      const some = await readExemplarFile(file(few, 'layer-01'));
      assert.deepEqual(some.features(), [2, 4], `${split}: only the selected features have rows`);
      for (const f of [2, 4]) assert.deepEqual(some.feature(f), all.feature(f), `${split} feature ${f}: same rows`);
      const layer0 = `exemplars/mlp/layer-00/${split}.arrow`;
      assert.ok(dataFiles(whole).get(layer0)!.equals(dataFiles(few).get(layer0)!), `${split}: layer 0 is whole`);
      const distribution = (dir: string) =>
        readDistributionFile(join(dir, 'exemplars', 'mlp', 'layer-01', `${split}.distribution.feather`));
      const allRows = (await distribution(whole)).rows;
      const someRows = (await distribution(few)).rows;
      assert.deepEqual(
        someRows.map((r) => r.feature),
        [2, 4],
      );
      for (const row of someRows)
        assert.deepEqual(row, allRows[row.feature], `${split} feature ${row.feature}: same distribution`);
    }
    // Sharded and merged, the few-feature outputs equal the single few-feature run.
    const shards = [0, 1].map((index) => {
      const dir = temp();
      return { dir, run: runExemplarStage({ ...input(dir, { shard: { index, count: 2 } }), selection }) };
    });
    for (const shard of shards) await shard.run;
    const merged = join(temp(), 'merged');
    await mergeExemplarOutputs(
      shards.map((shard) => shard.dir),
      merged,
    );
    assertSameFiles(few, merged);
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
