import type { HookResult } from '@expgen/contract';
import type { SparseExtremesBatch } from '../state/activation-distribution.js';
import { denseExtremes, featureMajorOrder, type SparseExtremes } from '../state/sparse-pairs.js';
import type { SparseGatedBatch } from '../state/top-k-exemplars.js';

/**
 * Which features of a layer the states hold: every one (`indices` null), or a sorted subset (`--features
 * mlp/5/2183`), in which case state feature i is layer feature indices[i] and the states are sized by the subset.
 */
export interface LayerSelection {
  /** Features of the layer (the hook's width after any fragment). */
  readonly width: number;
  /** Layer feature of each state feature, ascending; null: all of them, in order. */
  readonly indices: Int32Array | null;
  /** State feature of each layer feature, -1 where not selected; null: the identity. */
  readonly local: Int32Array | null;
}

export function layerSelection(width: number, chosen: 'all' | readonly number[]): LayerSelection {
  if (chosen === 'all' || chosen.length === width) return { width, indices: null, local: null };
  const indices = Int32Array.from(chosen);
  const local = new Int32Array(width).fill(-1);
  indices.forEach((feature, i) => {
    local[feature] = i;
  });
  return { width, indices, local };
}

/** Features the states hold. */
export function selectedCount(selection: LayerSelection): number {
  return selection.indices?.length ?? selection.width;
}

/**
 * Per-layer gate arrays of the layer's width from the states' per-feature ones: a feature the states do not hold
 * gets a closed gate (+Infinity / -Infinity), so nothing of it leaves the device.
 */
export function layerGate(
  selection: LayerSelection,
  gate: { top: Float32Array; bottom: Float32Array },
): { top: Float32Array; bottom: Float32Array } {
  if (selection.indices === null) return gate;
  const top = new Float32Array(selection.width).fill(Infinity);
  const bottom = new Float32Array(selection.width).fill(-Infinity);
  selection.indices.forEach((feature, i) => {
    top[feature] = gate.top[i]!;
    bottom[feature] = gate.bottom[i]!;
  });
  return { top, bottom };
}

/** What the states of one layer take from one batch, in state feature indices. */
export interface LayerBatch {
  readonly topK: SparseGatedBatch;
  readonly extremes: SparseExtremesBatch;
}

/**
 * One hook's result as the states take it. With gated extremes (the production path) the lists pass through,
 * renumbered to state features when a subset is selected. With dense extremes (a subject that ignores
 * `extremeThresholds`, or the ungated reference path) every extreme is offered — the states' own thresholds decide,
 * exactly as a gate in the graph would — and gated pairs are put in feature-major order if they are not.
 * `sampleRows` are the batch rows in the histogram sample (the forward's `denseRows`).
 */
export function layerBatch(
  result: HookResult,
  selection: LayerSelection,
  context: { sequenceIds: ArrayLike<number>; seqLen: number; sampleRows: Int32Array },
): LayerBatch {
  const { sequenceIds, seqLen, sampleRows } = context;
  const rows = sequenceIds.length;
  const where = `hook ${result.hook}`;
  const gated = result.gated;
  if (!gated) throw new Error(`${where}: the subject returned no gated pairs for a gated request`);
  if (result.width !== selection.width)
    throw new Error(
      `${where}: the subject returned ${result.width} features per token, the layer has ${selection.width}`,
    );
  if (result.extremes) {
    if (!gated.max || !gated.min)
      throw new Error(`${where}: gated pairs came without their extremes (HookResult.gated.max / min)`);
    const dense = result.dense;
    if (!dense || dense.rows.length !== sampleRows.length || dense.rows.some((row, i) => row !== sampleRows[i]))
      throw new Error(`${where}: the subject did not return the dense rows asked for`);
    const maxima = renumber(result.extremes.maxima, rows, selection);
    const minima = renumber(result.extremes.minima, rows, selection);
    return {
      topK: {
        sequenceIds,
        seqLen,
        gated: renumberGated({ ...gated, max: gated.max, min: gated.min }, selection, seqLen),
        maxima,
        minima,
      },
      extremes: {
        rows,
        maxima,
        minima,
        sample: { rows: sampleRows.length, max: columns(dense.max, selection), min: columns(dense.min, selection) },
      },
    };
  }
  const { max, min } = result;
  if (!max || !min) throw new Error(`${where}: the subject returned neither dense nor gated extremes`);
  const maxColumns = columns(max, selection);
  const minColumns = columns(min, selection);
  const features = maxColumns.length / rows;
  const maxima = denseExtremes(maxColumns, rows, features, -Infinity);
  const minima = denseExtremes(minColumns, rows, features, Infinity);
  const pairMax =
    gated.max ?? Float32Array.from(gated.rows, (row, i) => max[row * selection.width + gated.features[i]!]!);
  const pairMin =
    gated.min ?? Float32Array.from(gated.rows, (row, i) => min[row * selection.width + gated.features[i]!]!);
  const ordered = inFeatureOrder({ ...gated, max: pairMax, min: pairMin }, rows, selection.width, seqLen);
  const sample = (values: Float32Array) => {
    const out = new Float32Array(sampleRows.length * features);
    sampleRows.forEach((row, i) => {
      out.set(values.subarray(row * features, (row + 1) * features), i * features);
    });
    return out;
  };
  return {
    topK: { sequenceIds, seqLen, gated: renumberGated(ordered, selection, seqLen), maxima, minima },
    extremes: {
      rows,
      maxima,
      minima,
      sample: { rows: sampleRows.length, max: sample(maxColumns), min: sample(minColumns) },
    },
  };
}

type GatedPairs = SparseGatedBatch['gated'];

/** The selected features' columns of [rows, width] values (the values themselves when every feature is). */
function columns(values: Float32Array, selection: LayerSelection): Float32Array {
  const { indices, width } = selection;
  if (indices === null) return values;
  const rows = values.length / width;
  const out = new Float32Array(rows * indices.length);
  for (let row = 0; row < rows; row++)
    for (let i = 0; i < indices.length; i++) out[row * indices.length + i] = values[row * width + indices[i]!]!;
  return out;
}

/** Extremes renumbered to state features, dropping unselected ones (the order is kept: `local` is increasing). */
function renumber(extremes: SparseExtremes, rows: number, selection: LayerSelection): SparseExtremes {
  const { local } = selection;
  if (local === null) return extremes;
  const index: number[] = [];
  const values: number[] = [];
  extremes.index.forEach((at, i) => {
    const f = Math.floor(at / rows);
    const state = local[f] ?? -1;
    if (state < 0) return;
    index.push(state * rows + (at - f * rows));
    values.push(extremes.values[i]!);
  });
  return { index: Int32Array.from(index), values: Float32Array.from(values) };
}

function renumberGated(gated: GatedPairs, selection: LayerSelection, seqLen: number): GatedPairs {
  const { local } = selection;
  if (local === null) return gated;
  const keep = keptPairs(gated.features, local);
  return pick(gated, keep, seqLen, (f) => local[f]!);
}

function keptPairs(features: Int32Array, local: Int32Array): Int32Array {
  let count = 0;
  for (let i = 0; i < features.length; i++) if (local[features[i]!]! >= 0) count++;
  const keep = new Int32Array(count);
  for (let i = 0, at = 0; i < features.length; i++) if (local[features[i]!]! >= 0) keep[at++] = i;
  return keep;
}

function pick(gated: GatedPairs, order: Int32Array, seqLen: number, feature: (f: number) => number): GatedPairs {
  const values = new Float32Array(order.length * seqLen);
  order.forEach((i, at) => {
    values.set(gated.values.subarray(i * seqLen, (i + 1) * seqLen), at * seqLen);
  });
  return {
    rows: Int32Array.from(order, (i) => gated.rows[i]!),
    features: Int32Array.from(order, (i) => feature(gated.features[i]!)),
    values,
    max: Float32Array.from(order, (i) => gated.max[i]!),
    min: Float32Array.from(order, (i) => gated.min[i]!),
  };
}

/** Gated pairs in feature-major order: as they are when they already are (every subject written for this contract). */
function inFeatureOrder(gated: GatedPairs, rows: number, width: number, seqLen: number): GatedPairs {
  let sorted = true;
  for (let i = 1; i < gated.rows.length && sorted; i++) {
    const [f, g] = [gated.features[i - 1]!, gated.features[i]!];
    sorted = f < g || (f === g && gated.rows[i - 1]! < gated.rows[i]!);
  }
  if (sorted) return gated;
  return pick(gated, featureMajorOrder(gated.rows, gated.features, rows, width), seqLen, (f) => f);
}
