import { ExpgenError, type DatasetSource } from '@expgen/contract';
import { RatioScheduler } from './ratio-scheduler.js';
import { SourceCursor } from './source-cursor.js';
import { splitAssignment, type SplitName } from './splits.js';
import { DocumentWindower, type WindowingOptions } from './windows.js';

/** One configured dataset: the `datasets[i]` section's source, `ratio` and `name`. */
export interface CorpusSourceSpec {
  readonly source: DatasetSource;
  /** Share of sequences relative to the other sources (default 1); finite and > 0. */
  readonly ratio?: number;
  /** Name recorded with every sequence (default: `source.name`); unique within the run. */
  readonly name?: string;
}

/** `--shard i/N`: this process takes the sequences whose global id is i modulo N. */
export interface ShardSpec {
  readonly index: number;
  readonly count: number;
}

/**
 * Everything the stream needs. The field names are the `exemplars` config keys, so a stage can pass
 * `{ ...config.exemplars, tokenizer, sources }` (extra keys are ignored).
 */
export interface CorpusOptions extends WindowingOptions {
  /** In config order; `sourceIndex` and the ratio scheduler's tie-break follow this order. */
  readonly sources: readonly CorpusSourceSpec[];
  /** Relative shares of documents per split (`train`, `valid`, `test`). */
  readonly splits: Readonly<Record<string, number>>;
  /** Total sequences of the stream (over all shards). */
  readonly sequences: number;
  /** Seed of the split assignment. */
  readonly seed: number;
  readonly shard?: ShardSpec;
  /** Resume: sequences with global id below this are walked but not emitted. */
  readonly skipSequences?: number;
  /** Token id written past each sequence's length (default: the tokenizer's first EOS id, else 0). */
  readonly padId?: number;
  /** Stops the walk (and is passed to every source's `documents`). */
  readonly signal?: AbortSignal;
}

/** One sequence as the subject sees it, with where it came from. */
export interface CorpusSequence {
  /** Global position in the stream, consecutive from 0 over all shards. */
  readonly sequenceId: number;
  /** Position of the source in `options.sources` (config order). */
  readonly sourceIndex: number;
  /**
   * Position of the dataset's name in `CorpusStream.datasetNames` (names sorted), as the reference dump's
   * `dataset_ids` and `SequenceStore` count them.
   */
  readonly datasetIndex: number;
  readonly datasetName: string;
  readonly documentId: string;
  /** Index of the window within its document (0 for the first). */
  readonly window: number;
  readonly split: SplitName;
  /** `seqLen` ids, right-padded with the pad id past `length`. Owned by this record. */
  readonly tokens: Int32Array;
  /** Real tokens; padded positions never count. */
  readonly length: number;
  /** First position that counts when ranking: the prefix length, or 0 with `rankPrefix`. */
  readonly rankFrom: number;
}

/** A batch for `SubjectModel.forward`: rows are the records, in stream order. */
export interface CorpusBatch {
  readonly sequences: readonly CorpusSequence[];
  /** Rows: the requested batch size, except possibly the last batch. */
  readonly batch: number;
  readonly seqLen: number;
  /** [batch, seqLen] row-major, right-padded with the pad id (a copy; records keep their own tokens). */
  readonly tokens: Int32Array;
  /** [batch] real tokens per row. */
  readonly lengths: Int32Array;
  /** [batch] first position that counts for ranking, per row (web text and chat rows can differ). */
  readonly rankFrom: Int32Array;
}

export interface CorpusSourceCounts {
  readonly name: string;
  readonly ratio: number;
  /** Documents pulled from the source. */
  readonly documents: number;
  /** Documents under one window that `shortDocuments: skip` dropped. */
  readonly skippedShort: number;
  /** Documents with no tokens at all (dropped under either setting). */
  readonly skippedEmpty: number;
  readonly sequences: number;
  /** Real tokens (prefix included) of its sequences. */
  readonly tokens: number;
}

/**
 * Counts over the stream walked so far — the global stream, identical in every shard and in a resumed run — plus
 * what this stream emitted (its shard, after `skipSequences`).
 */
export interface CorpusCounts {
  readonly sequences: number;
  readonly tokens: number;
  readonly splits: Readonly<Record<SplitName, number>>;
  readonly sources: readonly CorpusSourceCounts[];
  readonly emitted: { readonly sequences: number; readonly tokens: number };
}

/**
 * Why the stream ended. `source-exhausted`: a source ran out of documents when the ratios called on it, and the
 * stream stopped there rather than go on with the others (which would break the configured ratios); `sequences`
 * is what the stream holds, short of `requested`.
 */
export type CorpusEnd =
  | { readonly reason: 'completed'; readonly sequences: number; readonly requested: number }
  | {
      readonly reason: 'source-exhausted';
      readonly sequences: number;
      readonly requested: number;
      readonly source: {
        readonly index: number;
        readonly name: string;
        readonly sequences: number;
        readonly documents: number;
      };
      /** One line for the stage's report. */
      readonly message: string;
    };

/**
 * The deterministic stream of token windows stage 1 feeds the subject.
 *
 * - **Windows** (`DocumentWindower`): prefix + consecutive windows of each web-text document, chat rendered with
 *   its template, at most `windowsPerDocument` per document; short documents skipped (counted) or padded.
 * - **Splits**: a document's split is a hash of (seed, document id) laid onto the shares — never its position.
 * - **Ratios** (`RatioScheduler`): after every n sequences each source has drawn within 1 of n * ratio / sum.
 *   When the scheduler calls on a source that has run dry, the stream stops with `source-exhausted`: carrying on
 *   with the other sources would silently change the mixture the config asked for. (The reference ignored ratios
 *   and stopped silently when a source ran out; here the mixture is exact and the stop says why.) The end reason
 *   names the source and how far it got: add documents, lower its ratio or lower `sequences`.
 * - **Ids**: consecutive from 0 in stream order over all sources; skipped documents take no id.
 * - **Sharding**: shard i/N emits the sequences whose id is i mod N. Every shard walks (reads and tokenizes) the
 *   whole stream — tokenizing is cheap next to the model — so ids are global and shards merge exactly.
 * - **Resume**: `skipSequences = s` emits exactly the sequences with id >= s of the uninterrupted stream. It
 *   re-walks the first s sequences (reading and tokenizing their documents, about as fast as the tokenizer, with
 *   no model work and no token buffers for discarded rows); `DatasetSource` has no seek, so a cursor would save
 *   the tokenizing only. For a shard, resume from (last processed global id + 1).
 *
 * Streaming: it holds one tokenized document per source, never the corpus. Single use: iterate `sequences()` or
 * `batches()` once; `end` and `counts()` report on the walk.
 */
export class CorpusStream {
  readonly seqLen: number;
  /** Every dataset's name, sorted: `datasetIndex` indexes this. */
  readonly datasetNames: readonly string[];
  /** The tokens every web-text sequence starts with. */
  readonly prefixTokens: Int32Array;
  readonly padId: number;
  readonly requested: number;
  readonly shard: ShardSpec;
  readonly skipSequences: number;
  private readonly windower: DocumentWindower;
  private readonly cursors: readonly SourceCursor[];
  private readonly datasetIndexes: readonly number[];
  private readonly ratios: readonly number[];
  private readonly signal: AbortSignal | undefined;
  private started = false;
  private walked = 0;
  private walkedTokens = 0;
  private emitted = 0;
  private emittedTokens = 0;
  private readonly splitCounts: Record<SplitName, number> = { train: 0, valid: 0, test: 0 };
  private ended: CorpusEnd | null = null;

  constructor(options: CorpusOptions) {
    this.windower = new DocumentWindower(options);
    this.seqLen = this.windower.seqLen;
    this.prefixTokens = this.windower.prefixTokens;
    const splits = splitAssignment(options.splits);
    if (!Number.isSafeInteger(options.seed) || options.seed < 0) {
      throw new ExpgenError(`exemplars.seed: expected an integer >= 0, got ${String(options.seed)}`);
    }
    if (!Number.isSafeInteger(options.sequences) || options.sequences < 0) {
      throw new ExpgenError(`exemplars.sequences: expected an integer >= 0, got ${String(options.sequences)}`);
    }
    this.requested = options.sequences;
    const shard = options.shard ?? { index: 0, count: 1 };
    if (
      !Number.isSafeInteger(shard.count) ||
      shard.count < 1 ||
      !Number.isSafeInteger(shard.index) ||
      shard.index < 0 ||
      shard.index >= shard.count
    ) {
      throw new ExpgenError(
        `--shard: expected i/N with integers 0 <= i < N, got ${String(shard.index)}/${String(shard.count)}`,
      );
    }
    this.shard = { index: shard.index, count: shard.count };
    this.skipSequences = options.skipSequences ?? 0;
    if (!Number.isSafeInteger(this.skipSequences) || this.skipSequences < 0 || this.skipSequences > this.requested) {
      throw new ExpgenError(
        `resume: skipSequences must be an integer from 0 to exemplars.sequences (${this.requested}), got ${String(options.skipSequences)}`,
      );
    }
    const tokenizer = options.tokenizer;
    this.padId = options.padId ?? tokenizer.eosIds[0] ?? 0;
    if (!Number.isInteger(this.padId) || this.padId < 0 || this.padId >= tokenizer.vocabSize) {
      throw new Error(`CorpusStream: pad id ${String(this.padId)} is outside the vocabulary of ${tokenizer.vocabSize}`);
    }
    this.signal = options.signal;

    if (options.sources.length === 0) throw new ExpgenError('datasets: at least one dataset is needed');
    const names: string[] = [];
    const ratios: number[] = [];
    for (const [i, spec] of options.sources.entries()) {
      const name = spec.name ?? spec.source.name;
      if (typeof name !== 'string' || name.length === 0)
        throw new ExpgenError(`datasets[${i}].name: a dataset needs a non-empty name`);
      if (names.includes(name)) {
        throw new ExpgenError(
          `datasets[${i}].name: "${name}" is also the name of datasets[${names.indexOf(name)}]; give each dataset a unique name`,
        );
      }
      const ratio = spec.ratio ?? 1;
      if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio <= 0) {
        throw new ExpgenError(
          `datasets[${i}].ratio (dataset "${name}"): expected a finite number > 0, got ${String(ratio)}`,
        );
      }
      names.push(name);
      ratios.push(ratio);
    }
    // Plain code-unit order: config names are ASCII, so this is also Python's sorted().
    this.datasetNames = [...names].sort();
    this.datasetIndexes = names.map((n) => this.datasetNames.indexOf(n));
    this.cursors = options.sources.map(
      (spec, i) =>
        new SourceCursor(spec.source, names[i]!, ratios[i]!, this.windower, splits, options.seed, options.signal),
    );
    this.ratios = ratios;
  }

  /**
   * Why the walk ended; null until iteration has finished (after a consumer's `for await` loop over `sequences()`
   * or `batches()` completes, not necessarily when the last batch is handed out).
   */
  get end(): CorpusEnd | null {
    return this.ended;
  }

  /** A snapshot of the counts so far (plain data, JSON-friendly). */
  counts(): CorpusCounts {
    return {
      sequences: this.walked,
      tokens: this.walkedTokens,
      splits: { ...this.splitCounts },
      sources: this.cursors.map((c) => ({
        name: c.name,
        ratio: c.ratio,
        documents: c.documents,
        skippedShort: c.skippedShort,
        skippedEmpty: c.skippedEmpty,
        sequences: c.sequences,
        tokens: c.tokens,
      })),
      emitted: { sequences: this.emitted, tokens: this.emittedTokens },
    };
  }

  /** This stream's sequences (its shard, from `skipSequences` on), one at a time. */
  async *sequences(): AsyncGenerator<CorpusSequence, void, undefined> {
    if (this.started) throw new Error('CorpusStream: a stream can be iterated once; open a new one to walk again');
    this.started = true;
    const scheduler = new RatioScheduler(this.ratios);
    const { index: shardIndex, count: shardCount } = this.shard;
    try {
      while (this.walked < this.requested) {
        this.signal?.throwIfAborted();
        const sourceIndex = scheduler.next();
        const cursor = this.cursors[sourceIndex]!;
        const walked = await cursor.next();
        if (walked === null) {
          // A source that gave nothing at all is a mistake (an empty file, a wrong field), not a short corpus.
          if (cursor.sequences === 0) throw noSequenceError(cursor);
          this.ended = exhaustedEnd(this.walked, this.requested, sourceIndex, cursor);
          return;
        }
        const sequenceId = this.walked++;
        const length = this.windower.lengthOf(walked.cut, walked.window);
        this.walkedTokens += length;
        this.splitCounts[walked.split]++;
        cursor.sequences++;
        cursor.tokens += length;
        if (sequenceId < this.skipSequences || sequenceId % shardCount !== shardIndex) continue;
        const tokens = new Int32Array(this.seqLen);
        const filled = this.windower.fill(walked.cut, walked.window, tokens, this.padId);
        this.emitted++;
        this.emittedTokens += filled.length;
        yield {
          sequenceId,
          sourceIndex,
          datasetIndex: this.datasetIndexes[sourceIndex]!,
          datasetName: cursor.name,
          documentId: walked.documentId,
          window: walked.window,
          split: walked.split,
          tokens,
          length: filled.length,
          rankFrom: filled.rankFrom,
        };
      }
      this.ended = { reason: 'completed', sequences: this.walked, requested: this.requested };
    } finally {
      // Close every source's iterator (files, HTTP streams) whether the walk ended, failed or was abandoned.
      await Promise.allSettled(this.cursors.map((c) => c.close()));
    }
  }

  /** This stream's sequences in batches of `batchSize` rows (the last may be smaller), ready for `forward`. */
  async *batches(batchSize: number): AsyncGenerator<CorpusBatch, void, undefined> {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new ExpgenError(`exemplars.batchSize: expected an integer >= 1, got ${String(batchSize)}`);
    }
    let rows: CorpusSequence[] = [];
    for await (const sequence of this.sequences()) {
      rows.push(sequence);
      if (rows.length === batchSize) {
        yield this.batchOf(rows);
        rows = [];
      }
    }
    if (rows.length > 0) yield this.batchOf(rows);
  }

  private batchOf(rows: readonly CorpusSequence[]): CorpusBatch {
    const tokens = new Int32Array(rows.length * this.seqLen);
    const lengths = new Int32Array(rows.length);
    const rankFrom = new Int32Array(rows.length);
    rows.forEach((row, r) => {
      tokens.set(row.tokens, r * this.seqLen);
      lengths[r] = row.length;
      rankFrom[r] = row.rankFrom;
    });
    return { sequences: rows, batch: rows.length, seqLen: this.seqLen, tokens, lengths, rankFrom };
  }
}

function exhaustedEnd(sequences: number, requested: number, index: number, cursor: SourceCursor): CorpusEnd {
  const message =
    `dataset "${cursor.name}" ran out of documents after ${cursor.sequences} sequences from ${cursor.documents} documents; ` +
    `the stream stopped at ${sequences} of ${requested} sequences to keep the configured ratios ` +
    '(add documents to it, lower its ratio, or lower exemplars.sequences)';
  return {
    reason: 'source-exhausted',
    sequences,
    requested,
    source: { index, name: cursor.name, sequences: cursor.sequences, documents: cursor.documents },
    message,
  };
}

function noSequenceError(cursor: SourceCursor): ExpgenError {
  const why =
    cursor.documents === 0
      ? 'it has no documents'
      : `its ${cursor.documents} document(s) were all skipped (${cursor.skippedEmpty} empty, ${cursor.skippedShort} shorter than one window under exemplars.shortDocuments "skip")`;
  return new ExpgenError(
    `dataset "${cursor.name}" yields no sequence: ${why}; check its files and options, or remove it from the datasets`,
  );
}

/** Parses `--shard i/N` (i from 0). */
export function parseShard(text: string): ShardSpec {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = match ? Number(match[1]) : NaN;
  const count = match ? Number(match[2]) : NaN;
  if (!match || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new ExpgenError(`--shard: expected i/N with integers 0 <= i < N (e.g. 0/4), got ${JSON.stringify(text)}`);
  }
  return { index, count };
}
