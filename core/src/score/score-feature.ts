import {
  formatFeatureKey,
  pluginError,
  type FeatureKey,
  type Provenance,
  type Sign,
  type SimulateResult,
  type Simulator,
} from '@expgen/contract';
import { intervalFromResampledMoments } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import { featureDetailFile, packSimulations, type FeatureDetail } from './feature-detail.js';
import { chosenSets, type FinishResult, type FinishTask } from './feature-finish.js';
import { provenanceRecord } from '../engine/output-records.js';
import { NO_SELECTION_SCORE_REASON, noTestScoreReason } from './result-states.js';
import type { ResultRow } from './results.js';
import type { ScoringSequenceReader } from './scoring-sequences.js';
import { selectCandidate } from './selection-strategies.js';
import type { SetScorer } from './set-scorer.js';

/** One feature-sign to score: its key (parsed once, carried to the results) and what stage 2 recorded. */
export interface ScoreItem {
  readonly key: FeatureKey;
  readonly sign: Sign;
  readonly described: DescribedFeature;
}

/** What scoring one feature-sign needs besides the item. */
export interface FeatureScoringContext {
  readonly reader: ScoringSequenceReader;
  readonly simulator: Simulator;
  readonly scorer: SetScorer;
  readonly scorerProvenance: Provenance;
  readonly settings: ExpgenConfig['score'];
  readonly outDir: string;
}

/** The part of a result row known before the finishing work, and that work. */
export interface FeatureScoring {
  readonly row: Omit<ResultRow, 'null_score'>;
  /** The statistics and detail file still to compute (`finishFeature`); null when there is nothing to write. */
  readonly task: FinishTask | null;
  /** The task's detail as this thread read it (for a scorer without `valueFromMoments`). */
  readonly detail: FeatureDetail | null;
  /** Tokens simulated for this item, and what the naive method would have simulated. */
  readonly simulatorTokens: number;
  readonly simulatorTokensNaive: number;
}

/**
 * The token ids of a row as the contract's plain array, made once per row (rows are simulated in several rounds,
 * for both signs and again for the null baseline). A loop: `Array.from` walks a typed array through its iterator.
 */
const tokenLists = new WeakMap<Int32Array, number[]>();
function tokenList(tokens: Int32Array): number[] {
  let list = tokenLists.get(tokens);
  if (!list) {
    list = new Array<number>(tokens.length);
    for (let t = 0; t < tokens.length; t++) list[t] = tokens[t]!;
    tokenLists.set(tokens, list);
  }
  return list;
}

/** Calls the simulator, counting the tokens it processes and naming its plugin when it fails or answers wrongly. */
export async function simulateCounted(
  simulator: Simulator,
  descriptions: readonly string[],
  sequences: readonly { readonly tokens: Int32Array }[],
  where: string,
  counter: { tokens: number },
): Promise<SimulateResult> {
  const { plugin, component } = simulator.provenance;
  let result: SimulateResult;
  try {
    result = await simulator.simulate({ descriptions, sequences: sequences.map((s) => tokenList(s.tokens)) });
  } catch (error) {
    throw pluginError(plugin, `simulator "${component}" simulating ${where}`, error);
  }
  let shapeOk = result.predictions.length === descriptions.length;
  for (let d = 0; shapeOk && d < descriptions.length; d++) {
    const perSequence = result.predictions[d]!;
    shapeOk = perSequence.length === sequences.length;
    for (let s = 0; shapeOk && s < sequences.length; s++)
      shapeOk = perSequence[s]!.length === sequences[s]!.tokens.length;
  }
  if (!shapeOk)
    throw pluginError(
      plugin,
      `simulator "${component}" simulating ${where}`,
      new Error(
        `asked for ${descriptions.length} description(s) x ${sequences.length} sequence(s), it answered a different shape: predictions[d][s] needs one value per token`,
      ),
    );
  let tokens = 0;
  for (const s of sequences) tokens += s.tokens.length;
  counter.tokens += descriptions.length * tokens;
  return result;
}

/**
 * Stage 3 for one feature and sign, up to the finishing work: the valid and test sequences, the distinct
 * candidates (identical texts after trimming are simulated once), the configured selection strategy on the valid
 * split, and the chosen description simulated on the test split.
 */
export async function scoreFeature(item: ScoreItem, context: FeatureScoringContext): Promise<FeatureScoring> {
  const { described, key, sign } = item;
  const { settings } = context;
  const where = `${formatFeatureKey(key)} (${sign})`;
  const counter = { tokens: 0 };
  const empty = {
    feature: described.feature,
    space: key.space,
    layer: key.layer,
    index: key.index,
    sign: described.sign,
    description: null,
    score: null,
    ci: null,
    selection_score: null,
    candidates: described.candidates.length,
    pearson: null,
    r_squared: null,
    absolute_deviation_explained: null,
    pooled_score: null,
    describer: described.described_by,
    simulator: null,
    scorer: provenanceRecord(context.scorerProvenance),
    // Filled by the stage once every reported scorer has its value (`reported-scores.ts`).
    scores: {},
  };
  const none = { task: null, detail: null, simulatorTokens: 0, simulatorTokensNaive: 0 };
  if (described.status === 'skipped')
    return { ...none, row: { ...empty, status: 'skipped', reason: described.reason } };
  if (described.candidates.length === 0)
    return {
      ...none,
      row: { ...empty, status: 'failed', reason: described.reason ?? 'the describer produced no candidate' },
    };

  const [selection, report] = await Promise.all([
    context.reader.read(key, sign, 'valid', settings.selection),
    context.reader.read(key, sign, 'test', settings.report),
  ]);
  if (selection.rows.length === 0 || report.rows.length === 0) {
    const split = selection.rows.length === 0 ? 'valid' : 'test';
    return { ...none, row: { ...empty, status: 'failed', reason: `no ${split}-split exemplars to score on` } };
  }

  // Identical texts (after trimming) share one simulation: it cannot change a result.
  const distinctOf = new Map<string, number>();
  const firstWith: number[] = [];
  const distinct: string[] = [];
  const distinctIndex = described.candidates.map((c, i) => {
    const text = c.description.trim();
    let d = distinctOf.get(text);
    if (d === undefined) {
      d = distinct.length;
      distinctOf.set(text, d);
      distinct.push(c.description);
      firstWith.push(i);
    }
    return d;
  });

  let firstAnswer: SimulateResult | undefined;
  const outcome = await selectCandidate(
    {
      sign,
      sequences: selection,
      descriptions: distinct,
      scorer: context.scorer,
      simulate: async (descriptions, rows) => {
        const answer = await simulateCounted(
          context.simulator,
          descriptions,
          rows.map((r) => selection.rows[r]!),
          `${where}, valid split`,
          counter,
        );
        firstAnswer ??= answer;
        return answer.predictions;
      },
    },
    settings.selection,
  );
  const simulator = firstAnswer ? { ...provenanceRecord(firstAnswer.simulatedBy), mode: firstAnswer.mode } : null;
  const naiveSelection = described.candidates.length * selection.tokens;

  const chosenDistinct = outcome.chosen;
  let reportPredictions: readonly Float32Array[] | null = null;
  if (chosenDistinct !== null) {
    const answer = await simulateCounted(
      context.simulator,
      [distinct[chosenDistinct]!],
      report.rows,
      `${where}, test split`,
      counter,
    );
    reportPredictions = answer.predictions[0]!;
  }
  const simulations = packSimulations(selection, outcome.predictions, report, reportPredictions);
  const task: FinishTask = {
    key,
    sign,
    feature: described.feature,
    path: featureDetailFile(context.outDir, key, sign),
    chosen: chosenDistinct === null ? null : firstWith[chosenDistinct]!,
    strategy: settings.selection.strategy,
    selectionCounts: settings.selection,
    reportCounts: chosenDistinct === null ? null : settings.report,
    candidates: described.candidates.map((c, i) => {
      const d = distinctIndex[i]!;
      return {
        description: c.description,
        seed: c.seed,
        distinct: d,
        selectionScore: outcome.scores[d] ?? null,
        sequencesScored: outcome.evaluatedOn[d] ?? 0,
        sameAs: firstWith[d] === i ? null : firstWith[d]!,
      };
    }),
    simulations,
    bootstrap: settings.bootstrap > 0 ? { resamples: settings.bootstrap, seed: settings.seed } : null,
    resampleMoments: context.scorer.fromMoments !== null,
    knownStatistic: context.scorer.knownStatistic,
  };
  const detail: FeatureDetail = {
    path: task.path,
    key,
    feature: task.feature,
    sign,
    chosen: task.chosen,
    strategy: task.strategy,
    selection,
    report: chosenDistinct === null ? { rows: [], strata: [], tokens: 0 } : report,
    candidates: task.candidates,
    simulations,
  };
  const scoring = {
    task,
    detail,
    simulatorTokens: counter.tokens,
    simulatorTokensNaive: naiveSelection + (chosenDistinct === null ? 0 : report.tokens),
  };
  if (chosenDistinct === null)
    return {
      ...scoring,
      row: {
        ...empty,
        status: 'no_selection_score',
        reason: NO_SELECTION_SCORE_REASON,
        simulator,
      },
    };
  return {
    ...scoring,
    row: {
      ...empty,
      status: 'scored',
      reason: null,
      description: distinct[chosenDistinct]!,
      selection_score: outcome.scores[chosenDistinct] ?? null,
      simulator,
    },
  };
}

/**
 * The row with the finishing work's statistics: the test score, its bootstrap interval and the pooled score by
 * the scorer (from the moments the worker summed when the scorer offers `valueFromMoments`, else by `score` here).
 */
export function completeRow(
  scoring: FeatureScoring,
  finished: FinishResult | null,
  scorer: SetScorer,
  settings: ExpgenConfig['score'],
): Omit<ResultRow, 'null_score'> {
  const test = finished?.test;
  if (!test || !scoring.task) return scoring.row;
  let score: number | null;
  let ci: readonly [number, number] | null = null;
  let pooledScore: number | null;
  if (test.values) {
    // The worker evaluated the scorer's statistic itself (`knownStatistic`).
    score = test.values.score;
    pooledScore = test.values.pooledScore;
    ci = test.interval ? [test.interval.low, test.interval.high] : null;
  } else if (scorer.fromMoments) {
    score = scorer.fromMoments(test.moments);
    pooledScore = scorer.fromMoments(test.pooledMoments);
    const interval = test.resampled
      ? intervalFromResampledMoments(test.resampled.sums, test.resampled, scorer.fromMoments)
      : null;
    ci = interval ? [interval.low, interval.high] : null;
  } else {
    const sets = chosenSets(scoring.detail!)!;
    score = scorer.value(sets.report);
    pooledScore = scorer.value([...sets.selection, ...sets.report]);
    if (settings.bootstrap > 0) {
      const interval = scorer.intervalByResampling(sets.report, {
        resamples: settings.bootstrap,
        seed: settings.seed,
        strata: scoring.detail!.report.strata,
      });
      ci = interval ? [interval.low, interval.high] : null;
    }
  }
  // A description was chosen on the valid split, but the scorer has no value for it on the test split.
  const undefinedOnTest = score === null && scoring.row.status === 'scored';
  return {
    ...scoring.row,
    ...(undefinedOnTest
      ? {
          status: 'no_test_score' as const,
          reason: noTestScoreReason(
            { predicted: test.moments.constantPredicted, actual: test.moments.constantActual },
            scoring.row.scorer?.component ?? 'scorer',
          ),
        }
      : {}),
    score,
    ci,
    pearson: test.pearson,
    r_squared: test.rSquared,
    absolute_deviation_explained: test.absoluteDeviationExplained,
    pooled_score: pooledScore,
  };
}
