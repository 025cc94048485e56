import { type HistogramBins, ActivationDistribution } from '../state/activation-distribution.js';
import { RandomSequences, selectionHash } from '../state/random-sequences.js';
import type { SequenceReferences } from '../state/sequence-store.js';
import { encodeState, type StateArray } from '../state/state-codec.js';
import { TopKExemplars } from '../state/top-k-exemplars.js';

/**
 * Builds the streaming states from the contents an exemplar output holds.
 *
 * The state classes have no public constructor from contents, only `fromBuffers` for their checkpoints (and
 * `offer`, which would cost O(sequences x features) per layer to replay: hours at the 8B scale). So this module
 * writes the contents in the checkpoint layout and decodes them, which runs the states' own consistency checks
 * (heap order, slot permutation, thresholds, selection hashes). It is the one place in storage/ that knows the
 * checkpoint sections; before encoding, it compares its sections with those of a one-feature template state, so
 * if the state module renames or adds a section the error says to update this file (and the round-trip tests
 * of storage/ fail). A public `fromContents` in state/ would remove this coupling.
 *
 * The layouts are ones a live state can reach: a top-k list sorted worst first is a valid heap with the worst
 * entry at the root, entry i using activation slot i; kept extremes are held below the buffer's room with no
 * threshold yet (-Infinity), which the next offers raise exactly as in a fresh state.
 */

/** Section names and element types of a checkpoint, read from its header (the codec's documented layout). */
function sectionsOf(chunks: readonly Uint8Array[]): Map<string, { type: string; length: number }> {
  const first = chunks[0]!;
  const length = new DataView(first.buffer, first.byteOffset, first.byteLength).getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(first.subarray(12, 12 + length))) as {
    sections: { name: string; type: string; length: number }[];
  };
  return new Map(header.sections.map((s) => [s.name, { type: s.type, length: s.length }]));
}

function typeName(array: StateArray): string {
  if (array instanceof Float32Array) return 'f32';
  if (array instanceof Float64Array) return 'f64';
  if (array instanceof Int32Array) return 'i32';
  if (array instanceof Uint32Array) return 'u32';
  if (array instanceof Uint8Array) return 'u8';
  return 'u64';
}

function checkAgainstTemplate(
  kind: string,
  template: readonly Uint8Array[],
  sections: Readonly<Record<string, StateArray>>,
): void {
  const expected = sectionsOf(template);
  const names = Object.keys(sections);
  const same =
    names.length === expected.size && names.every((name) => expected.get(name)?.type === typeName(sections[name]!));
  if (!same) {
    const describe = (entries: [string, string][]) => entries.map(([n, t]) => `${n}:${t}`).join(', ');
    throw new Error(
      `storage/state-restore: the ${kind} checkpoint now has sections (${describe([...expected].map(([n, s]) => [n, s.type]))}), ` +
        `this restore writes (${describe(names.map((n) => [n, typeName(sections[n]!)]))}); update core/src/exemplars/storage/state-restore.ts`,
    );
  }
}

export interface RankedArrays {
  /** [features * k] ranking keys in rank order (best first): the maximum (positive) or the negated minimum (negative). */
  readonly keys: Float32Array;
  /** [features * k] sequence ids in rank order. */
  readonly ids: Float64Array;
  /** [features] entries per feature. */
  readonly counts: Int32Array;
  /** [features * k * seqLen] per-token activations of the entry at rank r, at (f * k + r) * seqLen. */
  readonly activations: Float32Array;
}

/** A TopKExemplars holding exactly the given ranked lists. The arrays are reordered in place (worst first). */
export function topKFromArrays(
  shape: { features: number; k: number; seqLen: number; lastSequenceId: number },
  positive: RankedArrays,
  negative: RankedArrays,
  references?: SequenceReferences,
): TopKExemplars {
  const { features, k, seqLen } = shape;
  const sections: Record<string, StateArray> = {};
  for (const [sign, lists] of [
    ['positive', positive],
    ['negative', negative],
  ] as const) {
    const slots = new Int32Array(features * k);
    const row = new Float32Array(seqLen);
    for (let f = 0; f < features; f++) {
      const base = f * k;
      const count = lists.counts[f]!;
      // Reverse each feature's ranks in place: worst first is a valid heap with the worst entry at the root.
      for (let i = 0, j = count - 1; i < j; i++, j--) {
        swap(lists.keys, base + i, base + j);
        swap(lists.ids, base + i, base + j);
        row.set(lists.activations.subarray((base + i) * seqLen, (base + i + 1) * seqLen));
        lists.activations.copyWithin((base + i) * seqLen, (base + j) * seqLen, (base + j + 1) * seqLen);
        lists.activations.set(row, (base + j) * seqLen);
      }
      for (let i = 0; i < count; i++) slots[base + i] = i;
    }
    sections[`${sign}.keys`] = lists.keys;
    sections[`${sign}.ids`] = lists.ids;
    sections[`${sign}.slots`] = slots;
    sections[`${sign}.counts`] = lists.counts;
    sections[`${sign}.activations`] = lists.activations;
  }
  checkAgainstTemplate('top-k-exemplars', new TopKExemplars({ features: 1, k: 1, seqLen: 1 }).toBuffers(), sections);
  const chunks = encodeState(
    'top-k-exemplars',
    { features, k, seqLen, lastSequenceId: shape.lastSequenceId },
    sections,
  );
  return TopKExemplars.fromBuffers(chunks, references ? { references } : {});
}

function swap(a: Float32Array | Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/** A RandomSequences holding the given selection (ids in selection order, values [count, seqLen, features]). */
export function randomFromArrays(
  shape: { features: number; seqLen: number; count: number; seed: bigint },
  held: { ids: Float64Array; size: number; values: Float32Array },
  references?: SequenceReferences,
): RandomSequences {
  const { count } = shape;
  const hashes = new BigUint64Array(count);
  const slots = new Int32Array(count);
  for (let r = 0; r < held.size; r++) {
    hashes[r] = selectionHash(shape.seed, held.ids[r]!);
    slots[r] = r;
  }
  const sections = { hashes, ids: held.ids, slots, values: held.values };
  checkAgainstTemplate(
    'random-sequences',
    new RandomSequences({ features: 1, seqLen: 1, count: 1, seed: 0 }).toBuffers(),
    sections,
  );
  const chunks = encodeState(
    'random-sequences',
    { features: shape.features, seqLen: shape.seqLen, count, seed: shape.seed.toString(), held: held.size },
    sections,
  );
  return RandomSequences.fromBuffers(chunks, references ? { references } : {});
}

export interface ExtremeArrays {
  /** [features * keep] each feature's kept keys (maxima; or negated minima), any order. */
  readonly keys: Float32Array;
  readonly counts: Int32Array;
}

/** An ActivationDistribution with the given kept extremes, histograms and counters. */
export function distributionFromArrays(
  shape: {
    features: number;
    keep: number;
    histogram: HistogramBins;
    histogramSample: number;
    tokensSeen: number;
    sequencesSeen: number;
  },
  maxima: ExtremeArrays,
  negatedMinima: ExtremeArrays,
  maxHistogram: Float64Array,
  minHistogram: Float64Array,
): ActivationDistribution {
  const { features, keep } = shape;
  const template = new ActivationDistribution({ features: 1, keep, histogram: shape.histogram }).toBuffers();
  // Each feature has room for more keys than it keeps (candidates awaiting the next selection); the room per
  // feature is the length of the one-feature template's key section.
  const room = sectionsOf(template).get('maxima.keys')?.length ?? keep;
  const buffers = (arrays: ExtremeArrays) => {
    const keys = new Float32Array(features * room);
    for (let f = 0; f < features; f++) keys.set(arrays.keys.subarray(f * keep, f * keep + arrays.counts[f]!), f * room);
    return { keys, counts: arrays.counts, thresholds: new Float32Array(features).fill(-Infinity) };
  };
  const max = buffers(maxima);
  const min = buffers(negatedMinima);
  const sections = {
    'maxima.keys': max.keys,
    'maxima.counts': max.counts,
    'maxima.thresholds': max.thresholds,
    'negatedMinima.keys': min.keys,
    'negatedMinima.counts': min.counts,
    'negatedMinima.thresholds': min.thresholds,
    maxHistogram,
    minHistogram,
  };
  checkAgainstTemplate('activation-distribution', template, sections);
  const chunks = encodeState(
    'activation-distribution',
    {
      features,
      keep,
      histogram: { ...shape.histogram },
      histogramSample: shape.histogramSample,
      tokensSeen: shape.tokensSeen,
      sequencesSeen: shape.sequencesSeen,
    },
    sections,
  );
  return ActivationDistribution.fromBuffers(chunks);
}
