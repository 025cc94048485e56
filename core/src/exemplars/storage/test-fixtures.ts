import { reduceOnHost } from '@expgen/contract';
import { ActivationDistribution } from '../state/activation-distribution.js';
import { RandomSequences } from '../state/random-sequences.js';
import { SequenceStore } from '../state/sequence-store.js';
import { TopKExemplars } from '../state/top-k-exemplars.js';
import type { ExemplarOutputInfo, LayerSplitState } from './state-files.js';

/**
 * A tiny stage-1 run for the storage tests: deterministic activations (a function of sequence id, layer, position
 * and feature, quantized so that ties happen), sequences of varying length, streamed through the real states in
 * id order the way the pipeline does (gated top-k, random admission, extremes, then put() of every row).
 */
export interface FixtureOptions {
  readonly features: number;
  readonly k: number;
  readonly seqLen: number;
  readonly randomCount: number;
  readonly keep: number;
  readonly countedFrom: number;
  readonly layers: readonly { space: string; layer: number }[];
  readonly splits: readonly { name: string; ids: readonly number[] }[];
  readonly batchSize: number;
  readonly seed: number;
}

export const SMALL: FixtureOptions = {
  features: 300,
  k: 3,
  seqLen: 6,
  randomCount: 2,
  keep: 5,
  countedFrom: 1,
  layers: [
    { space: 'mlp', layer: 0 },
    { space: 'mlp', layer: 3 },
    { space: 'sae:demo', layer: 3 },
  ],
  splits: [
    { name: 'train', ids: Array.from({ length: 30 }, (_, i) => i) },
    { name: 'valid', ids: Array.from({ length: 14 }, (_, i) => 1000 + i * 3) },
  ],
  batchSize: 4,
  seed: 7,
};

export const DATASETS = ['fineweb', 'lmsys-chat-1m'];

function hash32(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part & 0xffff), 0x01000193);
    h = Math.imul(h ^ (part >>> 16), 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

export function lengthOf(id: number, seqLen: number): number {
  return id % 5 === 0 ? Math.max(1, seqLen - 1 - (id % 3)) : seqLen;
}

/** Quantized to quarters in [-3, 3]: many exact ties between sequences. */
export function activationOf(id: number, layerIndex: number, t: number, f: number): number {
  return ((hash32(id, layerIndex, t, f) % 25) - 12) / 4;
}

/** Every third sequence is "chat" (all tokens count); the others have a fixed prefix of `countedFrom` tokens. */
export function countFromOf(id: number, countedFrom: number): number {
  return id % 3 === 0 ? 0 : countedFrom;
}

export function windowOf(id: number): number {
  return id % 4;
}

export function tokensOf(id: number, seqLen: number): Int32Array {
  const length = lengthOf(id, seqLen);
  return Int32Array.from({ length: seqLen }, (_, t) => (t < length ? hash32(id, 99, t) % 128256 : 128009));
}

export interface FixtureRun {
  readonly states: LayerSplitState[];
  readonly sequences: SequenceStore;
  readonly info: ExemplarOutputInfo;
}

export function fixtureInfo(options: FixtureOptions, configHash = 'c0ffee'): ExemplarOutputInfo {
  return {
    configHash,
    datasets: DATASETS,
    parameters: {
      seqLen: options.seqLen,
      k: options.k,
      randomCount: options.randomCount,
      randomSeed: String(options.seed),
      extremesKept: options.keep,
      histogram: { low: -2, high: 2, bins: 8 },
      histogramSample: 1,
      countedFrom: options.countedFrom,
    },
  };
}

export function freshStates(options: FixtureOptions, sequences: SequenceStore): LayerSplitState[] {
  const { features, k, seqLen } = options;
  return options.layers.flatMap(({ space, layer }) =>
    options.splits.map(({ name }) => ({
      space,
      layer,
      split: name,
      topK: new TopKExemplars({ features, k, seqLen, references: sequences }),
      ...(options.randomCount > 0
        ? {
            random: new RandomSequences({
              features,
              seqLen,
              count: options.randomCount,
              seed: options.seed,
              references: sequences,
            }),
          }
        : {}),
      distribution: new ActivationDistribution({
        features,
        keep: options.keep,
        histogram: { low: -2, high: 2, bins: 8 },
      }),
    })),
  );
}

/**
 * Streams the sequences of every split whose id passes `include` through `states` (fresh ones by default),
 * in increasing id order and batches of `batchSize`.
 */
export function runFixture(
  options: FixtureOptions,
  include: (id: number) => boolean = () => true,
  resume?: { states: LayerSplitState[]; sequences: SequenceStore },
): FixtureRun {
  const { features, seqLen, countedFrom } = options;
  const store = resume?.sequences ?? new SequenceStore({ seqLen, initialCapacity: 4 });
  const states = resume?.states ?? freshStates(options, store);
  for (const split of options.splits) {
    const ids = split.ids.filter(include);
    for (let at = 0; at < ids.length; at += options.batchSize) {
      const batchIds = ids.slice(at, at + options.batchSize);
      const rows = batchIds.length;
      const lengths = Int32Array.from(batchIds, (id) => lengthOf(id, seqLen));
      const countFrom = Int32Array.from(batchIds, (id) => countFromOf(id, countedFrom));
      const tokens = batchIds.reduce((sum, _, b) => sum + Math.max(0, lengths[b]! - countFrom[b]!), 0);
      options.layers.forEach(({ space, layer }, layerIndex) => {
        const state = states.find((s) => s.space === space && s.layer === layer && s.split === split.name)!;
        const full = new Float32Array(rows * seqLen * features);
        batchIds.forEach((id, b) => {
          for (let t = 0; t < seqLen; t++)
            for (let f = 0; f < features; f++)
              full[(b * seqLen + t) * features + f] = activationOf(id, layerIndex, t, f);
        });
        const shape = { batch: rows, seqLen, width: features, lengths, countFrom };
        const gated = reduceOnHost(full, shape, { hook: 'h', reduce: 'gated', thresholds: state.topK.thresholds() });
        state.topK.offer({ sequenceIds: batchIds, max: gated.max!, min: gated.min!, gated: gated.gated!, seqLen });
        state.distribution.offer({ max: gated.max!, min: gated.min!, tokens });
        if (state.random) {
          const masked = reduceOnHost(full, shape, { hook: 'h', reduce: 'full' }).full!;
          batchIds.forEach((id, b) => {
            if (state.random!.wouldAdmit(id))
              state.random!.offer(id, masked.subarray(b * seqLen * features, (b + 1) * seqLen * features));
          });
        }
      });
      batchIds.forEach((id, b) => {
        store.put(id, {
          tokens: tokensOf(id, seqLen),
          length: lengths[b]!,
          datasetIndex: id % 2,
          documentId: `doc-${Math.floor(id / 3)}`,
          split: split.name,
          window: windowOf(id),
          countFrom: countFrom[b]!,
        });
      });
    }
  }
  return { states, sequences: store, info: fixtureInfo(options) };
}
