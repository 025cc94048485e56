import { Field, Float32, Int32, Int64, Schema, Utf8, type RecordBatch } from 'apache-arrow';
import { ExpgenError } from '@expgen/contract';
import {
  BatchedFileReader,
  ListColumn,
  Utf8Column,
  columnData,
  columnOffsets,
  float32Values,
  int32Values,
  int64Values,
  isValid,
  listOf,
  primitiveColumn,
  recordBatch,
  schemaMetadata,
  writeArrowFile,
} from './arrow-io.js';

/**
 * The exemplar file: one row per exemplar of one (feature space, layer, split), in Arrow IPC file format.
 *
 * Columns:
 *   feature      int32         index of the feature within the layer
 *   sign         utf8          `positive` (top-k), `negative` (bottom-k), `random` (the split's random sequences)
 *   rank         int32         0 = strongest (random: selection order, which is unrelated to activation)
 *   activation   float32       per-sequence max (positive, random) or min (negative) over counted positions
 *   sequence     int64         global sequence id (null only in files imported from a released dump)
 *   dataset      utf8          dataset name
 *   document     utf8          source document id (null when unknown: imported files)
 *   window       int32         window index within the document (null when unknown)
 *   count_from   int32         first position that counts for `activation` (a fixed prefix, e.g. a chat header,
 *                              comes before it; 0 when every token counts)
 *   tokens       list<int32>   the sequence's real tokens: padding is not stored
 *   activations  list<float32> the feature's activation on each of those tokens (same length as tokens)
 *
 * Padding: the lists end at the sequence's last real token, so a padded position never appears (neither null nor
 * NaN); `zip(tokens, activations)` is always safe. Positions before `count_from` (a fixed prefix) keep their real
 * values but do not count, so `activation` is the extreme of `activations[count_from:]`.
 *
 * Order: by feature, then sign (positive, negative, random), then rank. Record batch i holds exactly features
 * [256 i, 256 (i + 1)) (possibly no rows), so a reader finds one feature by reading one batch.
 *
 * Schema metadata: `expgen.format` = `expgen-exemplars/1`, `expgen.version` and `expgen.config_hash`; nothing
 * else, so the same content always gives the same bytes (from one expgen version).
 */
export const EXEMPLAR_FORMAT = 'expgen-exemplars';
export const EXEMPLAR_FORMAT_VERSION = 1;
/** Features per record batch (a format constant: readers rely on it to find a feature's batch). */
export const FEATURES_PER_BATCH = 256;

export type ExemplarSign = 'positive' | 'negative' | 'random';
export const EXEMPLAR_SIGNS: readonly ExemplarSign[] = ['positive', 'negative', 'random'];
const SIGN_ORDER: Readonly<Record<string, number>> = { positive: 0, negative: 1, random: 2 };

/** One exemplar as read from (or written to) a file. */
export interface ExemplarRow {
  readonly feature: number;
  readonly sign: ExemplarSign;
  readonly rank: number;
  readonly activation: number;
  readonly sequence: number | null;
  readonly dataset: string;
  readonly document: string | null;
  readonly window: number | null;
  /** First position that counts for `activation` and ranking. */
  readonly countFrom: number;
  readonly tokens: Int32Array;
  readonly activations: Float32Array;
}

/** What the writer takes: the same fields, with any array-likes for the lists. */
export interface ExemplarRowInput {
  readonly feature: number;
  readonly sign: ExemplarSign;
  readonly rank: number;
  readonly activation: number;
  readonly sequence: number | null;
  readonly dataset: string;
  readonly document: string | null;
  readonly window: number | null;
  readonly countFrom: number;
  readonly tokens: ArrayLike<number>;
  readonly activations: ArrayLike<number>;
}

/** A feature's exemplars, each list in rank order. */
export interface FeatureExemplars {
  readonly feature: number;
  readonly positive: ExemplarRow[];
  readonly negative: ExemplarRow[];
  readonly random: ExemplarRow[];
}

const LIST_INT32 = listOf(new Int32());
const LIST_FLOAT32 = listOf(new Float32());

function exemplarFields(): Field[] {
  return [
    new Field('feature', new Int32(), false),
    new Field('sign', new Utf8(), false),
    new Field('rank', new Int32(), false),
    new Field('activation', new Float32(), false),
    new Field('sequence', new Int64(), true),
    new Field('dataset', new Utf8(), false),
    new Field('document', new Utf8(), true),
    new Field('window', new Int32(), true),
    new Field('count_from', new Int32(), false),
    new Field('tokens', LIST_INT32, false),
    new Field('activations', LIST_FLOAT32, false),
  ];
}

export function exemplarSchema(configHash: string): Schema {
  return new Schema(exemplarFields(), schemaMetadata(`${EXEMPLAR_FORMAT}/${EXEMPLAR_FORMAT_VERSION}`, configHash));
}

/** Builds one record batch of exemplar rows. */
class ExemplarBatchBuilder {
  private readonly feature: number[] = [];
  private readonly sign = new Utf8Column();
  private readonly rank: number[] = [];
  private readonly activation: number[] = [];
  private readonly sequence: bigint[] = [];
  private readonly sequenceValid: number[] = [];
  private readonly dataset = new Utf8Column();
  private readonly document = new Utf8Column();
  private readonly window: number[] = [];
  private readonly windowValid: number[] = [];
  private readonly countFrom: number[] = [];
  private readonly tokens = new ListColumn((n) => new Int32Array(n));
  private readonly activations = new ListColumn((n) => new Float32Array(n));

  add(row: ExemplarRowInput): void {
    this.feature.push(row.feature);
    this.sign.add(row.sign);
    this.rank.push(row.rank);
    this.activation.push(row.activation);
    this.sequence.push(row.sequence === null ? 0n : BigInt(row.sequence));
    this.sequenceValid.push(row.sequence === null ? 0 : 1);
    this.dataset.add(row.dataset);
    this.document.add(row.document);
    this.window.push(row.window ?? 0);
    this.windowValid.push(row.window === null ? 0 : 1);
    this.countFrom.push(row.countFrom);
    this.tokens.add(row.tokens);
    this.activations.add(row.activations);
  }

  build(schema: Schema): RecordBatch {
    const fields = schema.fields;
    const length = this.feature.length;
    return recordBatch(schema, length, [
      primitiveColumn(fields[0]!.type, Int32Array.from(this.feature)),
      this.sign.build(fields[1]!.type),
      primitiveColumn(fields[2]!.type, Int32Array.from(this.rank)),
      primitiveColumn(fields[3]!.type, Float32Array.from(this.activation)),
      primitiveColumn(fields[4]!.type, BigInt64Array.from(this.sequence), this.sequenceValid),
      this.dataset.build(fields[5]!.type),
      this.document.build(fields[6]!.type),
      primitiveColumn(fields[7]!.type, Int32Array.from(this.window), this.windowValid),
      primitiveColumn(fields[8]!.type, Int32Array.from(this.countFrom)),
      this.tokens.build(LIST_INT32),
      this.activations.build(LIST_FLOAT32),
    ]);
  }
}

/**
 * Writes an exemplar file atomically from rows in file order (feature, sign, rank), streaming: rows are pulled
 * from `rows` one feature group at a time, so memory holds one record batch. Checks the order, that ranks run
 * 0, 1, 2, ... within each (feature, sign), and that every feature is below `features`.
 */
export function writeExemplarFile(
  path: string,
  options: { configHash: string; features: number },
  rows: Iterable<ExemplarRowInput>,
): void {
  const { features } = options;
  if (!Number.isSafeInteger(features) || features < 1)
    throw new Error(`writeExemplarFile: features must be a positive integer, got ${features}`);
  const schema = exemplarSchema(options.configHash);
  const groups = Math.ceil(features / FEATURES_PER_BATCH);
  writeArrowFile(path, schema, batchesOf());

  function* batchesOf(): Generator<RecordBatch> {
    let group = 0;
    let builder = new ExemplarBatchBuilder();
    let previous: { feature: number; sign: number; rank: number } | undefined;
    for (const row of rows) {
      checkRow(path, row, features, previous);
      previous = { feature: row.feature, sign: SIGN_ORDER[row.sign]!, rank: row.rank };
      // Close every group before this row's: groups without rows still get their (empty) batch.
      while (row.feature >= (group + 1) * FEATURES_PER_BATCH) {
        yield builder.build(schema);
        builder = new ExemplarBatchBuilder();
        group++;
      }
      builder.add(row);
    }
    for (; group < groups; group++) {
      yield builder.build(schema);
      builder = new ExemplarBatchBuilder();
    }
  }
}

function checkRow(
  path: string,
  row: ExemplarRowInput,
  features: number,
  previous: { feature: number; sign: number; rank: number } | undefined,
): void {
  const where = `${path}: exemplar (feature ${row.feature}, ${row.sign}, rank ${row.rank})`;
  const sign = SIGN_ORDER[row.sign];
  if (sign === undefined) throw new Error(`${where}: sign must be positive, negative or random`);
  if (!Number.isInteger(row.feature) || row.feature < 0 || row.feature >= features)
    throw new Error(`${where}: feature is outside [0, ${features})`);
  const expectedRank = previous && previous.feature === row.feature && previous.sign === sign ? previous.rank + 1 : 0;
  if (previous && (row.feature < previous.feature || (row.feature === previous.feature && sign < previous.sign))) {
    throw new Error(
      `${where} comes after (feature ${previous.feature}, ${EXEMPLAR_SIGNS[previous.sign]}): rows must be sorted by feature, sign, rank`,
    );
  }
  if (row.rank !== expectedRank) throw new Error(`${where}: expected rank ${expectedRank}`);
  if (row.tokens.length !== row.activations.length)
    throw new Error(`${where}: ${row.tokens.length} tokens but ${row.activations.length} activations`);
  if (row.sequence !== null && (!Number.isSafeInteger(row.sequence) || row.sequence < 0))
    throw new Error(`${where}: sequence id ${row.sequence} is not a non-negative safe integer`);
  if (row.window !== null && (!Number.isInteger(row.window) || row.window < 0 || row.window > 0x7fffffff))
    throw new Error(`${where}: window ${row.window} is not a non-negative int32`);
  if (!Number.isInteger(row.countFrom) || row.countFrom < 0 || row.countFrom > 0x7fffffff)
    throw new Error(`${where}: countFrom ${row.countFrom} is not a non-negative int32`);
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

/**
 * Decodes every row of one record batch. `tokens` and `activations` are views of the batch's buffers (read fresh
 * from the file for this batch, so nothing else shares them): no per-row copy, which at the 8B scale is millions.
 */
function decodeBatch(path: string, batch: RecordBatch): ExemplarRow[] {
  const feature = int32Values(columnData(path, batch, 'feature'));
  const signData = columnData(path, batch, 'sign');
  const rank = int32Values(columnData(path, batch, 'rank'));
  const activation = float32Values(columnData(path, batch, 'activation'));
  const sequenceData = columnData(path, batch, 'sequence');
  const sequence = int64Values(sequenceData);
  const dataset = utf8Reader(columnData(path, batch, 'dataset'));
  const documentData = columnData(path, batch, 'document');
  const document = utf8Reader(documentData);
  const windowData = columnData(path, batch, 'window');
  const window = int32Values(windowData);
  const countFrom = int32Values(columnData(path, batch, 'count_from'));
  const tokens = listReader<Int32Array>(columnData(path, batch, 'tokens'));
  const activations = listReader<Float32Array>(columnData(path, batch, 'activations'));
  const signs = utf8Reader(signData);
  const rows: ExemplarRow[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    const sign = signs(i);
    if (SIGN_ORDER[sign ?? ''] === undefined)
      throw new ExpgenError(
        `${path}: row ${i} of a batch has sign ${JSON.stringify(sign)}, expected positive, negative or random`,
      );
    const rowTokens = tokens(i);
    const rowActivations = activations(i);
    if (rowTokens.length !== rowActivations.length)
      throw new ExpgenError(
        `${path}: row ${i} of a batch has ${rowTokens.length} tokens but ${rowActivations.length} activations`,
      );
    rows.push({
      feature: feature[i]!,
      sign: sign as ExemplarSign,
      rank: rank[i]!,
      activation: activation[i]!,
      sequence: isValid(sequenceData, i) ? Number(sequence[i]!) : null,
      dataset: dataset(i) ?? '',
      document: isValid(documentData, i) ? document(i) : null,
      window: isValid(windowData, i) ? window[i]! : null,
      countFrom: countFrom[i]!,
      tokens: rowTokens,
      activations: rowActivations,
    });
  }
  return rows;
}

function utf8Reader(data: ReturnType<typeof columnData>): (i: number) => string | null {
  const offsets = columnOffsets(data);
  const bytes = data.values as Uint8Array;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (i) => (isValid(data, i) ? decoder.decode(bytes.subarray(offsets[i]!, offsets[i + 1]!)) : null);
}

function listReader<T extends Int32Array | Float32Array | Float64Array | BigInt64Array>(
  data: ReturnType<typeof columnData>,
): (i: number) => T {
  const offsets = columnOffsets(data);
  const child = data.children[0]!;
  const values = (child.values as T).subarray(child.offset) as T;
  return (i) => values.subarray(offsets[i]!, offsets[i + 1]!) as T;
}

/**
 * An exemplar file opened for reading one record batch (256 features) at a time: `feature(f)` reads only the
 * batch that holds f, `rows()` streams every row. Close it when done.
 */
export class ExemplarFileReader extends BatchedFileReader<ExemplarRow> {
  static async open(path: string): Promise<ExemplarFileReader> {
    return new ExemplarFileReader(
      await BatchedFileReader.openVersioned(path, EXEMPLAR_FORMAT, EXEMPLAR_FORMAT_VERSION, exemplarSchema('')),
    );
  }

  async batchRows(index: number): Promise<ExemplarRow[]> {
    const rows = decodeBatch(this.path, await this.file.readBatch(index));
    const low = index * FEATURES_PER_BATCH;
    for (const row of rows) {
      if (row.feature < low || row.feature >= low + FEATURES_PER_BATCH) {
        throw new ExpgenError(
          `${this.path}: record batch ${index} holds feature ${row.feature}, outside [${low}, ${low + FEATURES_PER_BATCH}); the file was not written by expgen`,
        );
      }
    }
    return rows;
  }

  /** Feature f's exemplars (empty lists for a feature past the file's last one). */
  async feature(feature: number): Promise<FeatureExemplars> {
    if (!Number.isSafeInteger(feature) || feature < 0)
      throw new ExpgenError(`${this.path}: feature ${feature} must be a non-negative integer`);
    const index = Math.floor(feature / FEATURES_PER_BATCH);
    const rows = index < this.batches ? await this.batchRows(index) : [];
    return groupFeature(
      feature,
      rows.filter((row) => row.feature === feature),
    );
  }
}

function groupFeature(feature: number, rows: readonly ExemplarRow[]): FeatureExemplars {
  const grouped: FeatureExemplars = { feature, positive: [], negative: [], random: [] };
  for (const row of rows) grouped[row.sign].push(row);
  return grouped;
}

/** A whole exemplar file in memory: fine for tests, small runs and single layers of small models. */
export interface ExemplarFileContents {
  readonly path: string;
  readonly configHash: string;
  readonly rows: readonly ExemplarRow[];
  /** Features that have at least one row, ascending. */
  features(): number[];
  feature(feature: number): FeatureExemplars;
}

/** Reads a whole exemplar file. For large files use `ExemplarFileReader`, which reads one batch at a time. */
export async function readExemplarFile(path: string): Promise<ExemplarFileContents> {
  const reader = await ExemplarFileReader.open(path);
  const rows: ExemplarRow[] = [];
  try {
    for await (const row of reader.rows()) rows.push(row);
  } finally {
    await reader.close();
  }
  const byFeature = new Map<number, ExemplarRow[]>();
  for (const row of rows) {
    let list = byFeature.get(row.feature);
    if (!list) byFeature.set(row.feature, (list = []));
    list.push(row);
  }
  return {
    path,
    configHash: reader.configHash,
    rows,
    features: () => [...byFeature.keys()],
    feature: (feature) => groupFeature(feature, byFeature.get(feature) ?? []),
  };
}
