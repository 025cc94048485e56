import { ExpgenError } from '@expgen/contract';
import { TAIL_FRACTIONS } from '../state/activation-distribution.js';
import { writeDistributionFile, type DistributionRow } from '../storage/distribution-file.js';
import { writeExemplarFile } from '../storage/exemplar-file.js';
import { distributionFilePath, exemplarFilePath } from '../storage/layout.js';
import {
  MANIFEST_FORMAT,
  writeExemplarManifest,
  type ExemplarManifest,
  type SplitCounts,
} from '../storage/manifest.js';
import { RELEASED_SPLITS, ReleasedExemplars, type ReleasedNeuron, type ReleasedSplit } from './released-exemplars.js';

/**
 * The tail-quantile estimate of ActivationDistribution.tailQuantile, from extremes sorted most extreme first:
 * positive, the value a fraction q of the N tokens exceed (fractional position q N in the maxima, descending);
 * negative, the value at or below which a fraction q lie (position q N - 1 in the minima, ascending); linear
 * interpolation between neighbours; null when the kept extremes do not reach that far.
 */
export function tailQuantileOfSorted(
  sorted: Float32Array,
  tokens: number,
  q: number,
  sign: 'positive' | 'negative',
): number | null {
  const n = sorted.length;
  if (n === 0 || tokens === 0) return null;
  const rank = q * tokens;
  const position = sign === 'positive' ? rank : rank - 1;
  if (position < 0 || position > n - 1) return null;
  const below = Math.floor(position);
  if (below >= n - 1) return sorted[n - 1]!;
  return sorted[below]! + (position - below) * (sorted[below + 1]! - sorted[below]!);
}

/**
 * Converts layers of a released dump into an expgen output folder: per layer and split (train, valid, test) an
 * exemplar file (`mlp` space) and a distribution file, then the manifest (marked `imported`). Streams a chunk of
 * neurons at a time. The distribution files carry the dump's extremes; token counts and tail quantiles only where
 * the dump has `num_tokens_seen.txt`, and no histograms. Such a folder can be read like any output, but not
 * merged or resumed (it has no sequence ids).
 */
export function importReleasedExemplars(
  releasedDir: string,
  outDir: string,
  layers?: readonly number[],
  options: { datasetNames?: readonly string[]; neurons?: number; chunk?: number } = {},
): ExemplarManifest {
  const released = ReleasedExemplars.open(
    releasedDir,
    options.datasetNames ? { datasetNames: options.datasetNames } : {},
  );
  const chosen = layers ?? released.layers('train');
  if (chosen.length === 0) throw new ExpgenError(`${releasedDir} has no layer folders under train/ to import`);
  const splits: Record<string, SplitCounts> = {};
  const manifestLayers: ExemplarManifest['layers'][number][] = [];
  let randomCount = 0;
  for (const layer of chosen) {
    const present = RELEASED_SPLITS.filter((split) => released.has(layer, split));
    if (present.length === 0)
      throw new ExpgenError(`${releasedDir} has no train, valid or test folder for layer ${layer}`);
    const features = Math.min(released.neurons(layer, present[0]), options.neurons ?? Infinity);
    manifestLayers.push({ space: 'mlp', layer, features });
    for (const split of present) {
      const tokensSeen = released.tokensSeen(layer, split);
      const known = splits[split];
      splits[split] = {
        sequencesSeen: null,
        tokensSeen: known === undefined || known.tokensSeen === tokensSeen ? tokensSeen : null,
      };
      const key = { space: 'mlp', layer, split };
      const range = { to: features, ...(options.chunk ? { chunk: options.chunk } : {}) };
      writeExemplarFile(
        exemplarFilePath(outDir, key),
        { configHash: released.config.hash, features },
        (function* () {
          for (const neuron of released.neuronsOf(layer, split, range)) {
            randomCount = Math.max(randomCount, neuron.random.length);
            yield* neuron.positive;
            yield* neuron.negative;
            yield* neuron.random;
          }
        })(),
      );
      writeDistributionFile(
        distributionFilePath(outDir, key),
        { configHash: released.config.hash, features },
        (function* () {
          for (const neuron of released.neuronsOf(layer, split, range)) yield distributionRow(neuron, tokensSeen);
        })(),
      );
    }
  }
  for (const split of RELEASED_SPLITS) {
    // Every imported layer must have the same splits, as the manifest promises both files for each pair.
    if (splits[split] && !chosen.every((layer) => released.has(layer, split as ReleasedSplit))) {
      throw new ExpgenError(
        `${releasedDir}: split ${split} is missing for some of layers ${chosen.join(', ')}; import those layers separately`,
      );
    }
  }
  const manifest: ExemplarManifest = {
    format: MANIFEST_FORMAT,
    configHash: released.config.hash,
    shard: { index: 0, count: 1 },
    complete: true,
    parameters: {
      seqLen: released.config.seqLen,
      k: released.config.k,
      randomCount: released.config.randomSequences ?? randomCount,
      randomSeed: String(released.config.seed ?? 0),
      extremesKept: released.config.extremesKept,
      histogram: null,
      histogramSample: 1,
      countedFrom: 0,
    },
    datasets: released.config.datasetNames,
    splits,
    layers: manifestLayers,
    imported: { from: 'transluce-released', modelId: released.config.modelId },
  };
  writeExemplarManifest(outDir, manifest);
  return manifest;
}

function distributionRow(neuron: ReleasedNeuron, tokensSeen: number | null): DistributionRow {
  // The reference stores them sorted (torch.topk); sorting again guarantees the file's order for any dump.
  const maxExtremes = neuron.maxExtremes.slice().sort().reverse();
  const minExtremes = neuron.minExtremes.slice().sort();
  const quantiles = (sorted: Float32Array, sign: 'positive' | 'negative') =>
    TAIL_FRACTIONS.map((q) => (tokensSeen === null ? null : tailQuantileOfSorted(sorted, tokensSeen, q, sign)));
  return {
    feature: neuron.neuron,
    tokensSeen,
    sequencesSeen: null,
    maxExtremes,
    minExtremes,
    histogram: null,
    positiveQuantiles: quantiles(maxExtremes, 'positive'),
    negativeQuantiles: quantiles(minExtremes, 'negative'),
  };
}
