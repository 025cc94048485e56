/**
 * Which direction of a feature a description is about: `positive` explains large activations (top-k
 * exemplars), `negative` explains large negative ones (bottom-k exemplars).
 */
export type Sign = 'positive' | 'negative';
export const SIGNS: readonly Sign[] = ['positive', 'negative'];

/** The activation a description of `sign` explains: max(a, 0) for positive, |min(a, 0)| for negative. */
export function signedActivation(sign: Sign, activation: number): number {
  return sign === 'positive' ? Math.max(activation, 0) : Math.max(-activation, 0);
}
