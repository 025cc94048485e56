import {
  type DescribedExemplar,
  type DescribeRequest,
  ExpgenError,
  formatFeatureKey,
  type FeatureKey,
  type Sign,
  type ChatMessage,
  type Tokenizer,
} from '@expgen/contract';
import { TAIL_FRACTIONS } from '../../exemplars/state/activation-distribution.js';
import { renderMarkedText, type MarkerStrings } from './render.js';
import {
  checkSelectionSettings,
  selectExemplars,
  type PromptExemplarRow,
  type SelectionSettings,
  type SkipReason,
} from './selection.js';
import { chooseThreshold, signQuantiles, type QuantileValue, type ThresholdChoice } from './threshold.js';
import { formatExemplarList, renderPromptTemplate, type PromptTemplate } from './template.js';

/** The `describe` settings the prompt uses; `ExpgenConfig['describe']` fits. */
export interface PromptSettings extends SelectionSettings {
  readonly minMarkedStrings: number;
  readonly thresholdQuantiles: readonly number[];
}

/** The sign's quantiles as a list, or a distribution row (`DistributionRow`) with values at TAIL_FRACTIONS. */
export type PromptQuantiles =
  | readonly QuantileValue[]
  | { readonly positiveQuantiles: readonly (number | null)[]; readonly negativeQuantiles: readonly (number | null)[] };

export interface BuildDescribePromptInput {
  readonly feature: FeatureKey;
  readonly sign: Sign;
  /** The feature's exemplar rows of the train split (any signs; rows of other signs are ignored). */
  readonly rows: readonly PromptExemplarRow[];
  readonly quantiles: PromptQuantiles;
  readonly tokenizer: Tokenizer;
  readonly settings: PromptSettings;
  readonly template: PromptTemplate;
  /** Further independent prompts for the same feature and sign (default 0). */
  readonly variant?: number;
  readonly markers?: MarkerStrings;
}

export interface DescribePrompt {
  readonly kind: 'prompt';
  readonly feature: FeatureKey;
  readonly sign: Sign;
  /** The rendered template, for `DescribeRequest.messages`. */
  readonly messages: readonly ChatMessage[];
  /** The exemplars in the order shown, from their first counted position (the part the prompt shows). */
  readonly exemplars: readonly DescribedExemplar[];
  /** Ranks of the shown exemplars, in the order shown. */
  readonly ranks: readonly number[];
  /** Raw activation threshold: tokens at or above it (at or below, negative sign) are marked. */
  readonly threshold: number;
  readonly thresholdChoice: ThresholdChoice;
  /** Each exemplar's display text, in the order shown. */
  readonly renderedExemplars: readonly string[];
  readonly selection: { readonly drawnCount: number; readonly poolSize: number; readonly notReaching: number };
}

export interface SkippedPrompt {
  readonly kind: 'skipped';
  readonly feature: FeatureKey;
  readonly sign: Sign;
  readonly reason: SkipReason;
  readonly detail: string;
}

export type PromptResult = DescribePrompt | SkippedPrompt;

const DIRECTION: Readonly<Record<Sign, string>> = { positive: 'most positive', negative: 'most negative' };

/**
 * The explainer prompt for one feature and sign: select the exemplars (`selectExemplars`), choose the highlight
 * threshold over them (`chooseThreshold`), render each with its marked tokens (`renderMarkedText`, from the row's
 * `countFrom`) and fill the template. A sign the feature never reaches gives `{ kind: 'skipped', reason }`.
 */
export function buildDescribePrompt(input: BuildDescribePromptInput): PromptResult {
  const { feature, sign, tokenizer, settings, markers } = input;
  checkPromptSettings(settings);
  const selection = selectExemplars(input.rows, { feature, sign, settings, variant: input.variant ?? 0 });
  if (selection.kind === 'skipped')
    return { kind: 'skipped', feature, sign, reason: selection.reason, detail: selection.detail };

  const shown = selection.rows.map((row) => {
    const from = Math.min(Math.max(0, row.countFrom), row.tokens.length);
    return {
      row,
      tokens: Array.from(row.tokens).slice(from),
      activations: Array.from(row.activations).slice(from),
    };
  });
  for (const { row } of shown) {
    if (row.tokens.length !== row.activations.length) {
      throw new ExpgenError(
        `exemplar rank ${row.rank} of feature ${formatFeatureKey(feature)} (${sign}) has ${row.tokens.length} tokens but ${row.activations.length} activations; the exemplar file is damaged`,
      );
    }
  }
  const render = (threshold: number) =>
    shown.map((e) => renderMarkedText(e.tokens, e.activations, { tokenizer, sign, threshold, markers }));
  const countMarkedStrings = (threshold: number) => new Set(render(threshold).flatMap((r) => r.spans)).size;
  let strongest = 0;
  for (const e of shown) {
    for (const a of e.activations) if (sign === 'positive' ? a > strongest : a < strongest) strongest = a;
  }
  const quantiles = Array.isArray(input.quantiles)
    ? (input.quantiles as readonly QuantileValue[])
    : signQuantiles(input.quantiles as Exclude<PromptQuantiles, readonly QuantileValue[]>, sign, TAIL_FRACTIONS);
  const thresholdChoice = chooseThreshold({
    sign,
    quantiles,
    fractions: settings.thresholdQuantiles,
    minMarkedStrings: settings.minMarkedStrings,
    countMarkedStrings,
    strongest,
  });
  const renderedExemplars = render(thresholdChoice.threshold).map((r) => r.text);
  const messages = renderPromptTemplate(input.template, {
    exemplars: formatExemplarList(renderedExemplars),
    sign,
    direction: DIRECTION[sign],
    count: String(renderedExemplars.length),
    feature: formatFeatureKey(feature),
  });
  return {
    kind: 'prompt',
    feature,
    sign,
    messages,
    exemplars: shown.map((e) => ({ tokens: e.tokens, activations: e.activations, rank: e.row.rank })),
    ranks: shown.map((e) => e.row.rank),
    threshold: thresholdChoice.threshold,
    thresholdChoice,
    renderedExemplars,
    selection: { drawnCount: selection.drawnCount, poolSize: selection.poolSize, notReaching: selection.notReaching },
  };
}

/** The request a describer gets for a prompt: `count` candidates, candidate i sampled with `seed + i`. */
export function describeRequestOf(
  prompt: DescribePrompt,
  options: { readonly count: number; readonly seed: number },
): DescribeRequest {
  return {
    feature: prompt.feature,
    sign: prompt.sign,
    exemplars: prompt.exemplars,
    threshold: prompt.threshold,
    messages: prompt.messages,
    count: options.count,
    seed: options.seed,
  };
}

function checkPromptSettings(settings: PromptSettings): void {
  checkSelectionSettings(settings);
  if (!Number.isSafeInteger(settings.minMarkedStrings) || settings.minMarkedStrings < 1) {
    throw new ExpgenError(`describe.minMarkedStrings is ${settings.minMarkedStrings}: it must be a positive integer`);
  }
  if (settings.thresholdQuantiles.length === 0)
    throw new ExpgenError(
      'describe.thresholdQuantiles is empty: list at least one tail fraction, e.g. [1e-8, 1e-7, 1e-6, 1e-5, 1e-4]',
    );
  for (const q of settings.thresholdQuantiles) {
    if (!(q > 0 && q < 1))
      throw new ExpgenError(`describe.thresholdQuantiles holds ${q}: each must be a fraction in (0, 1)`);
  }
}
