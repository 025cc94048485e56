/**
 * Throughput of the host-side exemplar state on random batches shaped like one Llama-3.1-8B layer (B x 14,336),
 * against a plain sort-based reference over the same values in the same run, so the printed ratios hold across
 * machines. Usage (after `tsc -b core`):
 *
 *   node core/dist/exemplars/state/bench/exemplar-state-bench.js [--features 14336] [--rows 64] [--batches 200]
 *        [--keep 1000] [--k 100] [--seq-len 95] [--reference-features 2048] [--seed 1]
 *
 * The reference keeps every value of its first `--reference-features` features and sorts each feature's values once
 * at the end (the least work any exact non-streaming method does); its results are checked against the streaming
 * state's, so the benchmark also proves it measured two computations of the same thing.
 */
import { cpus } from 'node:os';
import { Sfc32 } from '@expgen/plugin-kit';
import { ActivationDistribution } from '@expgen/core';
import { TopKExemplars, type GatedBatch } from '@expgen/core';

interface BenchOptions {
  features: number;
  rows: number;
  batches: number;
  keep: number;
  k: number;
  seqLen: number;
  referenceFeatures: number;
  seed: number;
}

function parseOptions(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    features: 14_336,
    rows: 64,
    batches: 200,
    keep: 1000,
    k: 100,
    seqLen: 95,
    referenceFeatures: 2048,
    seed: 1,
  };
  const names: Record<string, keyof BenchOptions> = {
    '--features': 'features',
    '--rows': 'rows',
    '--batches': 'batches',
    '--keep': 'keep',
    '--k': 'k',
    '--seq-len': 'seqLen',
    '--reference-features': 'referenceFeatures',
    '--seed': 'seed',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]!];
    const value = Number(argv[i + 1]);
    if (!key || !Number.isSafeInteger(value) || value < 0)
      throw new Error(
        `unknown option or bad value: ${argv[i]} ${argv[i + 1]}; options: ${Object.keys(names).join(' ')}`,
      );
    options[key] = value;
  }
  options.referenceFeatures = Math.min(options.referenceFeatures, options.features);
  return options;
}

/** Uniform values in [0, 1) from expgen's seeded generator (one 32-bit output each: fast enough for data). */
function generator(seed: number): () => number {
  const random = new Sfc32(seed >>> 0);
  return () => random.nextUint32() / 2 ** 32;
}

/**
 * Per-sequence extremes: a positive max and a negative min per (row, feature), continuous so ties are rare.
 * `scale` < 1 makes a "late-stream" batch: values far inside every feature's kept range, so nothing enters, which
 * is what almost every batch of a long run looks like (insertions fall off as M / sequences seen).
 */
function extremes(random: () => number, size: number, scale = 1): { max: Float32Array; min: Float32Array } {
  const max = new Float32Array(size);
  const min = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    max[i] = (random() + random() * random() * 4) * scale;
    min[i] = -(random() + random() * random() * 2) * scale;
  }
  return { max, min };
}

const LATE_BATCHES = 10;
const LATE_SCALE = 1e-3;

/** Millions per second, printed without the unit's noun (callers add it). */
function rate(count: number, ms: number): string {
  return `${(((count / ms) * 1000) / 1e6).toFixed(1)} M`;
}

function benchDistribution(options: BenchOptions): void {
  const { features, rows, batches, keep, referenceFeatures } = options;
  const state = new ActivationDistribution({ features, keep, histogram: { low: -8, high: 8, bins: 64 } });
  const random = generator(options.seed);
  const reference = {
    maxima: Array.from({ length: referenceFeatures }, () => new Float32Array(rows * batches)),
    minima: Array.from({ length: referenceFeatures }, () => new Float32Array(rows * batches)),
  };
  let streamMs = 0;
  let steadyMs = 0;
  let referenceMs = 0;
  const warmBatches = Math.ceil(keep / rows);
  for (let batch = 0; batch < batches; batch++) {
    const { max, min } = extremes(random, rows * features);
    let start = performance.now();
    state.offer({ max, min, tokens: rows * options.seqLen });
    const took = performance.now() - start;
    streamMs += took;
    if (batch >= warmBatches) steadyMs += took;
    start = performance.now();
    for (let row = 0; row < rows; row++) {
      const at = batch * rows + row;
      for (let f = 0; f < referenceFeatures; f++) {
        reference.maxima[f]![at] = max[row * features + f]!;
        reference.minima[f]![at] = min[row * features + f]!;
      }
    }
    referenceMs += performance.now() - start;
  }
  const start = performance.now();
  const sortedMaxima = reference.maxima.map((values) => values.sort().reverse().slice(0, keep));
  const sortedMinima = reference.minima.map((values) => values.sort().slice(0, keep));
  referenceMs += performance.now() - start;
  for (let f = 0; f < referenceFeatures; f++) {
    if (
      !equal(state.sortedExtremes(f, 'positive'), sortedMaxima[f]!) ||
      !equal(state.sortedExtremes(f, 'negative'), sortedMinima[f]!)
    ) {
      throw new Error(`streaming and reference disagree on feature ${f}`);
    }
  }

  // Measured after the check, on full heaps with real thresholds.
  let lateMs = 0;
  for (let batch = 0; batch < LATE_BATCHES; batch++) {
    const { max, min } = extremes(random, rows * features, LATE_SCALE);
    const started = performance.now();
    state.offer({ max, min, tokens: rows * options.seqLen });
    lateMs += performance.now() - started;
  }
  const streamed = 2 * rows * features * batches;
  const referenced = 2 * rows * referenceFeatures * batches;
  const streamRate = streamed / streamMs;
  const referenceRate = referenced / referenceMs;
  console.log(
    `ActivationDistribution (F=${features}, B=${rows}, M=${keep}, ${batches} batches, 64 bins; extremes = per-sequence max + min)`,
  );
  console.log(`  streaming:   ${rate(streamed, streamMs)} extremes/s (${(streamMs / batches).toFixed(2)} ms/batch)`);
  if (batches > warmBatches) {
    console.log(
      `  after the first ${warmBatches} batches (the first M sequences, which all enter): ${rate(2 * rows * features * (batches - warmBatches), steadyMs)} extremes/s`,
    );
  }
  console.log(
    `  reference:   ${rate(referenced, referenceMs)} extremes/s (collect ${referenceFeatures} features, sort each once at the end)`,
  );
  console.log(
    `  ratio streaming / reference: ${(streamRate / referenceRate).toFixed(2)}x; results identical on ${referenceFeatures} features`,
  );
  console.log(
    `  per-token activations covered: ${rate(rows * options.seqLen * features * batches, streamMs)} activations/s (seqLen ${options.seqLen})`,
  );
  console.log(
    `  late stream (nothing enters, ${LATE_BATCHES} batches): ${rate(2 * rows * features * LATE_BATCHES, lateMs)} extremes/s (${(lateMs / LATE_BATCHES).toFixed(2)} ms/batch)`,
  );
}

function benchTopK(options: BenchOptions): void {
  const { features, rows, batches, k, seqLen, referenceFeatures } = options;
  const state = new TopKExemplars({ features, k, seqLen });
  const random = generator(options.seed + 1);
  const referenceValues = Array.from({ length: referenceFeatures }, () => new Float32Array(rows * batches));
  let streamMs = 0;
  let referenceMs = 0;
  let pairs = 0;
  let insertions = 0;
  const gatedBatch = (batch: number, scale: number): GatedBatch => {
    const { max, min } = extremes(random, rows * features, scale);
    const { top, bottom } = state.thresholds();
    // What a gated forward returns: values only for pairs beyond the thresholds (random per-token values).
    const gatedRows: number[] = [];
    const gatedFeatures: number[] = [];
    for (let row = 0; row < rows; row++) {
      for (let f = 0; f < features; f++) {
        if (max[row * features + f]! > top[f]! || min[row * features + f]! < bottom[f]!) {
          gatedRows.push(row);
          gatedFeatures.push(f);
        }
      }
    }
    const values = new Float32Array(gatedRows.length * seqLen);
    for (let i = 0; i < values.length; i += 97) values[i] = random();
    return {
      sequenceIds: Array.from({ length: rows }, (_, row) => batch * rows + row),
      max,
      min,
      gated: { rows: Int32Array.from(gatedRows), features: Int32Array.from(gatedFeatures), values },
      seqLen,
    };
  };
  for (let batch = 0; batch < batches; batch++) {
    const gated = gatedBatch(batch, 1);
    const { max } = gated;
    let start = performance.now();
    const summary = state.offer(gated);
    streamMs += performance.now() - start;
    pairs += summary.gatedPairs;
    insertions += summary.positiveInsertions + summary.negativeInsertions;
    start = performance.now();
    for (let row = 0; row < rows; row++)
      for (let f = 0; f < referenceFeatures; f++) referenceValues[f]![batch * rows + row] = max[row * features + f]!;
    referenceMs += performance.now() - start;
  }
  // Reference ranking of the positive sign: sort all (max, id) once per feature, larger max then smaller id.
  const start = performance.now();
  const ranked = referenceValues.map((values) => {
    const order = Array.from({ length: values.length }, (_, id) => id);
    order.sort((a, b) => values[b]! - values[a]! || a - b);
    return order.slice(0, k);
  });
  referenceMs += performance.now() - start;
  for (let f = 0; f < referenceFeatures; f++) {
    const ids = state.sequenceIds(f, 'positive');
    if (ids.length !== ranked[f]!.length || ids.some((id, i) => id !== ranked[f]![i]))
      throw new Error(`streaming and reference disagree on feature ${f}`);
  }
  // Measured after the check, on full lists with real thresholds.
  let lateMs = 0;
  for (let batch = batches; batch < batches + LATE_BATCHES; batch++) {
    const gated = gatedBatch(batch, LATE_SCALE);
    const started = performance.now();
    state.offer(gated);
    lateMs += performance.now() - started;
  }
  const streamed = rows * features * batches;
  const referenced = rows * referenceFeatures * batches;
  console.log(
    `TopKExemplars (F=${features}, B=${rows}, k=${k}, seqLen=${seqLen}, ${batches} batches; both signs, gated values included)`,
  );
  console.log(
    `  streaming:   ${rate(streamed, streamMs)} (row, feature) pairs/s (${(streamMs / batches).toFixed(2)} ms/batch); ${pairs.toLocaleString('en-US')} gated pairs, ${insertions.toLocaleString('en-US')} insertions`,
  );
  console.log(
    `  reference:   ${rate(referenced, referenceMs)} pairs/s (collect ${referenceFeatures} features' maxima, sort each once; positive sign only, no per-token values)`,
  );
  console.log(
    `  ratio streaming / reference: ${(streamed / streamMs / (referenced / referenceMs)).toFixed(2)}x; positive rankings identical on ${referenceFeatures} features`,
  );
  console.log(`  per-token activations covered: ${rate(rows * seqLen * features * batches, streamMs)} activations/s`);
  console.log(
    `  late stream (nothing gated, ${LATE_BATCHES} batches): ${rate(rows * features * LATE_BATCHES, lateMs)} pairs/s (${(lateMs / LATE_BATCHES).toFixed(2)} ms/batch)`,
  );
  if (insertions > 0)
    console.log(
      `  about this per insertion (run time less the late-stream time per batch): ${(((streamMs - (lateMs / LATE_BATCHES) * batches) / insertions) * 1e6).toFixed(0)} ns`,
    );
}

function equal(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const options = parseOptions(process.argv.slice(2));
console.log(
  `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}; ${JSON.stringify(options)}`,
);
benchDistribution(options);
benchTopK(options);
