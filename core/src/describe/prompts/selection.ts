import { ExpgenError, formatFeatureKey, type FeatureKey, signedActivation, type Sign } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';

/**
 * What the prompt stage reads of an exemplar row: the fields of `ExemplarRow` (exemplars/storage) it uses, so rows
 * read from a file, imported from a released dump or made by a test all fit.
 */
export interface PromptExemplarRow {
  /** Feature index within the layer; checked against the feature key when present. */
  readonly feature?: number;
  /** `positive` (top-k), `negative` (bottom-k) or `random`; only rows of the prompt's sign are used. */
  readonly sign: string;
  /** 0 = strongest. */
  readonly rank: number;
  /** Per-sequence max (positive) or min (negative) over the counted positions. */
  readonly activation: number;
  /** First counted position: the positions before it are a fixed prefix (a chat header) and are never shown. */
  readonly countFrom: number;
  readonly tokens: ArrayLike<number>;
  readonly activations: ArrayLike<number>;
}

export interface SelectionSettings {
  readonly exemplarsPerPrompt: { readonly min: number; readonly max: number };
  readonly fromTopRanks: number;
  readonly seed: number;
}

export type SkipReason = 'no-exemplars' | 'never-reached';

export type ExemplarSelection<R extends PromptExemplarRow = PromptExemplarRow> =
  | {
      readonly kind: 'selected';
      /** The chosen rows in the order the prompt shows them. */
      readonly rows: readonly R[];
      /** The size drawn in [min, max], before clamping to the pool. */
      readonly drawnCount: number;
      /** Rows the subset was drawn from: the top `fromTopRanks` ranks that reach the sign. */
      readonly poolSize: number;
      /** Rows among the top ranks left out because they never reach the sign (activation <= 0, or >= 0 for negative). */
      readonly notReaching: number;
    }
  | { readonly kind: 'skipped'; readonly reason: SkipReason; readonly detail: string };

/** The key the selection's generator is seeded from; documented because it fixes which exemplars a run shows. */
export function selectionKey(seed: number, feature: FeatureKey, sign: Sign, variant: number): string {
  return `expgen/describe-prompt/v2\nseed=${seed}\nfeature=${formatFeatureKey(feature)}\nsign=${sign}\nvariant=${variant}`;
}

/**
 * The exemplars of one prompt for (feature, sign): of the train split's rows of that sign, the `fromTopRanks`
 * lowest ranks that reach the sign form the pool; a size is drawn uniformly in [min, max] and clamped to the pool;
 * a partial Fisher-Yates shuffle then gives a uniformly random subset of that size in a uniformly random order.
 * Everything is drawn from `Sfc32.fromKey(selectionKey(seed, feature, sign, variant))`, so the choice is a function
 * of those four values and the rows, never of processing order. `variant` (default 0) gives further independent
 * prompts for the same feature and sign.
 *
 * A sign the feature never reaches (no row with activation > 0 for positive, < 0 for negative) is skipped: an
 * explanation of activations that do not occur would be invented.
 */
export function selectExemplars<R extends PromptExemplarRow>(
  rows: readonly R[],
  options: {
    readonly feature: FeatureKey;
    readonly sign: Sign;
    readonly settings: SelectionSettings;
    readonly variant?: number;
  },
): ExemplarSelection<R> {
  const { feature, sign, settings } = options;
  const variant = options.variant ?? 0;
  checkSelectionSettings(settings);
  if (!Number.isSafeInteger(variant) || variant < 0)
    throw new ExpgenError(`prompt variant ${variant} is not valid: it must be a non-negative integer`);
  const key = formatFeatureKey(feature);
  const ofSign: R[] = [];
  for (const row of rows) {
    if (row.feature !== undefined && row.feature !== feature.index) {
      throw new ExpgenError(
        `exemplar rows for feature ${key} include a row of feature ${row.feature} (layer ${feature.layer}): pass one feature's rows`,
      );
    }
    if (row.sign === sign) ofSign.push(row);
  }
  if (ofSign.length === 0) {
    return {
      kind: 'skipped',
      reason: 'no-exemplars',
      detail: `feature ${key} has no ${sign} exemplars in the rows given`,
    };
  }
  ofSign.sort((a, b) => a.rank - b.rank);
  const reaching = (row: R) => signedActivation(sign, row.activation) > 0;
  if (!ofSign.some(reaching)) {
    const extreme =
      sign === 'positive' ? Math.max(...ofSign.map((r) => r.activation)) : Math.min(...ofSign.map((r) => r.activation));
    return {
      kind: 'skipped',
      reason: 'never-reached',
      detail: `feature ${key} never reaches the ${sign} sign: its ${sign === 'positive' ? 'largest' : 'smallest'} exemplar activation is ${extreme}`,
    };
  }
  const top = ofSign.slice(0, settings.fromTopRanks);
  const pool = top.filter(reaching);
  if (pool.length === 0) {
    return {
      kind: 'skipped',
      reason: 'never-reached',
      detail: `feature ${key}: none of the top ${settings.fromTopRanks} ${sign} exemplars reaches the sign`,
    };
  }
  const random = Sfc32.fromKey(selectionKey(settings.seed, feature, sign, variant));
  const drawnCount = random.between(settings.exemplarsPerPrompt.min, settings.exemplarsPerPrompt.max);
  const count = Math.min(drawnCount, pool.length);
  const order = pool.slice();
  for (let i = 0; i < count; i++) {
    const j = i + random.nextInt(order.length - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return {
    kind: 'selected',
    rows: order.slice(0, count),
    drawnCount,
    poolSize: pool.length,
    notReaching: top.length - pool.length,
  };
}

/** One-line errors naming the `describe` keys, for settings the schema cannot check on its own. */
export function checkSelectionSettings(settings: SelectionSettings): void {
  const { min, max } = settings.exemplarsPerPrompt;
  for (const [name, value] of [
    ['describe.exemplarsPerPrompt.min', min],
    ['describe.exemplarsPerPrompt.max', max],
    ['describe.fromTopRanks', settings.fromTopRanks],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new ExpgenError(`${name} is ${value}: it must be a positive integer`);
  }
  if (min > max)
    throw new ExpgenError(`describe.exemplarsPerPrompt: min (${min}) is larger than max (${max}); set min <= max`);
  if (!Number.isSafeInteger(settings.seed) || settings.seed < 0)
    throw new ExpgenError(`describe.seed is ${settings.seed}: it must be a non-negative integer`);
}
