import { formatFeatureKey, type FeatureKey, type Sign } from '@expgen/contract';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import type { ExemplarRow, FeatureExemplars } from '../exemplars/storage/index.js';

/** The exemplar sequences one feature-sign is scored on in one split: the sign's top ranks, then random ones. */
export interface ScoringSequences {
  readonly rows: readonly ExemplarRow[];
  /** Per row: `top` (a top exemplar of the sign) or `random`; the bootstrap keeps each stratum's size. */
  readonly strata: readonly ('top' | 'random')[];
  /** Tokens of every row (prefix included): what one description simulated on the set costs. */
  readonly tokens: number;
}

/**
 * Reads the sequences stage 3 scores on, per feature, split and sign. The two signs of a feature are scored one
 * after the other from the same rows, so the last few features' rows per split are kept and each feature's rows
 * are taken out of the library's batch once per split, not once per sign.
 */
export class ScoringSequenceReader {
  private readonly recent = new Map<string, Promise<FeatureExemplars>>();

  constructor(
    private readonly library: ExemplarLibrary,
    private readonly keep = 16,
  ) {}

  /** Every list stage 1 kept for the feature in `split` (both signs' top exemplars and the random sequences). */
  exemplars(key: FeatureKey, split: string): Promise<FeatureExemplars> {
    const cacheKey = `${split}\n${formatFeatureKey(key)}`;
    let exemplars = this.recent.get(cacheKey);
    if (!exemplars) {
      exemplars = this.library.exemplars(key, split);
      this.recent.set(cacheKey, exemplars);
      if (this.recent.size > this.keep) this.recent.delete(this.recent.keys().next().value!);
    }
    return exemplars;
  }

  async read(
    key: FeatureKey,
    sign: Sign,
    split: string,
    counts: { readonly top: number; readonly random: number },
  ): Promise<ScoringSequences> {
    const all = await this.exemplars(key, split);
    const top = (sign === 'positive' ? all.positive : all.negative).slice(0, counts.top);
    const random = all.random.slice(0, counts.random);
    const rows = [...top, ...random];
    let tokens = 0;
    for (const row of rows) tokens += row.tokens.length;
    return { rows, strata: [...top.map(() => 'top' as const), ...random.map(() => 'random' as const)], tokens };
  }
}

/**
 * An order of a set's sequences in which every prefix mixes the strata in proportion (top exemplars and random
 * sequences interleaved evenly, earliest ranks first), so a selection round on the first n sequences sees the
 * same kind of data as the whole set. Deterministic: position i of stratum s is placed at (i + ½) / size(s).
 */
export function interleavedOrder(strata: readonly string[]): number[] {
  const byStratum = new Map<string, number[]>();
  strata.forEach((s, i) => {
    const list = byStratum.get(s);
    if (list) list.push(i);
    else byStratum.set(s, [i]);
  });
  const placed: { at: number; index: number }[] = [];
  for (const indices of byStratum.values())
    indices.forEach((index, i) => {
      placed.push({ at: (i + 0.5) / indices.length, index });
    });
  return placed.sort((a, b) => a.at - b.at || a.index - b.index).map((p) => p.index);
}
