/**
 * Order statistics in linear expected time, for the places that need one or two of them and not a sorted copy:
 * the median of the absolute-deviation statistic, the two ends of a bootstrap interval.
 */

/**
 * Rearranges `values` in place so that `values[k]` is the k-th smallest (0-based), everything before it is <= it
 * and everything after it is >= it, and returns it. Quickselect with a median-of-three pivot and a three-way
 * partition, so the many equal values of sparse activations (runs of exact zeros) cost one pass, not a quadratic
 * walk. Values must not be NaN.
 */
export function selectInPlace(values: Float64Array, k: number): number {
  if (!(Number.isInteger(k) && k >= 0 && k < values.length))
    throw new RangeError(`selectInPlace: k must be an integer in [0, ${values.length}), got ${String(k)}`);
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const a = values[lo]!;
    const b = values[(lo + hi) >>> 1]!;
    const c = values[hi]!;
    // The median of the three: the largest of the pairwise minima.
    const pivot = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    // Dutch national flag: [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = values[i]!;
      if (v < pivot) {
        values[i++] = values[lt]!;
        values[lt++] = v;
      } else if (v > pivot) {
        values[i] = values[gt]!;
        values[gt--] = v;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return values[k]!;
}

/** The smallest value of `values[from..]` (after `selectInPlace(values, from - 1)` it is the from-th smallest). */
function minFrom(values: Float64Array, from: number): number {
  let m = values[from]!;
  for (let i = from + 1; i < values.length; i++) if (values[i]! < m) m = values[i]!;
  return m;
}

/** The median of a non-empty buffer (the mean of the two middle values for an even count); reorders the buffer. */
export function medianInPlace(values: Float64Array): number {
  const n = values.length;
  if (n === 0) throw new RangeError('median of no values');
  const upper = selectInPlace(values, n >> 1);
  if (n % 2 === 1) return upper;
  // After the selection, the lower middle is the largest value left of n/2.
  let lower = values[0]!;
  for (let i = 1; i < n >> 1; i++) if (values[i]! > lower) lower = values[i]!;
  return (lower + upper) / 2;
}

/**
 * The quantile q of `values` by linear interpolation between order statistics (Hyndman & Fan type 7, numpy's
 * default), exactly as `quantileSorted` of the sorted values; reorders the buffer instead of sorting it.
 */
export function quantileInPlace(values: Float64Array, q: number): number {
  const m = values.length;
  if (m === 0) throw new RangeError('quantile of no values');
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be in [0, 1], got ${q}`);
  const h = (m - 1) * q;
  const lo = Math.floor(h);
  if (lo >= m - 1) return selectInPlace(values, m - 1);
  const a = selectInPlace(values, lo);
  const frac = h - lo;
  return frac === 0 ? a : a + frac * (minFrom(values, lo + 1) - a);
}
