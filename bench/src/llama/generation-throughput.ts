// Generated tokens per second with the KV cache at batch sizes 1..64, against batch 1 on the same model, plus
// one full-recompute decode (no cache) at batch 1 as the baseline the cache has to beat.
//
//   node plugins/llama/dist/bench/generation-throughput.js [--shape small] [--batches 1,2,4,8,16,32,64]
//        [--prompt 16] [--new 32] [--temperature 0] [--provider cpu] [--dtype fp32] [--threads N] [--work DIR]
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Sfc32 } from '@expgen/plugin-kit';
import { openLlamaSubjectModel } from '@expgen/plugin-llama';
import { argmax } from '@expgen/plugin-llama/testing';
import { args, BENCH_SUBJECT, benchModel, shapeFromArgs, shapeParameters, table, timed } from './bench-support.js';

const values = args({
  batches: { type: 'string' },
  prompt: { type: 'string' },
  new: { type: 'string' },
  temperature: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  work: { type: 'string' },
});
const { name, shape } = shapeFromArgs(values);
const batches = String(values['batches'] ?? '1,2,4,8,16,32,64')
  .split(',')
  .map(Number);
const promptLength = Number(values['prompt'] ?? 16);
const newTokens = Number(values['new'] ?? 32);
const temperature = Number(values['temperature'] ?? 0);
const provider = (values['provider'] ?? 'cpu') as 'cpu' | 'webgpu' | 'cuda';
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));

const modelDir = await benchModel(work, name, shape, dtype);

const provenance = BENCH_SUBJECT;
const subject = await openLlamaSubjectModel(modelDir, {
  provider,
  provenance,
  ...(values['threads'] ? { intraOpThreads: Number(values['threads']) } : {}),
});
const random = new Sfc32(5);
const prompts = (count: number) =>
  Array.from({ length: count }, () =>
    Array.from({ length: promptLength }, () => 1000 + Math.floor(random.nextFloat() * 100000)),
  );
const request = (count: number) => ({
  prompts: prompts(count),
  maxNewTokens: newTokens,
  temperature,
  seed: 1,
  stopTokens: [],
});

await subject.generate({ ...request(1), maxNewTokens: 2 }); // warm-up: builds and loads the generation graph
const rows: (string | number)[][] = [];
let single = 0;
for (const batch of batches) {
  const { ms } = await timed(() => subject.generate(request(batch)));
  const tokensPerSecond = (batch * newTokens) / (ms / 1000);
  if (batch === batches[0]) single = tokensPerSecond;
  rows.push([String(batch), ms, tokensPerSecond, tokensPerSecond / single]);
}

// Baseline: greedy decode at batch 1 re-running the whole sequence each step (what the KV cache saves).
const sequence = prompts(1)[0]!;
await subject.forward({
  tokens: Int32Array.from(sequence),
  batch: 1,
  seqLen: sequence.length,
  hooks: [],
  logits: 'last',
});
const recompute = await timed(async () => {
  for (let step = 0; step < newTokens; step++) {
    const { logits } = await subject.forward({
      tokens: Int32Array.from(sequence),
      batch: 1,
      seqLen: sequence.length,
      hooks: [],
      logits: 'last',
    });
    sequence.push(argmax(logits!));
  }
});
await subject.dispose();
const recomputeRate = newTokens / (recompute.ms / 1000);

console.log(
  `\ngeneration: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}, prompts of ${promptLength} tokens, ` +
    `${newTokens} new tokens, ${temperature === 0 ? 'greedy' : `temperature ${temperature}`}`,
);
console.log(table([['batch', 'ms', 'tokens/s', `ratio vs batch ${batches[0]}`], ...rows]));
console.log(
  `batch 1 without KV cache (full recompute each step): ${recomputeRate.toFixed(1)} tokens/s; KV cache speed-up ${(single / recomputeRate).toFixed(2)}x`,
);
