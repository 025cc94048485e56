import type { DescribeUsage, DescriptionFailure, Provenance, Sign } from '@expgen/contract';

/**
 * What stage 2 records for one feature and sign, one JSON line each in `descriptions/journal.jsonl` and then in
 * `descriptions/candidates.{jsonl,arrow}`; stage 3 reads it back. Field names are a stable interface.
 */
export interface DescribedFeature {
  /** `{feature}:{sign}`, the journal key. */
  readonly key: string;
  /** Canonical feature key, e.g. `mlp/12/4061`. */
  readonly feature: string;
  readonly sign: Sign;
  /** `described`: at least one candidate; `failed`: every candidate failed; `skipped`: the sign is never reached. */
  readonly status: 'described' | 'failed' | 'skipped';
  /** Why it was skipped or failed, else null. */
  readonly reason: string | null;
  readonly candidates: readonly { readonly description: string; readonly seed: number }[];
  readonly failures: readonly DescriptionFailure[];
  /** Train-split ranks of the exemplars shown, in the order shown. */
  readonly exemplarRanks: readonly number[];
  /** Activation at or beyond which tokens were marked, and the rule that chose it. */
  readonly threshold: number | null;
  readonly thresholdRule: string | null;
  readonly describedBy: Provenance | null;
  /** What the describer reported the call cost (null when it reports nothing); see `DescribeUsage`. */
  readonly usage: DescribeUsage | null;
}

export function describedKey(feature: string, sign: Sign): string {
  return `${feature}:${sign}`;
}
