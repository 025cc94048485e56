import { formatFeatureKey, parseFeatureKey, type FeatureKey, type Simulator } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { NullPairing, scoreNullPairs, type NullScore } from './null-pairing.js';
import { judgeAll, judgeCost, judgeRequestOf, type ReportedScorer } from './reported-scores.js';
import type { ResultRow } from './results.js';
import { simulateCounted } from './score-feature.js';
import type { ScoringSequenceReader } from './scoring-sequences.js';
import type { SetScorer } from './set-scorer.js';

export interface NullBaselineInput {
  readonly rows: readonly Omit<ResultRow, 'null_score'>[];
  /** The run's whole feature selection in key order, every feature shard included: the pairs are drawn over it. */
  readonly pairingFeatures: readonly FeatureKey[];
  readonly reader: ScoringSequenceReader;
  readonly simulator: Simulator;
  /** The selection scorer: its value is the row's `null_score`. */
  readonly scorer: SetScorer;
  /** Every reported scorer (default: the selection scorer alone). */
  readonly reported?: readonly ReportedScorer[];
  readonly settings: ExpgenConfig['score'];
}

/** What the null baseline spent: simulator tokens (which the naive method spends as well) and judge calls. */
export interface NullBaselineCost {
  readonly tokens: number;
  readonly judges: ReturnType<typeof judgeCost>;
}

/** Null-baseline pairs judged at once when judges are reported (their requests wait on servers, not on this thread). */
const JUDGED_PAIRS_AT_ONCE = 32;

/**
 * Each chosen description simulated on the test data of its partner feature (`null-pairing.ts`: a
 * seeded derangement over the whole selection, the same in every feature shard), so the summary shows what a
 * description unrelated to the feature scores; every other reported scorer scores the same pair (a judge scorer
 * judges the target's test sequences with the partner's description, drawing the same sequences as for the
 * target's own description). Returns the null scores by target and what they cost.
 */
export async function nullBaseline(
  input: NullBaselineInput,
): Promise<{ scores: NullScore[]; tokens: number; judges: NullBaselineCost['judges'] }> {
  const { settings } = input;
  const reported = input.reported ?? [];
  const counter = { tokens: 0 };
  const judges = judgeCost({});
  const judged = reported.some((s) => s.kind === 'judge');
  const features = input.pairingFeatures.map(formatFeatureKey);
  const pairing = NullPairing.over(features, settings.seed);
  const rows = inTargetOrder(input.rows, pairing, features);
  const scores = await scoreNullPairs(
    rows,
    pairing,
    async (description, target, sign) => {
      const key = parseFeatureKey(target);
      const report = await input.reader.read(key, sign, 'test', settings.report);
      const values: Record<string, number | null> = {};
      let nullScore: number | null = null;
      if (report.rows.length > 0) {
        const simulated = await simulateCounted(
          input.simulator,
          [description],
          report.rows,
          `${target} (${sign}), null baseline`,
          counter,
        );
        const predicted = report.rows.map((r, s) => ({
          activations: r.activations,
          countFrom: r.countFrom,
          predicted: simulated.predictions[0]![s]!,
        }));
        nullScore = input.scorer.valueOfRows(sign, predicted);
        for (const s of reported) {
          if (s.kind === 'selection') values[s.name] = nullScore;
          else if (s.kind === 'simulation') values[s.name] = s.scorer.valueOfRows(sign, predicted);
        }
      }
      if (judged) {
        const exemplars = await input.reader.exemplars(key, 'test');
        const request = judgeRequestOf(key, sign, description, exemplars, settings.seed, 'null');
        const outcomes = await judgeAll(reported, request, settings);
        for (const [name, outcome] of Object.entries(outcomes)) values[name] = outcome.entry.score;
        const spent = judgeCost(outcomes);
        for (const k of Object.keys(judges) as (keyof typeof judges)[]) judges[k] += spent[k];
      }
      // In config order, so the file reads the same whatever answered first.
      const ordered = Object.fromEntries(reported.map((s) => [s.name, values[s.name] ?? null]));
      return { null_score: nullScore, scores: ordered };
    },
    judged ? JUDGED_PAIRS_AT_ONCE : 1,
  );
  return { scores, tokens: counter.tokens, judges };
}

/**
 * The rows in the key order of the features their descriptions are scored on (stable: both signs of a target
 * stay together). The pairs are a random derangement: in row order, each target's test data would sit in another
 * record batch than the last one's, and the exemplar library, which keeps one decoded batch per file, would decode
 * a whole batch (256 features) per row. In target order every batch is decoded once. The scores are keyed by
 * target, so the order changes nothing else.
 */
function inTargetOrder<Row extends NullBaselineInput['rows'][number]>(
  rows: readonly Row[],
  pairing: NullPairing,
  features: readonly string[],
): Row[] {
  const position = new Map(features.map((f, i) => [f, i]));
  // Rows without a description are not paired (scoreNullPairs skips them): they go first, in their order.
  const at = rows.map((row) => {
    if (row.description === null) return -1;
    const target = pairing.targetOf(row.feature);
    return target === null ? -1 : position.get(target)!;
  });
  return rows
    .map((_, i) => i)
    .sort((a, b) => at[a]! - at[b]! || a - b)
    .map((i) => rows[i]!);
}
