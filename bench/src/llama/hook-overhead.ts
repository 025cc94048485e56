// Forward passes with in-graph hook reductions against the plain forward pass on the same model and batch.
// Goal: extremes and gated reductions on every MLP layer cost at most 10% over the plain pass on CPU.
//
//   node plugins/llama/dist/bench/hook-overhead.js [--shape small|1b|8b|tiny] [--batch 16] [--seq 95]
//        [--iterations 5] [--provider cpu|webgpu|cuda] [--dtype fp32|fp16] [--threads N] [--work DIR]
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { HookRequest } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
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

const values = args({
  batch: { type: 'string' },
  seq: { type: 'string' },
  iterations: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  work: { type: 'string' },
});
const { name, shape } = shapeFromArgs(values);
const batch = Number(values['batch'] ?? 16);
const seq = Number(values['seq'] ?? 95);
const iterations = Number(values['iterations'] ?? 5);
const provider = (values['provider'] ?? 'cpu') as 'cpu' | 'webgpu' | 'cuda';
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));

const modelDir = await benchModel(work, name, shape, dtype);

const provenance = BENCH_SUBJECT;
const opened = await timed(() =>
  openLlamaSubjectModel(modelDir, {
    provider,
    provenance,
    maxOpenSessions: 8,
    ...(values['threads'] ? { intraOpThreads: Number(values['threads']) } : {}),
  }),
);
const subject = opened.result;
const random = new Sfc32(3);
const tokens = Int32Array.from({ length: batch * seq }, () => 1000 + Math.floor(random.nextFloat() * 100000));
const mlpHooks = subject.hookPoints().filter((h) => h.name.startsWith('mlp/'));
const width = shape.intermediate;
// The BOS position does not count in reductions, as for stage 1 rows without a chat header.
const countFrom = new Int32Array(batch).fill(1);

// Thresholds for gated runs: "steady state" (nothing passes, as after the first batches of a long run) and "busy"
// (each feature's threshold at its median per-sequence max over this batch, so about half the pairs pass).
const extremes = await subject.forward({
  tokens,
  batch,
  seqLen: seq,
  countFrom,
  hooks: mlpHooks.map((h) => ({ hook: h.name, reduce: 'extremes' as const })),
});
const busy = extremes.hooks.map((h) => {
  const top = new Float32Array(width);
  const bottom = new Float32Array(width);
  for (let f = 0; f < width; f++) {
    top[f] = median(Array.from({ length: batch }, (_, r) => h.max![r * width + f]!));
    bottom[f] = median(Array.from({ length: batch }, (_, r) => h.min![r * width + f]!));
  }
  return { top, bottom };
});
const none = { top: new Float32Array(width).fill(Infinity), bottom: new Float32Array(width).fill(-Infinity) };

const cases: { label: string; hooks: (HookRequest & { thresholds?: HookRequest['thresholds'] })[] }[] = [
  { label: 'plain forward (last logits)', hooks: [] },
  {
    label: `extremes, ${mlpHooks.length} mlp hooks`,
    hooks: mlpHooks.map((h) => ({ hook: h.name, reduce: 'extremes' })),
  },
  { label: 'gated, nothing passes', hooks: mlpHooks.map((h) => ({ hook: h.name, reduce: 'gated', thresholds: none })) },
  {
    label: 'gated, half the pairs pass',
    hooks: mlpHooks.map((h, i) => ({ hook: h.name, reduce: 'gated', thresholds: busy[i]! })),
  },
  {
    label: `full values, ${mlpHooks.length} mlp hooks`,
    hooks: mlpHooks.map((h) => ({ hook: h.name, reduce: 'full' })),
  },
];
const times = cases.map(() => [] as number[]);
for (const c of cases) await subject.forward({ tokens, batch, seqLen: seq, countFrom, hooks: c.hooks, logits: 'last' }); // warm-up, variant builds
// Cases interleave, starting one later each round, so drift in machine load spreads over all of them.
for (let i = 0; i < iterations; i++) {
  for (let k = 0; k < cases.length; k++) {
    const index = (i + k) % cases.length;
    const { ms } = await timed(() =>
      subject.forward({ tokens, batch, seqLen: seq, countFrom, hooks: cases[index]!.hooks, logits: 'last' }),
    );
    times[index]!.push(ms);
  }
}
await subject.dispose();

const baseline = median(times[0]!);
console.log(
  `\nhook overhead: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}, batch ${batch} x ${seq} tokens, ` +
    `median of ${iterations}; open ${(opened.ms / 1000).toFixed(1)} s`,
);
console.log(
  table([
    ['request', 'median ms', 'min ms', 'tokens/s', 'ratio vs plain (median)', '(min)'],
    ...cases.map((c, i) => {
      const ms = median(times[i]!);
      const fastest = Math.min(...times[i]!);
      return [c.label, ms, fastest, (batch * seq) / (ms / 1000), ms / baseline, fastest / Math.min(...times[0]!)];
    }),
  ]),
);
