import type { ComponentContext, ScoreRequest, ScoreResult, Scorer } from '@expgen/core';

/**
 * Pearson correlation between predicted and true activations over the pooled tokens of all sequences, the
 * reference's score. Undefined (null) when either side is constant or fewer than two tokens are pooled.
 */
export function correlationScorer(context: ComponentContext): Scorer {
  const provenance = context.provenance;
  return {
    provenance,
    score(request: ScoreRequest): ScoreResult {
      const r = pooledPearson(request.predicted, request.actual);
      const tokens = request.actual.reduce((n, a) => n + a.length, 0);
      return { value: r, stats: { pearson: r, tokens }, scoredBy: provenance };
    },
  };
}

export function pooledPearson(predicted: readonly ArrayLike<number>[], actual: readonly ArrayLike<number>[]): number | null {
  if (predicted.length !== actual.length) throw new Error(`pooledPearson: ${predicted.length} predicted sequences for ${actual.length} actual`);
  let n = 0;
  let sx = 0;
  let sy = 0;
  for (let s = 0; s < actual.length; s++) {
    const p = predicted[s]!;
    const a = actual[s]!;
    if (p.length !== a.length) throw new Error(`pooledPearson: sequence ${s} has ${p.length} predictions for ${a.length} tokens`);
    for (let t = 0; t < a.length; t++) {
      sx += p[t]!;
      sy += a[t]!;
      n++;
    }
  }
  if (n < 2) return null;
  const mx = sx / n;
  const my = sy / n;
  // Two passes around the means: one pass with raw sums loses precision on large, nearly constant activations.
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let s = 0; s < actual.length; s++) {
    const p = predicted[s]!;
    const a = actual[s]!;
    for (let t = 0; t < a.length; t++) {
      const dx = p[t]! - mx;
      const dy = a[t]! - my;
      sxx += dx * dx;
      syy += dy * dy;
      sxy += dx * dy;
    }
  }
  if (sxx === 0 || syy === 0) return null;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}
