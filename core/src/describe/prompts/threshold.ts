import { ExpgenError, type Sign } from '@expgen/contract';

/** A tail quantile of the feature's activations for one sign: `value` is null when the data does not reach it. */
export interface QuantileValue {
  readonly fraction: number;
  readonly value: number | null;
}

/**
 * How the threshold was chosen:
 * - `quantile`: the most extreme configured quantile that marks at least `minMarkedStrings` distinct strings;
 * - `least-extreme-quantile`: none did, so the least extreme usable one (the one marking the most);
 * - `fraction-of-strongest`: no quantile is usable, so FALLBACK_FRACTION_OF_STRONGEST of the strongest activation
 *   (in the sign's direction) among the chosen exemplars' shown tokens.
 */
export type ThresholdRule = 'quantile' | 'least-extreme-quantile' | 'fraction-of-strongest';

export const FALLBACK_FRACTION_OF_STRONGEST = 0.5;

/** One configured quantile as the choice saw it. */
export interface QuantileTrial {
  readonly fraction: number;
  readonly value: number | null;
  /** False when the value is null, not finite, or not beyond zero in the sign's direction. */
  readonly usable: boolean;
  /** Distinct marked strings at this value (null when not usable, or not tried because a more extreme one qualified). */
  readonly markedStrings: number | null;
}

export interface ThresholdChoice {
  /** Raw activation threshold: > 0 for positive, < 0 for negative; tokens at or beyond it are marked. */
  readonly threshold: number;
  readonly rule: ThresholdRule;
  /** The quantile's fraction, or null for `fraction-of-strongest`. */
  readonly fraction: number | null;
  /** Distinct marked strings over the chosen exemplars at the threshold. */
  readonly markedStrings: number;
  /** The configured quantiles, most extreme first. */
  readonly trials: readonly QuantileTrial[];
}

export interface ThresholdInput {
  readonly sign: Sign;
  /** The sign's quantiles, e.g. from the distribution file (`signQuantiles`). */
  readonly quantiles: readonly QuantileValue[];
  /** `describe.thresholdQuantiles`: the fractions to try; tried most extreme (smallest) first, whatever their order. */
  readonly fractions: readonly number[];
  readonly minMarkedStrings: number;
  /** Distinct marked strings over the chosen exemplars if tokens at or beyond `threshold` are marked. */
  readonly countMarkedStrings: (threshold: number) => number;
  /** The strongest activation among the chosen exemplars' shown tokens, raw (negative for the negative sign). */
  readonly strongest: number;
}

/**
 * The highlight threshold, as the reference chose it: the first of the tail quantiles, most extreme first
 * (1e-8, 1e-7, ..., 1e-4), whose value marks at least `minMarkedStrings` distinct strings in the prompt's
 * exemplars; for the negative sign the quantiles are of the lower tail (negative values) and a token is marked
 * when its activation is at or below the value. Fallbacks are recorded in `rule`.
 */
export function chooseThreshold(input: ThresholdInput): ThresholdChoice {
  const { sign } = input;
  const fractions = [...new Set(input.fractions)].sort((a, b) => a - b);
  const trials: QuantileTrial[] = [];
  let chosen: { threshold: number; rule: ThresholdRule; fraction: number | null; markedStrings: number } | null = null;
  let lastUsable: { threshold: number; fraction: number; markedStrings: number } | null = null;
  for (const fraction of fractions) {
    const value = lookupQuantile(input.quantiles, fraction);
    const usable = value !== null && Number.isFinite(value) && (sign === 'positive' ? value > 0 : value < 0);
    if (!usable || chosen) {
      trials.push({ fraction, value, usable, markedStrings: null });
      continue;
    }
    const markedStrings = input.countMarkedStrings(value);
    trials.push({ fraction, value, usable, markedStrings });
    lastUsable = { threshold: value, fraction, markedStrings };
    if (markedStrings >= input.minMarkedStrings)
      chosen = { threshold: value, rule: 'quantile', fraction, markedStrings };
  }
  // The least extreme quantile serves only if it marks something in the exemplars shown: a prompt with no marked
  // token asks the explainer about nothing (on small corpora the quantiles sit at the very top ranks, which a drawn
  // subset may not include); then the fraction-of-strongest rule marks the exemplars' own peaks.
  if (!chosen && lastUsable && lastUsable.markedStrings > 0) chosen = { ...lastUsable, rule: 'least-extreme-quantile' };
  if (!chosen) {
    const strongest = input.strongest;
    const reaches = Number.isFinite(strongest) && (sign === 'positive' ? strongest > 0 : strongest < 0);
    if (!reaches)
      throw new Error(
        `chooseThreshold: the strongest ${sign} activation ${strongest} does not reach the sign; skip the sign instead`,
      );
    const threshold = FALLBACK_FRACTION_OF_STRONGEST * strongest;
    chosen = {
      threshold,
      rule: 'fraction-of-strongest',
      fraction: null,
      markedStrings: input.countMarkedStrings(threshold),
    };
  }
  return { ...chosen, trials };
}

/**
 * The sign's quantiles of a distribution row (`DistributionRow`: values in `fractions` order, 1e-4 ... 1e-8). Empty
 * lists mean "no distribution known": every quantile is null, so the threshold falls back to `fraction-of-strongest`.
 */
export function signQuantiles(
  row: {
    readonly positiveQuantiles: readonly (number | null)[];
    readonly negativeQuantiles: readonly (number | null)[];
  },
  sign: Sign,
  fractions: readonly number[],
): QuantileValue[] {
  const values = sign === 'positive' ? row.positiveQuantiles : row.negativeQuantiles;
  if (values.length === 0) return fractions.map((fraction) => ({ fraction, value: null }));
  if (values.length !== fractions.length) {
    throw new Error(`signQuantiles: ${values.length} ${sign} quantile values for ${fractions.length} fractions`);
  }
  return fractions.map((fraction, i) => ({ fraction, value: values[i] ?? null }));
}

function sameFraction(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function lookupQuantile(quantiles: readonly QuantileValue[], fraction: number): number | null {
  const found = quantiles.find((q) => sameFraction(q.fraction, fraction));
  if (!found) {
    const held = quantiles.map((q) => q.fraction.toExponential()).join(', ') || 'none';
    throw new ExpgenError(
      `describe.thresholdQuantiles lists ${fraction.toExponential()}, which the activation distribution does not hold (it holds ${held}); use only those fractions`,
    );
  }
  return found.value;
}
