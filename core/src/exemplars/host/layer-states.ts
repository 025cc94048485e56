import { ExpgenError, type LayerPlan } from '@expgen/contract';
import type { ExpgenConfig } from '../../config/config-schema.js';
import type { FeatureSelection } from '../../engine/feature-selection.js';
import { ActivationDistribution, RandomSequences, SequenceStore, TopKExemplars } from '../state/index.js';
import type { StateMemory } from '../state/state-memory.js';
import { layerSelection, selectedCount, type LayerSelection } from './layer-batch.js';
import type { MergeTarget } from './merge-range.js';

/**
 * The `exemplars` settings the states are built from, with the histogram's sample as a fraction of the sequences
 * (`histogramSampleOf`).
 */
export type StateSettings = Pick<
  ExpgenConfig['exemplars'],
  'topK' | 'seqLen' | 'randomPerFeature' | 'seed' | 'extremesKept' | 'histogramBins' | 'histogramRange'
> & { readonly histogramSample: number };

/**
 * The fraction of sequences the histograms count: `histogramSequences` of the run's `sequences` (every sequence for
 * a run no longer than that). A function of the config alone, so every shard of a run samples the same sequences.
 */
export function histogramSampleOf(
  settings: Pick<ExpgenConfig['exemplars'], 'histogramSequences' | 'sequences'>,
): number {
  return Math.min(1, settings.histogramSequences / settings.sequences);
}

/** One layer's streaming state in one split, sized by the selected features of the layer. */
export interface LayerState extends MergeTarget {
  readonly plan: LayerPlan;
  readonly split: string;
  readonly selection: LayerSelection;
  readonly random?: RandomSequences;
}

/** One split's states for every layer of a group, and the store of the sequences they refer to. */
export interface SplitStates {
  readonly split: string;
  readonly store: SequenceStore;
  readonly layers: readonly LayerState[];
}

/** Empty states for `plans` in one split. */
export function newSplitStates(
  split: string,
  plans: readonly LayerPlan[],
  selection: FeatureSelection,
  settings: StateSettings,
  memory: StateMemory,
): SplitStates {
  const store = new SequenceStore({ seqLen: settings.seqLen });
  const histogram = { low: settings.histogramRange[0], high: settings.histogramRange[1], bins: settings.histogramBins };
  const layers = plans.map((plan): LayerState => {
    const chosen = layerSelection(plan.width, selection.get(plan.layer) ?? 'all');
    const features = selectedCount(chosen);
    const random =
      settings.randomPerFeature > 0
        ? new RandomSequences({
            features,
            seqLen: settings.seqLen,
            count: settings.randomPerFeature,
            seed: settings.seed,
            memory,
          })
        : undefined;
    return {
      plan,
      split,
      selection: chosen,
      topK: new TopKExemplars({ features, k: settings.topK, seqLen: settings.seqLen, memory }),
      distribution: new ActivationDistribution({
        features,
        keep: settings.extremesKept,
        histogram,
        histogramSample: settings.histogramSample,
        memory,
      }),
      ...(random ? { random } : {}),
      randomValues: random?.valueArray ?? null,
    };
  });
  return { split, store, layers };
}

/** The names of one split's checkpoint files (what `checkpointChunks` writes and `restoreSplitStates` reads). */
function fileNames(split: string, layer: number) {
  const base = `${split}.layer-${layer}`;
  return { topK: `${base}.top-k.state`, distribution: `${base}.distribution.state`, random: `${base}.random.state` };
}

/** Every state of a split as checkpoint files: name -> chunks (views of live memory: write them at once). */
export function checkpointChunks(states: SplitStates): Map<string, Uint8Array[]> {
  const files = new Map<string, Uint8Array[]>();
  files.set(`${states.split}.sequences.state`, states.store.toBuffers());
  for (const layer of states.layers) {
    const names = fileNames(states.split, layer.plan.layer);
    files.set(names.topK, layer.topK.toBuffers());
    files.set(names.distribution, layer.distribution.toBuffers());
    if (layer.random) files.set(names.random, layer.random.toBuffers());
  }
  return files;
}

/** A split's states from checkpoint files, in `memory`. */
export function restoreSplitStates(
  buffers: ReadonlyMap<string, Uint8Array>,
  split: string,
  plans: readonly LayerPlan[],
  selection: FeatureSelection,
  memory: StateMemory,
): SplitStates {
  const need = (name: string) => {
    const buffer = buffers.get(name);
    if (!buffer)
      throw new ExpgenError(`the checkpoint lacks ${name}: it is damaged; remove the checkpoint folder to start over`);
    return buffer;
  };
  const store = SequenceStore.fromBuffers(need(`${split}.sequences.state`));
  const layers = plans.map((plan): LayerState => {
    const names = fileNames(split, plan.layer);
    const chosen = layerSelection(plan.width, selection.get(plan.layer) ?? 'all');
    const randomBuffer = buffers.get(names.random);
    const random = randomBuffer ? RandomSequences.fromBuffers(randomBuffer, { memory }) : undefined;
    const topK = TopKExemplars.fromBuffers(need(names.topK), { memory });
    if (topK.features !== selectedCount(chosen))
      throw new ExpgenError(
        `the checkpoint holds ${topK.features} features of layer ${plan.layer}, the run selects ${selectedCount(chosen)}: remove the checkpoint folder to start over`,
      );
    return {
      plan,
      split,
      selection: chosen,
      topK,
      distribution: ActivationDistribution.fromBuffers(need(names.distribution), { memory }),
      ...(random ? { random } : {}),
      randomValues: random?.valueArray ?? null,
    };
  });
  return { split, store, layers };
}
