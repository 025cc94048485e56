import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { canonicalJson, trackTemporary } from '@expgen/plugin-kit';
import { TAIL_FRACTIONS } from '../state/activation-distribution.js';
import { writeDistributionFile, type DistributionRow } from '../storage/distribution-file.js';
import { writeExemplarFile } from '../storage/exemplar-file.js';
import { EXEMPLARS_DIR, distributionFilePath, exemplarFilePath, manifestPath } from '../storage/layout.js';
import {
  MANIFEST_FORMAT,
  readExemplarManifest,
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
 *
 * All or nothing: the files are written into `<out>/exemplars.importing-<pid>/` and renamed to `<out>/exemplars`
 * once the manifest is written, so an import that fails on a damaged file late in a dump (or is interrupted) leaves
 * no folder that looks finished, and running it again starts cleanly. An `<out>/exemplars` that holds the same
 * import already is left as it is; any other is refused.
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
  const splitsOf = checkSplits(released, releasedDir, chosen);
  const target = join(outDir, EXEMPLARS_DIR);
  const existing = existingImport(outDir, released, chosen);
  if (existing) return existing;

  removeAbandonedScratch(outDir);
  const scratch = join(outDir, `${EXEMPLARS_DIR}${SCRATCH_INFIX}${process.pid}`);
  const forget = trackTemporary(scratch); // an interrupt removes it
  try {
    rmSync(scratch, { recursive: true, force: true });
    const manifest = writeImport(released, chosen, splitsOf, scratch, options);
    if (existsSync(target)) rmdirSync(target); // empty: checked by existingImport
    renameSync(join(scratch, EXEMPLARS_DIR), target);
    return manifest;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    forget();
  }
}

/** Marks the scratch folder of an import in progress: `<out>/exemplars.importing-<pid>`. */
const SCRATCH_INFIX = '.importing-';

/** The splits of each layer, checked before anything is written: every layer must have the same ones. */
function checkSplits(
  released: ReleasedExemplars,
  releasedDir: string,
  chosen: readonly number[],
): ReadonlyMap<number, ReleasedSplit[]> {
  const splitsOf = new Map<number, ReleasedSplit[]>();
  for (const layer of chosen) {
    const present = RELEASED_SPLITS.filter((split) => released.has(layer, split));
    if (present.length === 0)
      throw new ExpgenError(`${releasedDir} has no train, valid or test folder for layer ${layer}`);
    splitsOf.set(layer, present);
  }
  for (const split of RELEASED_SPLITS) {
    // The manifest promises both files for each (layer, split) pair of the splits it lists.
    const having = chosen.filter((layer) => splitsOf.get(layer)!.includes(split));
    if (having.length > 0 && having.length < chosen.length) {
      throw new ExpgenError(
        `${releasedDir}: split ${split} is missing for some of layers ${chosen.join(', ')}; import those layers separately`,
      );
    }
  }
  return splitsOf;
}

/**
 * The manifest of `<out>/exemplars` when it holds this import already (same dump, same layers); throws when it
 * holds anything else; undefined when it is absent or empty.
 */
function existingImport(
  outDir: string,
  released: ReleasedExemplars,
  chosen: readonly number[],
): ExemplarManifest | undefined {
  const target = join(outDir, EXEMPLARS_DIR);
  if (!existsSync(target) || readdirSync(target).length === 0) return undefined;
  if (existsSync(manifestPath(outDir))) {
    const manifest = readExemplarManifest(outDir);
    const sameLayers = canonicalJson(manifest.layers.map((l) => l.layer)) === canonicalJson([...chosen]);
    if (manifest.complete && manifest.imported && manifest.configHash === released.config.hash && sameLayers)
      return manifest;
  }
  throw new ExpgenError(
    `${outDir} already holds exemplars (${target}): import into a new --out folder, or remove that folder first`,
  );
}

/** Removes scratch folders of imports killed before they finished (their process no longer runs). */
function removeAbandonedScratch(outDir: string): void {
  if (!existsSync(outDir)) return;
  for (const name of readdirSync(outDir)) {
    if (!name.startsWith(`${EXEMPLARS_DIR}${SCRATCH_INFIX}`)) continue;
    const pid = Number(name.slice(EXEMPLARS_DIR.length + SCRATCH_INFIX.length));
    if (Number.isSafeInteger(pid) && pid !== process.pid && !processRuns(pid))
      rmSync(join(outDir, name), { recursive: true, force: true });
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes every file of the import and then its manifest under `outDir`. */
function writeImport(
  released: ReleasedExemplars,
  chosen: readonly number[],
  splitsOf: ReadonlyMap<number, ReleasedSplit[]>,
  outDir: string,
  options: { neurons?: number; chunk?: number },
): ExemplarManifest {
  const splits: Record<string, SplitCounts> = {};
  const manifestLayers: ExemplarManifest['layers'][number][] = [];
  let randomCount = 0;
  for (const layer of chosen) {
    const present = splitsOf.get(layer)!;
    const features = Math.min(released.neurons(layer, present[0]!), options.neurons ?? Infinity);
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
