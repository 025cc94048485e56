import { parseFeatureKey, type FeatureKey, type Simulator, formatFeatureKey } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { NullPairing, scoreNullPairs, type NullScore } from './null-pairing.js';
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
  readonly scorer: SetScorer;
  readonly settings: ExpgenConfig['score'];
}

/**
 * Each chosen description simulated on the test data of its partner feature (`null-pairing.ts`: a
 * seeded derangement over the whole selection, the same in every feature shard), so the summary shows what a
 * description unrelated to the feature scores. Returns the null scores by target and the tokens simulated, which
 * the naive method spends as well.
 */
export async function nullBaseline(input: NullBaselineInput): Promise<{ scores: NullScore[]; tokens: number }> {
  const { settings } = input;
  const counter = { tokens: 0 };
  const features = input.pairingFeatures.map(formatFeatureKey);
  const pairing = NullPairing.over(features, settings.seed);
  const rows = inTargetOrder(input.rows, pairing, features);
  const scores = await scoreNullPairs(rows, pairing, async (description, target, sign) => {
    const key = parseFeatureKey(target);
    const report = await input.reader.read(key, sign, 'test', settings.report);
    if (report.rows.length === 0) return null;
    const simulated = await simulateCounted(
      input.simulator,
      [description],
      report.rows,
      `${target} (${sign}), null baseline`,
      counter,
    );
    return input.scorer.valueOfRows(
      sign,
      report.rows.map((r, s) => ({
        activations: r.activations,
        countFrom: r.countFrom,
        predicted: simulated.predictions[0]![s]!,
      })),
    );
  });
  return { scores, tokens: counter.tokens };
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
