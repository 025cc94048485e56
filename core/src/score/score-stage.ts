import { join } from 'node:path';
import {
  ExpgenError,
  formatFeatureKey,
  parseFeatureKey,
  type FeatureKey,
  type Logger,
  type Provenance,
  type Scorer,
  type Sign,
  type Simulator,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import type { DescribedFeature } from '../describe/described-feature.js';
import {
  writeFileAtomic,
  bootstrapCI,
  pooledStatistics,
  scoredSequence,
  selectBestOfK,
  summarizeScores,
  type ScoreSet,
  type ScoredSequence,
} from '@expgen/plugin-kit';
import { letSignalsIn } from '../engine/interrupts.js';
import { Journal } from '../engine/journal.js';
import { startProgress, type ProgressSetting } from '../engine/progress.js';
import { recordsToArrow, type RecordColumn } from '../engine/records-arrow.js';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { type ExemplarRow, spaceFolderName } from '../exemplars/storage/index.js';
import { NullPairing, applyNullScores, scoreNullPairs, writeNullScores } from './null-pairing.js';

/**
 * One row of `results.jsonl` / `results.arrow`: every field is present on every row, failed and skipped rows
 * included, with null where a value is missing. Field names are a stable interface.
 */
export interface ResultRow {
  readonly feature: string;
  readonly sign: Sign;
  /** `scored`; `failed` (no candidate, or no candidate could be scored); `skipped` (the sign is never reached). */
  readonly status: 'scored' | 'failed' | 'skipped';
  readonly reason: string | null;
  /** The chosen description (best on the valid split). */
  readonly description: string | null;
  /** Quality of the chosen description on the test split, never used to choose it (the scorer's value). */
  readonly score: number | null;
  /** 95% bootstrap interval of `score` over test sequences: [low, high]. */
  readonly ci: readonly [number, number] | null;
  /** The chosen candidate's score on the valid split, where it was chosen (biased up by the choice). */
  readonly selectionScore: number | null;
  /** Candidates the describer produced. */
  readonly candidates: number;
  /** Test-split statistics of the chosen description. */
  readonly pearson: number | null;
  readonly rSquared: number | null;
  readonly absoluteDeviationExplained: number | null;
  /** The chosen description scored on valid and test pooled. */
  readonly pooledScore: number | null;
  /** This feature's test data scored with another feature's chosen description (the run's null baseline). */
  readonly nullScore: number | null;
  readonly describer: Provenance | null;
  readonly simulator: (Provenance & { readonly mode: string | null }) | null;
  readonly scorer: Provenance | null;
}

export const RESULT_COLUMNS: readonly RecordColumn[] = [
  { name: 'feature', type: 'utf8' },
  { name: 'sign', type: 'utf8' },
  { name: 'status', type: 'utf8' },
  { name: 'reason', type: 'utf8' },
  { name: 'description', type: 'utf8' },
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'selectionScore', type: 'float64' },
  { name: 'candidates', type: 'int32' },
  { name: 'pearson', type: 'float64' },
  { name: 'rSquared', type: 'float64' },
  { name: 'absoluteDeviationExplained', type: 'float64' },
  { name: 'pooledScore', type: 'float64' },
  { name: 'nullScore', type: 'float64' },
  { name: 'describer', type: 'json' },
  { name: 'simulator', type: 'json' },
  { name: 'scorer', type: 'json' },
];

export interface ScoreStageInput {
  readonly library: ExemplarLibrary;
  readonly described: readonly DescribedFeature[];
  readonly simulator: Simulator;
  readonly scorer: Scorer;
  readonly settings: ExpgenConfig['score'];
  readonly outDir: string;
  readonly logger: Logger;
  readonly progress?: ProgressSetting;
  /**
   * Every feature of the run in key order, all feature shards included: the null baseline's pairs are drawn over
   * them, so each shard derives the same pairs (`null-pairing.ts`). Default: the features described here.
   */
  readonly pairingFeatures?: readonly FeatureKey[];
}

export interface RunSummary {
  readonly features: number;
  readonly scored: number;
  readonly failed: number;
  readonly skipped: number;
  readonly meanScore: number | null;
  readonly meanScoreCi: readonly [number, number] | null;
  readonly nullBaseline: number | null;
  readonly nullBaselineCi: readonly [number, number] | null;
}

/** What the journal keeps per feature and sign: the row without its null score, plus what the baseline needs. */
interface ScoredEntry {
  readonly key: string;
  readonly row: Omit<ResultRow, 'nullScore'>;
}

/**
 * Stage 3: per feature and sign, simulate every candidate on the valid split (top exemplars of the sign plus
 * random sequences), keep the best, and report it on the test split — data never used to choose it — with a
 * bootstrap interval over sequences; then a null baseline: each feature's test data scored with another
 * feature's chosen description, paired over the whole selection (`null-pairing.ts`), the scores kept in
 * `score/null-scores.jsonl` for `expgen merge`. Resumable per feature through `score/journal.jsonl`.
 */
export async function runScoreStage(input: ScoreStageInput): Promise<{ rows: ResultRow[]; summary: RunSummary }> {
  const { library, scorer, settings, outDir } = input;
  for (const split of ['valid', 'test']) {
    if (!library.splits.includes(split)) {
      throw new ExpgenError(
        `the exemplars have no "${split}" split, which scoring needs (valid to choose, test to report): give it a share in exemplars.splits`,
      );
    }
  }
  const journal = Journal.open<ScoredEntry>(join(outDir, 'score', 'journal.jsonl'), (e) => e.key);
  const statistic = (set: ScoreSet) =>
    scorer.score({
      predicted: set.map((s) => Float32Array.from(s.predicted)),
      actual: set.map((s) => Float32Array.from(s.actual)),
    }).value;
  const progress = startProgress(input.progress, { label: 'scoring', total: input.described.length, unit: 'features' });
  let done = 0;
  try {
    for (const described of input.described) {
      await letSignalsIn();
      if (!journal.has(described.key)) {
        const row = await scoreFeature(described, input, statistic);
        journal.append({ key: described.key, row });
      }
      progress?.update(++done);
    }
  } finally {
    journal.close();
  }
  progress?.finish();

  const entries = input.described.map((d) => journal.entries.get(d.key)!.row);
  const pairing = NullPairing.over(
    input.pairingFeatures?.map(formatFeatureKey) ?? entries.map((e) => e.feature),
    settings.seed,
  );
  const nullScores = await scoreNullPairs(entries, pairing, (description, target, sign) =>
    scoreOnTestData(description, target, sign, input, statistic),
  );
  writeNullScores(outDir, nullScores);
  const rows: ResultRow[] = applyNullScores(entries, nullScores);
  const summary = summarize(rows, settings);
  writeResults(outDir, rows);
  return { rows, summary };
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
): Promise<Omit<ResultRow, 'nullScore'>> {
  const { library, simulator, scorer, settings } = input;
  const empty = {
    feature: described.feature,
    sign: described.sign,
    description: null,
    score: null,
    ci: null,
    selectionScore: null,
    candidates: described.candidates.length,
    pearson: null,
    rSquared: null,
    absoluteDeviationExplained: null,
    pooledScore: null,
    describer: described.describedBy,
    simulator: null,
    scorer: scorer.provenance,
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
  const simulatorProvenance = { ...onSelection.simulatedBy, mode: onSelection.mode };
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
      status: 'failed',
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
    status: 'scored',
    reason: null,
    description: chosen,
    score,
    ci: ci ? [ci.low, ci.high] : null,
    selectionScore: choice.selectionScore,
    pearson: testStats.pearson,
    rSquared: testStats.rSquared,
    absoluteDeviationExplained: testStats.absoluteDeviationExplained,
    pooledScore: statistic([...candidates[choice.chosen]!.selection, ...reportSet]),
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

/** The null baseline's unit of work: `feature`'s test data scored with another feature's chosen description. */
async function scoreOnTestData(
  description: string,
  feature: string,
  sign: Sign,
  input: ScoreStageInput,
  statistic: (set: ScoreSet) => number | null,
): Promise<number | null> {
  const report = await sequencesFor(input.library, parseFeatureKey(feature), sign, 'test', input.settings.report);
  if (report.rows.length === 0) return null;
  const simulated = await input.simulator.simulate({
    descriptions: [description],
    sequences: report.rows.map((r) => [...r.tokens]),
  });
  return statistic(scored(sign, report.rows, simulated.predictions[0]!));
}

export function summarize(
  rows: readonly ResultRow[],
  settings: Pick<ExpgenConfig['score'], 'bootstrap' | 'seed'>,
): RunSummary {
  const scores = summarizeScores(
    rows.filter((r) => r.status === 'scored').map((r) => r.score),
    { resamples: settings.bootstrap, seed: settings.seed },
  );
  const nulls = summarizeScores(
    rows.filter((r) => r.status === 'scored').map((r) => r.nullScore),
    { resamples: settings.bootstrap, seed: settings.seed },
  );
  return {
    features: rows.length,
    scored: rows.filter((r) => r.status === 'scored').length,
    failed: rows.filter((r) => r.status === 'failed').length,
    skipped: rows.filter((r) => r.status === 'skipped').length,
    meanScore: scores.mean,
    meanScoreCi: scores.ci ? [scores.ci.low, scores.ci.high] : null,
    nullBaseline: nulls.mean,
    nullBaselineCi: nulls.ci ? [nulls.ci.low, nulls.ci.high] : null,
  };
}

/** `results.jsonl` and `results.arrow`, rows in feature-key order then sign, written whole and atomically. */
export function writeResults(outDir: string, rows: readonly ResultRow[]): void {
  // Keys in the documented column order, so every line reads the same way.
  const ordered = [...rows]
    .sort((a, b) => compareRows(a, b))
    .map((r) =>
      Object.fromEntries(
        RESULT_COLUMNS.map((c) => [c.name, (r as unknown as Record<string, unknown>)[c.name] ?? null]),
      ),
    );
  writeFileAtomic(
    join(outDir, 'results.jsonl'),
    ordered.map((r) => JSON.stringify(r)).join('\n') + (ordered.length ? '\n' : ''),
  );
  writeFileAtomic(join(outDir, 'results.arrow'), recordsToArrow(RESULT_COLUMNS, ordered));
}

function compareRows(a: Pick<ResultRow, 'feature' | 'sign'>, b: Pick<ResultRow, 'feature' | 'sign'>): number {
  const ka = parseFeatureKey(a.feature);
  const kb = parseFeatureKey(b.feature);
  if (ka.space !== kb.space) return ka.space < kb.space ? -1 : 1;
  if (ka.layer !== kb.layer) return ka.layer - kb.layer;
  if (ka.index !== kb.index) return ka.index - kb.index;
  return a.sign === b.sign ? 0 : a.sign === 'positive' ? -1 : 1;
}
