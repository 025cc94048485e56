import type { DescribeUsage, DescriptionFailure, Sign } from '@expgen/contract';
import { readProvenanceRecord, type ProvenanceRecord } from '../engine/output-records.js';

/** What a describer reported a call cost, as the output files write it (`DescribeUsage` in snake_case). */
export interface UsageRecord {
  readonly calls: number;
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  /** Of `prompt_tokens`, those the server served from its prefix cache (null: not reported). */
  readonly cached_prompt_tokens: number | null;
  /** Calls answered by the durable call cache (null: not reported). */
  readonly cached_calls: number | null;
}

export function usageRecord(usage: DescribeUsage): UsageRecord {
  return {
    calls: usage.calls,
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    cached_prompt_tokens: usage.cachedPromptTokens ?? null,
    cached_calls: usage.cachedCalls ?? null,
  };
}

/**
 * What stage 2 records for one feature and sign: a line of `descriptions/candidates.{jsonl,arrow}` (and, with its
 * journal key and cost, of `descriptions/journal.jsonl`); stage 3 reads it back. Field names are a stable
 * interface (docs/output-format.md).
 */
export interface DescribedFeature {
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
  readonly exemplar_ranks: readonly number[];
  /** Activation at or beyond which tokens were marked, and the rule that chose it. */
  readonly threshold: number | null;
  readonly threshold_rule: string | null;
  readonly described_by: ProvenanceRecord | null;
  /** What the describer reported the call cost (null when it reports nothing); see `DescribeUsage`. */
  readonly usage: UsageRecord | null;
}

/** `{feature}:{sign}`, the key of a feature-sign in the journals. */
export function describedKey(feature: string, sign: Sign): string {
  return `${feature}:${sign}`;
}

/**
 * A candidates or journal line as this version spells it, from a line of either spelling: this version's, or the
 * camelCase of folders written before the names became snake_case (`describedBy`, `exemplarRanks`,
 * `thresholdRule`, usage's `promptTokens`), so a run resumed or merged after an upgrade reads its earlier lines.
 * Fields other than the record's (a journal's `key` and `cost`) are kept.
 */
export function readDescribedLine<T extends object = DescribedFeature>(line: Record<string, unknown>): T {
  if (!('describedBy' in line || 'exemplarRanks' in line || 'thresholdRule' in line)) return line as T;
  const { describedBy, exemplarRanks, thresholdRule, usage, ...rest } = line;
  const u = usage as Record<string, number | undefined> | null | undefined;
  return {
    ...rest,
    exemplar_ranks: exemplarRanks ?? [],
    threshold_rule: thresholdRule ?? null,
    described_by: readProvenanceRecord(describedBy),
    usage: u
      ? usageRecord({
          calls: u['calls'] ?? 0,
          promptTokens: u['promptTokens'] ?? 0,
          completionTokens: u['completionTokens'] ?? 0,
          ...(u['cachedPromptTokens'] !== undefined ? { cachedPromptTokens: u['cachedPromptTokens'] } : {}),
          ...(u['cachedCalls'] !== undefined ? { cachedCalls: u['cachedCalls'] } : {}),
        })
      : null,
  } as T;
}
