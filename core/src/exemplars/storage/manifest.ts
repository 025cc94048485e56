import { readFileSync } from 'node:fs';
import { ExpgenError, isValidSpace } from '@expgen/contract';
import type { HistogramBins } from '../state/activation-distribution.js';
import { expgenVersion } from '../../engine/output-records.js';
import { writeBytesAtomically } from './arrow-io.js';
import { checkLayerSplitKey, manifestPath, type LayerSplitKey } from './layout.js';

/**
 * `exemplars/manifest.json`: what an exemplar output folder holds. Written last, after every Arrow file, so a
 * folder without it is unfinished. Its content is a function of the run's results only (no times, hosts or
 * paths), so a merge of shards writes exactly the manifest a single run over their union writes.
 *
 * {
 *   "format": "expgen-exemplars-manifest/2",
 *   "expgen_version": "0.1.0",                    the expgen that wrote it
 *   "config_hash": "<sha256 of the resolved config>",
 *   "shard": { "index": 0, "count": 1 },          this output is shard index of count (0-based)
 *   "complete": true,                             false while the shard's stream has not reached its end
 *   "parameters": { seq_len, k, random_count, random_seed, extremes_kept, histogram: { low, high, bins },
 *                   histogram_sample, counted_from },
 *   "datasets": ["fineweb", "lmsys-chat-1m"],     sorted dataset names (a sequence's dataset index points here)
 *   "splits": { "train": { "sequences_seen": 123, "tokens_seen": 11685 }, ... },   keys sorted
 *   "layers": [ { "space": "mlp", "layer": 0, "features": 14336 }, ... ]          sorted by space, then layer
 *             (`"selected": [2183, ...]` when the run kept only those features of the layer: `--features`)
 *   "imported": { "from": "transluce-released", "model_id": "..." }             only for converted released dumps
 * }
 *
 * Every (layer, split) pair listed has both files: `<split>.arrow` and `<split>.distribution.feather`.
 * `random_seed` is a decimal string because it is a 64-bit integer. `counted_from` is the number of leading
 * positions that do not count for the per-sequence extremes (a fixed prefix; ForwardRequest.countFrom).
 * `histogram_sample` is the fraction of sequences the histograms count (absent in older folders: every one).
 * Format 1 (expgen before the output names became snake_case) spelled the same keys in camelCase (`configHash`,
 * `seqLen`, `sequencesSeen`, `modelId`, ...): it is still read, and written again as format 2 by a merge.
 * In memory (`ExemplarManifest`) the fields keep their TypeScript names; `manifestFileForm` is the file's.
 */
export const MANIFEST_FORMAT = 'expgen-exemplars-manifest/2';
const MANIFEST_FORMAT_1 = 'expgen-exemplars-manifest/1';

export interface ExemplarParameters {
  readonly seqLen: number;
  readonly k: number;
  /** Random sequences per split (0: none kept). */
  readonly randomCount: number;
  /** Seed of the random-sequence selection hash, as a decimal string (a uint64). */
  readonly randomSeed: string;
  /** M: extremes kept per feature and sign for the tail quantiles. */
  readonly extremesKept: number;
  /** Histogram bins of the per-sequence extremes; null for imported dumps, which have none. */
  readonly histogram: HistogramBins | null;
  /** Fraction of sequences (by a hash of the id) whose extremes the histograms count; 1: every sequence. */
  readonly histogramSample: number;
  /** Leading positions of every sequence that do not count for extremes and ranking. */
  readonly countedFrom: number;
}

export interface SplitCounts {
  /** Sequences of this split streamed through the subject (null when unknown: imported dumps). */
  readonly sequencesSeen: number | null;
  /** Counted tokens of those sequences: N of the tail quantiles (null when unknown). */
  readonly tokensSeen: number | null;
}

export interface ManifestLayer {
  readonly space: string;
  readonly layer: number;
  /** Features of the layer. */
  readonly features: number;
  /** The features the output holds, ascending, when the run selected only some (`--features`); absent: all. */
  readonly selected?: readonly number[];
}

/** The features a manifest layer holds, ascending. */
export function layerFeatures(layer: ManifestLayer): readonly number[] {
  return layer.selected ?? Array.from({ length: layer.features }, (_, i) => i);
}

export interface ExemplarManifest {
  readonly format: string;
  readonly configHash: string;
  readonly shard: { readonly index: number; readonly count: number };
  readonly complete: boolean;
  readonly parameters: ExemplarParameters;
  readonly datasets: readonly string[];
  readonly splits: Readonly<Record<string, SplitCounts>>;
  readonly layers: readonly ManifestLayer[];
  readonly imported?: { readonly from: string; readonly modelId: string | null };
}

/** The manifest with keys in a fixed order, splits sorted and layers sorted: the form that is written. */
export function normalizeManifest(manifest: ExemplarManifest): ExemplarManifest {
  const p = manifest.parameters;
  const splits: Record<string, SplitCounts> = {};
  for (const name of Object.keys(manifest.splits).sort()) {
    const counts = manifest.splits[name]!;
    splits[name] = { sequencesSeen: counts.sequencesSeen, tokensSeen: counts.tokensSeen };
  }
  const layers = manifest.layers
    .map((l) => ({
      space: l.space,
      layer: l.layer,
      features: l.features,
      ...(l.selected ? { selected: [...l.selected] } : {}),
    }))
    .sort((a, b) => (a.space !== b.space ? (a.space < b.space ? -1 : 1) : a.layer - b.layer));
  return {
    format: manifest.format,
    configHash: manifest.configHash,
    shard: { index: manifest.shard.index, count: manifest.shard.count },
    complete: manifest.complete,
    parameters: {
      seqLen: p.seqLen,
      k: p.k,
      randomCount: p.randomCount,
      randomSeed: p.randomSeed,
      extremesKept: p.extremesKept,
      histogram: p.histogram ? { low: p.histogram.low, high: p.histogram.high, bins: p.histogram.bins } : null,
      histogramSample: p.histogramSample,
      countedFrom: p.countedFrom,
    },
    datasets: [...manifest.datasets],
    splits,
    layers,
    ...(manifest.imported ? { imported: { from: manifest.imported.from, modelId: manifest.imported.modelId } } : {}),
  };
}

/** The manifest as `manifest.json` spells it (and `expgen exemplars merge --json` prints it): snake_case keys. */
export function manifestFileForm(manifest: ExemplarManifest): Record<string, unknown> {
  const m = normalizeManifest(manifest);
  const p = m.parameters;
  return {
    format: MANIFEST_FORMAT,
    expgen_version: expgenVersion(),
    config_hash: m.configHash,
    shard: m.shard,
    complete: m.complete,
    parameters: {
      seq_len: p.seqLen,
      k: p.k,
      random_count: p.randomCount,
      random_seed: p.randomSeed,
      extremes_kept: p.extremesKept,
      histogram: p.histogram,
      histogram_sample: p.histogramSample,
      counted_from: p.countedFrom,
    },
    datasets: m.datasets,
    splits: Object.fromEntries(
      Object.entries(m.splits).map(([name, c]) => [
        name,
        { sequences_seen: c.sequencesSeen, tokens_seen: c.tokensSeen },
      ]),
    ),
    layers: m.layers,
    ...(m.imported ? { imported: { from: m.imported.from, model_id: m.imported.modelId } } : {}),
  };
}

/** Writes `exemplars/manifest.json` atomically, after checking it. Call it after every Arrow file is written. */
export function writeExemplarManifest(outDir: string, manifest: ExemplarManifest): string {
  const path = manifestPath(outDir);
  const form = manifestFileForm(manifest);
  checkManifest(path, form);
  writeBytesAtomically(path, `${JSON.stringify(form, null, 2)}\n`);
  return path;
}

/** Reads and checks `<outDir>/exemplars/manifest.json`. */
export function readExemplarManifest(outDir: string): ExemplarManifest {
  const path = manifestPath(outDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ExpgenError(
      missing
        ? `${outDir} has no ${path.slice(outDir.length + 1)}: it is not a finished exemplar output (the run did not complete, or this is not its output folder)`
        : `${path} cannot be read (${(error as Error).message})`,
      { cause: error },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ExpgenError(`${path} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return checkManifest(path, value);
}

/** The (space, layer, split) of every file pair the manifest lists, in manifest order (layers, then splits). */
export function manifestEntries(manifest: ExemplarManifest): LayerSplitKey[] {
  const splits = Object.keys(manifest.splits).sort();
  return manifest.layers.flatMap((l) => splits.map((split) => ({ space: l.space, layer: l.layer, split })));
}

export function manifestLayer(
  manifest: ExemplarManifest,
  key: { space: string; layer: number },
): ManifestLayer | undefined {
  return manifest.layers.find((l) => l.space === key.space && l.layer === key.layer);
}

function checkManifest(path: string, value: unknown): ExemplarManifest {
  const fail = (key: string, expected: string, got: unknown): never => {
    throw new ExpgenError(`${path}: "${key}" must be ${expected}, got ${JSON.stringify(got)}`);
  };
  const object = (v: unknown, key: string): Record<string, unknown> =>
    v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(key, 'an object', v);
  const integer = (v: unknown, key: string, min = 0): number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : fail(key, `an integer >= ${min}`, v);
  const nullableInteger = (v: unknown, key: string): number | null => (v === null ? null : integer(v, key));
  const string = (v: unknown, key: string): string => (typeof v === 'string' ? v : fail(key, 'a string', v));
  const fraction = (v: unknown, key: string): number =>
    typeof v === 'number' && v > 0 && v <= 1 ? v : fail(key, 'a fraction in (0, 1]', v);

  const root = object(value, '(root)');
  if (root['format'] !== MANIFEST_FORMAT && root['format'] !== MANIFEST_FORMAT_1) {
    throw new ExpgenError(
      `${path}: "format" is ${JSON.stringify(root['format'])}; this version of expgen reads ${MANIFEST_FORMAT} (and ${MANIFEST_FORMAT_1})`,
    );
  }
  // Format 1 spelled the keys in camelCase: `name` is the snake_case key, `camel` format 1's.
  const v1 = root['format'] === MANIFEST_FORMAT_1;
  const key = (name: string, camel: string) => (v1 ? camel : name);
  const configHash = string(root[key('config_hash', 'configHash')], key('config_hash', 'configHash'));
  const shardObject = object(root['shard'], 'shard');
  const count = integer(shardObject['count'], 'shard.count', 1);
  const index = integer(shardObject['index'], 'shard.index');
  if (index >= count) fail('shard.index', `below shard.count (${count})`, index);
  const complete =
    typeof root['complete'] === 'boolean' ? root['complete'] : fail('complete', 'true or false', root['complete']);

  const p = object(root['parameters'], 'parameters');
  let histogram: HistogramBins | null = null;
  if (p['histogram'] !== null) {
    const h = object(p['histogram'], 'parameters.histogram');
    const low = h['low'];
    const high = h['high'];
    if (
      typeof low !== 'number' ||
      typeof high !== 'number' ||
      !Number.isFinite(low) ||
      !Number.isFinite(high) ||
      !(low < high)
    )
      fail('parameters.histogram', 'finite low < high', h);
    histogram = { low: low as number, high: high as number, bins: integer(h['bins'], 'parameters.histogram.bins', 1) };
  }
  const parameter = (name: string, camel: string) => ({ v: p[key(name, camel)], at: `parameters.${key(name, camel)}` });
  const seed = parameter('random_seed', 'randomSeed');
  const randomSeed = string(seed.v, seed.at);
  if (!/^(0|[1-9][0-9]*)$/.test(randomSeed) || BigInt(randomSeed) >= 1n << 64n)
    fail(seed.at, 'a decimal uint64', randomSeed);
  const seqLen = parameter('seq_len', 'seqLen');
  const randomCount = parameter('random_count', 'randomCount');
  const extremesKept = parameter('extremes_kept', 'extremesKept');
  const histogramSample = parameter('histogram_sample', 'histogramSample');
  const countedFrom = parameter('counted_from', 'countedFrom');
  const parameters: ExemplarParameters = {
    seqLen: integer(seqLen.v, seqLen.at, 1),
    k: integer(p['k'], 'parameters.k', 1),
    randomCount: integer(randomCount.v, randomCount.at),
    randomSeed,
    extremesKept: integer(extremesKept.v, extremesKept.at, 1),
    histogram,
    histogramSample: histogramSample.v === undefined ? 1 : fraction(histogramSample.v, histogramSample.at),
    countedFrom: integer(countedFrom.v, countedFrom.at),
  };

  if (!Array.isArray(root['datasets'])) fail('datasets', 'a list of names', root['datasets']);
  const datasets = (root['datasets'] as unknown[]).map((d, i) => string(d, `datasets[${i}]`));
  for (let i = 1; i < datasets.length; i++)
    if (!(datasets[i - 1]! < datasets[i]!)) fail('datasets', 'sorted and without duplicates', datasets);

  const splitsObject = object(root['splits'], 'splits');
  const splits: Record<string, SplitCounts> = {};
  for (const [name, counts] of Object.entries(splitsObject)) {
    checkLayerSplitKey({ space: 'mlp', layer: 0, split: name });
    const c = object(counts, `splits.${name}`);
    const sequences = key('sequences_seen', 'sequencesSeen');
    const tokens = key('tokens_seen', 'tokensSeen');
    splits[name] = {
      sequencesSeen: nullableInteger(c[sequences], `splits.${name}.${sequences}`),
      tokensSeen: nullableInteger(c[tokens], `splits.${name}.${tokens}`),
    };
  }

  if (!Array.isArray(root['layers'])) fail('layers', 'a list', root['layers']);
  const seen = new Set<string>();
  const layers = (root['layers'] as unknown[]).map((entry, i) => {
    const l = object(entry, `layers[${i}]`);
    const space = string(l['space'], `layers[${i}].space`);
    if (!isValidSpace(space)) fail(`layers[${i}].space`, 'a feature space name', space);
    const layer = integer(l['layer'], `layers[${i}].layer`);
    const id = `${space}/${layer}`;
    if (seen.has(id)) fail('layers', 'without duplicates', id);
    seen.add(id);
    const features = integer(l['features'], `layers[${i}].features`, 1);
    if (l['selected'] === undefined) return { space, layer, features };
    const selected = Array.isArray(l['selected'])
      ? (l['selected'] as unknown[])
      : fail(`layers[${i}].selected`, 'a list', l['selected']);
    const indices = selected.map((v, j) => integer(v, `layers[${i}].selected[${j}]`));
    if (indices.length === 0 || indices.some((v, j) => v >= features || (j > 0 && v <= indices[j - 1]!)))
      fail(`layers[${i}].selected`, `ascending distinct features below ${features}`, selected);
    return { space, layer, features, selected: indices };
  });

  let imported: ExemplarManifest['imported'];
  if (root['imported'] !== undefined) {
    const im = object(root['imported'], 'imported');
    const modelId = key('model_id', 'modelId');
    imported = {
      from: string(im['from'], 'imported.from'),
      modelId: im[modelId] === null ? null : string(im[modelId], `imported.${modelId}`),
    };
  }
  return {
    format: MANIFEST_FORMAT,
    configHash,
    shard: { index, count },
    complete,
    parameters,
    datasets,
    splits,
    layers,
    ...(imported ? { imported } : {}),
  };
}
