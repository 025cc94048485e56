/**
 * Stage 1's host side at the width of Llama-3.1-8B's MLP layers (14,336), fed as fast as it can take it: forward
 * results replayed by a simulated device (simulated-forward.ts: heavy-tailed extremes, the pass rates the real
 * thresholds imply) through the stage's real collector — checks, merge workers, top-k lists, kept extremes,
 * histogram sample, random sequences, sequence store — and its real checkpoint writer. Usage (after the build):
 *
 *   npm run bench stage1-host [-- --layers 1,2,4] [--workers N] [--batch 512] [--steady-at 100000]
 *        [--sequences 8192] [--rounds 3] [--discard 6] [--k 20] [--keep 1000] [--random 20] [--width 14336] [--early 2048]
 *
 * Settings that fit a 2-core machine (k 20, 1,000 extremes kept, one split); the state of all 32 layers at the
 * reference settings is about 336 GB, so the benchmark runs 1, 2 and 4 layers, shows the cost per sequence is
 * linear in them, and scales. Phases: early (a fresh state: every pair passes until the lists fill) and steady
 * (fast-forwarded to `--steady-at` sequences: about keep / n of the extremes and k / n of the pairs pass). Only the
 * host's time is measured (the simulator's is not); the baseline in the same run is the rate one H100 needs for
 * all 32 layers (340 sequences/s, from an H200 PyTorch measurement of the forward) and the bytes the same batches
 * moved before the extremes were gated.
 */
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LayerPlan } from '@expgen/contract';
import { SimulatedForward, benchRow, type WireBytes } from './simulated-forward.js';
import {
  CHECKPOINT_FORMAT,
  readCheckpoint,
  writeCheckpoint,
  ExemplarCollector,
  type StateSettings,
} from '@expgen/core/internals';

const H100_SEQUENCES_PER_SECOND = 340;
const LLAMA_8B_LAYERS = 32;

interface Options {
  layers: number[];
  workers: number;
  batch: number;
  steadyAt: number;
  sequences: number;
  k: number;
  keep: number;
  random: number;
  width: number;
  seq: number;
  early: number;
  rounds: number;
  /** Steady batches streamed before the timing starts (worker threads compile the merge code on first use). */
  discard: number;
  seed: number;
}

function parse(argv: readonly string[]): Options {
  const options: Options = {
    layers: [1, 2, 4],
    workers: availableParallelism(),
    batch: 512,
    steadyAt: 100_000,
    sequences: 8192,
    k: 20,
    keep: 1000,
    random: 20,
    width: 14_336,
    seq: 95,
    early: 2048,
    rounds: 3,
    discard: 6,
    seed: 1,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!.replace(/^--/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    const value = argv[i + 1] ?? '';
    if (!(name in options)) throw new Error(`unknown option ${argv[i]}; options: ${Object.keys(options).join(', ')}`);
    if (name === 'layers') options.layers = value.split(',').map(Number);
    else (options as unknown as Record<string, number>)[name] = Number(value);
  }
  return options;
}

const options = parse(process.argv.slice(2));
const settings: StateSettings = {
  topK: options.k,
  seqLen: options.seq,
  randomPerFeature: options.random,
  seed: 0,
  extremesKept: options.keep,
  histogramBins: 64,
  histogramRange: [-32, 32],
  // The reference run's: its histograms count 10,000 of its 1,000,000 sequences (exemplars.histogramSequences).
  histogramSample: 0.01,
};
const SPLIT = 'train';

function plans(layers: number): LayerPlan[] {
  return Array.from({ length: layers }, (_, layer) => ({
    layer,
    hook: `mlp/${layer}`,
    hookWidth: options.width,
    width: options.width,
  }));
}

function open(layers: number, workers: number, restore?: ReadonlyMap<string, Uint8Array>): ExemplarCollector {
  return ExemplarCollector.open({
    plans: plans(layers),
    selection: new Map(Array.from({ length: layers }, (_, l) => [l, 'all' as const])),
    splits: [SPLIT],
    settings,
    workers,
    ...(restore ? { restore } : {}),
  });
}

interface Phase {
  sequences: number;
  hostSeconds: number;
  /** Of `hostSeconds`, the per-feature merge (what workers share); the rest is the main thread's. */
  mergeSeconds: number;
  /** The process's CPU time in the host's work (with one worker: the main thread's), and in the merge. */
  hostCpu: number;
  mergeCpu: number;
  bytes: WireBytes;
  passes: { extremes: number; pairs: number };
}

/**
 * Streams `count` sequences from id `first` in batches; times only the collector (hooks, random rows, apply). The
 * first `discard` batches are streamed but not counted (compilation, first touches of the state's memory).
 */
async function stream(
  collector: ExemplarCollector,
  device: SimulatedForward,
  first: number,
  count: number,
  batch: number,
  discard = 0,
): Promise<Phase> {
  const phase: Phase = {
    sequences: 0,
    hostSeconds: 0,
    mergeSeconds: 0,
    hostCpu: 0,
    mergeCpu: 0,
    bytes: { gated: 0, dense: 0 },
    passes: { extremes: 0, pairs: 0 },
  };
  for (let start = first; start < first + count; start += batch) {
    const counted = (start - first) / batch >= discard;
    const rows = Array.from({ length: Math.min(batch, first + count - start) }, (_, i) =>
      benchRow(start + i, SPLIT, options.seq),
    );
    let began = performance.now();
    let beganCpu = cpuSeconds();
    const hooks = collector.hooks(SPLIT, rows);
    const randomRows = collector.randomRows(SPLIT, rows);
    let host = performance.now() - began;
    let hostCpu = cpuSeconds() - beganCpu;
    const { result, bytes } = device.forward(hooks, rows.length);
    const random =
      randomRows.length > 0
        ? { rows: randomRows, result: device.full(collector.randomHooks(SPLIT), randomRows.length) }
        : undefined;
    // The random rows' full pass moves the same bytes with or without gated extremes.
    const randomBytes = randomRows.length * options.seq * options.width * 4 * hooks.length;
    bytes.gated += randomBytes;
    bytes.dense += randomBytes;
    began = performance.now();
    beganCpu = cpuSeconds();
    const merged = collector.time.merge;
    const mergedCpu = collector.time.mergeCpu;
    await collector.apply(SPLIT, rows, result, random);
    host += performance.now() - began;
    hostCpu += cpuSeconds() - beganCpu;
    if (!counted) continue;
    phase.hostSeconds += host / 1000;
    phase.hostCpu += hostCpu;
    phase.mergeSeconds += collector.time.merge - merged;
    phase.mergeCpu += collector.time.mergeCpu - mergedCpu;
    phase.sequences += rows.length;
    phase.bytes.gated += bytes.gated;
    phase.bytes.dense += bytes.dense;
    for (const hook of result.hooks) {
      phase.passes.extremes += hook.extremes!.maxima.index.length + hook.extremes!.minima.index.length;
      phase.passes.pairs += hook.gated!.rows.length;
    }
  }
  return phase;
}

/**
 * What parallelism the machine gives right now: a trivially parallel loop, once on one thread for each of `threads`
 * shares and once on `threads` threads at the same time; the ratio of wall times (a shared VM gives less than
 * `threads`). The merge's speed-up is read against it.
 */
async function machineSpeedup(threads: number): Promise<number> {
  const loop = 'let x = 0; for (let i = 0; i < 1e8; i++) x = (x + i * 2654435761) >>> 0;';
  const serial = performance.now();
  for (let t = 0; t < threads; t++) new Function(loop)();
  const one = performance.now() - serial;
  const parallel = performance.now();
  await Promise.all(
    Array.from(
      { length: threads },
      () =>
        new Promise<void>((resolve, reject) => {
          const worker = new Worker(`${loop} require('node:worker_threads').parentPort.postMessage(0);`, {
            eval: true,
          });
          worker.once('message', () => void worker.terminate().then(() => resolve()));
          worker.once('error', reject);
        }),
    ),
  );
  return one / (performance.now() - parallel);
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

const rate = (phase: Phase) => phase.sequences / phase.hostSeconds;
/** Sequences per second of CPU time: what one dedicated core does, whatever else the machine runs. */
const cpuRate = (phase: Phase) => phase.sequences / phase.hostCpu;
const perSequencePerLayer = (phase: Phase, layers: number) => (phase.bytes.gated / phase.sequences / layers) | 0;
const fmt = (value: number, digits = 0) =>
  value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

console.log(
  `stage1-host: width ${fmt(options.width)}, k ${options.k}, ${fmt(options.keep)} extremes kept, ${options.random} random, one split, batch ${options.batch}; ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
);

// Early: a fresh state; every pair passes until the lists fill.
if (options.early > 0) {
  const device = new SimulatedForward(1, options.width, options.seq, options.seed);
  const collector = open(1, 1);
  const phase = await stream(collector, device, 0, options.early, 64);
  await collector.close();
  console.log(
    `early (first ${fmt(options.early)} sequences, batch 64, 1 layer, 1 worker): ${fmt(rate(phase))} sequences/s, ` +
      `${fmt((phase.passes.extremes / (phase.sequences * 2 * options.width)) * 100, 1)}% of extremes and ${fmt((phase.passes.pairs / (phase.sequences * options.width)) * 100, 1)}% of pairs pass, ` +
      `${fmt(perSequencePerLayer(phase, 1))} bytes per sequence per layer (dense extremes: ${fmt(phase.bytes.dense / phase.sequences)})`,
  );
}

const rows: string[][] = [
  [
    'layers',
    'workers',
    'CPU µs/seq/layer',
    'wall µs/seq/layer',
    'sequences/s (CPU)',
    'at 32 layers',
    'extremes passing',
    'pairs passing',
    'bytes/seq/layer',
    'dense-extremes bytes/seq/layer',
  ],
];
const largest = Math.max(...options.layers);
const oneWorker = new Map<number, Phase>();
let many: Phase | undefined;
let checkpoint: { bytes: number; seconds: number } | undefined;
/** The machine's own speed-up on a trivially parallel loop, measured beside each parallel round. */
const machine: number[] = [];
const median = (phases: Phase[]) => [...phases].sort((a, b) => cpuRate(a) - cpuRate(b))[phases.length >> 1]!;
const row = (layers: number, workers: number, p: Phase) => [
  String(layers),
  String(workers),
  fmt((p.hostCpu / p.sequences / layers) * 1e6, 1),
  fmt((p.hostSeconds / p.sequences / layers) * 1e6, 1),
  fmt(cpuRate(p)),
  fmt((cpuRate(p) * layers) / LLAMA_8B_LAYERS),
  `${fmt((p.passes.extremes / (p.sequences * 2 * options.width * layers)) * 100, 2)}%`,
  `${fmt((p.passes.pairs / (p.sequences * options.width * layers)) * 100, 3)}%`,
  fmt(p.bytes.gated / p.sequences / layers),
  fmt(p.bytes.dense / p.sequences / layers),
];
for (const layers of options.layers) {
  // Fast-forward once, checkpoint with the real writer, and measure every configuration from that checkpoint on
  // the same stream of batches (a device with the same seed), rounds alternating, medians taken: the machine is
  // shared, so only paired, interleaved measurements compare.
  const dir = mkdtempSync(join(tmpdir(), 'expgen-stage1-host-'));
  try {
    const warm = open(layers, 1);
    const warmStarted = performance.now();
    await new SimulatedForward(layers, options.width, options.seq, options.seed).warmState(warm, SPLIT, {
      n: options.steadyAt,
      keep: options.keep,
      randomCount: options.random,
      seed: settings.seed,
      batch: 16,
    });
    const warmSeconds = (performance.now() - warmStarted) / 1000;
    const info = {
      format: CHECKPOINT_FORMAT,
      configHash: 'bench',
      shard: { index: 0, count: 1 },
      group: 0,
      resumeFrom: options.steadyAt,
      appliedAbove: [],
      sequencesDone: 0,
      tokensDone: 0,
    };
    const began = performance.now();
    writeCheckpoint(dir, info, warm.checkpointFiles());
    const seconds = (performance.now() - began) / 1000;
    await warm.close();
    const folder = join(dir, 'exemplars', 'checkpoint');
    if (layers === largest)
      checkpoint = {
        bytes: readdirSync(folder).reduce((sum, name) => sum + statSync(join(folder, name)).size, 0),
        seconds,
      };
    const restored = readCheckpoint(dir, 'bench', info.shard)!.buffers;
    console.log(
      `  ${layers} layer(s): fast-forwarded to ${fmt(options.steadyAt)} sequences in ${fmt(warmSeconds, 1)} s`,
    );
    const measure = async (workers: number) => {
      const collector = open(layers, workers, restored);
      try {
        const device = new SimulatedForward(layers, options.width, options.seq, options.seed, options.seed + 7);
        return await stream(collector, device, options.steadyAt, options.sequences, options.batch, options.discard);
      } finally {
        await collector.close();
      }
    };
    const single: Phase[] = [];
    const parallel: Phase[] = [];
    for (let round = 0; round < options.rounds; round++) {
      single.push(await measure(1));
      if (layers === largest && options.workers > 1) {
        parallel.push(await measure(options.workers));
        machine.push(await machineSpeedup(options.workers));
      }
    }
    oneWorker.set(layers, median(single));
    rows.push(row(layers, 1, median(single)));
    if (parallel.length) {
      many = median(parallel);
      rows.push(row(layers, options.workers, many));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log('');
for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
console.log('');

const base = oneWorker.get(Math.min(...options.layers))!;
const baseCost = base.hostCpu / base.sequences / Math.min(...options.layers);
console.log(
  `linearity: host CPU per sequence per layer relative to ${Math.min(...options.layers)} layer(s): ${options.layers
    .map((l) => {
      const p = oneWorker.get(l)!;
      return `${l} layers x${fmt(p.hostCpu / p.sequences / l / baseCost, 2)}`;
    })
    .join(', ')}`,
);
const single = oneWorker.get(largest)!;
const perWorkerAt32 = (cpuRate(single) * largest) / LLAMA_8B_LAYERS;
console.log(
  `one worker (one core): ${fmt(perWorkerAt32)} sequences/s at 458,752 features (32 layers); one H100 needs ${H100_SEQUENCES_PER_SECOND} (x${fmt(perWorkerAt32 / H100_SEQUENCES_PER_SECOND, 2)})`,
);
// Amdahl from the one-worker run: the main thread's share stays serial, the per-feature merge divides.
const serial = 1 - single.mergeCpu / single.hostCpu;
if (many) {
  const measured = rate(many) / rate(single);
  const overhead = many.hostCpu / single.hostCpu;
  const speedup = (workers: number) => 1 / (serial + ((1 - serial) * overhead) / workers);
  const projected = perWorkerAt32 * speedup(7);
  const available = [...machine].sort((a, b) => a - b)[machine.length >> 1]!;
  console.log(
    `${options.workers} workers: wall-clock speed-up x${fmt(measured, 2)} on this machine (${cpus().length} cores, load average ${fmt(loadavg()[0]!, 1)}), where a trivially parallel loop got x${fmt(available, 2)} on ${options.workers} threads (${fmt((measured / available) * 100)}% of what the machine gave); CPU time x${fmt(overhead, 2)} of one worker's for the same batches`,
  );
  console.log(
    `per-worker speed-up from the measured serial share (${fmt(serial * 100, 1)}%) and parallel CPU overhead (x${fmt(overhead, 2)}): x${fmt(speedup(options.workers), 2)} with ${options.workers}, x${fmt(speedup(7), 2)} with 7 workers`,
  );
  console.log(
    `projected on 8 cores (7 merge workers, one core for inference): ${fmt(projected)} sequences/s at 458,752 features = x${fmt(projected / H100_SEQUENCES_PER_SECOND, 2)} the H100's 340 (goal: x1.5)`,
  );
}
const gatedBytes = single.bytes.gated / single.sequences / largest;
const denseBytes = single.bytes.dense / single.sequences / largest;
console.log(
  `device -> host, steady state: ${fmt(gatedBytes * LLAMA_8B_LAYERS)} bytes per sequence for 32 layers, against ${fmt(denseBytes * LLAMA_8B_LAYERS)} with dense extremes (x${fmt(gatedBytes / denseBytes, 3)}; goal: at most x0.1)`,
);
if (checkpoint)
  console.log(
    `checkpoint of ${largest} layer(s): ${fmt(checkpoint.bytes / 1e9, 2)} GB in ${fmt(checkpoint.seconds, 1)} s (${fmt(checkpoint.bytes / 1e6 / checkpoint.seconds)} MB/s; ${fmt((checkpoint.seconds / 60) * 100, 1)}% of a 60 s checkpoint interval)`,
  );
