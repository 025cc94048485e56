import { ExpgenError } from '@expgen/contract';
import type { ActivationDistribution } from '../state/activation-distribution.js';
import { SequenceStore, type SequenceContent } from '../state/sequence-store.js';
import { DistributionFileReader } from './distribution-file.js';
import { ExemplarFileReader } from './exemplar-file.js';
import {
  checkLayerSplitKey,
  describeKey,
  distributionFilePath,
  exemplarFilePath,
  type LayerSplitKey,
} from './layout.js';
import {
  layerFeatures,
  manifestEntries,
  manifestLayer,
  readExemplarManifest,
  type ExemplarManifest,
  type ExemplarParameters,
} from './manifest.js';
import type { ExemplarOutputInfo, LayerSplitState } from './state-files.js';
import { distributionFromArrays, randomFromArrays, topKFromArrays, type RankedArrays } from './state-restore.js';

/**
 * From files back to state: loading an output's files into the streaming states, to merge shards with the states'
 * exact `merge` or to resume a finished run.
 */

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
  // A run over some features of the layer holds only those: state feature i is layer feature selected[i].
  const selected = layerInfo.selected ? Int32Array.from(layerInfo.selected) : null;
  const features = selected?.length ?? layerInfo.features;
  const local = new Map(layerFeatures(layerInfo).map((feature, i) => [feature, i]));
  const distribution = await loadDistribution(distributionFilePath(outDir, key), manifest, local, histogram);

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
      const { rank, sign } = row;
      const where = `feature ${row.feature}, ${sign} rank ${rank}`;
      const feature = local.get(row.feature);
      if (feature === undefined) throw bad(`${where}: the output holds no such feature of the layer`);
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
  return {
    ...key,
    topK,
    ...(random ? { random } : {}),
    distribution,
    ...(selected ? { selected: { features: selected, width: layerInfo.features } } : {}),
  };
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
  local: ReadonlyMap<number, number>,
  histogram: NonNullable<ExemplarParameters['histogram']>,
): Promise<ActivationDistribution> {
  const features = local.size;
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
      const f = local.get(row.feature);
      if (f === undefined) throw bad(`it has a row for feature ${row.feature}, which the output does not hold`);
      rows++;
      if (row.tokensSeen === null || row.sequencesSeen === null || !row.histogram)
        throw bad(`feature ${f} has no token counts or histogram`);
      if (rows === 1) {
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
      {
        features,
        keep,
        histogram,
        histogramSample: manifest.parameters.histogramSample,
        tokensSeen: tokensSeen!,
        sequencesSeen: sequencesSeen!,
      },
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
