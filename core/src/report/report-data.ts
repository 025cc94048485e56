import { existsSync } from 'node:fs';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import type { ResultRow } from '../score/score-stage.js';
import { visibleText } from './escape.js';
import { distributionRows, histogramView } from './histogram-view.js';
import { RESULT_STATUSES, STATUS_LABELS, STATUS_MEANINGS } from '../score/result-states.js';
import { featureDetailPath, readFeatureDetail, type DetailExemplar, type RunForReport } from './read-run.js';
import type {
  CandidateView,
  ExemplarView,
  FeaturePage,
  IndexData,
  IndexScore,
  IndexSign,
  ScoreView,
  SignDetail,
  SignSummary,
} from './report-model.js';
import { round, roundAll } from './rounding.js';
import { groupTokens, type ReportTokenizer } from './token-groups.js';

// From a run folder's files to the page data of the index and of each feature page.

export function signSummary(row: ResultRow | undefined, planted: RunForReport['planted'] = null): SignSummary | null {
  if (!row) return null;
  const mark = planted?.get(`${row.feature}|${row.sign}`);
  return {
    status: row.status,
    statusLabel: STATUS_LABELS[row.status] ?? row.status,
    description: row.description === null ? null : visibleText(row.description),
    score: round(row.score),
    ci: row.ci ? [round(row.ci[0])!, round(row.ci[1])!] : null,
    selectionScore: round(row.selection_score),
    scores: scoreViews(row),
    reason: row.reason === null ? null : visibleText(row.reason),
    ...(mark
      ? { planted: { class: mark.class === null ? null : visibleText(mark.class), recovered: mark.recovered } }
      : {}),
  };
}

/** The row's reported scorers, rounded; none when the run reports only the scorer of the row's own score. */
function scoreViews(row: ResultRow): ScoreView[] {
  const entries = Object.entries(row.scores ?? {});
  if (entries.length < 2) return [];
  return entries.map(([name, e]) => ({
    name: visibleText(name),
    status: e.status,
    statusLabel: STATUS_LABELS[e.status] ?? e.status,
    reason: e.reason === null ? null : visibleText(e.reason),
    score: round(e.score),
    ci: e.ci ? [round(e.ci[0])!, round(e.ci[1])!] : null,
    nullScore: round(e.null_score),
    judgments: e.judgments,
    failures: e.failures,
  }));
}

export function indexData(run: RunForReport, href: (key: string) => string | null): IndexData {
  const reasons = new StringTable();
  const sign = (row: ResultRow | undefined): IndexSign | null => {
    const s = signSummary(row, run.planted);
    return (
      s && {
        status: s.status,
        description: s.description,
        score: s.score,
        ci: s.ci,
        reason: s.reason === null ? null : reasons.id(s.reason),
        ...(s.planted ? { planted: s.planted } : {}),
        // A scorer's score, or its status and reason where it has none.
        scores: s.scores.map(
          (v): IndexScore =>
            v.score !== null
              ? [v.name, v.score]
              : [v.name, null, v.status, v.reason === null ? null : reasons.id(v.reason)],
        ),
      }
    );
  };
  const entries = run.features.map(({ key, rows }) => ({
    key,
    href: href(key),
    positive: sign(rows.positive),
    negative: sign(rows.negative),
  }));
  const counts = run.info.summary.states;
  const states = RESULT_STATUSES.map((status) => ({
    status,
    label: STATUS_LABELS[status],
    meaning: STATUS_MEANINGS[status],
    count: counts[status],
  }));
  return { entries, reasons: reasons.values, states };
}

/** Builds one feature's page data: both signs' candidates, exemplars (as display groups) and histograms. */
export async function featurePage(
  run: RunForReport,
  feature: RunForReport['features'][number],
  tokenizer: ReportTokenizer,
  library: ExemplarLibrary | null,
  shared?: StringTable,
): Promise<FeaturePage> {
  const strings = shared ?? new StringTable();
  const signs: SignDetail[] = [];
  const distributions = library ? await distributionRows(library, feature.key) : [];
  for (const sign of ['positive', 'negative'] as const) {
    const row = feature.rows[sign];
    if (!row) continue;
    const path = featureDetailPath(run.dir, feature.key, sign);
    const detail = existsSync(path) ? readFeatureDetail(path) : null;
    const described = run.described.get(`${feature.key}:${sign}`);
    const view = (e: DetailExemplar, split: string) => exemplarView(e, split, tokenizer, strings);
    const listed = detail
      ? detail.candidates
      : (described?.candidates ?? []).map((c) => ({ ...c, selection_score: null, selection_predictions: [] }));
    const { candidates, groupOf, representative } = sameTextOnce(listed, detail?.chosen ?? null);
    const chosen = detail?.chosen ?? null;
    const chosenReport = chosen !== null ? (detail?.candidates[chosen]?.report_predictions ?? null) : null;
    signs.push({
      ...signSummary(row, run.planted)!,
      sign,
      pearson: round(row.pearson),
      rSquared: round(row.r_squared),
      absoluteDeviationExplained: round(row.absolute_deviation_explained),
      pooledScore: round(row.pooled_score),
      nullScore: round(row.null_score),
      threshold: round(described?.threshold ?? null),
      thresholdRule: described?.threshold_rule ? visibleText(described.threshold_rule) : null,
      chosen: chosen === null ? null : groupOf[chosen]!,
      candidates,
      failures: (described?.failures ?? []).map((f) => ({
        seed: f.seed,
        reason: visibleText(String(f.reason)),
        detail: visibleText(String(f.detail ?? '')),
      })),
      report: detail?.report.map((e) => view(e, 'test')) ?? [],
      reportPredictions: chosenReport ? chosenReport.map(roundAll) : null,
      selection: detail?.selection.map((e) => view(e, 'valid')) ?? [],
      selectionPredictions: detail
        ? candidates.map((_, g) => listed[representative[g]!]!.selection_predictions.map(roundAll))
        : [],
      histogram: histogramView(distributions, sign),
    });
  }
  return { key: feature.key, strings: shared ? null : strings.values, signs };
}

/**
 * Candidates with the same text, shown once with their count and seeds (a describer sampling at low temperature,
 * or the baseline, often gives the same answer several times). `groupOf[i]` is candidate i's row;
 * `representative[g]` the candidate whose scores and simulation row g shows: the chosen one where it is in the
 * group (a deterministic simulator gives every copy the same), else the first.
 */
function sameTextOnce(
  listed: readonly {
    readonly description: string;
    readonly seed: number | null;
    readonly selection_score: number | null;
  }[],
  chosen: number | null,
): { candidates: CandidateView[]; groupOf: number[]; representative: number[] } {
  const rowOf = new Map<string, number>();
  const groupOf: number[] = [];
  const members: number[][] = [];
  listed.forEach((c, i) => {
    let g = rowOf.get(c.description);
    if (g === undefined) {
      rowOf.set(c.description, (g = members.length));
      members.push([]);
    }
    members[g]!.push(i);
    groupOf.push(g);
  });
  const representative = members.map((m) => (chosen !== null && m.includes(chosen) ? chosen : m[0]!));
  const candidates = members.map((m, g) => {
    const c = listed[representative[g]!]!;
    const seeds = m.map((i) => listed[i]!.seed).filter((seed): seed is number => seed !== null);
    return {
      description: visibleText(c.description),
      seed: listed[m[0]!]!.seed ?? null,
      count: m.length,
      seeds,
      selectionScore: round(c.selection_score),
    };
  });
  return { candidates, groupOf, representative };
}

function exemplarView(
  e: DetailExemplar,
  split: string,
  tokenizer: ReportTokenizer,
  strings: StringTable,
): ExemplarView {
  const groups = groupTokens(e.tokens, tokenizer);
  return {
    stratum: visibleText(String(e.stratum)),
    rank: e.rank,
    split: visibleText(e.split ?? split),
    document: e.document === null ? null : visibleText(e.document),
    dataset: visibleText(e.dataset),
    sequence: e.sequence,
    countFrom: e.count_from,
    text: groups.map((g) => strings.id(g.text)),
    sizes: groups.every((g) => g.count === 1) ? null : groups.map((g) => g.count),
    activations: roundAll(e.activations),
  };
}

/** Distinct strings, each stored once and referenced by index. */
export class StringTable {
  readonly values: string[] = [];
  private readonly ids = new Map<string, number>();
  id(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(text);
      this.ids.set(text, id);
    }
    return id;
  }
}
