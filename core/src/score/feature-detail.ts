import { mkdir, open, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FeatureKey, Sign } from '@expgen/contract';
import { layerFolderName, spaceFolderName } from '../exemplars/storage/index.js';

/** What the detail file says about each exemplar besides its tokens and activations. */
export interface DetailExemplar {
  readonly stratum: string;
  readonly sign: string;
  readonly rank: number;
  readonly sequence: number | null;
  readonly dataset: string;
  readonly document: string | null;
  readonly countFrom: number;
}

/**
 * Sequences packed end to end: sequence i is positions [offsets[i], offsets[i + 1]) of `tokens`, `activations` and
 * any prediction packed alongside. Three buffers instead of two per sequence, because the finishing work crosses
 * to a worker thread and a message's cost grows with the number of buffers it holds (and a view into an Arrow batch
 * would carry the whole batch with it).
 */
export interface PackedSequences {
  readonly meta: readonly DetailExemplar[];
  readonly offsets: Int32Array;
  readonly tokens: Int32Array;
  readonly activations: Float32Array;
}

/** Packs rows (exemplar rows, or anything with their fields) and their metadata. */
export function packSequences(
  rows: readonly { readonly tokens: ArrayLike<number>; readonly activations: ArrayLike<number> }[],
  meta: readonly DetailExemplar[],
): PackedSequences {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((row, i) => {
    offsets[i + 1] = offsets[i]! + row.tokens.length;
  });
  const tokens = new Int32Array(offsets[rows.length]!);
  const activations = new Float32Array(offsets[rows.length]!);
  rows.forEach((row, i) => {
    tokens.set(row.tokens, offsets[i]!);
    activations.set(row.activations, offsets[i]!);
  });
  return { meta, offsets, tokens, activations };
}

/** Predictions of one description packed along a set's offsets, and which sequences it was simulated on. */
export interface PackedPredictions {
  readonly values: Float32Array;
  /** 1 where the description was simulated on the sequence, 0 where not (a halving round dropped it). */
  readonly simulated: Uint8Array;
}

export function packPredictions(
  sequences: PackedSequences,
  perSequence: readonly (ArrayLike<number> | undefined)[],
): PackedPredictions {
  const values = new Float32Array(sequences.tokens.length);
  const simulated = new Uint8Array(sequences.meta.length);
  perSequence.forEach((p, i) => {
    if (!p) return;
    values.set(p, sequences.offsets[i]!);
    simulated[i] = 1;
  });
  return { values, simulated };
}

/** Sequence i of a packed array. */
export function sequenceOf<A extends Int32Array | Float32Array>(packed: A, offsets: Int32Array, i: number): A {
  return packed.subarray(offsets[i]!, offsets[i + 1]!) as A;
}

/** One candidate of the detail file. */
export interface DetailCandidate {
  readonly description: string;
  readonly seed: number;
  /** Index of its distinct text in `FeatureDetail.selectionPredictions` (identical texts share one). */
  readonly distinct: number;
  /** Its score on the valid sequences it was scored on; null where undefined. */
  readonly selectionScore: number | null;
  /** How many valid sequences it was simulated and scored on (all of them unless a halving round dropped it). */
  readonly sequencesScored: number;
  /** Index of the first candidate with the same text, whose simulation it shares; null for the first. */
  readonly sameAs: number | null;
}

/** Everything `features/<space>/layer-LL/<index>.<sign>.json` holds for one feature-sign. */
export interface FeatureDetail {
  readonly path: string;
  readonly feature: string;
  readonly sign: Sign;
  /** Index of the chosen candidate (the first with the chosen text), or null. */
  readonly chosen: number | null;
  readonly strategy: string;
  /** The valid sequences the candidates were chosen on. */
  readonly selection: PackedSequences;
  /** The test sequences the choice is reported on (none when nothing was chosen). */
  readonly report: PackedSequences;
  readonly candidates: readonly DetailCandidate[];
  /** Per distinct text, its predictions on the valid sequences. */
  readonly selectionPredictions: readonly PackedPredictions[];
  /** The chosen description's predictions on the test sequences; null when nothing was chosen. */
  readonly reportPredictions: Float32Array | null;
}

/** Where stage 3 puts a feature's detail: `features/<space>/layer-LL/<index>.<sign>.json`. */
export function featureDetailFile(outDir: string, key: FeatureKey, sign: Sign): string {
  return join(outDir, 'features', spaceFolderName(key.space), layerFolderName(key.layer), `${key.index}.${sign}.json`);
}

/**
 * The detail file's text: every candidate's simulations and scores and the exemplars they were scored on. A
 * candidate that a halving round dropped has an empty list for the sequences it was not simulated on.
 */
export function featureDetailJson(detail: FeatureDetail): string {
  // Written by hand around the numeric lists, which are most of the file: a typed array's join gives the same
  // digits as JSON.stringify of each value (the shortest round-trip form) without building a boxed array first.
  const numbers = (values: Int32Array | Float32Array) => {
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return JSON.stringify(Array.from(values)); // JSON's null for NaN
    return `[${values.join(',')}]`;
  };
  const exemplars = (set: PackedSequences, split: string) =>
    `[${set.meta
      .map((e, i) => {
        const head = JSON.stringify({
          split,
          stratum: e.stratum,
          sign: e.sign,
          rank: e.rank,
          sequence: e.sequence,
          dataset: e.dataset,
          document: e.document,
          countFrom: e.countFrom,
        });
        const tokens = numbers(sequenceOf(set.tokens, set.offsets, i));
        const activations = numbers(sequenceOf(set.activations, set.offsets, i));
        return `${head.slice(0, -1)},"tokens":${tokens},"activations":${activations}}`;
      })
      .join(',')}]`;
  const predictions = (set: PackedSequences, values: Float32Array, simulated?: Uint8Array) =>
    `[${set.meta.map((_, i) => (simulated && !simulated[i] ? '[]' : numbers(sequenceOf(values, set.offsets, i)))).join(',')}]`;
  const candidates = detail.candidates.map((c, i) => {
    const own = detail.selectionPredictions[c.distinct]!;
    const report =
      i === detail.chosen && detail.reportPredictions ? predictions(detail.report, detail.reportPredictions) : 'null';
    return `{${JSON.stringify({ description: c.description, seed: c.seed, selectionScore: c.selectionScore }).slice(1, -1)},"selectionPredictions":${predictions(detail.selection, own.values, own.simulated)},"reportPredictions":${report},${JSON.stringify({ sequencesScored: c.sequencesScored, sameAs: c.sameAs }).slice(1)}`;
  });
  const head = JSON.stringify({
    feature: detail.feature,
    sign: detail.sign,
    chosen: detail.chosen,
    strategy: detail.strategy,
  }).slice(0, -1);
  return `${head},"selection":${exemplars(detail.selection, 'valid')},"report":${exemplars(detail.report, 'test')},"candidates":[${candidates.join(',')}]}\n`;
}

/**
 * Writes a file so readers see the old content or the whole new one, and so it is on disk before the caller goes
 * on (temporary file, fsync, rename). Asynchronous: the fsync waits in the thread pool, not on a core, so many
 * files can be in flight while the next features are computed.
 */
export async function writeFileDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // Thousands of files go to the same few layer folders: make a folder only when opening in it fails.
  const file = await open(temporary, 'w').catch(async (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    await mkdir(dirname(path), { recursive: true });
    return open(temporary, 'w');
  });
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}
