import { Sfc32 } from '@expgen/plugin-kit';

export interface SamplingSettings {
  /** 0 picks the most likely token (ties: the lowest id). */
  readonly temperature: number;
  /** Nucleus mass in (0, 1]. */
  readonly topP: number;
}

/**
 * Picks next tokens from logits. One seeded stream serves the whole batch, drawn in row order, so the same seed,
 * prompts and settings give the same tokens on every run and machine.
 */
export class TokenSampler {
  private readonly random: Sfc32;
  private probabilities = new Float64Array(0);

  constructor(
    private readonly settings: SamplingSettings,
    seed: number,
  ) {
    this.random = new Sfc32(seed);
  }

  /** Next token for one row; `logits` is that row's [vocab] slice. */
  next(logits: Float32Array): number {
    if (this.settings.temperature === 0) return argmax(logits);
    const vocab = logits.length;
    if (this.probabilities.length !== vocab) this.probabilities = new Float64Array(vocab);
    const p = this.probabilities;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[i]! > max) max = logits[i]!;
    let total = 0;
    for (let i = 0; i < vocab; i++) {
      const value = Math.exp((logits[i]! - max) / this.settings.temperature);
      p[i] = value;
      total += value;
    }
    for (let i = 0; i < vocab; i++) p[i] = p[i]! / total;
    return this.settings.topP >= 1 ? this.sampleAll(p) : this.sampleNucleus(p);
  }

  private sampleAll(p: Float64Array): number {
    const u = this.random.nextFloat();
    let cumulative = 0;
    for (let i = 0; i < p.length; i++) {
      cumulative += p[i]!;
      if (u < cumulative) return i;
    }
    return lastNonZero(p);
  }

  /**
   * Samples among the most likely tokens whose mass first reaches topP. Only candidates above a threshold are
   * sorted (the threshold halves until they carry that mass), so a 128k vocabulary is not sorted every step.
   */
  private sampleNucleus(p: Float64Array): number {
    let peak = 0;
    for (let i = 0; i < p.length; i++) if (p[i]! > peak) peak = p[i]!;
    let threshold = peak;
    let candidates: number[] = [];
    for (;;) {
      candidates = [];
      let mass = 0;
      for (let i = 0; i < p.length; i++) {
        if (p[i]! >= threshold) {
          candidates.push(i);
          mass += p[i]!;
        }
      }
      if (mass >= this.settings.topP || threshold === 0) break;
      threshold = threshold > 1e-300 ? threshold / 2 : 0;
    }
    candidates.sort((a, b) => p[b]! - p[a]! || a - b);
    let kept = 0;
    let mass = 0;
    while (kept < candidates.length && mass < this.settings.topP) mass += p[candidates[kept++]!]!;
    const u = this.random.nextFloat() * mass;
    let cumulative = 0;
    for (let k = 0; k < kept; k++) {
      cumulative += p[candidates[k]!]!;
      if (u < cumulative) return candidates[k]!;
    }
    return candidates[kept - 1]!;
  }
}

export function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

function lastNonZero(p: Float64Array): number {
  for (let i = p.length - 1; i >= 0; i--) if (p[i]! > 0) return i;
  return 0;
}
