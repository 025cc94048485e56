import { signedActivation, type Sign, type TokenMoments } from '@expgen/contract';
import { countedRange } from './true-activations.js';
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
 * set's mean and close to any resample's. Constancy is exact: a multiset is constant on a side when none of its
 * sequences varies on that side and every non-empty one holds the same value.
 */
export interface SequenceMoments {
  /** Number of sequences; `values` holds MOMENT_FIELDS numbers for each, in the set's order. */
  readonly sequences: number;
  /** The shift of the predicted values: their pooled mean over the whole set (0 when it has no token). */
  readonly centerPredicted: number;
  /** The shift of the true activations. */
  readonly centerActual: number;
  /**
   * Per sequence: tokens, Σdx, Σdy, Σdx², Σdy², Σdx·dy (d = value − center), whether x varies within it (1 / 0),
   * whether y varies, its first x and its first y (NaN for a sequence without tokens).
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
    const firstOwnX = a.length ? p[0]! : Number.NaN;
    const firstOwnY = a.length ? a[0]! : Number.NaN;
    let variesX = 0;
    let variesY = 0;
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
      if (x !== firstOwnX) variesX = 1;
      if (y !== firstOwnY) variesY = 1;
    }
    const o = s * MOMENT_FIELDS;
    values[o] = a.length;
    values[o + 1] = dxSum;
    values[o + 2] = dySum;
    values[o + 3] = dxx;
    values[o + 4] = dyy;
    values[o + 5] = dxy;
    values[o + 6] = variesX;
    values[o + 7] = variesY;
    values[o + 8] = firstOwnX;
    values[o + 9] = firstOwnY;
  }
  return { sequences: set.length, centerPredicted: cx, centerActual: cy, values };
}

/**
 * Whether the sequences `drawn` (the first `count`) are constant on the side whose per-sequence fields are at
 * `varies` and `first`, and the value they share: no sequence varies, and every non-empty one starts with the same
 * value. Writes [constant (1 / 0), value] into `out` at `offset`.
 */
export function constancyOf(
  v: Float64Array,
  drawn: ArrayLike<number>,
  count: number,
  side: 0 | 1,
  out: Float64Array,
  offset: number,
): void {
  let value = Number.NaN;
  let seen = false;
  for (let j = 0; j < count; j++) {
    const o = drawn[j]! * MOMENT_FIELDS;
    if (v[o]! === 0) continue;
    const first = v[o + 8 + side]!;
    if (v[o + 6 + side]! !== 0 || (seen && first !== value)) {
      out[offset] = 0;
      out[offset + 1] = Number.NaN;
      return;
    }
    value = first;
    seen = true;
  }
  out[offset] = 1;
  out[offset + 1] = value;
}

/**
 * Adds the moments of the sequences `indices` (repeats allowed; default: every sequence once, in order) into
 * `out` at `offset` as MOMENT_FIELDS numbers: tokens, the five centered sums, then whether the multiset is constant
 * in x (1 / 0), in y, and the constant values (NaN where not constant).
 */
export function addSequenceMoments(
  m: SequenceMoments,
  indices: ArrayLike<number> | null,
  out: Float64Array,
  offset = 0,
): void {
  const v = m.values;
  const count = indices === null ? m.sequences : indices.length;
  const drawn = indices ?? Array.from({ length: count }, (_, j) => j);
  let n = 0;
  let dx = 0;
  let dy = 0;
  let dxx = 0;
  let dyy = 0;
  let dxy = 0;
  for (let j = 0; j < count; j++) {
    const o = drawn[j]! * MOMENT_FIELDS;
    n += v[o]!;
    dx += v[o + 1]!;
    dy += v[o + 2]!;
    dxx += v[o + 3]!;
    dyy += v[o + 4]!;
    dxy += v[o + 5]!;
  }
  out[offset] = n;
  out[offset + 1] = dx;
  out[offset + 2] = dy;
  out[offset + 3] = dxx;
  out[offset + 4] = dyy;
  out[offset + 5] = dxy;
  constancyOf(v, drawn, count, 0, constancy, 0);
  constancyOf(v, drawn, count, 1, constancy, 2);
  out[offset + 6] = constancy[0]!;
  out[offset + 7] = constancy[2]!;
  out[offset + 8] = constancy[1]!;
  out[offset + 9] = constancy[3]!;
}

const constancy = new Float64Array(4);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The pooled moments of summed sequence moments (as `addSequenceMoments` writes them) around the given centers,
 * written into `into` when given (a bootstrap evaluates a thousand resamples without allocating a thousand objects).
 */
export function momentsFromSums(
  sums: ArrayLike<number>,
  offset: number,
  centerPredicted: number,
  centerActual: number,
  into: Mutable<TokenMoments> = {} as Mutable<TokenMoments>,
): TokenMoments {
  const n = sums[offset]!;
  if (n === 0) {
    into.tokens = 0;
    into.meanPredicted = 0;
    into.meanActual = 0;
    into.sxx = 0;
    into.syy = 0;
    into.sxy = 0;
    into.constantPredicted = true;
    into.constantActual = true;
    return into;
  }
  const dx = sums[offset + 1]!;
  const dy = sums[offset + 2]!;
  const constantX = sums[offset + 6] === 1;
  const constantY = sums[offset + 7] === 1;
  into.tokens = n;
  into.meanPredicted = constantX ? sums[offset + 8]! : centerPredicted + dx / n;
  into.meanActual = constantY ? sums[offset + 9]! : centerActual + dy / n;
  into.sxx = constantX ? 0 : Math.max(0, sums[offset + 3]! - (dx * dx) / n);
  into.syy = constantY ? 0 : Math.max(0, sums[offset + 4]! - (dy * dy) / n);
  into.sxy = constantX || constantY ? 0 : sums[offset + 5]! - (dx * dy) / n;
  into.constantPredicted = constantX;
  into.constantActual = constantY;
  return into;
}

/** The pooled moments of the sequences `indices` of a set (default: all of them). */
export function momentsOf(m: SequenceMoments, indices: ArrayLike<number> | null = null): TokenMoments {
  const sums = new Float64Array(MOMENT_FIELDS);
  addSequenceMoments(m, indices, sums);
  return momentsFromSums(sums, 0, m.centerPredicted, m.centerActual);
}

/** A sequence as stored (every position, a prefix before `countFrom`) with a prediction per position. */
export interface PredictedSequence {
  readonly activations: ArrayLike<number>;
  readonly countFrom: number;
  readonly predicted: ArrayLike<number>;
}

/**
 * The pooled moments of sequences scored for `sign` — exactly `pooledMoments(sequences.map(scoredSequence))`, bit
 * for bit (the same operations in the same order), without building the scored sequences: stage 3 scores every
 * candidate on every slice of a selection this way.
 */
export function scoredMoments(sign: Sign, sequences: readonly PredictedSequence[]): TokenMoments {
  let n = 0;
  const sumX = new Sum();
  const sumY = new Sum();
  let firstX = 0;
  let firstY = 0;
  let constantX = true;
  let constantY = true;
  for (const { activations: a, countFrom, predicted: p } of sequences) {
    const { start, end } = countedRange(countFrom, a.length, a.length);
    if (p.length !== a.length)
      throw new RangeError(`scoredSequence: ${p.length} predictions for a sequence of ${a.length} activations`);
    for (let t = start; t < end; t++) {
      const x = p[t]!;
      const raw = a[t]!;
      if (!Number.isFinite(raw)) throw new RangeError(`trueActivations: activation at position ${t} is ${raw}`);
      if (!Number.isFinite(x)) throw new RangeError(`scoredSequence: prediction at position ${t} is ${x}`);
      const y = signedActivation(sign, raw);
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
  let tokens = 0;
  let dxTotal = 0;
  let dyTotal = 0;
  let dxxTotal = 0;
  let dyyTotal = 0;
  let dxyTotal = 0;
  for (const { activations: a, countFrom, predicted: p } of sequences) {
    const { start, end } = countedRange(countFrom, a.length, a.length);
    let dxSum = 0;
    let dySum = 0;
    let dxx = 0;
    let dyy = 0;
    let dxy = 0;
    for (let t = start; t < end; t++) {
      const dx = p[t]! - cx;
      const dy = signedActivation(sign, a[t]!) - cy;
      dxSum += dx;
      dySum += dy;
      dxx += dx * dx;
      dyy += dy * dy;
      dxy += dx * dy;
    }
    tokens += end - start;
    dxTotal += dxSum;
    dyTotal += dySum;
    dxxTotal += dxx;
    dyyTotal += dyy;
    dxyTotal += dxy;
  }
  const sums = new Float64Array(MOMENT_FIELDS);
  sums[0] = tokens;
  sums[1] = dxTotal;
  sums[2] = dyTotal;
  sums[3] = dxxTotal;
  sums[4] = dyyTotal;
  sums[5] = dxyTotal;
  sums[6] = constantX ? 1 : 0;
  sums[7] = constantY ? 1 : 0;
  sums[8] = constantX && n > 0 ? firstX : Number.NaN;
  sums[9] = constantY && n > 0 ? firstY : Number.NaN;
  return momentsFromSums(sums, 0, cx, cy);
}
