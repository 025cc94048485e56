import type { ResultRow, RunSummary } from '../score/score-stage.js';
import type { Sign } from '@expgen/contract';

/**
 * The report's data model: what the page script renders. Every string in it has been through `visibleText`
 * (the page additionally only ever sets strings as text, never as markup). Numbers are rounded for size.
 */

/** One sign of a feature: its result, as the feature page shows it. */
/** What the subject's planted truth says of a feature-sign (runs whose subject has one: `core/src/planted/`). */
export interface PlantedMark {
  /** The planted class's id; null: left random on purpose. */
  readonly class: string | null;
  /** Whether the chosen description names the class; null for random features and rows without one. */
  readonly recovered: boolean | null;
}

/** One reported scorer's result for a feature-sign (`scores.<name>` of the results), rounded. */
export interface ScoreView {
  readonly name: string;
  /** The entry's own status (a judge's may differ from the row's), its label, and why when not `scored`. */
  readonly status: ResultRow['status'];
  readonly statusLabel: string;
  readonly reason: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  readonly nullScore: number | null;
  readonly judgments: number;
  readonly failures: number;
}

export interface SignSummary {
  readonly status: ResultRow['status'];
  /** The status in words (`no test score`). */
  readonly statusLabel: string;
  readonly description: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  readonly selectionScore: number | null;
  /** Every reported scorer, when the run reports more than one; empty otherwise (the score above says it all). */
  readonly scores: readonly ScoreView[];
  readonly reason: string | null;
  /** Absent when the run's subject carries no planted truth. */
  readonly planted?: PlantedMark;
}

/** One sign of a feature as the index shows it (kept small: an index may list 10,000 features). */
export interface IndexSign {
  readonly status: ResultRow['status'];
  readonly description: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  /** Index into `IndexData.reasons` (the same few reasons repeat over thousands of rows), or null. */
  readonly reason: number | null;
  readonly planted?: PlantedMark;
  /** Each reported scorer's name and test score, or its status and reason, when the run reports more than one. */
  readonly scores: readonly IndexScore[];
}

/** `[name, score]` of a scored entry; `[name, null, status, reason]` (an index into `IndexData.reasons`) otherwise. */
export type IndexScore = readonly [string, number] | readonly [string, null, ResultRow['status'], number | null];

export interface IndexEntry {
  readonly key: string;
  /** Folder layout: the feature page, relative to the index. Single file: null (the page is inside). */
  readonly href: string | null;
  readonly positive: IndexSign | null;
  readonly negative: IndexSign | null;
}

export interface IndexData {
  readonly entries: readonly IndexEntry[];
  /** Why signs have no score (each status but `scored`), each reason once. */
  readonly reasons: readonly string[];
  /** Every result status with its label, what it means and how many feature-signs have it: the index's legend. */
  readonly states: readonly {
    readonly status: ResultRow['status'];
    readonly label: string;
    readonly meaning: string;
    readonly count: number;
  }[];
}

export interface RunInfo {
  /** The run folder's name. */
  readonly name: string;
  readonly command: string | null;
  readonly configHash: string | null;
  /** e.g. `LlamaForCausalLM, 2 layers, fp32`. */
  readonly subject: string | null;
  /** Component kind -> `component (plugin version)`. */
  readonly components: readonly { readonly kind: string; readonly name: string }[];
  /** The comparison with the subject's planted truth: the summary line and each class's description by id. */
  readonly planted: { readonly summary: string; readonly classes: Readonly<Record<string, string>> } | null;
  readonly summary: RunSummary;
  readonly features: number;
}

/** One exemplar sequence: text as display groups (indices into the page's string table), one value per token. */
export interface ExemplarView {
  readonly stratum: string;
  readonly rank: number;
  readonly split: string;
  readonly document: string | null;
  readonly dataset: string;
  readonly sequence: number | null;
  /** First token that counts; tokens before it (a BOS, a fixed chat header) are shown greyed. */
  readonly countFrom: number;
  /** Per display group: index into `FeaturePage.strings`. */
  readonly text: readonly number[];
  /** Tokens per group; null when every group is one token. */
  readonly sizes: readonly number[] | null;
  /** True activation per token (null where undefined, e.g. padding). */
  readonly activations: readonly (number | null)[];
}

export interface HistogramView {
  /** What is counted, e.g. `per-sequence maxima, 300 sequences (train, valid, test)`. */
  readonly label: string;
  readonly low: number;
  readonly high: number;
  readonly counts: readonly number[];
  /** Values below `low` and at or above `high` (the stored histogram's under- and overflow, outside the shown range). */
  readonly below: number;
  readonly above: number;
}

export interface CandidateView {
  readonly description: string;
  /** Seed of the first candidate with this text. */
  readonly seed: number | null;
  /** How many candidates had exactly this text (a describer may sample the same one several times), and their seeds. */
  readonly count: number;
  readonly seeds: readonly number[];
  /** Score on the valid split, where the best of k was chosen; null when undefined. */
  readonly selectionScore: number | null;
}

export interface SignDetail extends SignSummary {
  readonly sign: Sign;
  readonly pearson: number | null;
  readonly rSquared: number | null;
  readonly absoluteDeviationExplained: number | null;
  readonly pooledScore: number | null;
  readonly nullScore: number | null;
  /** Marking threshold the describer's exemplars were shown with, and its rule. */
  readonly threshold: number | null;
  readonly thresholdRule: string | null;
  /** Index of the chosen candidate, or null. */
  readonly chosen: number | null;
  readonly candidates: readonly CandidateView[];
  /** Candidates the describer failed to produce: seed, reason, detail. */
  readonly failures: readonly { readonly seed: number; readonly reason: string; readonly detail: string }[];
  /** Test-split exemplars the chosen description was reported on. */
  readonly report: readonly ExemplarView[];
  /** The chosen description's simulation of `report`, per exemplar and token; null when nothing was chosen. */
  readonly reportPredictions: readonly (readonly (number | null)[])[] | null;
  /** Valid-split exemplars the candidates were chosen on. */
  readonly selection: readonly ExemplarView[];
  /** Per candidate, its simulation of `selection`, per exemplar and token. */
  readonly selectionPredictions: readonly (readonly (readonly (number | null)[])[])[];
  readonly histogram: HistogramView | null;
}

export interface FeaturePage {
  readonly key: string;
  /**
   * Display strings of token groups, referenced by index from exemplars; null when the page shares the table of
   * the file it is in (a single-file report holds one table, block `expgen-strings`).
   */
  readonly strings: readonly string[] | null;
  readonly signs: readonly SignDetail[];
}
