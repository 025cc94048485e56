import { closeSync, fsync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FeatureKey, Sign } from '@expgen/contract';
import { temporaryPathFor, trackTemporary } from '@expgen/plugin-kit';
import { jsonHeader } from '../engine/output-records.js';
import { layerFolderName, spaceFolderName } from '../exemplars/storage/index.js';
import type { ScoringSequences } from './scoring-sequences.js';

/** One candidate of the detail file. */
export interface DetailCandidate {
  readonly description: string;
  readonly seed: number;
  /** Index of its distinct text in the predictions (identical texts share one simulation). */
  readonly distinct: number;
  /** Its score on the valid sequences it was scored on; null where undefined. */
  readonly selectionScore: number | null;
  /** How many valid sequences it was simulated and scored on (all of them unless a halving round dropped it). */
  readonly sequencesScored: number;
  /** Index of the first candidate with the same text, whose simulation it shares; null for the first. */
  readonly sameAs: number | null;
}

/**
 * The simulations of one feature-sign, packed so that they cross to a worker thread as three buffers: distinct
 * text d's prediction for valid sequence s is `selection[d · T + offsets[s] ...]` (T: the valid tokens), present
 * where `simulated[d · S + s]` is 1 (S: the valid sequences); the chosen text's test predictions follow the
 * test sequences' offsets in `report`.
 */
export interface PackedSimulations {
  readonly distinct: number;
  readonly selection: Float32Array;
  readonly simulated: Uint8Array;
  readonly report: Float32Array | null;
}

/** Start of each sequence in the sequences' tokens laid end to end (one more entry than sequences). */
export function offsetsOf(sequences: ScoringSequences): Int32Array {
  const offsets = new Int32Array(sequences.rows.length + 1);
  sequences.rows.forEach((row, i) => {
    offsets[i + 1] = offsets[i]! + row.tokens.length;
  });
  return offsets;
}

/** Packs per-text, per-sequence predictions (undefined where not simulated). */
export function packSimulations(
  selection: ScoringSequences,
  perText: readonly (readonly (ArrayLike<number> | undefined)[])[],
  report: ScoringSequences,
  reportPredictions: readonly ArrayLike<number>[] | null,
): PackedSimulations {
  const offsets = offsetsOf(selection);
  const tokens = offsets[selection.rows.length]!;
  const rows = selection.rows.length;
  const values = new Float32Array(perText.length * tokens);
  const simulated = new Uint8Array(perText.length * rows);
  perText.forEach((perRow, d) => {
    perRow.forEach((p, s) => {
      if (!p) return;
      values.set(p, d * tokens + offsets[s]!);
      simulated[d * rows + s] = 1;
    });
  });
  let packedReport: Float32Array | null = null;
  if (reportPredictions) {
    const reportOffsets = offsetsOf(report);
    packedReport = new Float32Array(reportOffsets[report.rows.length]!);
    reportPredictions.forEach((p, s) => {
      packedReport!.set(p, reportOffsets[s]!);
    });
  }
  return { distinct: perText.length, selection: values, simulated, report: packedReport };
}

/** `format` of the per-feature detail files (2: snake_case names, the format and expgen version in a header). */
export const FEATURE_DETAIL_FORMAT = 'expgen-feature-detail/2';

/** Everything `features/<space>/layer-LL/<index>.<sign>.json` holds for one feature-sign. */
export interface FeatureDetail {
  readonly path: string;
  readonly key: FeatureKey;
  readonly feature: string;
  readonly sign: Sign;
  /** Index of the chosen candidate (the first with the chosen text), or null. */
  readonly chosen: number | null;
  readonly strategy: string;
  /** The valid sequences the candidates were chosen on. */
  readonly selection: ScoringSequences;
  /** The test sequences the choice is reported on (none when nothing was chosen). */
  readonly report: ScoringSequences;
  readonly candidates: readonly DetailCandidate[];
  readonly simulations: PackedSimulations;
}

/** Distinct text d's predictions on valid sequence s (null where it was not simulated). */
export function selectionPrediction(
  detail: FeatureDetail,
  offsets: Int32Array,
  d: number,
  s: number,
): Float32Array | null {
  const { simulations } = detail;
  const rows = detail.selection.rows.length;
  if (!simulations.simulated[d * rows + s]) return null;
  const base = d * offsets[rows]!;
  return simulations.selection.subarray(base + offsets[s]!, base + offsets[s + 1]!);
}

/** Where stage 3 puts a feature's detail: `features/<space>/layer-LL/<index>.<sign>.json`. */
export function featureDetailFile(outDir: string, key: FeatureKey, sign: Sign): string {
  return join(outDir, 'features', spaceFolderName(key.space), layerFolderName(key.layer), `${key.index}.${sign}.json`);
}

/** The array `numberList` copies a list into: one per thread, its elements unboxed doubles. */
const listScratch: number[] = [];

/**
 * A JSON list of numbers (null for NaN and infinities, as JSON.stringify writes them). JSON.stringify of a plain
 * array of doubles writes the digits straight into its output; a typed array's join makes a string per value
 * first (the values of a detail file are most of stage 3's allocations).
 */
function numberList(values: ArrayLike<number>): string {
  listScratch.length = values.length;
  for (let i = 0; i < values.length; i++) listScratch[i] = values[i]!;
  return JSON.stringify(listScratch);
}

/**
 * The exemplars of the last feature written out, by row: random sequences appear in both signs' files, which are
 * written one after the other, and formatting the activations' digits is much of a file's cost. Kept for one
 * feature only: held longer (as long as the rows), the texts outlived the young generation by thousands and made
 * most of the collector's copying.
 */
const exemplarJson = new Map<object, { split: string; stratum: string; json: string }>();
let exemplarJsonFeature: string | null = null;

/**
 * The detail file's text: every candidate's simulations and scores and the exemplars they were scored on. A
 * candidate that a halving round dropped has an empty list for the sequences it was not simulated on.
 */
export function featureDetailJson(detail: FeatureDetail): string {
  // Written by hand around the numeric lists, which are most of the file (`numberList`), as pieces joined once at
  // the end: joining at every level of nesting copied the whole text several times (most of stage 3's garbage).
  const out: string[] = [];
  if (exemplarJsonFeature !== detail.feature) {
    exemplarJson.clear();
    exemplarJsonFeature = detail.feature;
  }
  const exemplars = (set: ScoringSequences, split: string) => {
    out.push('[');
    set.rows.forEach((row, i) => {
      if (i > 0) out.push(',');
      const stratum = set.strata[i]!;
      const cached = exemplarJson.get(row);
      if (cached && cached.split === split && cached.stratum === stratum) {
        out.push(cached.json);
        return;
      }
      const head = JSON.stringify({
        split,
        stratum,
        sign: row.sign,
        rank: row.rank,
        sequence: row.sequence,
        dataset: row.dataset,
        document: row.document,
        count_from: row.countFrom,
      });
      const json = `${head.slice(0, -1)},"tokens":${numberList(row.tokens)},"activations":${numberList(row.activations)}}`;
      exemplarJson.set(row, { split, stratum, json });
      out.push(json);
    });
    out.push(']');
  };
  const offsets = offsetsOf(detail.selection);
  const reportOffsets = offsetsOf(detail.report);
  // Candidates with the same text share one simulation, and so one list: written out once.
  const selectionLists: string[] = [];
  const selectionListsOf = (d: number) => {
    let lists = selectionLists[d];
    if (lists === undefined) {
      const rows = detail.selection.rows.map((_, s) => {
        const p = selectionPrediction(detail, offsets, d, s);
        return p ? numberList(p) : '[]';
      });
      lists = selectionLists[d] = `[${rows.join(',')}]`;
    }
    return lists;
  };
  const reportLists = (values: Float32Array) => {
    out.push('[');
    detail.report.rows.forEach((_, s) => {
      if (s > 0) out.push(',');
      out.push(numberList(values.subarray(reportOffsets[s]!, reportOffsets[s + 1]!)));
    });
    out.push(']');
  };
  const head = JSON.stringify({
    ...jsonHeader(FEATURE_DETAIL_FORMAT),
    feature: detail.feature,
    space: detail.key.space,
    layer: detail.key.layer,
    index: detail.key.index,
    sign: detail.sign,
    chosen: detail.chosen,
    strategy: detail.strategy,
  });
  out.push(head.slice(0, -1), ',"selection":');
  exemplars(detail.selection, 'valid');
  out.push(',"report":');
  exemplars(detail.report, 'test');
  out.push(',"candidates":[');
  detail.candidates.forEach((c, i) => {
    if (i > 0) out.push(',');
    const head = JSON.stringify({ description: c.description, seed: c.seed, selection_score: c.selectionScore });
    const tail = JSON.stringify({ sequences_scored: c.sequencesScored, same_as: c.sameAs });
    out.push(head.slice(0, -1), ',"selection_predictions":', selectionListsOf(c.distinct), ',"report_predictions":');
    if (i === detail.chosen && detail.simulations.report) reportLists(detail.simulations.report);
    else out.push('null');
    out.push(',', tail.slice(1));
  });
  out.push(']}\n');
  return out.join('');
}

/**
 * This thread's encoding buffer for the files `writeFileDurably` writes, reused: a new buffer per file (tens of
 * kilobytes outside the heap, thousands of files a second) was a large part of the collector's work.
 */
let encoded = Buffer.allocUnsafe(1 << 17);

/** `text` as UTF-8 at the start of `encoded` (grown when needed); returns its length in bytes. */
function encodeText(text: string): number {
  // UTF-8 takes at most 3 bytes per UTF-16 code unit.
  if (3 * text.length > encoded.length) encoded = Buffer.allocUnsafe(3 * text.length);
  return encoded.write(text, 'utf8');
}

/**
 * Writes a file so readers see the old content or the whole new one, and so it is on disk before the caller goes
 * on (temporary file, fsync, rename). The fsync waits in the thread pool, not on a core, so many files can be in
 * flight while the next features are computed; the rest are quick local calls, made synchronously. `written` is
 * called when only the fsync and the rename are left.
 */
export async function writeFileDurably(path: string, text: string, written?: () => void): Promise<void> {
  const temporary = temporaryPathFor(path);
  // On the main thread an interrupt removes it; in a worker thread the stage sweeps this process's temporaries.
  const untrack = trackTemporary(temporary);
  let fd: number;
  try {
    fd = openSync(temporary, 'w');
  } catch (error) {
    // Thousands of files go to the same few layer folders: make a folder only when opening in it fails.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(temporary, 'w');
  }
  try {
    const length = encodeText(text);
    for (let at = 0; at < length; ) at += writeSync(fd, encoded, at, length - at);
    written?.();
    await new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve())));
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
  untrack();
}

/**
 * Removes the temporaries this process left under `dir` (the worker threads' half-written detail files, which the
 * main thread's registry does not know): names `*.tmp-<pid>-*`, as `temporaryPathFor` makes them.
 */
export function removeProcessTemporaries(dir: string): void {
  const marker = `.tmp-${process.pid}-`;
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  } catch {
    return;
  }
  for (const name of names) if (name.includes(marker)) rmSync(join(dir, name), { force: true });
}
