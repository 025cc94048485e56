import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { TAIL_FRACTIONS } from '../state/activation-distribution.js';
import {
  readDistributionFile,
  writeDistributionFile,
  DistributionFileReader,
  type DistributionRow,
} from './distribution-file.js';
import {
  ExemplarFileReader,
  FEATURES_PER_BATCH,
  readExemplarFile,
  writeExemplarFile,
  type ExemplarRowInput,
} from './exemplar-file.js';

const dir = mkdtempSync(join(tmpdir(), 'expgen-exemplar-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function row(
  feature: number,
  sign: ExemplarRowInput['sign'],
  rank: number,
  extra: Partial<ExemplarRowInput> = {},
): ExemplarRowInput {
  const length = ((feature + rank) % 4) + 1;
  return {
    feature,
    sign,
    rank,
    activation: sign === 'negative' ? -1.5 - rank : 2.25 - rank / 8,
    sequence: feature * 1000 + rank * 10 + (sign === 'negative' ? 1 : sign === 'random' ? 2 : 0),
    dataset: feature % 2 === 0 ? 'fineweb' : 'lmsys-chat-1m',
    document: `doc-${feature}-${rank}`,
    window: rank,
    countFrom: feature % 3,
    tokens: Int32Array.from({ length }, (_, t) => 128000 + t + rank),
    activations: Float32Array.from({ length }, (_, t) => (t - 1) * 0.5 + feature / 1024),
    ...extra,
  };
}

/** Rows for features 0, 1, 2 and 600 (so batch 1 (features 256..511) is empty), with nulls and an empty list. */
const ROWS: ExemplarRowInput[] = [
  row(0, 'positive', 0),
  row(0, 'positive', 1, { window: null, document: null }),
  row(0, 'negative', 0),
  row(0, 'random', 0, { sequence: null }),
  row(0, 'random', 1, { tokens: new Int32Array(0), activations: new Float32Array(0), activation: -Infinity }),
  row(2, 'negative', 0, { dataset: 'ünïcode ✓' }),
  row(2, 'random', 0),
  row(600, 'positive', 0),
  row(600, 'positive', 1),
];

function normalized(input: ExemplarRowInput) {
  return {
    ...input,
    activation: Math.fround(input.activation),
    tokens: Int32Array.from(input.tokens),
    activations: Float32Array.from(input.activations),
  };
}

describe('exemplar file', () => {
  const path = join(dir, 'rows.arrow');
  writeExemplarFile(path, { configHash: 'abc123', features: 700 }, ROWS);

  it('reads back exactly the rows written, with nulls and empty lists', async () => {
    const contents = await readExemplarFile(path);
    assert.equal(contents.configHash, 'abc123');
    assert.deepEqual(contents.rows, ROWS.map(normalized));
    assert.deepEqual(contents.features(), [0, 2, 600]);
    const zero = contents.feature(0);
    assert.equal(zero.positive.length, 2);
    assert.equal(zero.negative.length, 1);
    assert.equal(zero.random.length, 2);
    assert.equal(zero.random[0]!.sequence, null);
    assert.equal(zero.positive[1]!.window, null);
    assert.deepEqual(contents.feature(1), { feature: 1, positive: [], negative: [], random: [] });
  });

  it('holds one record batch per 256 features, empty ones included, and finds a feature by its batch', async () => {
    const reader = await ExemplarFileReader.open(path);
    try {
      assert.equal(reader.batches, Math.ceil(700 / FEATURES_PER_BATCH));
      assert.deepEqual(await reader.batchRows(1), []);
      const feature = await reader.feature(600);
      assert.deepEqual(feature.positive, [normalized(ROWS[7]!), normalized(ROWS[8]!)]);
      assert.deepEqual((await reader.feature(5000)).positive, []);
    } finally {
      await reader.close();
    }
  });

  it('writes the same bytes for the same content, with only the format and config hash as metadata', () => {
    const again = join(dir, 'again.arrow');
    writeExemplarFile(again, { configHash: 'abc123', features: 700 }, ROWS);
    assert.deepEqual(readFileSync(again), readFileSync(path));
    const bytes = readFileSync(path);
    assert.equal(bytes.subarray(0, 6).toString(), 'ARROW1');
    assert.equal(bytes.subarray(bytes.length - 6).toString(), 'ARROW1');
    // No host name, user or time could hide in it: the only strings are column names, metadata and values.
    assert.ok(!bytes.includes(Buffer.from(process.env['HOSTNAME'] ?? 'no-host-name-set-here')));
  });

  it('leaves no .arrow file (and no temporary) when writing fails, and keeps the previous file', () => {
    const failing = join(dir, 'fails', 'train.arrow');
    function* broken(): Generator<ExemplarRowInput> {
      yield ROWS[0]!;
      throw new Error('the subject died');
    }
    assert.throws(() => writeExemplarFile(failing, { configHash: 'x', features: 1 }, broken()), /the subject died/);
    assert.deepEqual(readdirSync(join(dir, 'fails')), []);

    writeExemplarFile(failing, { configHash: 'x', features: 1 }, [ROWS[0]!]);
    const before = readFileSync(failing);
    assert.throws(() => writeExemplarFile(failing, { configHash: 'x', features: 1 }, broken()), /the subject died/);
    assert.deepEqual(readdirSync(join(dir, 'fails')), ['train.arrow']);
    assert.deepEqual(readFileSync(failing), before);
  });

  it('refuses rows out of order, with rank gaps or outside the features', () => {
    const target = join(dir, 'bad.arrow');
    assert.throws(
      () => writeExemplarFile(target, { configHash: 'x', features: 5 }, [row(1, 'positive', 0), row(0, 'positive', 0)]),
      /sorted by feature, sign, rank/,
    );
    assert.throws(
      () => writeExemplarFile(target, { configHash: 'x', features: 5 }, [row(0, 'negative', 0), row(0, 'positive', 0)]),
      /sorted/,
    );
    assert.throws(
      () => writeExemplarFile(target, { configHash: 'x', features: 5 }, [row(0, 'positive', 1)]),
      /expected rank 0/,
    );
    assert.throws(
      () => writeExemplarFile(target, { configHash: 'x', features: 5 }, [row(7, 'positive', 0)]),
      /outside \[0, 5\)/,
    );
    assert.throws(
      () =>
        writeExemplarFile(target, { configHash: 'x', features: 5 }, [
          row(0, 'positive', 0, { activations: new Float32Array(9) }),
        ]),
      /tokens but/,
    );
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.startsWith('bad')),
      [],
    );
  });

  it('reports a file cut short, or one that is not an exemplar file, naming it', async () => {
    const cut = join(dir, 'cut.arrow');
    writeFileSync(cut, readFileSync(path));
    truncateSync(cut, readFileSync(path).length - 100);
    await assert.rejects(
      readExemplarFile(cut),
      (error: Error) => isExpgenError(error) && error.message.includes(cut) && /cut short/.test(error.message),
    );
    const notArrow = join(dir, 'not.arrow');
    writeFileSync(notArrow, 'version https://git-lfs.github.com/spec/v1\n');
    await assert.rejects(
      readExemplarFile(notArrow),
      (error: Error) => isExpgenError(error) && error.message.includes(notArrow),
    );
    const distribution = join(dir, 'd.distribution.feather');
    writeDistributionFile(distribution, { configHash: 'x', features: 1 }, [distributionRow(0)]);
    await assert.rejects(readExemplarFile(distribution), /not an expgen expgen-exemplars file/);
  });
});

function distributionRow(feature: number, overrides: Partial<DistributionRow> = {}): DistributionRow {
  return {
    feature,
    tokensSeen: 1000 + feature,
    sequencesSeen: 10,
    maxExtremes: Float32Array.of(3.5, 2, 1 + feature),
    minExtremes: Float32Array.of(-4, -1),
    histogram: {
      low: -2,
      high: 2,
      max: Float64Array.from({ length: 6 }, (_, i) => i + feature),
      min: Float64Array.from({ length: 6 }, (_, i) => 2 ** 40 + i),
    },
    positiveQuantiles: TAIL_FRACTIONS.map((_, i) => (i % 2 === 0 ? 1 / 3 + feature : null)),
    negativeQuantiles: TAIL_FRACTIONS.map(() => -Math.PI),
    ...overrides,
  };
}

describe('distribution file', () => {
  const path = join(dir, 'train.distribution.feather');
  const rows = Array.from({ length: 300 }, (_, f) =>
    f === 5
      ? distributionRow(f, { tokensSeen: null, sequencesSeen: null, histogram: null, maxExtremes: new Float32Array(0) })
      : distributionRow(f),
  );
  writeDistributionFile(path, { configHash: 'h', features: 300 }, rows);

  it('reads back every row exactly, nulls and large counts included', async () => {
    const read = await readDistributionFile(path);
    assert.equal(read.configHash, 'h');
    assert.deepEqual(read.rows, rows);
    const reader = await DistributionFileReader.open(path);
    try {
      assert.equal(reader.batches, 2);
      assert.deepEqual(await reader.feature(299), rows[299]);
      assert.equal(await reader.feature(300), undefined);
    } finally {
      await reader.close();
    }
  });

  it('is deterministic and refuses rows that skip a feature', () => {
    const again = join(dir, 'again.distribution.feather');
    writeDistributionFile(again, { configHash: 'h', features: 300 }, rows);
    assert.deepEqual(readFileSync(again), readFileSync(path));
    assert.throws(
      () =>
        writeDistributionFile(join(dir, 'x.feather'), { configHash: 'h', features: 3 }, [
          distributionRow(0),
          distributionRow(2),
        ]),
      /feature 1 was expected/,
    );
    assert.throws(
      () => writeDistributionFile(join(dir, 'x.feather'), { configHash: 'h', features: 3 }, [distributionRow(0)]),
      /1 distribution rows for 3 features/,
    );
  });
});

/**
 * pyarrow, pandas and polars read the files as the README shows. Runs only where a Python with those packages is
 * found (EXPGEN_PYTHON, or python3); CI machines without them skip it.
 */
const python = process.env['EXPGEN_PYTHON'] ?? 'python3';
const hasPyarrow = spawnSync(python, ['-c', 'import pyarrow, pandas, polars'], { stdio: 'ignore' }).status === 0;

describe('read from Python', { skip: hasPyarrow ? false : `no ${python} with pyarrow, pandas and polars` }, () => {
  it('pyarrow, pandas and polars read the exemplar and distribution files', () => {
    const script = `
import sys, pyarrow as pa, pyarrow.feather as feather, pandas as pd, polars as pl, math
t = pa.ipc.open_file(sys.argv[1]).read_all()
assert t.schema.metadata == {b'expgen.format': b'expgen-exemplars/1', b'expgen.config_hash': b'abc123'}, t.schema.metadata
assert t.num_rows == ${ROWS.length}
df = pd.read_feather(sys.argv[1])
assert list(df.columns) == ['feature', 'sign', 'rank', 'activation', 'sequence', 'dataset', 'document', 'window', 'count_from', 'tokens', 'activations']
assert df.iloc[5]['dataset'] == 'ünïcode ✓'
assert list(df.iloc[0]['tokens']) == ${JSON.stringify(Array.from(ROWS[0]!.tokens))}
p = pl.read_ipc(sys.argv[1])
assert p['sequence'].null_count() == 1 and p['window'].null_count() == 1
assert p.filter((pl.col('feature') == 600) & (pl.col('sign') == 'positive'))['rank'].to_list() == [0, 1]
d = feather.read_table(sys.argv[2]).to_pandas()
assert len(d) == 300 and d['tokens_seen'].iloc[0] == 1000
assert list(d['min_histogram'].iloc[0])[0] == 2 ** 40
assert math.isnan(d['positive_q1e-5'].iloc[0]) and abs(d['positive_q1e-4'].iloc[0] - 1/3) < 1e-15
print('ok')
`;
    const result = spawnSync(python, ['-c', script, path(), join(dir, 'train.distribution.feather')], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'ok');
  });
});

function path(): string {
  return join(dir, 'rows.arrow');
}
