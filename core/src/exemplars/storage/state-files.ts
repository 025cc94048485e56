import { TAIL_FRACTIONS, quantileOfSorted, type ActivationDistribution } from '../state/activation-distribution.js';
import type { RandomSequences } from '../state/random-sequences.js';
import type { SequenceRecord, SequenceStore } from '../state/sequence-store.js';
import type { TopKExemplars } from '../state/top-k-exemplars.js';
import { writeArrowFile } from './arrow-io.js';
import { writeDistributionFile, type DistributionRow } from './distribution-file.js';
import { exemplarRecordBatches } from './exemplar-columns.js';
import { exemplarSchema, type ExemplarRowInput } from './exemplar-file.js';
import {
  checkLayerSplitKey,
  describeKey,
  distributionFilePath,
  exemplarFilePath,
  type LayerSplitKey,
} from './layout.js';
import {
  MANIFEST_FORMAT,
  writeExemplarManifest,
  type ExemplarManifest,
  type ExemplarParameters,
  type ManifestLayer,
  type SplitCounts,
} from './manifest.js';

/** The streaming state of one (space, layer, split): what its two files are written from and loaded into. */
export interface LayerSplitState extends LayerSplitKey {
  readonly topK: TopKExemplars;
  /** The split's random sequences; absent when the run keeps none (randomCount 0). */
  readonly random?: RandomSequences;
  readonly distribution: ActivationDistribution;
  /**
   * When the states hold only some features of the layer (`--features`): the layer feature of each state
   * feature, ascending, and the layer's width. Absent: state feature i is layer feature i, of all of them.
   */
  readonly selected?: { readonly features: Int32Array; readonly width: number };
}

/** The layer's features a state holds, for the manifest: `features` (the layer's) and `selected` when a subset. */
export function manifestLayerOf(state: LayerSplitState): ManifestLayer {
  const { space, layer } = state;
  if (!state.selected) return { space, layer, features: state.topK.features };
  return { space, layer, features: state.selected.width, selected: Array.from(state.selected.features) };
}

/** Layer feature of state feature f. */
function layerFeature(state: Pick<LayerSplitState, 'selected'>, f: number): number {
  return state.selected ? state.selected.features[f]! : f;
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
    histogramSample: state.distribution.histogramSample,
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
  if (state.distribution.histogramSample !== expected.histogramSample)
    throw new Error(
      `${where}: the distribution samples ${state.distribution.histogramSample} of sequences for its histogram, the output's parameters say ${expected.histogramSample}`,
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
  if (state.selected && state.selected.features.length !== features)
    throw new Error(`${where}: ${state.selected.features.length} selected features for states of ${features}`);
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
 * The exemplar rows of one state, in file order, one feature at a time: the row-by-row reference of the file's
 * content (the writer builds the same bytes column by column, `exemplarRecordBatches`).
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
  for (let f = 0; f < state.topK.features; f++) {
    const feature = layerFeature(state, f);
    for (const sign of ['positive', 'negative'] as const) {
      const entries = state.topK.entries(f, sign);
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
      const entries = state.random.entries(f);
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

/**
 * The distribution rows of one state (features in order), with the tail quantiles the state estimates: each
 * feature's extremes are sorted once per sign and its quantiles read from the sorted values.
 */
export function* distributionRowsOf(
  distribution: ActivationDistribution,
  selected?: LayerSplitState['selected'],
): Generator<DistributionRow> {
  const { low, high } = distribution.bins;
  const tokens = distribution.tokensSeen;
  for (let f = 0; f < distribution.features; f++) {
    const maxExtremes = distribution.sortedExtremes(f, 'positive');
    const minExtremes = distribution.sortedExtremes(f, 'negative');
    yield {
      feature: layerFeature({ ...(selected ? { selected } : {}) }, f),
      tokensSeen: tokens,
      sequencesSeen: distribution.sequencesSeen,
      maxExtremes,
      minExtremes,
      histogram: {
        low,
        high,
        max: distribution.histogram(f, 'positive'),
        min: distribution.histogram(f, 'negative'),
      },
      positiveQuantiles: TAIL_FRACTIONS.map((q) => quantileOfSorted(maxExtremes, tokens, q, 'positive')),
      negativeQuantiles: TAIL_FRACTIONS.map((q) => quantileOfSorted(minExtremes, tokens, q, 'negative')),
    };
  }
}

/**
 * Writes the two files of one (space, layer, split): `<split>.arrow` (exemplars, built column by column from the
 * states) and `<split>.distribution.feather`, each atomically. Returns their paths.
 */
export function writeLayerSplitFiles(
  outDir: string,
  state: LayerSplitState,
  sequences: SequenceStore,
  info: ExemplarOutputInfo,
): { exemplars: string; distribution: string } {
  checkState(state, info);
  const exemplars = exemplarFilePath(outDir, state);
  const distribution = distributionFilePath(outDir, state);
  const width = state.selected?.width ?? state.topK.features;
  writeArrowFile(
    exemplars,
    exemplarSchema(info.configHash),
    exemplarRecordBatches(
      exemplarSchema(info.configHash),
      {
        topK: state.topK,
        ...(state.random ? { random: state.random } : {}),
        features: state.selected?.features ?? null,
        width,
        split: state.split,
        datasets: info.datasets,
        countedFrom: info.parameters.countedFrom,
        where: describeKey(state),
      },
      sequences.columns(),
    ),
  );
  writeDistributionFile(
    distribution,
    {
      configHash: info.configHash,
      features: width,
      ...(state.selected ? { selected: state.selected.features } : {}),
    },
    distributionRowsOf(state.distribution, state.selected),
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
    sequences: SequenceStore;
    shard?: { index: number; count: number };
    complete?: boolean;
  },
): ExemplarManifest {
  const collector = new SplitCountsCollector();
  const layers = new Map<string, ManifestLayer>();
  const seen = new Set<string>();
  for (const state of output.states) {
    const id = describeKey(state);
    if (seen.has(id)) throw new Error(`writeExemplarOutput: ${id} is given twice`);
    seen.add(id);
    writeLayerSplitFiles(outDir, state, output.sequences, output.info);
    collector.add(state, state.distribution);
    const layerId = `${state.space}/${state.layer}`;
    const known = layers.get(layerId);
    const layer = manifestLayerOf(state);
    if (known && JSON.stringify(known) !== JSON.stringify(layer))
      throw new Error(`writeExemplarOutput: ${layerId} holds other features in one split than in another`);
    layers.set(layerId, layer);
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
