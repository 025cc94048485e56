// Stage 1 (`runExemplarStage`) on every MLP layer against the bare forward pass of the same model on the same
// batches, measured in the same run. Goal: the stage's tokens/s within 15% of the bare forward's.
//
//   node plugins/llama/dist/bench/exemplar-stage.js [--shape small|1b|8b|tiny] [--sequences 768] [--batch 16]
//        [--seq 95] [--k 20] [--random 20] [--keep 1000] [--splits 3] [--repeats 2] [--provider cpu|webgpu|cuda]
//        [--dtype fp32|fp16] [--threads N] [--workers N] [--work DIR]
//
// The stage streams a synthetic JSON Lines corpus (written to a temp file) through the subject with the `mlp`
// activation source of @expgen/plugin-neurons, as `expgen exemplars` does: gated reductions on every layer, the
// random sequences' second pass, the host-side merge pipelined with the next forward, the Arrow files at the end.
// The baseline is the plain forward as hook-overhead.ts defines it (no hooks, last logits), run on exactly the
// batches the stage sent (recorded by a pass-through subject); the stage's own gated forwards are replayed alone
// too (same thresholds), to split its overhead into the forward's and the host's. A warm-up stage run and a warm-up
// forward come first (hook variants are built on first use); repeats rotate the order; medians are printed.
//
// A fresh stage starts with empty lists, so every (sequence, feature) pair passes the gate until k sequences of a
// split were seen; the pass rate then falls as k / sequences. A short benchmark therefore sees more traffic than
// the long run it stands for: the table shows the whole run and its second half separately, with the pass rates.
// `--k 100` is the reference setting (the gate stays open for most of a short run); `--k 5 --splits 1` (every
// sequence in one split) reaches the pass rates of a long run's steady state within a few hundred sequences.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '@expgen/contract/testing';
import { runExemplarStage, selectFeatures } from '@expgen/core';
import type { ForwardRequest, ForwardResult, SubjectModel } from '@expgen/contract';
import { openLlamaSubjectModel } from '@expgen/plugin-llama';
import {
  args,
  BENCH_SUBJECT,
  benchModel,
  median,
  shapeFromArgs,
  shapeParameters,
  table,
  timed,
} from './bench-support.js';
import { exemplarSettings, jsonlDataset, mlpActivationSource, writeSyntheticCorpus } from './exemplar-bench-support.js';

const values = args({
  sequences: { type: 'string' },
  batch: { type: 'string' },
  seq: { type: 'string' },
  k: { type: 'string' },
  random: { type: 'string' },
  keep: { type: 'string' },
  splits: { type: 'string' },
  repeats: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  workers: { type: 'string' },
  work: { type: 'string' },
});
const { name, shape } = shapeFromArgs(values);
const sequences = Number(values['sequences'] ?? 768);
const batch = Number(values['batch'] ?? 16);
const seq = Number(values['seq'] ?? 95);
const repeats = Number(values['repeats'] ?? 2);
const splitCount = Number(values['splits'] ?? 3);
if (![1, 2, 3].includes(splitCount)) throw new Error('--splits: 1 (train only), 2 (train, valid) or 3');
const provider = (values['provider'] ?? 'cpu') as 'cpu' | 'webgpu' | 'cuda';
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));

const modelDir = await benchModel(work, name, shape, dtype);
const temp = mkdtempSync(join(tmpdir(), 'expgen-bench-stage-'));
const corpus = join(temp, 'corpus.jsonl');
// Two windows per document at most: one document per sequence leaves a margin.
await writeSyntheticCorpus(corpus, sequences + 64);

const provenance = BENCH_SUBJECT;
const subject = await openLlamaSubjectModel(modelDir, {
  provider,
  provenance,
  maxOpenSessions: 8,
  ...(values['threads'] ? { intraOpThreads: Number(values['threads']) } : {}),
});
const logger = memoryLogger();
const activation = await mlpActivationSource(subject, logger);
const dataset = await jsonlDataset(corpus, logger);
const selection = selectFeatures(null, activation);
const layers = activation.layers();
const width = activation.plan(layers[0]!).width;
const settings = (count: number) =>
  exemplarSettings({
    sequences: count,
    seqLen: seq,
    batchSize: batch,
    windowsPerDocument: 2,
    topK: Number(values['k'] ?? 20),
    randomPerFeature: Number(values['random'] ?? 20),
    extremesKept: Number(values['keep'] ?? 1000),
    splits: { train: 1, valid: splitCount >= 2 ? 1 : 0, test: splitCount >= 3 ? 1 : 0 },
    // A checkpoint every minute is noise over a long run but a large share of a short benchmark.
    checkpointSeconds: 3600,
    ...(values['workers'] ? { workers: Number(values['workers']) } : {}),
  });

/** One gated forward the stage sent: its inputs (for the bare baseline) and how many pairs passed the gate. */
interface SentBatch {
  /** The plain forward of the batch's rows. */
  readonly request: ForwardRequest;
  /** The gated forward as the stage sent it, thresholds copied (they are the stage's live arrays). */
  readonly gatedRequest: ForwardRequest;
  readonly tokens: number;
  passed: number;
}

/** Runs the stage once into a fresh folder; records its gated batches and when each one was applied. */
async function stageRun(count: number): Promise<{
  seconds: number;
  streamingSeconds: number;
  applied: number[];
  batches: SentBatch[];
  tokens: number;
  randomRows: number;
  deviceBytesPerSequence: number;
}> {
  const batches: SentBatch[] = [];
  let randomRows = 0;
  const recording: SubjectModel = {
    provenance: subject.provenance,
    info: subject.info,
    tokenizer: subject.tokenizer,
    runsGraphFragments: subject.runsGraphFragments,
    hookPoints: () => subject.hookPoints(),
    generate: (request) => subject.generate(request),
    forward: async (request: ForwardRequest): Promise<ForwardResult> => {
      const gated = request.hooks.length > 0 && request.hooks.every((h) => h.reduce === 'gated');
      let sent: SentBatch | undefined;
      if (gated) {
        const rows = {
          tokens: request.tokens.slice(),
          batch: request.batch,
          seqLen: request.seqLen,
          ...(request.lengths ? { lengths: request.lengths.slice() } : {}),
          ...(request.countFrom ? { countFrom: request.countFrom.slice() } : {}),
        };
        const copy = (gate: { top: Float32Array; bottom: Float32Array }) => ({
          top: gate.top.slice(),
          bottom: gate.bottom.slice(),
        });
        const hooks = request.hooks.map((h) => ({
          ...h,
          ...(h.thresholds ? { thresholds: copy(h.thresholds) } : {}),
          ...(h.extremeThresholds ? { extremeThresholds: copy(h.extremeThresholds) } : {}),
          ...(h.denseRows ? { denseRows: h.denseRows.slice() } : {}),
        }));
        sent = {
          request: { ...rows, hooks: [], logits: 'last' },
          gatedRequest: { ...rows, hooks },
          tokens: request.lengths ? request.lengths.reduce((a, b) => a + b, 0) : request.batch * request.seqLen,
          passed: 0,
        };
        batches.push(sent);
      } else {
        randomRows += request.batch;
      }
      const result = await subject.forward(request);
      if (sent) sent.passed = result.hooks.reduce((sum, h) => sum + (h.gated?.rows.length ?? 0), 0);
      return result;
    },
  };
  const outDir = mkdtempSync(join(temp, 'out-'));
  const applied: number[] = [];
  const started = performance.now();
  const summary = await runExemplarStage({
    subject: recording,
    activation,
    datasets: [{ source: dataset, ratio: 1, name: 'synthetic' }],
    settings: settings(count),
    selection,
    outDir,
    configHash: 'bench',
    logger,
    progress: false,
    onBatch: () => void applied.push(performance.now()),
  });
  const ended = performance.now();
  rmSync(outDir, { recursive: true, force: true });
  if (summary.end.reason === 'source-exhausted')
    throw new Error(`the synthetic corpus ran out after ${summary.sequences} of ${count} sequences`);
  if (applied.length !== batches.length)
    throw new Error(`${applied.length} batches applied but ${batches.length} gated forwards recorded`);
  return {
    seconds: (ended - started) / 1000,
    streamingSeconds: (applied.at(-1)! - started) / 1000,
    applied,
    batches,
    tokens: summary.tokens,
    randomRows,
    deviceBytesPerSequence: summary.deviceBytesPerSequence,
  };
}

/** The plain (or, with `gated`, the stage's own gated) forward of every recorded batch in turn; per-batch ms. */
async function replay(batches: readonly SentBatch[], gated = false): Promise<number[]> {
  const times: number[] = [];
  for (const b of batches) times.push((await timed(() => subject.forward(gated ? b.gatedRequest : b.request))).ms);
  return times;
}

// Warm-up: a short stage run (builds the gated and full hook variants) and one plain forward.
const warm = await stageRun(Math.min(sequences, 6 * batch));
await replay(warm.batches.slice(0, 2));

// Each repeat runs the stage, the bare forward and the stage's gated forwards alone (same batches, same
// thresholds: what the forward costs with the gate, without the host's merge), in a rotating order so drift in
// machine load falls on all three.
const stage: Awaited<ReturnType<typeof stageRun>>[] = [];
const bare: number[][] = [];
const gatedOnly: number[][] = [];
let recorded: SentBatch[] | undefined;
for (let r = 0; r < repeats; r++) {
  const steps = [
    async () => {
      stage.push(await stageRun(sequences));
      recorded ??= stage.at(-1)!.batches;
    },
    async () => void bare.push(await replay(recorded!)),
    async () => void gatedOnly.push(await replay(recorded!, true)),
  ];
  // Repeat 0 starts with the stage, which records the batches the other two replay.
  for (let i = 0; i < 3; i++) await steps[(i + r) % 3]!();
}
await subject.dispose();
rmSync(temp, { recursive: true, force: true });

const batches = recorded!;
const tokens = batches.reduce((a, b) => a + b.tokens, 0);
const half = Math.floor(batches.length / 2);
const lateTokens = batches.slice(half).reduce((a, b) => a + b.tokens, 0);
const passRate = (list: readonly SentBatch[]) =>
  list.reduce((a, b) => a + b.passed, 0) / list.reduce((a, b) => a + b.request.batch * width * layers.length, 0);
const sum = (list: readonly number[]) => list.reduce((a, b) => a + b, 0);

const bareAll = median(bare.map((t) => sum(t) / 1000));
const bareLate = median(bare.map((t) => sum(t.slice(half)) / 1000));
const gatedAll = median(gatedOnly.map((t) => sum(t) / 1000));
const gatedLate = median(gatedOnly.map((t) => sum(t.slice(half)) / 1000));
const stageStreaming = median(stage.map((s) => s.streamingSeconds));
const stageTotal = median(stage.map((s) => s.seconds));
// Second half: from the moment batch `half - 1` was applied to the last one (the pipeline keeps one batch in flight).
const stageLate = median(stage.map((s) => (s.applied.at(-1)! - s.applied[half - 1]!) / 1000));

const stateLine = logger.lines.find((l) => l.startsWith('exemplar state:'));
console.log(
  `\nexemplars throughput: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}; ${layers.length} MLP layers x ${width} features; ` +
    `${sequences} sequences in ${batches.length} batches of up to ${batch} x ${seq} (${tokens} tokens, ${splitCount} split${splitCount > 1 ? 's' : ''}); ` +
    `k ${settings(sequences).topK}, ${settings(sequences).randomPerFeature} random, ${settings(sequences).extremesKept} extremes kept; median of ${repeats}` +
    (stateLine ? `\n${stateLine}` : ''),
);
console.log(
  table([
    ['run', 'seconds', 'tokens/s', 'time vs bare', 'tokens/s vs bare', 'gate pass rate'],
    ['bare forward (plain, last logits), all batches', bareAll, tokens / bareAll, 1, 1, '-'],
    [
      "gated forwards alone (the stage's requests)",
      gatedAll,
      tokens / gatedAll,
      gatedAll / bareAll,
      bareAll / gatedAll,
      `${(100 * passRate(batches)).toFixed(1)}%`,
    ],
    [
      'stage, streaming (start to last batch applied)',
      stageStreaming,
      tokens / stageStreaming,
      stageStreaming / bareAll,
      bareAll / stageStreaming,
      `${(100 * passRate(batches)).toFixed(1)}%`,
    ],
    [
      'stage, end to end (with writing the outputs)',
      stageTotal,
      tokens / stageTotal,
      stageTotal / bareAll,
      bareAll / stageTotal,
      '',
    ],
    ['bare forward, second half of the batches', bareLate, lateTokens / bareLate, 1, 1, '-'],
    [
      'gated forwards alone, second half',
      gatedLate,
      lateTokens / gatedLate,
      gatedLate / bareLate,
      bareLate / gatedLate,
      `${(100 * passRate(batches.slice(half))).toFixed(1)}%`,
    ],
    [
      'stage, second half of the batches',
      stageLate,
      lateTokens / stageLate,
      stageLate / bareLate,
      bareLate / stageLate,
      `${(100 * passRate(batches.slice(half))).toFixed(1)}%`,
    ],
  ]),
);
console.log(
  `random sequences' second pass: ${stage[0]!.randomRows} rows in full (${((100 * stage[0]!.randomRows) / sequences).toFixed(1)}% of the sequences)`,
);
console.log(
  `device -> host: ${Math.round(stage[0]!.deviceBytesPerSequence).toLocaleString('en-US')} bytes per sequence over the run (${Math.round(stage[0]!.deviceBytesPerSequence / layers.length).toLocaleString('en-US')} per layer; dense extremes alone would be ${(8 * width).toLocaleString('en-US')} per layer)`,
);
const ratio = bareAll / stageStreaming;
console.log(
  `\nstage / bare forward tokens/s: ${ratio.toFixed(3)} over the whole run, ${(bareLate / stageLate).toFixed(3)} over its second half (goal: at least 0.85)`,
);
