import type { TokenMoments } from '@expgen/contract';
import type { ScoreSet } from './types.js';

/**
 * Per-sequence sufficient statistics of a scored set, so that the pooled moments of any multiset of its sequences
 * (a bootstrap resample, the first slice of a selection round, the whole set) are a sum of ten numbers per
 * sequence instead of a pass over the tokens. This is how the scoring statistics avoid copying and re-reading
 * every set on every resample.
 *
 * Numerics. Every deviation is taken from one shift per set, the pooled means of the whole set computed with
 * compensated sums (`center`); a multiset's centered sums then give sxx = Σd² − (Σd)²/n with d = x − center, the
 * corrected two-pass algorithm (Chan, Golub & LeVeque 1983) with a shift that is within rounding of the whole
 * set's mean and close to any resample's. Constancy is exact: a multiset is constant on a side when the smallest
 * and largest values of its sequences on that side are equal.
 */
export interface SequenceMoments {
  /** Number of sequences; `values` holds MOMENT_FIELDS numbers for each, in the set's order. */
  readonly sequences: number;
  /** The shift of the predicted values: their pooled mean over the whole set (0 when it has no token). */
  readonly centerPredicted: number;
  /** The shift of the true activations. */
  readonly centerActual: number;
  /**
   * Per sequence: tokens, Σdx, Σdy, Σdx², Σdy², Σdx·dy (d = value − center), min x, max x, min y, max y (min
   * +Infinity and max −Infinity for a sequence without tokens).
   */
  readonly values: Float64Array;
}

/** Numbers kept per sequence (see `SequenceMoments.values`). */
export const MOMENT_FIELDS = 10;

/** Neumaier's compensated sum. */
class Sum {
  private s = 0;
  private c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

/**
 * The per-sequence moments of a set. Inputs must be finite; a NaN or infinity anywhere is a RangeError (it means
 * padding or a broken simulator, not an undefined statistic), as is a sequence whose `predicted` and `actual`
 * lengths differ.
 */
export function sequenceMoments(set: ScoreSet): SequenceMoments {
  let n = 0;
  const sumX = new Sum();
  const sumY = new Sum();
  let firstX = 0;
  let firstY = 0;
  let constantX = true;
  let constantY = true;
  for (let s = 0; s < set.length; s++) {
    const { predicted: p, actual: a } = set[s]!;
    if (p.length !== a.length)
      throw new RangeError(
        `pooled statistics: sequence ${s} has ${p.length} predictions for ${a.length} true activations`,
      );
    for (let t = 0; t < a.length; t++) {
      const x = p[t]!;
      const y = a[t]!;
      if (!Number.isFinite(x)) throw new RangeError(`pooled statistics: prediction ${t} of sequence ${s} is ${x}`);
      if (!Number.isFinite(y)) throw new RangeError(`pooled statistics: true activation ${t} of sequence ${s} is ${y}`);
      if (n === 0) {
        firstX = x;
        firstY = y;
      } else {
        if (x !== firstX) constantX = false;
        if (y !== firstY) constantY = false;
      }
      sumX.add(x);
      sumY.add(y);
      n++;
    }
  }
  const cx = n === 0 ? 0 : constantX ? firstX : sumX.value / n;
  const cy = n === 0 ? 0 : constantY ? firstY : sumY.value / n;
  const values = new Float64Array(set.length * MOMENT_FIELDS);
  for (let s = 0; s < set.length; s++) {
    const { predicted: p, actual: a } = set[s]!;
    let dxSum = 0;
    let dySum = 0;
    let dxx = 0;
    let dyy = 0;
    let dxy = 0;
    let minX = Number.POSITIVE_INFINITY;
    let maxX = Number.NEGATIVE_INFINITY;
    let minY = Number.POSITIVE_INFINITY;
    let maxY = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < a.length; t++) {
      const x = p[t]!;
      const y = a[t]!;
      const dx = x - cx;
      const dy = y - cy;
      dxSum += dx;
      dySum += dy;
      dxx += dx * dx;
      dyy += dy * dy;
      dxy += dx * dy;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
    }
    const o = s * MOMENT_FIELDS;
    values[o] = a.length;
    values[o + 1] = dxSum;
    values[o + 2] = dySum;
    values[o + 3] = dxx;
    values[o + 4] = dyy;
    values[o + 5] = dxy;
    values[o + 6] = minX;
    values[o + 7] = maxX;
    values[o + 8] = minY;
    values[o + 9] = maxY;
  }
  return { sequences: set.length, centerPredicted: cx, centerActual: cy, values };
}

/**
 * Adds the moments of the sequences `indices` (repeats allowed; default: every sequence once, in order) into
 * `out` at `offset` (MOMENT_FIELDS numbers: the sums, and the min / max of the mins / maxes).
 */
export function addSequenceMoments(
  m: SequenceMoments,
  indices: ArrayLike<number> | null,
  out: Float64Array,
  offset = 0,
): void {
  const v = m.values;
  let n = 0;
  let dx = 0;
  let dy = 0;
  let dxx = 0;
  let dyy = 0;
  let dxy = 0;
  let minX = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  const count = indices === null ? m.sequences : indices.length;
  for (let j = 0; j < count; j++) {
    const o = (indices === null ? j : indices[j]!) * MOMENT_FIELDS;
    n += v[o]!;
    dx += v[o + 1]!;
    dy += v[o + 2]!;
    dxx += v[o + 3]!;
    dyy += v[o + 4]!;
    dxy += v[o + 5]!;
    if (v[o + 6]! < minX) minX = v[o + 6]!;
    if (v[o + 7]! > maxX) maxX = v[o + 7]!;
    if (v[o + 8]! < minY) minY = v[o + 8]!;
    if (v[o + 9]! > maxY) maxY = v[o + 9]!;
  }
  out[offset] = n;
  out[offset + 1] = dx;
  out[offset + 2] = dy;
  out[offset + 3] = dxx;
  out[offset + 4] = dyy;
  out[offset + 5] = dxy;
  out[offset + 6] = minX;
  out[offset + 7] = maxX;
  out[offset + 8] = minY;
  out[offset + 9] = maxY;
}

/** The pooled moments of summed sequence moments (as `addSequenceMoments` writes them) around the given centers. */
export function momentsFromSums(
  sums: ArrayLike<number>,
  offset: number,
  centerPredicted: number,
  centerActual: number,
): TokenMoments {
  const n = sums[offset]!;
  if (n === 0)
    return {
      tokens: 0,
      meanPredicted: 0,
      meanActual: 0,
      sxx: 0,
      syy: 0,
      sxy: 0,
      constantPredicted: true,
      constantActual: true,
    };
  const dx = sums[offset + 1]!;
  const dy = sums[offset + 2]!;
  const constantX = sums[offset + 6] === sums[offset + 7];
  const constantY = sums[offset + 8] === sums[offset + 9];
  return {
    tokens: n,
    meanPredicted: constantX ? sums[offset + 6]! : centerPredicted + dx / n,
    meanActual: constantY ? sums[offset + 8]! : centerActual + dy / n,
    sxx: constantX ? 0 : Math.max(0, sums[offset + 3]! - (dx * dx) / n),
    syy: constantY ? 0 : Math.max(0, sums[offset + 4]! - (dy * dy) / n),
    sxy: constantX || constantY ? 0 : sums[offset + 5]! - (dx * dy) / n,
    constantPredicted: constantX,
    constantActual: constantY,
  };
}

/** The pooled moments of the sequences `indices` of a set (default: all of them). */
export function momentsOf(m: SequenceMoments, indices: ArrayLike<number> | null = null): TokenMoments {
  const sums = new Float64Array(MOMENT_FIELDS);
  addSequenceMoments(m, indices, sums);
  return momentsFromSums(sums, 0, m.centerPredicted, m.centerActual);
}
