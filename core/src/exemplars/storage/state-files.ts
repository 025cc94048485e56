import { ExpgenError } from '@expgen/contract';
import { TAIL_FRACTIONS, type ActivationDistribution } from '../state/activation-distribution.js';
import type { RandomSequences } from '../state/random-sequences.js';
import { SequenceStore, type SequenceContent, type SequenceRecord } from '../state/sequence-store.js';
import type { TopKExemplars } from '../state/top-k-exemplars.js';
import { DistributionFileReader, writeDistributionFile, type DistributionRow } from './distribution-file.js';
import { ExemplarFileReader, writeExemplarFile, type ExemplarRowInput } from './exemplar-file.js';
import {
  checkLayerSplitKey,
  describeKey,
  distributionFilePath,
  exemplarFilePath,
  type LayerSplitKey,
} from './layout.js';
import {
  MANIFEST_FORMAT,
  manifestEntries,
  manifestLayer,
  readExemplarManifest,
  writeExemplarManifest,
  type ExemplarManifest,
  type ExemplarParameters,
  type SplitCounts,
} from './manifest.js';
import { distributionFromArrays, randomFromArrays, topKFromArrays, type RankedArrays } from './state-restore.js';

/** The streaming state of one (space, layer, split): what its two files are written from and loaded into. */
export interface LayerSplitState extends LayerSplitKey {
  readonly topK: TopKExemplars;
  /** The split's random sequences; absent when the run keeps none (randomCount 0). */
  readonly random?: RandomSequences;
  readonly distribution: ActivationDistribution;
}

/** What every file of one output shares: the config it came from, the state parameters, the dataset names. */
export interface ExemplarOutputInfo {
  readonly configHash: string;
  readonly parameters: ExemplarParameters;
  /** Sorted dataset names; SequenceRecord.datasetIndex indexes this list. */
  readonly datasets: readonly string[];
}

/**
 * Where the writer gets each sequence's tokens and metadata: a SequenceStore. `window` and `countFrom` (the first
 * position that counts: CorpusSequence.rankFrom) are written when the record has them; without them the window is
 * null and countFrom is the output's `parameters.countedFrom`.
 */
export interface SequenceLookup {
  get(sequenceId: number): (SequenceRecord & { readonly window?: number; readonly countFrom?: number }) | undefined;
}

/** The parameters of a state, for the manifest: read off the state objects so that they cannot disagree. */
export function parametersOf(
  state: Pick<LayerSplitState, 'topK' | 'random' | 'distribution'>,
  countedFrom: number,
): ExemplarParameters {
  return {
    seqLen: state.topK.seqLen,
    k: state.topK.k,
    randomCount: state.random?.count ?? 0,
    randomSeed: (state.random?.seed ?? 0n).toString(),
    extremesKept: state.distribution.keep,
    histogram: { ...state.distribution.bins },
    countedFrom,
  };
}

function checkState(state: LayerSplitState, info: ExemplarOutputInfo): void {
  checkLayerSplitKey(state);
  const where = describeKey(state);
  const expected = info.parameters;
  const actual = parametersOf(state, expected.countedFrom);
  const mismatch = (['seqLen', 'k', 'randomCount', 'extremesKept'] as const).find(
    (key) => actual[key] !== expected[key],
  );
  if (mismatch)
    throw new Error(
      `${where}: the state has ${mismatch} ${actual[mismatch]}, the output's parameters say ${expected[mismatch]}`,
    );
  if (state.random && actual.randomSeed !== expected.randomSeed)
    throw new Error(
      `${where}: the random sequences use seed ${actual.randomSeed}, the output's parameters say ${expected.randomSeed}`,
    );
  const h = expected.histogram;
  const b = state.distribution.bins;
  if (!h || h.low !== b.low || h.high !== b.high || h.bins !== b.bins)
    throw new Error(
      `${where}: the distribution's histogram ${JSON.stringify(b)} differs from the output's ${JSON.stringify(h)}`,
    );
  const features = state.topK.features;
  if (state.distribution.features !== features || (state.random && state.random.features !== features)) {
    throw new Error(
      `${where}: the states disagree on the number of features (top-k ${features}, random ${state.random?.features ?? '-'}, distribution ${state.distribution.features})`,
    );
  }
  if (state.random && state.random.seqLen !== state.topK.seqLen)
    throw new Error(`${where}: random sequences have seqLen ${state.random.seqLen}, top-k ${state.topK.seqLen}`);
  if (
    !Number.isSafeInteger(expected.countedFrom) ||
    expected.countedFrom < 0 ||
    expected.countedFrom > expected.seqLen
  ) {
    throw new Error(`${where}: countedFrom ${expected.countedFrom} is outside [0, seqLen ${expected.seqLen}]`);
  }
  for (let i = 1; i < info.datasets.length; i++) {
    if (!(info.datasets[i - 1]! < info.datasets[i]!))
      throw new Error(`exemplar output: dataset names must be sorted and unique, got ${JSON.stringify(info.datasets)}`);
  }
}

/**
 * The exemplar rows of one state, in file order. Rows are generated lazily, one feature at a time, so writing a
 * layer of 14,336 features never holds more than one record batch of rows.
 */
export function* exemplarRowsOf(
  state: LayerSplitState,
  sequences: SequenceLookup,
  info: ExemplarOutputInfo,
): Generator<ExemplarRowInput> {
  const where = describeKey(state);
  const lookup = (id: number, what: string) => {
    const record = sequences.get(id);
    if (!record)
      throw new Error(
        `${where}: sequence ${id} (${what}) has no tokens in the sequence store; the host must put() every row of a batch after the states take it`,
      );
    if (record.split !== state.split)
      throw new Error(`${where}: sequence ${id} (${what}) belongs to split "${record.split}"`);
    const dataset = info.datasets[record.datasetIndex];
    if (dataset === undefined)
      throw new Error(
        `${where}: sequence ${id} has dataset index ${record.datasetIndex}, but the output names ${info.datasets.length} datasets`,
      );
    const countFrom = typeof record.countFrom === 'number' ? record.countFrom : info.parameters.countedFrom;
    return { record, dataset, window: typeof record.window === 'number' ? record.window : null, countFrom };
  };
  for (let feature = 0; feature < state.topK.features; feature++) {
    for (const sign of ['positive', 'negative'] as const) {
      const entries = state.topK.entries(feature, sign);
      for (let rank = 0; rank < entries.length; rank++) {
        const entry = entries[rank]!;
        const { record, dataset, window, countFrom } = lookup(
          entry.sequenceId,
          `feature ${feature}, ${sign} rank ${rank}`,
        );
        yield {
          feature,
          sign,
          rank,
          activation: entry.extreme,
          sequence: entry.sequenceId,
          dataset,
          document: record.documentId,
          window,
          countFrom,
          tokens: record.tokens.subarray(0, record.length),
          activations: entry.activations.subarray(0, record.length),
        };
      }
    }
    if (state.random) {
      const entries = state.random.entries(feature);
      for (let rank = 0; rank < entries.length; rank++) {
        const entry = entries[rank]!;
        const { record, dataset, window, countFrom } = lookup(
          entry.sequenceId,
          `feature ${feature}, random rank ${rank}`,
        );
        yield {
          feature,
          sign: 'random',
          rank,
          activation: countedMax(entry.activations, countFrom, record.length),
          sequence: entry.sequenceId,
          dataset,
          document: record.documentId,
          window,
          countFrom,
          tokens: record.tokens.subarray(0, record.length),
          activations: entry.activations.subarray(0, record.length),
        };
      }
    }
  }
}

/** Max over counted positions [from, length): the same reduction the subject applies (-Infinity if none). */
function countedMax(values: Float32Array, from: number, length: number): number {
  let max = -Infinity;
  for (let t = from; t < length; t++) if (values[t]! > max) max = values[t]!;
  return max;
}

/** The distribution rows of one state (features in order), with the tail quantiles the state estimates. */
export function* distributionRowsOf(distribution: ActivationDistribution): Generator<DistributionRow> {
  const { low, high } = distribution.bins;
  for (let feature = 0; feature < distribution.features; feature++) {
    yield {
      feature,
      tokensSeen: distribution.tokensSeen,
      sequencesSeen: distribution.sequencesSeen,
      maxExtremes: distribution.sortedExtremes(feature, 'positive'),
      minExtremes: distribution.sortedExtremes(feature, 'negative'),
      histogram: {
        low,
        high,
        max: distribution.histogram(feature, 'positive'),
        min: distribution.histogram(feature, 'negative'),
      },
      positiveQuantiles: TAIL_FRACTIONS.map((q) => distribution.tailQuantile(feature, q, 'positive')),
      negativeQuantiles: TAIL_FRACTIONS.map((q) => distribution.tailQuantile(feature, q, 'negative')),
    };
  }
}

/**
 * Writes the two files of one (space, layer, split): `<split>.arrow` (exemplars) and
 * `<split>.distribution.feather`, each atomically. Returns their paths.
 */
export function writeLayerSplitFiles(
  outDir: string,
  state: LayerSplitState,
  sequences: SequenceLookup,
  info: ExemplarOutputInfo,
): { exemplars: string; distribution: string } {
  checkState(state, info);
  const exemplars = exemplarFilePath(outDir, state);
  const distribution = distributionFilePath(outDir, state);
  writeExemplarFile(
    exemplars,
    { configHash: info.configHash, features: state.topK.features },
    exemplarRowsOf(state, sequences, info),
  );
  writeDistributionFile(
    distribution,
    { configHash: info.configHash, features: state.distribution.features },
    distributionRowsOf(state.distribution),
  );
  return { exemplars, distribution };
}

/**
 * Collects the per-split counts for the manifest from the distributions of every (space, layer) of a split:
 * they all saw the same sequences, so they must agree (a difference is a pipeline bug, reported here).
 */
export class SplitCountsCollector {
  private readonly counts = new Map<string, SplitCounts & { from: string }>();

  add(key: LayerSplitKey, distribution: { sequencesSeen: number; tokensSeen: number }): void {
    const seen = this.counts.get(key.split);
    const from = describeKey(key);
    if (!seen) {
      this.counts.set(key.split, {
        sequencesSeen: distribution.sequencesSeen,
        tokensSeen: distribution.tokensSeen,
        from,
      });
    } else if (seen.sequencesSeen !== distribution.sequencesSeen || seen.tokensSeen !== distribution.tokensSeen) {
      throw new Error(
        `exemplar output: ${from} saw ${distribution.sequencesSeen} sequences / ${distribution.tokensSeen} tokens but ${seen.from} saw ` +
          `${seen.sequencesSeen} / ${seen.tokensSeen}; every layer of a split must see the same sequences`,
      );
    }
  }

  result(): Record<string, SplitCounts> {
    const out: Record<string, SplitCounts> = {};
    for (const [split, { sequencesSeen, tokensSeen }] of this.counts) out[split] = { sequencesSeen, tokensSeen };
    return out;
  }
}

/**
 * Writes a whole output from states held in memory: every (space, layer, split)'s two files, then the manifest.
 * A run too large to hold every layer at once writes its files with `writeLayerSplitFiles` as layer groups finish,
 * collecting counts with `SplitCountsCollector`, and calls `writeExemplarManifest` at the end.
 */
export function writeExemplarOutput(
  outDir: string,
  output: {
    info: ExemplarOutputInfo;
    states: readonly LayerSplitState[];
    sequences: SequenceLookup;
    shard?: { index: number; count: number };
    complete?: boolean;
  },
): ExemplarManifest {
  const collector = new SplitCountsCollector();
  const layers = new Map<string, { space: string; layer: number; features: number }>();
  const seen = new Set<string>();
  for (const state of output.states) {
    const id = describeKey(state);
    if (seen.has(id)) throw new Error(`writeExemplarOutput: ${id} is given twice`);
    seen.add(id);
    writeLayerSplitFiles(outDir, state, output.sequences, output.info);
    collector.add(state, state.distribution);
    const layerId = `${state.space}/${state.layer}`;
    const known = layers.get(layerId);
    if (known && known.features !== state.topK.features)
      throw new Error(
        `writeExemplarOutput: ${layerId} has ${known.features} features in one split and ${state.topK.features} in another`,
      );
    layers.set(layerId, { space: state.space, layer: state.layer, features: state.topK.features });
  }
  const manifest = buildManifest(output.info, {
    shard: output.shard ?? { index: 0, count: 1 },
    complete: output.complete ?? true,
    splits: collector.result(),
    layers: [...layers.values()],
  });
  const splitNames = Object.keys(manifest.splits);
  for (const layer of manifest.layers) {
    for (const split of splitNames) {
      if (!seen.has(describeKey({ ...layer, split })))
        throw new Error(
          `writeExemplarOutput: ${describeKey({ ...layer, split })} has no state; every layer needs every split`,
        );
    }
  }
  writeExemplarManifest(outDir, manifest);
  return manifest;
}

export function buildManifest(
  info: ExemplarOutputInfo,
  rest: Pick<ExemplarManifest, 'shard' | 'complete' | 'splits' | 'layers'>,
): ExemplarManifest {
  return {
    format: MANIFEST_FORMAT,
    configHash: info.configHash,
    shard: rest.shard,
    complete: rest.complete,
    parameters: info.parameters,
    datasets: info.datasets,
    splits: rest.splits,
    layers: rest.layers,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// From files back to state

/**
 * Loads the two files of one (space, layer, split) of an output back into state objects, so that shards can be
 * merged with the states' exact `merge` and a finished run can be resumed or extended. The sequences the lists
 * refer to are retained in `sequences` (one reference per list entry, as the live states hold them) and their
 * tokens and metadata put there; padded positions (past a sequence's length) come back as NaN, as the subject
 * returns them; windows and first counted positions are kept with the tokens. Streams both files one record
 * batch at a time; memory is the states' own.
 */
export async function loadLayerSplitState(
  outDir: string,
  manifest: ExemplarManifest,
  key: LayerSplitKey,
  sequences: SequenceStore,
): Promise<LayerSplitState> {
  checkLayerSplitKey(key);
  const layerInfo = manifestLayer(manifest, key);
  if (!layerInfo || !(key.split in manifest.splits))
    throw new ExpgenError(`${outDir}: its manifest lists no ${describeKey(key)}`);
  const { seqLen, k, randomCount, randomSeed, histogram } = manifest.parameters;
  if (manifest.imported || !histogram) {
    throw new ExpgenError(
      `${outDir} was imported from a released dump (no sequence ids or histograms): it can be read, but not loaded into state, merged or resumed`,
    );
  }
  if (sequences.seqLen !== seqLen)
    throw new Error(
      `loadLayerSplitState: the sequence store holds seqLen ${sequences.seqLen}, ${outDir} has ${seqLen}`,
    );
  const features = layerInfo.features;
  const distribution = await loadDistribution(distributionFilePath(outDir, key), manifest, features, histogram);

  const exemplarPath = exemplarFilePath(outDir, key);
  const rankedArrays = (): RankedArrays => ({
    keys: new Float32Array(features * k),
    ids: new Float64Array(features * k),
    counts: new Int32Array(features),
    activations: new Float32Array(features * k * seqLen),
  });
  const positive = rankedArrays();
  const negative = rankedArrays();
  const randomIds = new Float64Array(randomCount);
  const randomValues = new Float32Array(randomCount * seqLen * features);
  const randomCounts = new Int32Array(features);
  let randomHeld = 0;
  let lastSequenceId = -1;
  const datasetIndex = new Map(manifest.datasets.map((name, i) => [name, i]));
  const bad = (message: string) =>
    new ExpgenError(`${exemplarPath}: ${message}; the file is damaged or was not written by this version of expgen`);

  const reader = await ExemplarFileReader.open(exemplarPath);
  try {
    if (reader.configHash !== manifest.configHash)
      throw bad(`its config hash ${reader.configHash} differs from the manifest's ${manifest.configHash}`);
    for await (const row of reader.rows()) {
      const { feature, rank, sign } = row;
      const where = `feature ${feature}, ${sign} rank ${rank}`;
      if (feature >= features) throw bad(`${where}: the layer has ${features} features`);
      if (row.sequence === null) throw bad(`${where} has no sequence id`);
      const id = row.sequence;
      const length = row.tokens.length;
      if (length > seqLen) throw bad(`${where} has ${length} tokens, more than seqLen ${seqLen}`);
      const dataset = datasetIndex.get(row.dataset);
      if (dataset === undefined) throw bad(`${where} names dataset "${row.dataset}", which the manifest does not list`);
      if (sign === 'random') {
        if (rank >= randomCount) throw bad(`${where}: the run keeps ${randomCount} random sequences`);
        if (rank !== randomCounts[feature]) throw bad(`${where}: ranks are not consecutive`);
        randomCounts[feature]!++;
        if (rank >= randomHeld) {
          // The random sequences are the same for every feature: the first feature that lists rank r defines it.
          if (rank !== randomHeld) throw bad(`${where}: random ranks are not consecutive`);
          randomIds[rank] = id;
          randomHeld++;
          sequences.retain(id);
        } else if (randomIds[rank] !== id) {
          throw bad(
            `${where} is sequence ${id}, but another feature has ${randomIds[rank]} at that rank (random sequences are shared by all features)`,
          );
        }
        const base = rank * seqLen * features + feature;
        for (let t = 0; t < seqLen; t++)
          randomValues[base + t * features] = t < length ? row.activations[t]! : Number.NaN;
      } else {
        const lists = sign === 'positive' ? positive : negative;
        if (rank >= k) throw bad(`${where}: the run keeps k = ${k}`);
        if (rank !== lists.counts[feature]) throw bad(`${where}: ranks are not consecutive`);
        const at = feature * k + rank;
        const rankKey = sign === 'positive' ? row.activation : -row.activation;
        if (rank > 0) {
          const before = lists.keys[at - 1]!;
          if (!(before > rankKey || (before === rankKey && lists.ids[at - 1]! < id)))
            throw bad(`${where} is out of order`);
        }
        lists.keys[at] = rankKey;
        lists.ids[at] = id;
        lists.counts[feature] = rank + 1;
        const base = at * seqLen;
        lists.activations.set(row.activations, base);
        lists.activations.fill(Number.NaN, base + length, base + seqLen);
        sequences.retain(id);
      }
      if (id > lastSequenceId) lastSequenceId = id;
      try {
        // A sequence's rows all come from one record of the writer's store: its content is put once, from the
        // first row (building and comparing it for each of the millions of rows at the 8B scale costs seconds).
        if (!sequences.has(id)) {
          const content: SequenceContent = {
            tokens: padTokens(row.tokens, seqLen),
            length,
            datasetIndex: dataset,
            documentId: row.document ?? '',
            split: key.split,
            ...(row.window !== null ? { window: row.window } : {}),
            countFrom: row.countFrom,
          };
          sequences.put(id, content);
        }
      } catch (error) {
        throw bad(`${where}: ${(error as Error).message}`);
      }
    }
  } finally {
    await reader.close();
  }
  for (let f = 0; f < features; f++) {
    if (randomCounts[f] !== randomHeld)
      throw bad(`feature ${f} has ${randomCounts[f]} random sequences, feature 0 has ${randomHeld}`);
  }

  const wrap = <T>(path: string, make: () => T): T => {
    try {
      return make();
    } catch (error) {
      throw new ExpgenError(`${path} does not make a valid state (${(error as Error).message})`, { cause: error });
    }
  };
  const topK = wrap(exemplarPath, () =>
    topKFromArrays({ features, k, seqLen, lastSequenceId }, positive, negative, sequences),
  );
  const random =
    randomCount > 0
      ? wrap(exemplarPath, () =>
          randomFromArrays(
            { features, seqLen, count: randomCount, seed: BigInt(randomSeed) },
            { ids: randomIds, size: randomHeld, values: randomValues },
            sequences,
          ),
        )
      : undefined;
  return { ...key, topK, ...(random ? { random } : {}), distribution };
}

function padTokens(tokens: Int32Array, seqLen: number): Int32Array {
  // Positions past the length are padding, which files do not store; they come back as 0 (never read).
  const out = new Int32Array(seqLen);
  out.set(tokens);
  return out;
}

async function loadDistribution(
  path: string,
  manifest: ExemplarManifest,
  features: number,
  histogram: NonNullable<ExemplarParameters['histogram']>,
): Promise<ActivationDistribution> {
  const keep = manifest.parameters.extremesKept;
  const width = histogram.bins + 2;
  const maxKeys = new Float32Array(features * keep);
  const minKeys = new Float32Array(features * keep);
  const maxCounts = new Int32Array(features);
  const minCounts = new Int32Array(features);
  const maxHistogram = new Float64Array(features * width);
  const minHistogram = new Float64Array(features * width);
  let tokensSeen: number | null = null;
  let sequencesSeen: number | null = null;
  let rows = 0;
  const bad = (message: string) =>
    new ExpgenError(`${path}: ${message}; the file is damaged or was not written by this version of expgen`);
  const reader = await DistributionFileReader.open(path);
  try {
    if (reader.configHash !== manifest.configHash)
      throw bad(`its config hash ${reader.configHash} differs from the manifest's ${manifest.configHash}`);
    for await (const row of reader.rows()) {
      const f = row.feature;
      if (f >= features) throw bad(`it has a row for feature ${f}, the layer has ${features}`);
      rows++;
      if (row.tokensSeen === null || row.sequencesSeen === null || !row.histogram)
        throw bad(`feature ${f} has no token counts or histogram`);
      if (f === 0) {
        tokensSeen = row.tokensSeen;
        sequencesSeen = row.sequencesSeen;
      } else if (row.tokensSeen !== tokensSeen || row.sequencesSeen !== sequencesSeen) {
        throw bad(
          `feature ${f} counts ${row.sequencesSeen} sequences / ${row.tokensSeen} tokens, feature 0 ${sequencesSeen} / ${tokensSeen}`,
        );
      }
      const h = row.histogram;
      if (h.low !== histogram.low || h.high !== histogram.high || h.max.length !== width || h.min.length !== width) {
        throw bad(
          `feature ${f}'s histogram (${h.low}..${h.high}, ${h.max.length - 2} bins) differs from the manifest's`,
        );
      }
      maxHistogram.set(h.max, f * width);
      minHistogram.set(h.min, f * width);
      if (row.maxExtremes.length > keep || row.minExtremes.length > keep)
        throw bad(`feature ${f} keeps more than ${keep} extremes`);
      // The state keeps maxima as keys and minima as negated keys, in any order.
      const n = row.maxExtremes.length;
      maxKeys.set(row.maxExtremes, f * keep);
      maxCounts[f] = n;
      const m = row.minExtremes.length;
      for (let i = 0; i < m; i++) minKeys[f * keep + i] = -row.minExtremes[i]!;
      minCounts[f] = m;
    }
  } finally {
    await reader.close();
  }
  if (rows !== features) throw bad(`it has ${rows} rows for ${features} features`);
  try {
    return distributionFromArrays(
      { features, keep, histogram, tokensSeen: tokensSeen!, sequencesSeen: sequencesSeen! },
      { keys: maxKeys, counts: maxCounts },
      { keys: minKeys, counts: minCounts },
      maxHistogram,
      minHistogram,
    );
  } catch (error) {
    throw new ExpgenError(`${path} does not make a valid state (${(error as Error).message})`, { cause: error });
  }
}

/**
 * Loads every (space, layer, split) of an output into states sharing one SequenceStore: for small outputs, tests
 * and resuming. An 8B-scale output does not fit in memory at once; load it one `loadLayerSplitState` at a time.
 */
export async function loadExemplarOutput(outDir: string): Promise<{
  manifest: ExemplarManifest;
  info: ExemplarOutputInfo;
  states: LayerSplitState[];
  sequences: SequenceStore;
}> {
  const manifest = readExemplarManifest(outDir);
  const sequences = new SequenceStore({ seqLen: manifest.parameters.seqLen });
  const states: LayerSplitState[] = [];
  for (const key of manifestEntries(manifest)) states.push(await loadLayerSplitState(outDir, manifest, key, sequences));
  const info = { configHash: manifest.configHash, parameters: manifest.parameters, datasets: manifest.datasets };
  return { manifest, info, states, sequences };
}
