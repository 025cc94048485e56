import { signedActivation, type Sign } from '@expgen/contract';
import type { ScoredSequence } from './types.js';

/** A sequence's raw activations and which of its positions count. */
export interface CountedActivations {
  /** The feature's raw (signed) activation at every position of the sequence, prefix included. */
  readonly activations: ArrayLike<number>;
  /** First counted position (a fixed prefix such as a chat header comes before it); 0 when every token counts. */
  readonly countFrom: number;
  /** End of the real tokens (exclusive); defaults to `activations.length`, must not exceed it. */
  readonly length?: number;
}

/**
 * The counted positions [countFrom, length) of a sequence, clipped so that countFrom >= length gives an empty
 * range. Throws on a countFrom that is not a non-negative integer or a length outside [0, available].
 */
export function countedRange(countFrom: number, length: number, available: number): { start: number; end: number } {
  if (!Number.isInteger(countFrom) || countFrom < 0)
    throw new RangeError(`countFrom must be an integer >= 0, got ${String(countFrom)}`);
  if (!Number.isInteger(length) || length < 0 || length > available) {
    throw new RangeError(`length must be an integer in [0, ${available}], got ${String(length)}`);
  }
  return { start: Math.min(countFrom, length), end: length };
}

/**
 * The true activations a description of `sign` explains, over the counted positions only: for each position t in
 * [countFrom, length), max(a[t], 0) for `positive` and |min(a[t], 0)| = max(−a[t], 0) for `negative` (the
 * contract's `signedActivation`). Element i of the result is position countFrom + i. Every counted activation must
 * be finite (a NaN would mean padding leaked in): anything else is a RangeError.
 */
export function trueActivations(sign: Sign, sequence: CountedActivations): Float64Array {
  const a = sequence.activations;
  const { start, end } = countedRange(sequence.countFrom, sequence.length ?? a.length, a.length);
  const out = new Float64Array(end - start);
  for (let t = start; t < end; t++) {
    const v = a[t]!;
    if (!Number.isFinite(v)) throw new RangeError(`trueActivations: activation at position ${t} is ${v}`);
    out[t - start] = signedActivation(sign, v);
  }
  return out;
}

/**
 * Pairs a simulator's per-token predictions of a sequence with the sequence's true activations over the counted
 * positions. `predicted` is indexed like `activations` (position 0 = the sequence's first token) and must have the
 * same length; only positions [countFrom, length) are kept. Counted predictions must be finite.
 */
export function scoredSequence(sign: Sign, sequence: CountedActivations, predicted: ArrayLike<number>): ScoredSequence {
  const a = sequence.activations;
  if (predicted.length !== a.length) {
    throw new RangeError(`scoredSequence: ${predicted.length} predictions for a sequence of ${a.length} activations`);
  }
  const actual = trueActivations(sign, sequence);
  const { start, end } = countedRange(sequence.countFrom, sequence.length ?? a.length, a.length);
  const kept = new Float64Array(end - start);
  for (let t = start; t < end; t++) {
    const v = predicted[t]!;
    if (!Number.isFinite(v)) throw new RangeError(`scoredSequence: prediction at position ${t} is ${v}`);
    kept[t - start] = v;
  }
  return { predicted: kept, actual };
}
