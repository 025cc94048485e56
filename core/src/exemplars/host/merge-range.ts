import { ActivationDistribution, type DistributionHandles } from '../state/activation-distribution.js';
import { copyColumns } from '../state/random-sequences.js';
import type { SequenceReferences } from '../state/sequence-store.js';
import { TopKExemplars, type TopKHandles } from '../state/top-k-exemplars.js';
import type { LayerBatch } from './layer-batch.js';

/** The states of one (split, layer) as the merge code touches them, on the main thread or in a worker. */
export interface MergeTarget {
  readonly topK: TopKExemplars;
  readonly distribution: ActivationDistribution;
  /** The random sequences' per-token values [slots, seqLen, features], when the run keeps any. */
  readonly randomValues: Float32Array | null;
}

/** Where the admitted random rows' per-token values go: one slot per row (-1: not admitted after all). */
export interface RandomRows {
  readonly slots: Int32Array;
  /** [rows, seqLen, sourceWidth]: the rows' full hook values. */
  readonly values: Float32Array;
  readonly sourceWidth: number;
  /** State feature -> column of `values`; null: the same index. */
  readonly columns: Int32Array | null;
}

/** A layer's batch with its random rows: everything a feature range of the layer's states takes. */
export interface LayerWork extends LayerBatch {
  readonly random: RandomRows | null;
}

/**
 * Merges features [from, to) of one layer's batch into its states: top-k lists, kept extremes and histogram,
 * random sequences' values. Ranges touch disjoint memory, so workers run them in parallel on shared states;
 * references go to `references` (a worker's tally), applied to the sequence store by the main thread.
 */
export function mergeLayerRange(
  target: MergeTarget,
  work: LayerWork,
  from: number,
  to: number,
  references: SequenceReferences,
): void {
  if (from >= to) return;
  target.topK.mergeRange(work.topK, from, to, references);
  target.distribution.mergeRange(work.extremes, from, to);
  const random = work.random;
  if (!random || !target.randomValues) return;
  const { features, seqLen } = target.topK;
  const rowSize = seqLen * random.sourceWidth;
  random.slots.forEach((slot, i) => {
    if (slot < 0) return;
    const source = random.values.subarray(i * rowSize, (i + 1) * rowSize);
    copyColumns(target.randomValues!, features, seqLen, slot, source, random.sourceWidth, random.columns, from, to);
  });
}

/** What a worker needs to attach to one (split, layer)'s states in shared memory. */
export interface MergeTargetHandles {
  readonly topK: TopKHandles;
  readonly distribution: DistributionHandles;
  readonly randomValues: Float32Array | null;
}

export function targetHandles(target: MergeTarget): MergeTargetHandles {
  return {
    topK: target.topK.handles(),
    distribution: target.distribution.handles(),
    randomValues: target.randomValues,
  };
}

export function attachTarget(handles: MergeTargetHandles): MergeTarget {
  return {
    topK: TopKExemplars.attach(handles.topK),
    distribution: ActivationDistribution.attach(handles.distribution),
    randomValues: handles.randomValues,
  };
}
