import type { SparseExtremes } from '@expgen/contract';

export type { SparseExtremes } from '@expgen/contract';

/**
 * Helpers for (row, feature) pairs in feature-major order — the order gated forwards return them in
 * (HookResult.gated, HookResult.extremes) and the order the states fill their per-feature lists in. A contiguous
 * feature range is then a contiguous slice, which is how merge workers split a batch without copying it.
 */

/** [start, end) of the pairs whose feature is in [from, to), by binary search over sorted features. */
export function pairRange(features: Int32Array, from: number, to: number): [number, number] {
  return [lowerBound(features, from), lowerBound(features, to)];
}

function lowerBound(features: Int32Array, feature: number): number {
  let low = 0;
  let high = features.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (features[middle]! < feature) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Checks that pairs lie in [0, rows) x [0, features) and come strictly feature-major (each (feature, row) after the
 * previous one, hence no pair twice). `where` names the state and the list in the message.
 */
export function checkPairOrder(
  where: string,
  pairRows: Int32Array,
  pairFeatures: Int32Array,
  rows: number,
  features: number,
): void {
  if (pairRows.length !== pairFeatures.length)
    throw new Error(`${where}: ${pairRows.length} rows but ${pairFeatures.length} features`);
  let previousFeature = -1;
  let previousRow = -1;
  for (let i = 0; i < pairRows.length; i++) {
    const row = pairRows[i]!;
    const f = pairFeatures[i]!;
    if (!(row >= 0 && row < rows && f >= 0 && f < features))
      throw new Error(`${where}: pair ${i} is (row ${row}, feature ${f}), outside ${rows} x ${features}`);
    if (f < previousFeature || (f === previousFeature && row <= previousRow)) {
      throw new Error(
        f === previousFeature && row === previousRow
          ? `${where}: pair (row ${row}, feature ${f}) appears twice`
          : `${where}: pair ${i} (row ${row}, feature ${f}) is out of feature-major order`,
      );
    }
    previousFeature = f;
    previousRow = row;
  }
}

/**
 * The permutation that orders pairs feature-major (two stable counting sorts: by row, then by feature), for
 * callers whose pairs come in another order (subjects written before the order was part of the contract).
 */
export function featureMajorOrder(
  pairRows: Int32Array,
  pairFeatures: Int32Array,
  rows: number,
  features: number,
): Int32Array {
  const count = pairRows.length;
  const byRow = countingSort(
    pairRows,
    rows,
    Int32Array.from({ length: count }, (_, i) => i),
  );
  return countingSort(pairFeatures, features, byRow);
}

function countingSort(keys: Int32Array, range: number, order: Int32Array): Int32Array {
  const starts = new Int32Array(range + 1);
  for (let i = 0; i < order.length; i++) starts[keys[order[i]!]! + 1]!++;
  for (let k = 0; k < range; k++) starts[k + 1]! += starts[k]!;
  const out = new Int32Array(order.length);
  for (let i = 0; i < order.length; i++) out[starts[keys[order[i]!]!]!++] = order[i]!;
  return out;
}

/** [start, end) of the extremes of features [from, to): `index` is feature * rows + row, ascending. */
export function extremesRange(extremes: SparseExtremes, rows: number, from: number, to: number): [number, number] {
  return [lowerBound(extremes.index, from * rows), lowerBound(extremes.index, to * rows)];
}

/** Checks a list of sparse extremes: as many values as indexes, strictly ascending, within features x rows. */
export function checkExtremesOrder(where: string, extremes: SparseExtremes, rows: number, features: number): void {
  const { index, values } = extremes;
  if (values.length !== index.length) throw new Error(`${where}: ${index.length} indexes but ${values.length} values`);
  let previous = -1;
  for (let i = 0; i < index.length; i++) {
    const at = index[i]!;
    if (!(at > previous && at < rows * features))
      throw new Error(
        `${where}: entry ${i} (feature ${Math.floor(at / rows)}, row ${at % rows}) is out of feature-major order or outside ${features} features x ${rows} rows`,
      );
    previous = at;
  }
}

/** Every value of [rows, features] except `skip` (a row with no counted position), as sparse extremes. */
export function denseExtremes(values: Float32Array, rows: number, features: number, skip: number): SparseExtremes {
  let count = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== skip) count++;
  const index = new Int32Array(count);
  const kept = new Float32Array(count);
  let at = 0;
  for (let f = 0; f < features; f++) {
    for (let row = 0; row < rows; row++) {
      const value = values[row * features + f]!;
      if (value === skip) continue;
      index[at] = f * rows + row;
      kept[at++] = value;
    }
  }
  return { index, values: kept };
}
