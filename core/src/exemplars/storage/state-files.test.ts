import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { TAIL_FRACTIONS } from '../state/activation-distribution.js';
import { SequenceStore } from '../state/sequence-store.js';
import { readDistributionFile } from './distribution-file.js';
import { readExemplarFile, writeExemplarFile } from './exemplar-file.js';
import { distributionFilePath, exemplarFilePath } from './layout.js';
import { readExemplarManifest, writeExemplarManifest } from './manifest.js';
import { exemplarRowsOf, writeExemplarOutput, writeLayerSplitFiles, type LayerSplitState } from './state-files.js';
import { loadExemplarOutput } from './state-loading.js';
import { DATASETS, SMALL, countFromOf, runFixture, windowOf, type FixtureOptions } from './test-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-state-files-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Every file under `dir`, relative path -> bytes. */
export function filesUnder(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Everything observable about a state, for deep comparison. */
function snapshot(state: LayerSplitState, sequences: SequenceStore) {
  const features = state.topK.features;
  const signs = ['positive', 'negative'] as const;
  return {
    key: `${state.space}/${state.layer}/${state.split}`,
    topK: Array.from({ length: features }, (_, f) => signs.map((sign) => state.topK.entries(f, sign))),
    random: state.random
      ? {
          ids: state.random.sequenceIds(),
          entries: Array.from({ length: features }, (_, f) => state.random!.entries(f)),
        }
      : null,
    distribution: {
      tokens: state.distribution.tokensSeen,
      sequences: state.distribution.sequencesSeen,
      perFeature: Array.from({ length: features }, (_, f) =>
        signs.map((sign) => ({
          extremes: state.distribution.sortedExtremes(f, sign),
          histogram: state.distribution.histogram(f, sign),
          quantiles: TAIL_FRACTIONS.map((q) => state.distribution.tailQuantile(f, q, sign)),
        })),
      ),
    },
    sequences: sequences.ids().map((id) => ({ record: sequences.get(id), references: sequences.references(id) })),
  };
}

function stripPadding(record: ReturnType<SequenceStore['get']>) {
  return record && { ...record, tokens: record.tokens.slice(0, record.length) };
}

describe('writing states to files', () => {
  const run = runFixture(SMALL);
  const out = join(root, 'single');
  const manifest = writeExemplarOutput(out, run);

  it('writes the documented layout: only exemplar files are *.arrow, and a manifest', () => {
    const names = [...filesUnder(out).keys()];
    assert.deepEqual(names, [
      'exemplars/manifest.json',
      'exemplars/mlp/layer-00/train.arrow',
      'exemplars/mlp/layer-00/train.distribution.feather',
      'exemplars/mlp/layer-00/valid.arrow',
      'exemplars/mlp/layer-00/valid.distribution.feather',
      'exemplars/mlp/layer-03/train.arrow',
      'exemplars/mlp/layer-03/train.distribution.feather',
      'exemplars/mlp/layer-03/valid.arrow',
      'exemplars/mlp/layer-03/valid.distribution.feather',
      'exemplars/sae~demo/layer-03/train.arrow',
      'exemplars/sae~demo/layer-03/train.distribution.feather',
      'exemplars/sae~demo/layer-03/valid.arrow',
      'exemplars/sae~demo/layer-03/valid.distribution.feather',
    ]);
    assert.deepEqual(readExemplarManifest(out), manifest);
    assert.deepEqual(manifest.splits, {
      train: { sequencesSeen: 30, tokensSeen: manifest.splits['train']!.tokensSeen },
      valid: { sequencesSeen: 14, tokensSeen: manifest.splits['valid']!.tokensSeen },
    });
    assert.deepEqual(manifest.layers, [
      { space: 'mlp', layer: 0, features: 300 },
      { space: 'mlp', layer: 3, features: 300 },
      { space: 'sae:demo', layer: 3, features: 300 },
    ]);
    const text = readFileSync(join(out, 'exemplars', 'manifest.json'), 'utf8');
    assert.ok(text.endsWith('}\n') && !/\d{4}-\d\d-\d\dT/.test(text), 'no timestamps in the manifest');
  });

  it('writes every exemplar of the states, with its sequence, in order', async () => {
    for (const state of run.states) {
      const file = await readExemplarFile(exemplarFilePath(out, state));
      assert.equal(file.configHash, 'c0ffee');
      let rows = 0;
      for (let f = 0; f < state.topK.features; f++) {
        const feature = file.feature(f);
        for (const sign of ['positive', 'negative'] as const) {
          const entries = state.topK.entries(f, sign);
          assert.equal(feature[sign].length, entries.length);
          entries.forEach((entry, rank) => {
            const row = feature[sign][rank]!;
            const record = run.sequences.get(entry.sequenceId)!;
            assert.deepEqual(row, {
              feature: f,
              sign,
              rank,
              activation: entry.extreme,
              sequence: entry.sequenceId,
              dataset: DATASETS[record.datasetIndex],
              document: record.documentId,
              window: windowOf(entry.sequenceId),
              countFrom: countFromOf(entry.sequenceId, SMALL.countedFrom),
              tokens: record.tokens.slice(0, record.length),
              activations: entry.activations.slice(0, record.length),
            });
          });
        }
        const random = state.random!.entries(f);
        assert.deepEqual(
          feature.random.map((r) => r.sequence),
          random.map((r) => r.sequenceId),
        );
        feature.random.forEach((row, rank) => {
          const length = run.sequences.get(row.sequence!)!.length;
          assert.deepEqual(row.activations, random[rank]!.activations.slice(0, length));
          assert.equal(row.countFrom, countFromOf(row.sequence!, SMALL.countedFrom));
          assert.equal(row.activation, Math.max(...random[rank]!.activations.slice(row.countFrom, length)));
        });
        rows += feature.positive.length + feature.negative.length + feature.random.length;
      }
      assert.equal(file.rows.length, rows);
      assert.ok(rows > 0);
    }
  });

  it("writes every feature's distribution with the quantiles the state estimates", async () => {
    for (const state of run.states) {
      const { rows } = await readDistributionFile(distributionFilePath(out, state));
      assert.equal(rows.length, 300);
      for (const row of rows) {
        const d = state.distribution;
        assert.equal(row.tokensSeen, d.tokensSeen);
        assert.equal(row.sequencesSeen, d.sequencesSeen);
        assert.deepEqual(row.maxExtremes, d.sortedExtremes(row.feature, 'positive'));
        assert.deepEqual(row.minExtremes, d.sortedExtremes(row.feature, 'negative'));
        assert.deepEqual(row.histogram, {
          low: -2,
          high: 2,
          max: d.histogram(row.feature, 'positive'),
          min: d.histogram(row.feature, 'negative'),
        });
        assert.deepEqual(
          row.positiveQuantiles,
          TAIL_FRACTIONS.map((q) => d.tailQuantile(row.feature, q, 'positive')),
        );
        assert.deepEqual(
          row.negativeQuantiles,
          TAIL_FRACTIONS.map((q) => d.tailQuantile(row.feature, q, 'negative')),
        );
      }
    }
  });

  it('writes the same bytes when run again', () => {
    const again = join(root, 'single-again');
    writeExemplarOutput(again, runFixture(SMALL));
    assert.deepEqual(filesUnder(again), filesUnder(out));
  });

  it('loads the files back into states equal to the ones written, and writes them to the same bytes', async () => {
    const loaded = await loadExemplarOutput(out);
    assert.equal(loaded.states.length, run.states.length);
    const expected = run.states.map((state) => snapshot(state, run.sequences));
    const actual = loaded.states.map((state) => snapshot(state, loaded.sequences));
    // Padded token positions are not stored, so the loaded store has zeros there.
    for (const s of [...expected, ...actual])
      for (const entry of s.sequences) entry.record = stripPadding(entry.record);
    assert.deepEqual(
      actual.map((s) => ({ ...s, sequences: [] })),
      expected.map((s) => ({ ...s, sequences: [] })),
    );
    // The live store also holds sequences referenced only while a batch was taken; compare the referenced ones.
    assert.deepEqual(
      actual[0]!.sequences,
      expected[0]!.sequences.filter((e) => e.references > 0),
    );
    const rewritten = join(root, 'rewritten');
    writeExemplarOutput(rewritten, { ...loaded, info: run.info });
    assert.deepEqual(filesUnder(rewritten), filesUnder(out));
  });

  it('resumes from final files: half a run, written, loaded and continued, writes the files of the whole run', async () => {
    const splitAt = (id: number) => (id < 1000 ? id < 17 : id < 1020);
    const half = join(root, 'half');
    writeExemplarOutput(half, { ...runFixture(SMALL, splitAt), complete: false });
    const loaded = await loadExemplarOutput(half);
    const continued = runFixture(SMALL, (id) => !splitAt(id), loaded);
    const resumed = join(root, 'resumed');
    writeExemplarOutput(resumed, continued);
    assert.deepEqual(filesUnder(resumed), filesUnder(out));
  });

  it('builds the same exemplar file bytes column by column as the row-by-row reference writes', () => {
    for (const state of run.states) {
      const selections = [
        undefined,
        {
          features: Int32Array.from({ length: state.topK.features }, (_, f) => 3 * f + 1),
          width: 3 * state.topK.features + 5,
        },
      ];
      for (const selected of selections) {
        const named = { ...state, ...(selected ? { selected } : {}) };
        const dir = join(
          root,
          `columns-${state.space.replace(':', '~')}-${state.layer}-${state.split}-${selected ? 'some' : 'all'}`,
        );
        const { exemplars } = writeLayerSplitFiles(dir, named, run.sequences, run.info);
        const reference = join(dir, 'reference.arrow');
        writeExemplarFile(
          reference,
          { configHash: run.info.configHash, features: selected?.width ?? state.topK.features },
          exemplarRowsOf(named, run.sequences, run.info),
        );
        assert.ok(readFileSync(exemplars).equals(readFileSync(reference)), `${exemplars}: the same bytes`);
      }
    }
  });

  it("refuses states whose parameters disagree with the output's, naming the layer", () => {
    const state = run.states[0]!;
    assert.throws(
      () =>
        writeLayerSplitFiles(join(root, 'bad'), state, run.sequences, {
          ...run.info,
          parameters: { ...run.info.parameters, k: 4 },
        }),
      /mlp\/0\/train: the state has k 3, the output's parameters say 4/,
    );
    const empty = new SequenceStore({ seqLen: SMALL.seqLen });
    assert.throws(
      () => writeLayerSplitFiles(join(root, 'bad'), state, empty, run.info),
      /sequence \d+ \(feature 0, positive rank 0\) has no tokens in the sequence store/,
    );
    assert.deepEqual(
      readdirSync(join(root, 'bad'), { recursive: true }).filter((name) => String(name).endsWith('.arrow')),
      [],
    );
  });

  it('keeps no random rows when the run keeps none, and loads such an output', async () => {
    const options: FixtureOptions = { ...SMALL, randomCount: 0, layers: [SMALL.layers[0]!], features: 5 };
    const noRandom = runFixture(options);
    assert.equal(noRandom.states[0]!.random, undefined);
    const dir = join(root, 'no-random');
    writeExemplarOutput(dir, noRandom);
    const file = await readExemplarFile(exemplarFilePath(dir, noRandom.states[0]!));
    assert.ok(file.rows.every((row) => row.sign !== 'random'));
    const loaded = await loadExemplarOutput(dir);
    assert.equal(loaded.states[0]!.random, undefined);
  });

  it('reports a damaged manifest or a missing file with the path', async () => {
    const dir = join(root, 'damaged');
    const options: FixtureOptions = { ...SMALL, layers: [SMALL.layers[0]!], features: 5 };
    const small = runFixture(options);
    const manifest = writeExemplarOutput(dir, small);
    writeExemplarManifest(dir, { ...manifest, layers: [...manifest.layers, { space: 'mlp', layer: 9, features: 5 }] });
    await assert.rejects(
      loadExemplarOutput(dir),
      (error: Error) =>
        isExpgenError(error) && error.message.includes(join('mlp', 'layer-09', 'train.distribution.feather')),
    );
    await assert.rejects(
      loadExemplarOutput(join(root, 'nowhere')),
      (error: Error) => isExpgenError(error) && /has no exemplars\/manifest.json/.test(error.message),
    );
  });
});
