import { join } from 'node:path';
import {
  ExpgenError,
  parseFeatureKey,
  type FeatureKey,
  type Logger,
  type Scorer,
  type SimulationScorer,
  type Simulator,
} from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import {
  accumulateCost,
  checkedCost,
  WallClockShares,
  writeStageCost,
  zeroCost,
  type StageCost,
} from '../cost/stage-cost.js';
import { describedKey, type DescribedFeature } from '../describe/described-feature.js';
import { Journal } from '../engine/journal.js';
import { letSignalsIn, onInterrupt } from '../engine/interrupts.js';
import { startProgress, type ProgressSetting } from '../engine/progress.js';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { removeProcessTemporaries } from './feature-detail.js';
import { HostWorkers } from './host-workers.js';
import {
  judgeAll,
  judgeCost,
  judgeRequestOf,
  reportedScorersOf,
  scoresOfRow,
  simulationEntries,
  writeJudgments,
  type Judged,
  type ScoreEntry,
} from './reported-scores.js';
import { nullBaseline } from './null-baseline.js';
import { applyNullScores, writeNullScores } from './null-pairing.js';
import { readResultRow } from './read-results.js';
import { summarize, writeResults, type ResultRow, type RunSummary } from './results.js';
import { completeRow, scoreFeature, type FeatureScoringContext, type ScoreItem } from './score-feature.js';
import { ScoringSequenceReader } from './scoring-sequences.js';
import { setScorerOf } from './set-scorer.js';

export { RESULT_COLUMNS, summarize, writeResults, type ResultRow, type RunSummary } from './results.js';

export interface ScoreStageInput {
  readonly library: ExemplarLibrary;
  readonly described: readonly DescribedFeature[];
  /** The feature key of each `described` item, when the caller holds them; else each is parsed once. */
  readonly keys?: readonly FeatureKey[];
  readonly simulator: Simulator;
  /** The scorer best-of-k chooses with on the valid split. */
  readonly scorer: SimulationScorer;
  /**
   * The scorers reported on the test split, by name, in order (`scorers` in the config): each row's `scores`. An
   * entry that is the selection scorer takes the row's own score, computed once. Default: the selection scorer
   * alone, under its component's name.
   */
  readonly reported?: readonly { readonly name: string; readonly scorer: Scorer; readonly sameAsSelection: boolean }[];
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

export interface ScoreStageResult {
  readonly rows: ResultRow[];
  readonly summary: RunSummary;
  /** What the stage spent to produce these rows, resumed runs included (also in `score/cost.json`). */
  readonly cost: StageCost;
}

/** What the journal keeps per feature and sign: the row without its null score, and what scoring it cost. */
interface ScoredEntry {
  readonly key: string;
  readonly row: Omit<ResultRow, 'null_score'>;
  readonly cost?: Partial<StageCost>;
}

/** A journal line as this version reads it: a row an earlier version wrote is upgraded (`readResultRow`). */
function upgradeScoredEntry(line: Record<string, unknown>): ScoredEntry {
  const row = line['row'] as Record<string, unknown>;
  return 'selectionScore' in row
    ? ({ ...line, row: readResultRow(row) } as unknown as ScoredEntry)
    : (line as unknown as ScoredEntry);
}

/**
 * Stage 3: per feature and sign, choose the best distinct candidate on the valid split (top exemplars of the sign
 * plus random sequences) with the configured strategy, and report it on the test split — data never used to
 * choose it — with a bootstrap interval over sequences; then a null baseline: each feature's test data scored
 * with another feature's chosen description, paired over the whole selection (`null-pairing.ts`), the scores kept
 * in `score/null-scores.jsonl` for `expgen merge`. Simulation runs on the main thread, one feature at a time; the
 * host work after it (statistics, per-feature files) on `score.concurrency` worker threads. Resumable per feature
 * through `score/journal.jsonl`, which also keeps what each feature cost.
 */
export async function runScoreStage(input: ScoreStageInput): Promise<ScoreStageResult> {
  const { library, settings, outDir } = input;
  for (const split of ['valid', 'test']) {
    if (!library.splits.includes(split)) {
      throw new ExpgenError(
        `the exemplars have no "${split}" split, which scoring needs (valid to choose, test to report): give it a share in exemplars.splits`,
      );
    }
  }
  const clock = new WallClockShares();
  const items: (ScoreItem & { journalKey: string })[] = input.described.map((described, i) => ({
    key: input.keys?.[i] ?? parseFeatureKey(described.feature),
    sign: described.sign,
    described,
    journalKey: describedKey(described.feature, described.sign),
  }));
  // Hundreds of features finish per second: fsync the journal in groups (a kill still loses nothing).
  const journal = Journal.open<ScoredEntry>(join(outDir, 'score', 'journal.jsonl'), (e) => e.key, {
    groupCommitMs: 200,
    upgrade: upgradeScoredEntry,
  });
  const scorer = setScorerOf(input.scorer);
  const reported = reportedScorersOf(
    input.reported ?? [{ name: input.scorer.provenance.component, scorer: input.scorer, sameAsSelection: true }],
  );
  const judges = reported.some((s) => s.kind === 'judge');
  const reader = new ScoringSequenceReader(library);
  const context: FeatureScoringContext = {
    reader,
    simulator: input.simulator,
    scorer,
    scorerProvenance: input.scorer.provenance,
    settings,
    outDir,
  };
  const progress = startProgress(input.progress, { label: 'scoring', total: items.length, unit: 'feature-signs' });
  const finishCost = zeroCost();
  finishCost.host_seconds += clock.take();
  let done = 0;
  const workers = HostWorkers.start(settings.concurrency, library, reader);
  // An interrupt stops the worker threads first, then removes the detail files they were writing.
  const stopOnInterrupt = onInterrupt(async () => {
    await workers.close();
    removeProcessTemporaries(join(outDir, 'features'));
  });
  // Enough finished simulations queued to keep every worker busy while the main thread simulates the next ones,
  // and to hide the latency of the detail files' fsyncs, tens of milliseconds on a busy disk (each task holds a
  // few kilobytes).
  const inFlightLimit = 128 * Math.max(1, workers.threads);
  let failure: { error: unknown } | undefined;
  const running = new Set<Promise<void>>();
  try {
    for (const item of items) {
      if (failure) break;
      await letSignalsIn();
      if (journal.has(item.journalKey)) {
        progress?.update(++done);
        continue;
      }
      const scoring = await scoreFeature(item, context);
      // Other simulation scorers read the test simulation here, before the finishing work takes its buffers.
      const simulated = simulationEntries(reported, scoring.task ? scoring.detail : null, settings);
      // Judges wait on their servers, not on this thread: they run while the next features are simulated. They judge
      // every chosen description, the selection scorer's `no_test_score` rows' too.
      const chosen = scoring.row.description;
      const judging: Promise<Record<string, Judged>> =
        judges && chosen !== null
          ? reader.exemplars(item.key, 'test').then(async (exemplars) => {
              const request = judgeRequestOf(item.key, item.sign, chosen, exemplars, settings.seed, 'report');
              const judged = await judgeAll(reported, request, settings);
              await writeJudgments(outDir, item.key, item.sign, chosen, exemplars, judged);
              return judged;
            })
          : Promise.resolve({});
      const testSequences = scoring.detail?.report.rows.length ?? 0;
      const job = Promise.all([scoring.task ? workers.finish(scoring.task) : Promise.resolve(null), judging])
        .then(([finished, judged]) => {
          const completed = completeRow(scoring, finished, scorer, settings);
          const computed: Record<string, ScoreEntry> = { ...simulated };
          for (const [name, j] of Object.entries(judged)) computed[name] = j.entry;
          const row = { ...completed, scores: scoresOfRow(reported, completed, testSequences, computed) };
          const sums = finished?.test?.resampled?.sums;
          if (sums) workers.release(sums);
          const cost: Partial<StageCost> = {
            feature_signs: 1,
            simulator_tokens: scoring.simulatorTokens,
            simulator_tokens_naive: scoring.simulatorTokensNaive,
            ...judgeCost(judged),
            host_seconds: clock.take(),
          };
          journal.append({ key: item.journalKey, row, cost });
          progress?.update(++done);
        })
        .catch((error: unknown) => {
          failure ??= { error };
        })
        .finally(() => running.delete(job));
      running.add(job);
      if (running.size >= inFlightLimit) await Promise.race(running);
    }
    await Promise.all(running);
  } catch (error) {
    failure ??= { error };
    await Promise.allSettled(running);
  } finally {
    journal.close();
    stopOnInterrupt();
    await workers.close();
  }
  if (failure) throw failure.error;
  progress?.finish();

  // Rows journaled before several scorers were reported carry none: the selection scorer's entry is made from the
  // row (the count of test sequences it rests on was not journaled: 0), the others' say they were not computed.
  const entries = items.map((item) => {
    const entry = journal.entries.get(item.journalKey)!;
    if (Object.keys(entry.row.scores ?? {}).length > 0) return entry;
    return { ...entry, row: { ...entry.row, scores: scoresOfRow(reported, entry.row, 0, {}) } };
  });
  const baseline = await nullBaseline({
    rows: entries.map((e) => e.row),
    pairingFeatures: input.pairingFeatures ?? items.map((i) => i.key),
    reader,
    simulator: input.simulator,
    scorer,
    reported,
    settings,
  });
  writeNullScores(outDir, baseline.scores);
  const rows: ResultRow[] = applyNullScores(
    entries.map((e) => e.row),
    baseline.scores,
  );
  const summary = summarize(rows, settings);
  writeResults(outDir, rows);
  const cost = zeroCost();
  for (const entry of entries)
    accumulateCost(cost, entry.cost ? checkedCost(entry.cost, `${journal.path}: ${entry.key}`) : { feature_signs: 1 });
  finishCost.simulator_tokens += baseline.tokens;
  finishCost.simulator_tokens_naive += baseline.tokens;
  accumulateCost(finishCost, baseline.judges);
  finishCost.host_seconds += clock.take();
  accumulateCost(cost, finishCost);
  writeStageCost(outDir, 'score', cost);
  return { rows, summary, cost };
}
