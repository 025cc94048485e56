import {
  formatFeatureKey,
  isJudgeScorer,
  pluginError,
  type DescribeUsage,
  type FeatureKey,
  type JudgeRequest,
  type JudgeScorer,
  type JudgeSequence,
  type Judgment,
  type Provenance,
  type Scorer,
  type Sign,
} from '@expgen/contract';
import { bootstrapCI } from '@expgen/plugin-kit';
import type { ExpgenConfig } from '../config/config-schema.js';
import { jsonHeader, provenanceRecord } from '../engine/output-records.js';
import type { ExemplarRow, FeatureExemplars } from '../exemplars/storage/index.js';
import { featureDetailFile, writeFileDurably } from './feature-detail.js';
import { chosenSets } from './feature-finish.js';
import type { FeatureDetail } from './feature-detail.js';
import { noTestScoreReason, type ResultStatus } from './result-states.js';
import { setScorerOf, type SetScorer } from './set-scorer.js';

/**
 * One reported scorer's result for a feature-sign (`scores.<name>` of a result row): its own status and reason (the
 * row's statuses, result-states.ts: `scored` when its value is defined; `no_test_score` when this scorer gives no
 * value for the chosen description; `failed` when every judgment of a judge failed; the row's own status and reason
 * when no description was chosen), its value on the test split, the 95% bootstrap interval over sequences, the null
 * baseline (this feature's data judged or simulated with another feature's chosen description), and how many
 * judgments the value rests on and how many failed. For a simulation scorer a judgment is a simulated test
 * sequence, and none fails.
 */
export interface ScoreEntry {
  readonly status: ResultStatus;
  readonly reason: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  readonly null_score: number | null;
  readonly judgments: number;
  readonly failures: number;
}

/** The entry of a row without a chosen description: the row's status and reason, nothing else. */
export function noScore(status: ResultStatus, reason: string | null): ScoreEntry {
  return { status, reason, score: null, ci: null, null_score: null, judgments: 0, failures: 0 };
}

/** The entry of a scorer that gives no value for a chosen description, or that every judgment of failed. */
function undefinedEntry(
  name: string,
  judgments: number,
  failures: number,
  failureReasons: readonly string[],
): ScoreEntry {
  const entry = { score: null, ci: null, null_score: null, judgments, failures };
  if (failures > 0 && judgments === 0)
    return {
      ...entry,
      status: 'failed',
      reason: `every one of the ${failures} judgment(s) of the scorer "${name}" failed${failureReasons[0] ? `: ${failureReasons[0]}` : ''}`,
    };
  return {
    ...entry,
    status: 'no_test_score',
    reason:
      judgments === 0
        ? `the scorer "${name}" judged no test sequence`
        : `the scorer "${name}" gives no value on the ${judgments} judgment(s) of the test split`,
  };
}

/** A scorer the run reports, as the stage uses it. */
export type ReportedScorer =
  /** The selection scorer: its entry is the row's own `score`, `ci` and null score, computed once. */
  | { readonly name: string; readonly kind: 'selection' }
  /** Another scorer of simulations: evaluated on the chosen description's test simulation. */
  | { readonly name: string; readonly kind: 'simulation'; readonly scorer: SetScorer }
  | { readonly name: string; readonly kind: 'judge'; readonly scorer: JudgeScorer };

/** The reported scorers in config order, each in the form the stage uses. */
export function reportedScorersOf(
  scorers: readonly { readonly name: string; readonly scorer: Scorer; readonly sameAsSelection: boolean }[],
): ReportedScorer[] {
  return scorers.map(({ name, scorer, sameAsSelection }) => {
    if (sameAsSelection) return { name, kind: 'selection' };
    if (isJudgeScorer(scorer)) return { name, kind: 'judge', scorer };
    return { name, kind: 'simulation', scorer: setScorerOf(scorer) };
  });
}

/** A result row as its entries are made from it. */
interface RowOutcome {
  readonly status: ResultStatus;
  readonly reason: string | null;
  readonly description: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
}

/**
 * Every reported scorer's entry of a row: a row without a chosen description gives each its status and reason;
 * otherwise the selection scorer's entry is the row's own score (its status `scored` or `no_test_score`, with the
 * row's reason), the others' as computed (`simulationEntries`, `judgeAll`).
 */
export function scoresOfRow(
  scorers: readonly ReportedScorer[],
  row: RowOutcome,
  testSequences: number,
  computed: Readonly<Record<string, ScoreEntry>>,
): Record<string, ScoreEntry> {
  return Object.fromEntries(
    scorers.map((s): [string, ScoreEntry] => {
      if (row.description === null) return [s.name, noScore(row.status, row.reason)];
      if (s.kind === 'selection')
        return [
          s.name,
          {
            status: row.status,
            reason: row.reason,
            score: row.score,
            ci: row.ci,
            null_score: null,
            judgments: row.score === null ? 0 : testSequences,
            failures: 0,
          },
        ];
      return [s.name, computed[s.name] ?? undefinedEntry(s.name, 0, 0, [])];
    }),
  );
}

/**
 * The other simulation scorers' entries, from the chosen description's test simulation (read on the thread that
 * holds it, before the finishing work takes the buffers): the value and its bootstrap interval over sequences.
 */
export function simulationEntries(
  scorers: readonly ReportedScorer[],
  detail: FeatureDetail | null,
  settings: Pick<ExpgenConfig['score'], 'bootstrap' | 'seed'>,
): Record<string, ScoreEntry> {
  const out: Record<string, ScoreEntry> = {};
  const sets = detail ? chosenSets(detail) : null;
  if (!sets || !detail) return out;
  for (const s of scorers) {
    if (s.kind !== 'simulation') continue;
    const score = s.scorer.value(sets.report);
    const interval =
      settings.bootstrap > 0
        ? s.scorer.intervalByResampling(sets.report, {
            resamples: settings.bootstrap,
            seed: settings.seed,
            strata: detail.report.strata,
          })
        : null;
    out[s.name] = {
      ...(score === null ? { status: 'no_test_score', reason: noTestScoreReason(null, s.name) } : scoredStatus),
      score,
      ci: interval ? [interval.low, interval.high] : null,
      null_score: null,
      judgments: score === null ? 0 : sets.report.length,
      failures: 0,
    };
  }
  return out;
}

const scoredStatus = { status: 'scored', reason: null } as const;

/** The judge's request for one feature-sign: its kept test-split lists, with the description to judge. */
export function judgeRequestOf(
  key: FeatureKey,
  sign: Sign,
  description: string,
  exemplars: FeatureExemplars,
  seed: number,
  purpose: JudgeRequest['purpose'],
): JudgeRequest {
  const other: Sign = sign === 'positive' ? 'negative' : 'positive';
  return {
    feature: key,
    sign,
    description,
    sequences: {
      top: exemplars[sign].map(judgeSequence),
      opposite: exemplars[other].map(judgeSequence),
      random: exemplars.random.map(judgeSequence),
    },
    seed,
    purpose,
  };
}

/** A stored row as the contract's sequence; made once per row (the null baseline judges the same rows again). */
const judgeSequences = new WeakMap<ExemplarRow, JudgeSequence>();
function judgeSequence(row: ExemplarRow): JudgeSequence {
  let sequence = judgeSequences.get(row);
  if (!sequence) {
    const tokens = new Array<number>(row.tokens.length);
    for (let t = 0; t < tokens.length; t++) tokens[t] = row.tokens[t]!;
    sequence = { tokens, activations: row.activations, countFrom: row.countFrom, rank: row.rank };
    judgeSequences.set(row, sequence);
  }
  return sequence;
}

/** One judge scorer's outcome for a request: the entry (without its null score) and what the detail file keeps. */
export interface Judged {
  readonly entry: ScoreEntry;
  readonly judgments: readonly Judgment[];
  readonly failureReasons: readonly string[];
  readonly stats: Readonly<Record<string, number | null>>;
  readonly judgedBy: Provenance;
  readonly usage: DescribeUsage | null;
}

/**
 * Asks every judge scorer about one request, side by side: the value of the answered judgments, its bootstrap
 * interval over the judged sequences (resampled within truth classes, so both keep their size), and the counts.
 * A judge's answer that points at no sequence of the request, or a value out of [0, 1], is the plugin's error.
 */
export async function judgeAll(
  scorers: readonly ReportedScorer[],
  request: JudgeRequest,
  settings: Pick<ExpgenConfig['score'], 'bootstrap' | 'seed'>,
): Promise<Record<string, Judged>> {
  const judges = scorers.filter((s): s is Extract<ReportedScorer, { kind: 'judge' }> => s.kind === 'judge');
  const where = `${formatFeatureKey(request.feature)} (${request.sign})${request.purpose === 'null' ? ', null baseline' : ''}`;
  const outcomes = await Promise.all(
    judges.map(async ({ name, scorer }) => {
      const { plugin, component } = scorer.provenance;
      const fail = (what: string, error: unknown) =>
        pluginError(plugin, `scorer "${component}" ${what} ${where}`, error);
      let result: Awaited<ReturnType<JudgeScorer['judge']>>;
      try {
        result = await scorer.judge(request);
      } catch (error) {
        throw fail('judging', error);
      }
      for (const j of result.judgments) {
        const list = request.sequences[j.list];
        if (
          list === undefined ||
          !Number.isInteger(j.index) ||
          j.index < 0 ||
          j.index >= list.length ||
          typeof j.truth !== 'boolean' ||
          (j.answer !== null && typeof j.answer !== 'boolean')
        )
          throw fail(
            'judging',
            new Error(
              `it returned a judgment that is not one of a sequence it was given (list ${String(j.list)}, index ${String(j.index)}, truth ${String(j.truth)}, answer ${String(j.answer)})`,
            ),
          );
      }
      const answered = result.judgments.filter((j) => j.answer !== null);
      const value = (sample: readonly Judgment[]) => {
        let v: number | null;
        try {
          v = scorer.valueOfJudgments(sample);
        } catch (error) {
          throw fail('valueOfJudgments', error);
        }
        if (v !== null && !(Number.isFinite(v) && v >= 0 && v <= 1))
          throw fail(
            'valueOfJudgments',
            new Error(`it gave ${v}: a value is a rate in [0, 1], or null when undefined`),
          );
        return v;
      };
      const score = value(answered);
      const interval =
        settings.bootstrap > 0 && score !== null
          ? bootstrapCI(answered, value, {
              resamples: settings.bootstrap,
              seed: settings.seed,
              strata: answered.map((j) => (j.truth ? 'true' : 'false')),
            })
          : null;
      const failures = result.judgments.length - answered.length;
      const judged: Judged = {
        entry:
          score === null
            ? undefinedEntry(name, answered.length, failures, result.failures)
            : {
                ...scoredStatus,
                score,
                ci: interval ? [interval.low, interval.high] : null,
                null_score: null,
                judgments: answered.length,
                failures,
              },
        judgments: result.judgments,
        failureReasons: result.failures,
        stats: result.stats,
        judgedBy: result.judgedBy,
        usage: result.usage ?? null,
      };
      return [name, judged] as const;
    }),
  );
  return Object.fromEntries(outcomes);
}

/** What the judge calls of one feature-sign cost, summed over its judge scorers, in the stage's cost units. */
export function judgeCost(judged: Readonly<Record<string, Judged>>): {
  explainer_requests: number;
  prompt_tokens: number;
  cached_prompt_tokens: number;
  completion_tokens: number;
  cached_calls: number;
} {
  const cost = {
    explainer_requests: 0,
    prompt_tokens: 0,
    cached_prompt_tokens: 0,
    completion_tokens: 0,
    cached_calls: 0,
  };
  for (const { usage } of Object.values(judged)) {
    if (!usage) continue;
    cost.explainer_requests += usage.calls;
    cost.prompt_tokens += usage.promptTokens;
    cost.cached_prompt_tokens += usage.cachedPromptTokens ?? 0;
    cost.completion_tokens += usage.completionTokens;
    cost.cached_calls += usage.cachedCalls ?? 0;
  }
  return cost;
}

/** `format` of the judgments files (docs/output-format.md). */
export const JUDGMENTS_FORMAT = 'expgen-judgments/1';

/** Where a feature-sign's judgments go: beside its detail file, `<index>.<sign>.judgments.json`. */
export function judgmentsFile(outDir: string, key: FeatureKey, sign: Sign): string {
  return featureDetailFile(outDir, key, sign).replace(/\.json$/, '.judgments.json');
}

/**
 * Writes every judge scorer's judgments of a feature-sign (each sequence shown: its list, index, rank, group, the
 * truth and the answer), the failure reasons and the scorer's statistics, so any score can be recomputed.
 */
export async function writeJudgments(
  outDir: string,
  key: FeatureKey,
  sign: Sign,
  description: string,
  exemplars: FeatureExemplars,
  judged: Readonly<Record<string, Judged>>,
): Promise<void> {
  const other: Sign = sign === 'positive' ? 'negative' : 'positive';
  const lists = { top: exemplars[sign], opposite: exemplars[other], random: exemplars.random };
  const scorers = Object.fromEntries(
    Object.entries(judged).map(([name, j]) => [
      name,
      {
        status: j.entry.status,
        reason: j.entry.reason,
        score: j.entry.score,
        ci: j.entry.ci,
        judgments: j.entry.judgments,
        failures: j.entry.failures,
        stats: j.stats,
        failure_reasons: j.failureReasons,
        judged_by: provenanceRecord(j.judgedBy),
        shown: j.judgments.map((s) => ({
          list: s.list,
          index: s.index,
          rank: lists[s.list][s.index]?.rank ?? null,
          sequence: lists[s.list][s.index]?.sequence ?? null,
          group: s.group,
          truth: s.truth,
          answer: s.answer,
        })),
      },
    ]),
  );
  const document = {
    ...jsonHeader(JUDGMENTS_FORMAT),
    feature: formatFeatureKey(key),
    space: key.space,
    layer: key.layer,
    index: key.index,
    sign,
    description,
    split: 'test',
    scorers,
  };
  const text = `${JSON.stringify(document)}\n`;
  await writeFileDurably(judgmentsFile(outDir, key, sign), text);
}
