import { ExpgenError } from '@expgen/contract';

import { checkSequenceId } from './checks.js';
import {
  checkExtremesOrder,
  checkPairOrder,
  denseExtremes,
  featureMajorOrder,
  type SparseExtremes,
} from './sparse-pairs.js';

/**
 * The batches a gated forward gives the top-k state: with dense extremes (every subject can return them), or with
 * gated extremes (only those that can still enter a list leave the device), and the one from the other.
 */

/** One batch of a `gated` hook result, with the global ids of its rows. */
export interface GatedBatch {
  /** Global id of each row; increasing within one stream, unique across shards. */
  readonly sequenceIds: ArrayLike<number>;
  /** [rows, features] per-sequence maximum. */
  readonly max: Float32Array;
  /** [rows, features] per-sequence minimum. */
  readonly min: Float32Array;
  /** Pair i is (rows[i], features[i]) with per-token values values[i * seqLen .. (i + 1) * seqLen). */
  readonly gated: { readonly rows: Int32Array; readonly features: Int32Array; readonly values: Float32Array };
  readonly seqLen: number;
}

/**
 * One batch as a gated forward with gated extremes returns it (HookResult.gated and .extremes), feature indices
 * being the state's. Every list is feature-major; `maxima` / `minima` index feature * rows + row (rows: the
 * batch's). They must hold every per-sequence extreme that can enter a list (the forward's extreme gate is at
 * least as loose as `thresholds()`): the completeness check reads them.
 */
export interface SparseGatedBatch {
  readonly sequenceIds: ArrayLike<number>;
  readonly seqLen: number;
  readonly gated: {
    readonly rows: Int32Array;
    readonly features: Int32Array;
    readonly values: Float32Array;
    /** Each pair's per-sequence max and min. */
    readonly max: Float32Array;
    readonly min: Float32Array;
  };
  readonly maxima: SparseExtremes;
  readonly minima: SparseExtremes;
}

/** A dense batch as a sparse one: every extreme, and the gated pairs in feature-major order with their extremes. */
export function sparseFromDense(batch: GatedBatch, features: number, seqLen: number): SparseGatedBatch {
  const { sequenceIds, max, min, gated } = batch;
  const rows = sequenceIds.length;
  if (max.length !== rows * features || min.length !== rows * features) {
    throw new Error(
      `TopKExemplars: max/min have ${max.length}/${min.length} values for ${rows} rows x ${features} features`,
    );
  }
  const pairs = gated.rows.length;
  if (gated.features.length !== pairs || gated.values.length !== pairs * seqLen) {
    throw new Error(
      `TopKExemplars: gated has ${pairs} rows, ${gated.features.length} features and ${gated.values.length} values (expected ${pairs * seqLen})`,
    );
  }
  for (let i = 0; i < pairs; i++) {
    const row = gated.rows[i]!;
    const f = gated.features[i]!;
    if (!(row >= 0 && row < rows && f >= 0 && f < features))
      throw new Error(`TopKExemplars: gated pair ${i} is (row ${row}, feature ${f}), outside ${rows} x ${features}`);
  }
  const order = featureMajorOrder(gated.rows, gated.features, rows, features);
  const values = new Float32Array(pairs * seqLen);
  order.forEach((i, at) => {
    values.set(gated.values.subarray(i * seqLen, (i + 1) * seqLen), at * seqLen);
  });
  const pick = (source: Int32Array) => Int32Array.from(order, (i) => source[i]!);
  const pairRows = pick(gated.rows);
  const pairFeatures = pick(gated.features);
  return {
    sequenceIds,
    seqLen: batch.seqLen,
    gated: {
      rows: pairRows,
      features: pairFeatures,
      values,
      max: Float32Array.from(order, (i) => max[gated.rows[i]! * features + gated.features[i]!]!),
      min: Float32Array.from(order, (i) => min[gated.rows[i]! * features + gated.features[i]!]!),
    },
    maxima: denseExtremes(max, rows, features, -Infinity),
    minima: denseExtremes(min, rows, features, Infinity),
  };
}

/**
 * The checks of a sparse batch that do not depend on the lists: shapes, feature-major order of every list,
 * increasing sequence ids (past `lastSequenceId`), and no NaN extreme. Throws naming what is wrong.
 */
export function checkSparseBatch(
  batch: SparseGatedBatch,
  state: { readonly features: number; readonly seqLen: number; readonly lastSequenceId: number },
): void {
  const { features, seqLen } = state;
  const { sequenceIds, gated, maxima, minima } = batch;
  const rows = sequenceIds.length;
  if (batch.seqLen !== seqLen)
    throw new Error(`TopKExemplars: batch seqLen ${batch.seqLen}, the state holds ${seqLen}`);
  const pairs = gated.rows.length;
  if (gated.values.length !== pairs * seqLen || gated.max.length !== pairs || gated.min.length !== pairs) {
    throw new Error(
      `TopKExemplars: gated has ${pairs} pairs, ${gated.values.length} values (expected ${pairs * seqLen}) and ${gated.max.length}/${gated.min.length} extremes`,
    );
  }
  checkPairOrder(`TopKExemplars: gated`, gated.rows, gated.features, rows, features);
  checkExtremesOrder(`TopKExemplars: maxima`, maxima, rows, features);
  checkExtremesOrder(`TopKExemplars: minima`, minima, rows, features);
  let previous = state.lastSequenceId;
  for (let b = 0; b < rows; b++) {
    const id = checkSequenceId('TopKExemplars', sequenceIds[b]!);
    if (id <= previous) {
      throw new Error(
        `TopKExemplars: sequence id ${id} (row ${b}) does not increase past ${previous}; ids must increase within a stream for exact gating (merge shards with merge())`,
      );
    }
    previous = id;
  }
  const nan = (values: Float32Array, place: (i: number) => [feature: number, row: number], what: string) => {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isNaN(values[i]!)) continue;
      const [f, row] = place(i);
      throw new ExpgenError(
        `TopKExemplars: the subject returned NaN as the per-sequence ${what} of feature ${f} on sequence ${sequenceIds[row]}; check the model's numerics (fp16 overflow?)`,
      );
    }
  };
  const inList = (list: SparseExtremes) => (i: number) =>
    [Math.floor(list.index[i]! / rows), list.index[i]! % rows] as [number, number];
  const inPairs = (i: number) => [gated.features[i]!, gated.rows[i]!] as [number, number];
  nan(maxima.values, inList(maxima), 'max');
  nan(minima.values, inList(minima), 'min');
  nan(gated.max, inPairs, 'max');
  nan(gated.min, inPairs, 'min');
}
