/**
 * Stage 3 as it was before this release's rework (a verbatim copy of `score-stage.ts`, with the statistics of that
 * time from `legacy-statistics.ts`): one feature at a time, every candidate simulated on every valid sequence, a
 * bootstrap that copies every set into Float32Arrays on every resample, a sort for each median, an fsync per
 * per-feature file and per journal line. Kept as the baseline `score-throughput` measures against, nothing else.
 */
import { join } from 'node:path';
import {
  type DescribedFeature,
  describedKey,
  derangement,
  type ExemplarLibrary,
  type ExpgenConfig,
  type FeatureKey,
  Journal,
  parseFeatureKey,
  provenanceRecord,
  type ResultRow,
  type ScoreRequest,
  type ScoreResult,
  type ScoreSet,
  type ScoredSequence,
  type SimulationScorer,
  type Sign,
  type Simulator,
  scoredSequence,
  selectBestOfK,
  spaceFolderName,
  writeFileAtomic,
  writeResults,
} from '@expgen/core';
import { bootstrapCI, pooledStatistics } from './legacy-statistics.js';

type ExemplarRow = Awaited<ReturnType<ExemplarLibrary['exemplars']>>['positive'][number];

export interface ScoreStageInput {
  readonly library: ExemplarLibrary;
  readonly described: readonly DescribedFeature[];
  readonly simulator: Simulator;
  readonly scorer: SimulationScorer;
  readonly settings: ExpgenConfig['score'];
  readonly outDir: string;
}

/** The correlation scorer of that time: every statistic, the median's sort included, on every call. */
export function legacyCorrelationScorer(provenance: SimulationScorer['provenance']): SimulationScorer {
  return {
    provenance,
    score(request: ScoreRequest): ScoreResult {
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
  };
}

/** What the journal keeps per feature and sign: the row without its null score, plus what the baseline needs. */
interface ScoredEntry {
  readonly key: string;
  readonly row: Omit<ResultRow, 'null_score'>;
}

/**
 * Stage 3: per feature and sign, simulate every candidate on the valid split (top exemplars of the sign plus
 * random sequences), keep the best, and report it on the test split — data never used to choose it — with a
 * bootstrap interval over sequences; then a null baseline: each feature's test data scored with another
 * feature's chosen description. Resumable per feature through `score/journal.jsonl`.
 */
export async function runLegacyScoreStage(input: ScoreStageInput): Promise<ResultRow[]> {
  const { scorer, outDir } = input;
  const journal = Journal.open<ScoredEntry>(join(outDir, 'score', 'journal.jsonl'), (e) => e.key);
  const statistic = (set: ScoreSet) =>
    scorer.score({
      predicted: set.map((s) => Float32Array.from(s.predicted)),
      actual: set.map((s) => Float32Array.from(s.actual)),
    }).value;
  try {
    for (const described of input.described) {
      const key = describedKey(described.feature, described.sign);
      if (!journal.has(key)) {
        const row = await scoreFeature(described, input, statistic);
        journal.append({ key, row });
      }
    }
  } finally {
    journal.close();
  }

  const entries = input.described.map((d) => journal.entries.get(describedKey(d.feature, d.sign))!.row);
  const nullScores = await nullBaseline(entries, input, statistic);
  const rows: ResultRow[] = entries.map((row, i) => ({ ...row, null_score: nullScores[i] ?? null }));
  writeResults(outDir, rows);
  return rows;
}

/** The exemplar sequences of one split for a sign: the top `top` ranks of the sign and `random` random ones. */
async function sequencesFor(
  library: ExemplarLibrary,
  key: FeatureKey,
  sign: Sign,
  split: string,
  counts: { top: number; random: number },
): Promise<{ rows: ExemplarRow[]; strata: string[] }> {
  const exemplars = await library.exemplars(key, split);
  const top = (sign === 'positive' ? exemplars.positive : exemplars.negative).slice(0, counts.top);
  const random = exemplars.random.slice(0, counts.random);
  return { rows: [...top, ...random], strata: [...top.map(() => 'top'), ...random.map(() => 'random')] };
}

function scored(sign: Sign, rows: readonly ExemplarRow[], predictions: readonly ArrayLike<number>[]): ScoredSequence[] {
  return rows.map((row, s) =>
    scoredSequence(
      sign,
      { activations: row.activations, countFrom: row.countFrom, length: row.activations.length },
      predictions[s]!,
    ),
  );
}

async function scoreFeature(
  described: DescribedFeature,
  input: ScoreStageInput,
  statistic: (set: ScoreSet) => number | null,
): Promise<Omit<ResultRow, 'null_score'>> {
  const { library, simulator, scorer, settings } = input;
  const featureKey = parseFeatureKey(described.feature);
  // The output's field names as this version writes them; the work is the old stage's.
  const empty = {
    feature: described.feature,
    space: featureKey.space,
    layer: featureKey.layer,
    index: featureKey.index,
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
    scorer: provenanceRecord(scorer.provenance),
    scores: {},
  };
  if (described.status === 'skipped') return { ...empty, status: 'skipped', reason: described.reason };
  if (described.candidates.length === 0)
    return { ...empty, status: 'failed', reason: described.reason ?? 'the describer produced no candidate' };

  const key = parseFeatureKey(described.feature);
  const selection = await sequencesFor(library, key, described.sign, 'valid', settings.selection);
  const report = await sequencesFor(library, key, described.sign, 'test', settings.report);
  if (selection.rows.length === 0 || report.rows.length === 0) {
    return {
      ...empty,
      status: 'failed',
      reason: `no ${selection.rows.length === 0 ? 'valid' : 'test'}-split exemplars to score on`,
    };
  }
  const descriptions = described.candidates.map((c) => c.description);
  const onSelection = await simulator.simulate({ descriptions, sequences: selection.rows.map((r) => [...r.tokens]) });
  const candidates = descriptions.map((description, d) => ({
    description,
    selection: scored(described.sign, selection.rows, onSelection.predictions[d]!),
    report: [] as ScoreSet,
  }));
  // The report sets are left empty here: only the chosen candidate is simulated on the test split, below.
  const choice = selectBestOfK({ candidates }, { resamples: 1, seed: settings.seed, score: statistic });
  const simulatorProvenance = { ...provenanceRecord(onSelection.simulatedBy), mode: onSelection.mode };
  if (choice.chosen === null) {
    writeFeatureDetail(input.outDir, described, {
      selection,
      report: null,
      onSelection: onSelection.predictions,
      selectionScores: choice.selectionScores,
      chosen: null,
    });
    return {
      ...empty,
      status: 'no_selection_score',
      reason: 'no candidate has a defined score on the valid split (constant predictions or activations)',
      simulator: simulatorProvenance,
    };
  }
  const chosen = descriptions[choice.chosen]!;
  const onReport = await simulator.simulate({
    descriptions: [chosen],
    sequences: report.rows.map((r) => [...r.tokens]),
  });
  const reportSet = scored(described.sign, report.rows, onReport.predictions[0]!);
  const score = statistic(reportSet);
  const ci =
    settings.bootstrap > 0
      ? bootstrapCI(reportSet, statistic, { resamples: settings.bootstrap, seed: settings.seed, strata: report.strata })
      : null;
  const testStats = pooledStatistics(reportSet);
  writeFeatureDetail(input.outDir, described, {
    selection,
    report,
    onSelection: onSelection.predictions,
    onReport: onReport.predictions[0]!,
    selectionScores: choice.selectionScores,
    chosen: choice.chosen,
  });
  return {
    ...empty,
    status: score === null ? 'no_test_score' : 'scored',
    reason: score === null ? 'the test score is undefined' : null,
    description: chosen,
    score,
    ci: ci ? [ci.low, ci.high] : null,
    selection_score: choice.selectionScore,
    pearson: testStats.pearson,
    r_squared: testStats.rSquared,
    absolute_deviation_explained: testStats.absoluteDeviationExplained,
    pooled_score: statistic([...candidates[choice.chosen]!.selection, ...reportSet]),
    simulator: simulatorProvenance,
  };
}

/** Every candidate's simulations, the exemplars they were scored on and the choice: `features/<space>/<layer>/<index>.<sign>.json`. */
function writeFeatureDetail(
  outDir: string,
  described: DescribedFeature,
  detail: {
    selection: { rows: ExemplarRow[]; strata: string[] };
    report: { rows: ExemplarRow[]; strata: string[] } | null;
    onSelection: readonly (readonly Float32Array[])[];
    onReport?: readonly Float32Array[];
    selectionScores: readonly (number | null)[];
    chosen: number | null;
  },
): void {
  const key = parseFeatureKey(described.feature);
  const exemplar = (row: ExemplarRow, stratum: string) => ({
    split: null,
    stratum,
    sign: row.sign,
    rank: row.rank,
    sequence: row.sequence,
    dataset: row.dataset,
    document: row.document,
    countFrom: row.countFrom,
    tokens: [...row.tokens],
    activations: [...row.activations],
  });
  const document = {
    feature: described.feature,
    sign: described.sign,
    chosen: detail.chosen,
    selection: detail.selection.rows.map((r, i) => ({ ...exemplar(r, detail.selection.strata[i]!), split: 'valid' })),
    report: detail.report?.rows.map((r, i) => ({ ...exemplar(r, detail.report!.strata[i]!), split: 'test' })) ?? [],
    candidates: described.candidates.map((c, d) => ({
      description: c.description,
      seed: c.seed,
      selectionScore: detail.selectionScores[d] ?? null,
      selectionPredictions: detail.onSelection[d]!.map((p) => [...p]),
      reportPredictions: d === detail.chosen && detail.onReport ? detail.onReport.map((p) => [...p]) : null,
    })),
  };
  const path = join(
    outDir,
    'features',
    spaceFolderName(key.space),
    `layer-${String(key.layer).padStart(2, '0')}`,
    `${key.index}.${described.sign}.json`,
  );
  writeFileAtomic(path, `${JSON.stringify(document)}\n`);
}

/**
 * Each scored feature's test data simulated with another scored feature's chosen description (a seeded
 * derangement of the sign's features), so the summary shows what a description unrelated to the feature scores.
 */
async function nullBaseline(
  rows: readonly Omit<ResultRow, 'null_score'>[],
  input: ScoreStageInput,
  statistic: (set: ScoreSet) => number | null,
): Promise<(number | null)[]> {
  const out: (number | null)[] = rows.map(() => null);
  for (const sign of ['positive', 'negative'] as const) {
    // Rows with a chosen description: what the old stage called scored.
    const scoredRows = rows.flatMap((row, i) => (row.description !== null && row.sign === sign ? [i] : []));
    if (scoredRows.length < 2) continue;
    const perm = derangement(scoredRows.length, input.settings.seed);
    for (const [j, i] of scoredRows.entries()) {
      const row = rows[i]!;
      const other = rows[scoredRows[perm[j]!]!]!;
      const report = await sequencesFor(
        input.library,
        parseFeatureKey(row.feature),
        sign,
        'test',
        input.settings.report,
      );
      const simulated = await input.simulator.simulate({
        descriptions: [other.description!],
        sequences: report.rows.map((r) => [...r.tokens]),
      });
      out[i] = statistic(scored(sign, report.rows, simulated.predictions[0]!));
    }
  }
  return out;
}
