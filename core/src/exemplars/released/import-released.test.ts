import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { ActivationDistribution, TAIL_FRACTIONS } from '../state/activation-distribution.js';
import { SequenceStore } from '../state/sequence-store.js';
import { readDistributionFile } from '../storage/distribution-file.js';
import { readExemplarFile } from '../storage/exemplar-file.js';
import { distributionFilePath, exemplarFilePath, manifestPath } from '../storage/layout.js';
import { readExemplarManifest } from '../storage/manifest.js';
import { mergeExemplarOutputs } from '../storage/merge-exemplar-dirs.js';
import { loadLayerSplitState } from '../storage/state-loading.js';
import { importReleasedExemplars, tailQuantileOfSorted } from './import-released.js';
import { NEURONS, SEQ_LEN, makeDump, rowsOf, value } from './released-dump.test-util.js';

const root = mkdtempSync(join(tmpdir(), 'expgen-import-'));
after(() => rmSync(root, { recursive: true, force: true }));

const dump = join(root, 'dump');
const made = makeDump(dump);

describe('importReleasedExemplars', () => {
  const out = join(root, 'imported');
  const manifest = importReleasedExemplars(dump, out, [2, 7], { chunk: 2 });

  it('writes expgen files holding the same rows, and a manifest marked imported', async () => {
    assert.deepEqual(readExemplarManifest(out), manifest);
    assert.deepEqual(manifest.imported, { from: 'transluce-released', modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
    assert.deepEqual(manifest.layers, [
      { space: 'mlp', layer: 2, features: NEURONS },
      { space: 'mlp', layer: 7, features: NEURONS },
    ]);
    assert.deepEqual(manifest.splits, {
      test: { sequencesSeen: null, tokensSeen: null },
      train: { sequencesSeen: null, tokensSeen: null },
      valid: { sequencesSeen: null, tokensSeen: null },
    });
    for (const layer of [2, 7]) {
      for (const split of ['train', 'valid', 'test']) {
        const file = await readExemplarFile(exemplarFilePath(out, { space: 'mlp', layer, split }));
        assert.equal(file.configHash, manifest.configHash);
        assert.deepEqual(file.rows, rowsOf(made, layer, split));
      }
    }
  });

  it('writes the extremes, and the tail quantiles where the tokens seen are known', async () => {
    const train = await readDistributionFile(distributionFilePath(out, { space: 'mlp', layer: 2, split: 'train' }));
    assert.deepEqual(
      train.rows.map((r) => r.maxExtremes),
      Array.from({ length: NEURONS }, (_, n) => made.maxExtremes.get(`2/train/${n}`)),
    );
    assert.ok(
      train.rows.every(
        (r) => r.tokensSeen === null && r.histogram === null && r.positiveQuantiles.every((q) => q === null),
      ),
    );
    const valid = await readDistributionFile(distributionFilePath(out, { space: 'mlp', layer: 7, split: 'valid' }));
    const row = valid.rows[1]!;
    assert.equal(row.tokensSeen, 20_007);
    assert.deepEqual(row.minExtremes, made.minExtremes.get('7/valid/1'));
    assert.deepEqual(
      row.positiveQuantiles,
      TAIL_FRACTIONS.map((q) => tailQuantileOfSorted(row.maxExtremes, 20_007, q, 'positive')),
    );
    assert.ok(row.positiveQuantiles[0] !== null, 'q = 1e-4 of 20,007 tokens is within the 4 kept extremes');
  });

  it('cannot be loaded into state or merged, and says why', async () => {
    await assert.rejects(
      loadLayerSplitState(
        out,
        manifest,
        { space: 'mlp', layer: 2, split: 'train' },
        new SequenceStore({ seqLen: SEQ_LEN }),
      ),
      /was imported from a released dump/,
    );
    await assert.rejects(mergeExemplarOutputs([out], join(root, 'merged')), /was imported from a released dump/);
  });

  it('imports the same bytes twice', () => {
    const again = join(root, 'imported-again');
    importReleasedExemplars(dump, again, [2, 7]);
    for (const layer of [2, 7]) {
      const key = { space: 'mlp', layer, split: 'valid' };
      assert.deepEqual(readFileSync(exemplarFilePath(again, key)), readFileSync(exemplarFilePath(out, key)));
      assert.deepEqual(readFileSync(distributionFilePath(again, key)), readFileSync(distributionFilePath(out, key)));
    }
  });
});

describe('tailQuantileOfSorted', () => {
  it('agrees with ActivationDistribution.tailQuantile', () => {
    const features = 3;
    const distribution = new ActivationDistribution({ features, keep: 50, histogram: { low: -1, high: 1, bins: 4 } });
    const rows = 400;
    const max = Float32Array.from({ length: rows * features }, (_, i) => ((value(i, 1) % 1000) - 300) / 97);
    const min = Float32Array.from({ length: rows * features }, (_, i) => ((value(i, 2) % 1000) - 700) / 97);
    distribution.offer({ max, min, tokens: 250_000 });
    for (let f = 0; f < features; f++) {
      for (const sign of ['positive', 'negative'] as const) {
        for (const q of [...TAIL_FRACTIONS, 1e-3, 3e-5]) {
          assert.equal(
            tailQuantileOfSorted(distribution.sortedExtremes(f, sign), distribution.tokensSeen, q, sign),
            distribution.tailQuantile(f, q, sign),
            `${f} ${sign} ${q}`,
          );
        }
      }
    }
  });
});

describe('a failed import never looks like a finished one', () => {
  /** Every file under `dir`, relative, sorted. */
  const files = (dir: string): string[] =>
    existsSync(dir)
      ? readdirSync(dir, { recursive: true, encoding: 'utf8' })
          .filter((name) => statSync(join(dir, name)).isFile())
          .sort()
      : [];

  it('a dump whose last file is damaged leaves no exemplars and no scratch folder, and says which file', () => {
    const damaged = join(root, 'damaged-dump');
    makeDump(damaged);
    // The last file the import reads: layer 7, split test, the random sequences (read after the top and bottom).
    const last = join(damaged, 'random_test', 'layer7', 'max_seq_acts.npy');
    truncateSync(last, 200);
    const out = join(root, 'from-damaged');
    assert.throws(
      () => importReleasedExemplars(damaged, out, [2, 7]),
      (error: Error) => isExpgenError(error) && error.message.includes(last),
    );
    assert.deepEqual(files(out), [], 'nothing at all is left in the output folder');
    assert.ok(!existsSync(manifestPath(out)));

    // Repaired, the same command imports everything, as into a fresh folder.
    makeDump(damaged);
    importReleasedExemplars(damaged, out, [2, 7]);
    const fresh = join(root, 'fresh');
    importReleasedExemplars(dump, fresh, [2, 7]);
    assert.deepEqual(files(out), files(fresh));
    for (const name of files(fresh)) assert.deepEqual(readFileSync(join(out, name)), readFileSync(join(fresh, name)));
  });

  it('a scratch folder left by a killed import is removed by the next one', () => {
    const out = join(root, 'after-kill');
    const abandoned = join(out, 'exemplars.importing-999999999', 'exemplars', 'mlp');
    writeFileSync(join(makeFolder(abandoned), 'train.arrow'), 'half written');
    importReleasedExemplars(dump, out, [2]);
    assert.deepEqual(
      readdirSync(out).sort(),
      ['exemplars'],
      'only the finished exemplars remain beside the abandoned scratch',
    );
  });

  it('the same import again changes nothing; another one over it is refused', () => {
    const out = join(root, 'twice');
    const first = importReleasedExemplars(dump, out, [2]);
    const before = readFileSync(manifestPath(out));
    assert.deepEqual(importReleasedExemplars(dump, out, [2]), first);
    assert.deepEqual(readFileSync(manifestPath(out)), before);
    assert.throws(
      () => importReleasedExemplars(dump, out, [2, 7]),
      (error: Error) =>
        isExpgenError(error) && /already holds exemplars .*import into a new --out folder/.test(error.message),
    );
    assert.deepEqual(readFileSync(manifestPath(out)), before, 'the refused import left the folder as it was');
  });
});

function makeFolder(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
