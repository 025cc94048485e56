import { pearsonFromMoments, pooledStatistics } from '@expgen/plugin-kit';
import type { ComponentContext, ScoreRequest, ScoreResult, SimulationScorer } from '@expgen/contract';

/**
 * Pearson correlation between predicted and true activations over the pooled tokens of all sequences, the
 * reference's score, with R² and absolute deviation explained of the linear calibration beside it. Undefined
 * (null) when either side is constant or fewer than two tokens are pooled. The arithmetic is core's
 * (`pooledStatistics`), shared with the stage's intervals and null baseline. Pearson's r is a function of the
 * pooled moments, so the scorer offers `valueFromMoments` and the engine resamples sums instead of sets.
 */
export function correlationScorer(context: ComponentContext): SimulationScorer {
  const provenance = context.provenance;
  return {
    provenance,
    score(request: ScoreRequest): ScoreResult {
      if (request.predicted.length !== request.actual.length) {
        throw new Error(
          `correlation scorer: ${request.predicted.length} predicted sequences for ${request.actual.length} actual`,
        );
      }
      const stats = pooledStatistics(request.actual.map((actual, s) => ({ predicted: request.predicted[s]!, actual })));
      return {
        value: stats.pearson,
        stats: {
          pearson: stats.pearson,
          rSquared: stats.rSquared,
          absoluteDeviationExplained: stats.absoluteDeviationExplained,
          tokens: stats.tokens,
        },
        scoredBy: provenance,
      };
    },
    valueFromMoments: pearsonFromMoments,
  };
}
