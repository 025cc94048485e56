import { Field, Float32, Float64, Int32, Int64, Schema, type RecordBatch } from 'apache-arrow';
import { ExpgenError } from '@expgen/contract';
import { TAIL_FRACTIONS } from '../state/activation-distribution.js';
import {
  BatchedFileReader,
  ListColumn,
  columnData,
  columnOffsets,
  float64Values,
  int32Values,
  int64Values,
  isValid,
  listOf,
  primitiveColumn,
  recordBatch,
  schemaMetadata,
  writeArrowFile,
} from './arrow-io.js';
import { FEATURES_PER_BATCH } from './exemplar-file.js';

/**
 * The distribution file `<split>.distribution.feather`: one row per feature of one (space, layer, split), with
 * what the tail quantiles (highlight thresholds) are estimated from. Arrow IPC file format; record batch i holds
 * features [256 i, 256 (i + 1)), rows are in feature order, and every feature the output holds has a row (every
 * feature of the layer, or the ones the run selected).
 *
 * Columns:
 *   feature          int32          index of the feature within the layer
 *   tokens_seen      int64          tokens the per-sequence extremes were taken over (N); null when unknown
 *   sequences_seen   int64          sequences offered; null when unknown
 *   max_extremes     list<float32>  the M largest per-sequence maxima, largest first
 *   min_extremes     list<float32>  the M smallest per-sequence minima, smallest first
 *   histogram_low    float64        lower edge of the first histogram bin (null: no histogram)
 *   histogram_high   float64        upper edge of the last bin
 *   max_histogram    list<int64>    counts of the per-sequence maxima of the histogram sample (manifest
 *                                  `histogramSample`): [below low, bin 0, ..., bin B-1, at or above high]
 *   min_histogram    list<int64>    the same for per-sequence minima
 *   positive_q1e-4 ... positive_q1e-8  float64  value a fraction q of tokens exceed (null: not enough extremes)
 *   negative_q1e-4 ... negative_q1e-8  float64  value at or below which a fraction q of tokens lie
 *
 * A value v falls in bin floor((v - low) * B / (high - low)) computed in float64 (see ActivationDistribution).
 * Schema metadata: `expgen.format` = `expgen-distribution/1`, `expgen.version` and `expgen.config_hash`, nothing
 * else.
 */
export const DISTRIBUTION_FORMAT = 'expgen-distribution';
export const DISTRIBUTION_FORMAT_VERSION = 1;

export interface DistributionHistogram {
  readonly low: number;
  readonly high: number;
  /** [underflow, bins..., overflow] counts of per-sequence maxima. */
  readonly max: Float64Array;
  /** The same for per-sequence minima. */
  readonly min: Float64Array;
}

export interface DistributionRow {
  readonly feature: number;
  readonly tokensSeen: number | null;
  readonly sequencesSeen: number | null;
  /** Largest per-sequence maxima, largest first. */
  readonly maxExtremes: Float32Array;
  /** Smallest per-sequence minima, smallest first. */
  readonly minExtremes: Float32Array;
  readonly histogram: DistributionHistogram | null;
  /** Tail quantiles at TAIL_FRACTIONS (1e-4 ... 1e-8), in that order; null where the extremes do not reach. */
  readonly positiveQuantiles: readonly (number | null)[];
  readonly negativeQuantiles: readonly (number | null)[];
}

/** Column name of the tail quantile at fraction q: `positive_q1e-4`, `negative_q1e-8`, ... */
export function quantileColumn(sign: 'positive' | 'negative', q: number): string {
  return `${sign}_q${q.toExponential()}`;
}

const LIST_FLOAT32 = listOf(new Float32());
const LIST_INT64 = listOf(new Int64());

export function distributionSchema(configHash: string): Schema {
  const fields = [
    new Field('feature', new Int32(), false),
    new Field('tokens_seen', new Int64(), true),
    new Field('sequences_seen', new Int64(), true),
    new Field('max_extremes', LIST_FLOAT32, false),
    new Field('min_extremes', LIST_FLOAT32, false),
    new Field('histogram_low', new Float64(), true),
    new Field('histogram_high', new Float64(), true),
    new Field('max_histogram', LIST_INT64, true),
    new Field('min_histogram', LIST_INT64, true),
  ];
  for (const sign of ['positive', 'negative'] as const) {
    for (const q of TAIL_FRACTIONS) fields.push(new Field(quantileColumn(sign, q), new Float64(), true));
  }
  return new Schema(fields, schemaMetadata(`${DISTRIBUTION_FORMAT}/${DISTRIBUTION_FORMAT_VERSION}`, configHash));
}

function toBigInts(counts: Float64Array): BigInt64Array {
  const out = new BigInt64Array(counts.length);
  for (let i = 0; i < counts.length; i++) out[i] = BigInt(counts[i]!);
  return out;
}

class DistributionBatchBuilder {
  private readonly feature: number[] = [];
  private readonly tokens: bigint[] = [];
  private readonly tokensValid: number[] = [];
  private readonly sequences: bigint[] = [];
  private readonly sequencesValid: number[] = [];
  private readonly maxExtremes = new ListColumn((n) => new Float32Array(n));
  private readonly minExtremes = new ListColumn((n) => new Float32Array(n));
  private readonly low: number[] = [];
  private readonly high: number[] = [];
  private readonly histogramValid: number[] = [];
  private readonly maxHistogram = new ListColumn((n) => new BigInt64Array(n));
  private readonly minHistogram = new ListColumn((n) => new BigInt64Array(n));
  private readonly quantiles: { values: number[]; valid: number[] }[] = Array.from(
    { length: 2 * TAIL_FRACTIONS.length },
    () => ({ values: [], valid: [] }),
  );

  add(row: DistributionRow): void {
    this.feature.push(row.feature);
    this.tokens.push(BigInt(row.tokensSeen ?? 0));
    this.tokensValid.push(row.tokensSeen === null ? 0 : 1);
    this.sequences.push(BigInt(row.sequencesSeen ?? 0));
    this.sequencesValid.push(row.sequencesSeen === null ? 0 : 1);
    this.maxExtremes.add(row.maxExtremes);
    this.minExtremes.add(row.minExtremes);
    const histogram = row.histogram;
    this.low.push(histogram?.low ?? 0);
    this.high.push(histogram?.high ?? 0);
    this.histogramValid.push(histogram ? 1 : 0);
    this.maxHistogram.add(histogram ? toBigInts(histogram.max) : null);
    this.minHistogram.add(histogram ? toBigInts(histogram.min) : null);
    [...row.positiveQuantiles, ...row.negativeQuantiles].forEach((value, i) => {
      this.quantiles[i]!.values.push(value ?? 0);
      this.quantiles[i]!.valid.push(value === null ? 0 : 1);
    });
  }

  build(schema: Schema): RecordBatch {
    const type = (i: number) => schema.fields[i]!.type;
    return recordBatch(schema, this.feature.length, [
      primitiveColumn(type(0), Int32Array.from(this.feature)),
      primitiveColumn(type(1), BigInt64Array.from(this.tokens), this.tokensValid),
      primitiveColumn(type(2), BigInt64Array.from(this.sequences), this.sequencesValid),
      this.maxExtremes.build(LIST_FLOAT32),
      this.minExtremes.build(LIST_FLOAT32),
      primitiveColumn(type(5), Float64Array.from(this.low), this.histogramValid),
      primitiveColumn(type(6), Float64Array.from(this.high), this.histogramValid),
      this.maxHistogram.build(LIST_INT64),
      this.minHistogram.build(LIST_INT64),
      ...this.quantiles.map((column, i) =>
        primitiveColumn(type(9 + i), Float64Array.from(column.values), column.valid),
      ),
    ]);
  }
}

/**
 * Writes a distribution file atomically from one row per feature in feature order: features 0 .. features - 1, or
 * exactly `selected` (ascending) when the output holds some features of the layer. Streamed, one record batch per
 * 256 features of the layer (a batch of a range with no selected feature is empty).
 */
export function writeDistributionFile(
  path: string,
  options: { configHash: string; features: number; selected?: ArrayLike<number> },
  rows: Iterable<DistributionRow>,
): void {
  const { features } = options;
  if (!Number.isSafeInteger(features) || features < 1)
    throw new Error(`writeDistributionFile: features must be a positive integer, got ${features}`);
  const selected = options.selected ?? null;
  const expected = selected ? selected.length : features;
  const schema = distributionSchema(options.configHash);
  const groups = Math.ceil(features / FEATURES_PER_BATCH);
  writeArrowFile(path, schema, batches());

  function* batches(): Generator<RecordBatch> {
    let builder = new DistributionBatchBuilder();
    let next = 0;
    let group = 0;
    for (const row of rows) {
      if (next >= expected) throw new Error(`${path}: more than ${expected} distribution rows`);
      const want = selected ? selected[next]! : next;
      if (row.feature !== want)
        throw new Error(
          `${path}: distribution row for feature ${row.feature} where feature ${want} was expected (one row per feature, in order)`,
        );
      checkRow(path, row);
      while (row.feature >= (group + 1) * FEATURES_PER_BATCH) {
        yield builder.build(schema);
        builder = new DistributionBatchBuilder();
        group++;
      }
      builder.add(row);
      next++;
    }
    if (next !== expected) throw new Error(`${path}: ${next} distribution rows for ${expected} features`);
    for (; group < groups; group++) {
      yield builder.build(schema);
      builder = new DistributionBatchBuilder();
    }
  }
}

function checkRow(path: string, row: DistributionRow): void {
  const where = `${path}: distribution of feature ${row.feature}`;
  for (const [name, value] of [
    ['tokensSeen', row.tokensSeen],
    ['sequencesSeen', row.sequencesSeen],
  ] as const) {
    if (value !== null && (!Number.isSafeInteger(value) || value < 0))
      throw new Error(`${where}: ${name} ${value} is not a non-negative integer`);
  }
  if (row.histogram && row.histogram.max.length !== row.histogram.min.length)
    throw new Error(`${where}: max and min histograms differ in length`);
  if (
    row.positiveQuantiles.length !== TAIL_FRACTIONS.length ||
    row.negativeQuantiles.length !== TAIL_FRACTIONS.length
  ) {
    throw new Error(`${where}: expected ${TAIL_FRACTIONS.length} quantiles per sign`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

function decodeBatch(path: string, batch: RecordBatch): DistributionRow[] {
  const feature = int32Values(columnData(path, batch, 'feature'));
  const tokensData = columnData(path, batch, 'tokens_seen');
  const tokens = int64Values(tokensData);
  const sequencesData = columnData(path, batch, 'sequences_seen');
  const sequences = int64Values(sequencesData);
  const maxExtremes = floatList(columnData(path, batch, 'max_extremes'));
  const minExtremes = floatList(columnData(path, batch, 'min_extremes'));
  const lowData = columnData(path, batch, 'histogram_low');
  const low = float64Values(lowData);
  const high = float64Values(columnData(path, batch, 'histogram_high'));
  const maxHistogram = countList(columnData(path, batch, 'max_histogram'));
  const minHistogram = countList(columnData(path, batch, 'min_histogram'));
  const quantiles = (['positive', 'negative'] as const).map((sign) =>
    TAIL_FRACTIONS.map((q) => {
      const data = columnData(path, batch, quantileColumn(sign, q));
      const values = float64Values(data);
      return (i: number) => (isValid(data, i) ? values[i]! : null);
    }),
  );
  const rows: DistributionRow[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    const maxCounts = maxHistogram(i);
    const minCounts = minHistogram(i);
    rows.push({
      feature: feature[i]!,
      tokensSeen: isValid(tokensData, i) ? Number(tokens[i]!) : null,
      sequencesSeen: isValid(sequencesData, i) ? Number(sequences[i]!) : null,
      maxExtremes: maxExtremes(i),
      minExtremes: minExtremes(i),
      histogram:
        isValid(lowData, i) && maxCounts && minCounts
          ? { low: low[i]!, high: high[i]!, max: maxCounts, min: minCounts }
          : null,
      positiveQuantiles: quantiles[0]!.map((read) => read(i)),
      negativeQuantiles: quantiles[1]!.map((read) => read(i)),
    });
  }
  return rows;
}

function floatList(data: ReturnType<typeof columnData>): (i: number) => Float32Array {
  const offsets = columnOffsets(data);
  const values = data.children[0]!.values as Float32Array;
  return (i) => values.slice(offsets[i]!, offsets[i + 1]!);
}

function countList(data: ReturnType<typeof columnData>): (i: number) => Float64Array | null {
  const offsets = columnOffsets(data);
  const values = data.children[0]!.values as BigInt64Array;
  return (i) => {
    if (!isValid(data, i)) return null;
    const out = new Float64Array(offsets[i + 1]! - offsets[i]!);
    for (let j = 0; j < out.length; j++) out[j] = Number(values[offsets[i]! + j]!);
    return out;
  };
}

/** A distribution file opened for reading one record batch (256 features) at a time. */
export class DistributionFileReader extends BatchedFileReader<DistributionRow> {
  static async open(path: string): Promise<DistributionFileReader> {
    return new DistributionFileReader(
      await BatchedFileReader.openVersioned(
        path,
        DISTRIBUTION_FORMAT,
        DISTRIBUTION_FORMAT_VERSION,
        distributionSchema(''),
      ),
    );
  }

  async batchRows(index: number): Promise<DistributionRow[]> {
    const rows = decodeBatch(this.path, await this.file.readBatch(index));
    const low = index * FEATURES_PER_BATCH;
    rows.forEach((row, i) => {
      // Every feature of the range in order, or (an output of selected features) some of them, ascending.
      const previous = i > 0 ? rows[i - 1]!.feature : low - 1;
      if (row.feature <= previous || row.feature >= low + FEATURES_PER_BATCH)
        throw new ExpgenError(
          `${this.path}: record batch ${index} row ${i} is feature ${row.feature}, out of order or outside [${low}, ${low + FEATURES_PER_BATCH})`,
        );
    });
    return rows;
  }

  async feature(feature: number): Promise<DistributionRow | undefined> {
    const index = Math.floor(feature / FEATURES_PER_BATCH);
    if (!Number.isSafeInteger(feature) || feature < 0 || index >= this.batches) return undefined;
    return (await this.batchRows(index)).find((row) => row.feature === feature);
  }
}

/** Reads a whole distribution file (one row per feature, in feature order). */
export async function readDistributionFile(
  path: string,
): Promise<{ path: string; configHash: string; rows: DistributionRow[] }> {
  const reader = await DistributionFileReader.open(path);
  const rows: DistributionRow[] = [];
  try {
    for await (const row of reader.rows()) rows.push(row);
  } finally {
    await reader.close();
  }
  return { path, configHash: reader.configHash, rows };
}
