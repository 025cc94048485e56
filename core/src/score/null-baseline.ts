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
  const pairing = NullPairing.over(input.pairingFeatures.map(formatFeatureKey), settings.seed);
  const scores = await scoreNullPairs(input.rows, pairing, async (description, target, sign) => {
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
