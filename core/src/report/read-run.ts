import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ExpgenError, parseFeatureKey, type Sign } from '@expgen/contract';
import { readDescribedLine } from '../describe/described-feature.js';
import { MANIFEST_FILE, manifestConfigHash } from '../engine/run-manifest.js';
import { readResultRows } from '../score/read-results.js';
import { layerFolderName, spaceFolderName } from '../exemplars/storage/index.js';
import { summarize, type ResultRow, type RunSummary } from '../score/score-stage.js';
import { visibleText } from './escape.js';
import { plantedSummaryRow, readPlantedComparison, type PlantedComparisonRecord } from '../planted/index.js';
import type { PlantedMark, RunInfo } from './report-model.js';

/** A finished run folder, read for the report. */
export interface RunForReport {
  readonly dir: string;
  readonly info: RunInfo;
  /** Features in results order, with their result rows per sign. */
  readonly features: readonly { readonly key: string; readonly rows: Partial<Record<Sign, ResultRow>> }[];
  /** `descriptions/candidates.jsonl` by `{feature}:{sign}` (for failures and thresholds). */
  readonly described: ReadonlyMap<string, DescribedLine>;
  readonly manifest: Record<string, unknown> | null;
  /** The comparison with the subject's planted truth, by `{feature}|{sign}`; null when the subject had none. */
  readonly planted: ReadonlyMap<string, PlantedMark> | null;
}

interface DescribedLine {
  readonly candidates?: readonly { readonly description: string; readonly seed: number }[];
  readonly failures?: readonly { readonly seed: number; readonly reason: string; readonly detail: string }[];
  readonly threshold?: number | null;
  readonly threshold_rule?: string | null;
}

/** What the report reads of a per-feature detail file (`features/<space>/layer-LL/<index>.<sign>.json`). */
export interface FeatureDetailFile {
  readonly chosen: number | null;
  readonly selection: readonly DetailExemplar[];
  readonly report: readonly DetailExemplar[];
  readonly candidates: readonly {
    readonly description: string;
    readonly seed: number | null;
    readonly selection_score: number | null;
    readonly selection_predictions: readonly (readonly (number | null)[])[];
    readonly report_predictions: readonly (readonly (number | null)[])[] | null;
  }[];
}

export interface DetailExemplar {
  readonly split: string | null;
  readonly stratum: string;
  readonly rank: number;
  readonly sequence: number | null;
  readonly dataset: string;
  readonly document: string | null;
  readonly count_from: number;
  readonly tokens: readonly number[];
  readonly activations: readonly (number | null)[];
}

/**
 * A detail file of either spelling: this version's, or one written before the names became snake_case (no
 * `format`; `selectionScore`, `selectionPredictions`, `reportPredictions`, `countFrom`).
 */
export function readFeatureDetail(path: string): FeatureDetailFile {
  const value = readJson(path) as Record<string, unknown>;
  if (typeof value['format'] === 'string') return value as unknown as FeatureDetailFile;
  type Legacy = Record<string, unknown>;
  const exemplar = (e: Legacy) => {
    const { countFrom, ...rest } = e;
    return { ...rest, count_from: countFrom } as unknown as DetailExemplar;
  };
  const list = (v: unknown) => (Array.isArray(v) ? (v as Legacy[]) : []);
  return {
    chosen: (value['chosen'] as number | null | undefined) ?? null,
    selection: list(value['selection']).map(exemplar),
    report: list(value['report']).map(exemplar),
    candidates: list(value['candidates']).map((c) => ({
      description: String(c['description']),
      seed: (c['seed'] as number | null | undefined) ?? null,
      selection_score: (c['selectionScore'] as number | null | undefined) ?? null,
      selection_predictions: (c['selectionPredictions'] as (number | null)[][] | undefined) ?? [],
      report_predictions: (c['reportPredictions'] as (number | null)[][] | null | undefined) ?? null,
    })),
  };
}

/** Reads `results.jsonl`, the manifest and the candidates of a finished run folder. */
export function readRunForReport(dir: string): RunForReport {
  const resultsPath = join(dir, 'results.jsonl');
  if (!existsSync(resultsPath)) {
    throw new ExpgenError(
      `${dir} holds no finished run (no results.jsonl): run "expgen run --out ${dir}" (or "expgen score") there first`,
    );
  }
  const rows = readResultRows(resultsPath);
  const manifestFile = join(dir, MANIFEST_FILE);
  const manifest = existsSync(manifestFile) ? (readJson(manifestFile) as Record<string, unknown>) : null;
  const features: { key: string; rows: Partial<Record<Sign, ResultRow>> }[] = [];
  const byKey = new Map<string, Partial<Record<Sign, ResultRow>>>();
  for (const row of rows) {
    if (row.sign !== 'positive' && row.sign !== 'negative') {
      throw new ExpgenError(
        `${resultsPath}: a row without a feature key and sign (${JSON.stringify(row).slice(0, 80)})`,
      );
    }
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
    for (const line of readJsonLines<Record<string, unknown>>(candidatesPath)) {
      const read = readDescribedLine<DescribedLine & { feature: string; sign: string }>(line);
      described.set(`${read.feature}:${read.sign}`, read);
    }
  }
  const config = (manifest?.config ?? {}) as { score?: { bootstrap?: number; seed?: number } };
  const summary = summarize(rows, { bootstrap: config.score?.bootstrap ?? 1000, seed: config.score?.seed ?? 0 });
  const comparison = readPlantedComparison(dir);
  const planted = comparison
    ? new Map(comparison.verdicts.map((v) => [`${v.feature}|${v.sign}`, { class: v.class, recovered: v.recovered }]))
    : null;
  const info = { ...runInfo(dir, manifest, summary, features.length), planted: plantedInfo(comparison) };
  return { dir, info, features, described, manifest, planted };
}

function plantedInfo(comparison: PlantedComparisonRecord | null): RunInfo['planted'] {
  if (!comparison) return null;
  const [, line] = plantedSummaryRow(comparison);
  return {
    summary: visibleText(line),
    classes: Object.fromEntries(comparison.classes.map((c) => [visibleText(c.id), visibleText(c.description)])),
  };
}

function runInfo(
  dir: string,
  manifest: Record<string, unknown> | null,
  summary: RunSummary,
  features: number,
): Omit<RunInfo, 'planted'> {
  const subject = manifest?.subject as { architecture?: string; layers?: number; dtype?: string } | undefined;
  // Manifests of either spelling: `plugin_version`, or `pluginVersion` before the names became snake_case.
  const components = Array.isArray(manifest?.components)
    ? (manifest.components as {
        kind?: string;
        component?: string;
        plugin?: string;
        plugin_version?: string;
        pluginVersion?: string;
      }[])
    : [];
  const configHash = manifestConfigHash(manifest);
  return {
    name: visibleText(basename(dir)),
    command: typeof manifest?.command === 'string' ? visibleText(manifest.command) : null,
    configHash: configHash === null ? null : visibleText(configHash),
    subject: subject
      ? visibleText(
          [subject.architecture, subject.layers !== undefined ? `${subject.layers} layers` : null, subject.dtype]
            .filter((x) => x !== null && x !== undefined)
            .join(', '),
        )
      : null,
    components: components.map((c) => ({
      kind: visibleText(String(c.kind ?? '?')),
      name: visibleText(
        `${c.component ?? '?'} (${c.plugin ?? '?'} ${c.plugin_version ?? c.pluginVersion ?? ''})`.replace(/ \)$/, ')'),
      ),
    })),
    summary,
    features,
  };
}

/** Where stage 3 put a feature's detail: `features/<space>/layer-LL/<index>.<sign>.json`. */
export function featureDetailPath(dir: string, key: string, sign: Sign): string {
  const k = parseFeatureKey(key);
  return join(dir, 'features', spaceFolderName(k.space), layerFolderName(k.layer), `${k.index}.${sign}.json`);
}

export function readJson(path: string): unknown {
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
