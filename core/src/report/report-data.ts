import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ExpgenError, parseFeatureKey, type Logger, type Sign } from '@expgen/contract';
import { MANIFEST_FILE } from '../engine/run-manifest.js';
import { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { layerFolderName, manifestPath, spaceFolderName, type DistributionRow } from '../exemplars/storage/index.js';
import { summarize, type ResultRow, type RunSummary } from '../score/score-stage.js';
import { visibleText } from './escape.js';
import { groupTokens, type ReportTokenizer } from './token-groups.js';

/**
 * The report's data model: what the page script renders. Every string in it has been through `visibleText`
 * (the page additionally only ever sets strings as text, never as markup). Numbers are rounded for size.
 */

/** One sign of a feature: its result, as the feature page shows it. */
export interface SignSummary {
  readonly status: ResultRow['status'];
  readonly description: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  readonly selectionScore: number | null;
  readonly reason: string | null;
}

/** One sign of a feature as the index shows it (kept small: an index may list 10,000 features). */
export interface IndexSign {
  readonly status: ResultRow['status'];
  readonly description: string | null;
  readonly score: number | null;
  readonly ci: readonly [number, number] | null;
  /** Index into `IndexData.reasons` (the same few reasons repeat over thousands of rows), or null. */
  readonly reason: number | null;
}

export interface IndexEntry {
  readonly key: string;
  /** Folder layout: the feature page, relative to the index. Single file: null (the page is inside). */
  readonly href: string | null;
  readonly positive: IndexSign | null;
  readonly negative: IndexSign | null;
}

export interface IndexData {
  readonly entries: readonly IndexEntry[];
  /** Why signs failed or were skipped, each once. */
  readonly reasons: readonly string[];
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
  readonly seed: number | null;
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

/** A finished run folder, read for the report. */
export interface RunForReport {
  readonly dir: string;
  readonly info: RunInfo;
  /** Features in results order, with their result rows per sign. */
  readonly features: readonly { readonly key: string; readonly rows: Partial<Record<Sign, ResultRow>> }[];
  /** `descriptions/candidates.jsonl` by `{feature}:{sign}` (for failures and thresholds). */
  readonly described: ReadonlyMap<string, DescribedLine>;
  readonly manifest: Record<string, unknown> | null;
}

interface DescribedLine {
  readonly candidates?: readonly { readonly description: string; readonly seed: number }[];
  readonly failures?: readonly { readonly seed: number; readonly reason: string; readonly detail: string }[];
  readonly threshold?: number | null;
  readonly thresholdRule?: string | null;
}

interface FeatureDetailFile {
  readonly chosen: number | null;
  readonly selection: readonly DetailExemplar[];
  readonly report: readonly DetailExemplar[];
  readonly candidates: readonly {
    readonly description: string;
    readonly seed: number | null;
    readonly selectionScore: number | null;
    readonly selectionPredictions: readonly (readonly (number | null)[])[];
    readonly reportPredictions: readonly (readonly (number | null)[])[] | null;
  }[];
}

interface DetailExemplar {
  readonly split: string | null;
  readonly stratum: string;
  readonly rank: number;
  readonly sequence: number | null;
  readonly dataset: string;
  readonly document: string | null;
  readonly countFrom: number;
  readonly tokens: readonly number[];
  readonly activations: readonly (number | null)[];
}

/** Reads `results.jsonl`, the manifest and the candidates of a finished run folder. */
export function readRunForReport(dir: string): RunForReport {
  const resultsPath = join(dir, 'results.jsonl');
  if (!existsSync(resultsPath)) {
    throw new ExpgenError(
      `${dir} holds no finished run (no results.jsonl): run "expgen run --out ${dir}" (or "expgen score") there first`,
    );
  }
  const rows = readJsonLines<ResultRow>(resultsPath);
  const manifestFile = join(dir, MANIFEST_FILE);
  const manifest = existsSync(manifestFile) ? (readJson(manifestFile) as Record<string, unknown>) : null;
  const features: { key: string; rows: Partial<Record<Sign, ResultRow>> }[] = [];
  const byKey = new Map<string, Partial<Record<Sign, ResultRow>>>();
  for (const row of rows) {
    if (typeof row.feature !== 'string' || (row.sign !== 'positive' && row.sign !== 'negative')) {
      throw new ExpgenError(
        `${resultsPath}: a row without a feature key and sign (${JSON.stringify(row).slice(0, 80)})`,
      );
    }
    parseFeatureKey(row.feature);
    let entry = byKey.get(row.feature);
    if (!entry) {
      byKey.set(row.feature, (entry = {}));
      features.push({ key: row.feature, rows: entry });
    }
    entry[row.sign] = row;
  }
  const described = new Map<string, DescribedLine>();
  const candidatesPath = join(dir, 'descriptions', 'candidates.jsonl');
  if (existsSync(candidatesPath)) {
    for (const line of readJsonLines<DescribedLine & { feature: string; sign: string }>(candidatesPath))
      described.set(`${line.feature}:${line.sign}`, line);
  }
  const config = (manifest?.config ?? {}) as { score?: { bootstrap?: number; seed?: number } };
  const summary = summarize(rows, { bootstrap: config.score?.bootstrap ?? 1000, seed: config.score?.seed ?? 0 });
  return { dir, info: runInfo(dir, manifest, summary, features.length), features, described, manifest };
}

function runInfo(
  dir: string,
  manifest: Record<string, unknown> | null,
  summary: RunSummary,
  features: number,
): RunInfo {
  const subject = manifest?.subject as { architecture?: string; layers?: number; dtype?: string } | undefined;
  const components = Array.isArray(manifest?.components)
    ? (manifest.components as { kind?: string; component?: string; plugin?: string; pluginVersion?: string }[])
    : [];
  return {
    name: visibleText(basename(dir)),
    command: typeof manifest?.command === 'string' ? visibleText(manifest.command) : null,
    configHash: typeof manifest?.configHash === 'string' ? visibleText(manifest.configHash) : null,
    subject: subject
      ? visibleText(
          [subject.architecture, subject.layers !== undefined ? `${subject.layers} layers` : null, subject.dtype]
            .filter((x) => x !== null && x !== undefined)
            .join(', '),
        )
      : null,
    components: components.map((c) => ({
      kind: visibleText(String(c.kind ?? '?')),
      name: visibleText(`${c.component ?? '?'} (${c.plugin ?? '?'} ${c.pluginVersion ?? ''})`.replace(/ \)$/, ')')),
    })),
    summary,
    features,
  };
}

export function signSummary(row: ResultRow | undefined): SignSummary | null {
  if (!row) return null;
  return {
    status: row.status,
    description: row.description === null ? null : visibleText(row.description),
    score: round(row.score),
    ci: row.ci ? [round(row.ci[0])!, round(row.ci[1])!] : null,
    selectionScore: round(row.selectionScore),
    reason: row.reason === null ? null : visibleText(row.reason),
  };
}

export function indexData(run: RunForReport, href: (key: string) => string | null): IndexData {
  const reasons = new StringTable();
  const sign = (row: ResultRow | undefined): IndexSign | null => {
    const s = signSummary(row);
    return (
      s && {
        status: s.status,
        description: s.description,
        score: s.score,
        ci: s.ci,
        reason: s.reason === null ? null : reasons.id(s.reason),
      }
    );
  };
  const entries = run.features.map(({ key, rows }) => ({
    key,
    href: href(key),
    positive: sign(rows.positive),
    negative: sign(rows.negative),
  }));
  return { entries, reasons: reasons.values };
}

/** Where stage 3 put a feature's detail: `features/<space>/layer-LL/<index>.<sign>.json`. */
export function featureDetailPath(dir: string, key: string, sign: Sign): string {
  const k = parseFeatureKey(key);
  return join(dir, 'features', spaceFolderName(k.space), layerFolderName(k.layer), `${k.index}.${sign}.json`);
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
    const detail = existsSync(path) ? (readJson(path) as FeatureDetailFile) : null;
    const described = run.described.get(`${feature.key}:${sign}`);
    const view = (e: DetailExemplar, split: string) => exemplarView(e, split, tokenizer, strings);
    const candidates: CandidateView[] = detail
      ? detail.candidates.map((c) => ({
          description: visibleText(c.description),
          seed: c.seed ?? null,
          selectionScore: round(c.selectionScore),
        }))
      : (described?.candidates ?? []).map((c) => ({
          description: visibleText(c.description),
          seed: c.seed,
          selectionScore: null,
        }));
    const chosen = detail?.chosen ?? null;
    const chosenReport = chosen !== null ? (detail?.candidates[chosen]?.reportPredictions ?? null) : null;
    signs.push({
      ...signSummary(row)!,
      sign,
      pearson: round(row.pearson),
      rSquared: round(row.rSquared),
      absoluteDeviationExplained: round(row.absoluteDeviationExplained),
      pooledScore: round(row.pooledScore),
      nullScore: round(row.nullScore),
      threshold: round(described?.threshold ?? null),
      thresholdRule: described?.thresholdRule ? visibleText(described.thresholdRule) : null,
      chosen,
      candidates,
      failures: (described?.failures ?? []).map((f) => ({
        seed: f.seed,
        reason: visibleText(String(f.reason)),
        detail: visibleText(String(f.detail ?? '')),
      })),
      report: detail?.report.map((e) => view(e, 'test')) ?? [],
      reportPredictions: chosenReport ? chosenReport.map(roundAll) : null,
      selection: detail?.selection.map((e) => view(e, 'valid')) ?? [],
      selectionPredictions: detail?.candidates.map((c) => c.selectionPredictions.map(roundAll)) ?? [],
      histogram: histogramView(distributions, sign),
    });
  }
  return { key: feature.key, strings: shared ? null : strings.values, signs };
}

/** Opens the exemplars (for the activation histograms); null, with a warning, when the folder has none. */
export function openLibrary(exemplarsDir: string, logger?: Logger): ExemplarLibrary | null {
  if (!existsSync(manifestPath(exemplarsDir))) {
    logger?.warn(
      `${join(exemplarsDir, 'exemplars')} holds no exemplars: the report shows no activation histograms (pass --exemplars DIR where stage 1 ran)`,
    );
    return null;
  }
  try {
    return ExemplarLibrary.open(exemplarsDir);
  } catch (error) {
    logger?.warn(`${(error as Error).message}: the report shows no activation histograms`);
    return null;
  }
}

async function distributionRows(
  library: ExemplarLibrary,
  key: string,
): Promise<{ split: string; row: DistributionRow }[]> {
  const k = parseFeatureKey(key);
  if (!library.manifest.layers.some((l) => l.space === k.space && l.layer === k.layer && k.index < l.features))
    return [];
  const out: { split: string; row: DistributionRow }[] = [];
  for (const split of library.splits) {
    try {
      const row = await library.distribution(k, split);
      if (row) out.push({ split, row });
    } catch {
      // A split without a distribution file (a partial copy of the run): the histogram uses the others.
    }
  }
  return out;
}

const FINE_BINS = 40;

/**
 * The distribution of per-sequence extremes in the sign's direction over every split: exact (from the kept
 * extremes, 40 bins over their range) when every sequence's extreme was kept, else the stored histogram cropped
 * to the bins that hold anything.
 */
export function histogramView(
  rows: readonly { split: string; row: DistributionRow }[],
  sign: Sign,
): HistogramView | null {
  if (rows.length === 0) return null;
  const what = sign === 'positive' ? 'per-sequence maxima' : 'per-sequence minima';
  const splits = rows.map((r) => r.split).join(', ');
  const complete = rows.every(
    ({ row }) =>
      row.sequencesSeen !== null &&
      (sign === 'positive' ? row.maxExtremes : row.minExtremes).length >= row.sequencesSeen,
  );
  if (complete) {
    const values = rows
      .flatMap(({ row }) => Array.from(sign === 'positive' ? row.maxExtremes : row.minExtremes))
      .filter(Number.isFinite);
    if (values.length === 0) return null;
    let low = values.reduce((a, b) => Math.min(a, b));
    let high = values.reduce((a, b) => Math.max(a, b));
    if (high === low) {
      low -= 0.5;
      high += 0.5;
    }
    const counts = new Array<number>(FINE_BINS).fill(0);
    for (const v of values) counts[Math.min(FINE_BINS - 1, Math.floor(((v - low) / (high - low)) * FINE_BINS))]!++;
    return {
      label: `${what}, ${values.length} sequences (${splits})`,
      low: round(low)!,
      high: round(high)!,
      counts,
      below: 0,
      above: 0,
    };
  }
  const histograms = rows.map(({ row }) => row.histogram).filter((h) => h !== null);
  const first = histograms[0];
  if (!first) return null;
  const same = histograms.filter(
    (h) => h.low === first.low && h.high === first.high && h.max.length === first.max.length,
  );
  const sum = new Array<number>(first.max.length).fill(0);
  for (const h of same)
    (sign === 'positive' ? h.max : h.min).forEach((c, i) => {
      sum[i]! += c;
    });
  const bins = sum.length - 2;
  const inner = sum.slice(1, bins + 1);
  let from = inner.findIndex((c) => c > 0);
  let to = inner.length - 1 - [...inner].reverse().findIndex((c) => c > 0);
  if (from < 0) {
    from = 0;
    to = bins - 1;
  }
  const width = (first.high - first.low) / bins;
  const total = sum.reduce((a, b) => a + b, 0);
  return {
    label: `${what}, ${total} sequences (${same.length === rows.length ? splits : `${same.length} of ${rows.length} splits`})`,
    low: round(first.low + from * width)!,
    high: round(first.low + (to + 1) * width)!,
    counts: inner.slice(from, to + 1),
    below: sum[0]! + inner.slice(0, from).reduce((a, b) => a + b, 0),
    above: sum[bins + 1]! + inner.slice(to + 1).reduce((a, b) => a + b, 0),
  };
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
    countFrom: e.countFrom,
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

/** Scores and statistics: four significant digits. */
export function round(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Number(value.toPrecision(4));
}

/** Per-token activations and predictions: three significant digits, what the page shows (about a third of the bytes). */
function roundAll(values: ArrayLike<number | null>): (number | null)[] {
  return Array.from(values, (v) => (v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(3))));
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ExpgenError(`${path}: not readable as JSON (${(error as Error).message})`);
  }
}

function readJsonLines<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as T;
      } catch (error) {
        throw new ExpgenError(`${path}: line ${i + 1} is not JSON (${(error as Error).message})`);
      }
    });
}
