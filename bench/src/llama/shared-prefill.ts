// The local explainer's K samples of one prompt: prompt tokens through the model and wall time with the prompt
// prefilled once and its KV cache copied into the K rows, against a prefill per row (the previous path), on the same
// model in the same run, alternating so drift hits both alike. Also times the host copy of the cache alone: the most
// tiling it in the graph could save.
//
//   node bench/dist/llama/shared-prefill.js [--shape small] [--k 10] [--prompt 1000] [--new 32]
//        [--repeats 3] [--provider cpu] [--dtype fp32] [--threads N] [--work DIR]
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Provenance } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { buildOnnxModel, openLlamaSubjectModel } from '@expgen/plugin-llama';
import { gatherCacheRows, type LlamaGenerationResult } from '@expgen/plugin-llama/testing';
import {
  args,
  exists,
  median,
  shapeFromArgs,
  shapeParameters,
  table,
  timed,
  writeRandomCheckpoint,
} from './bench-support.js';

const values = args({
  k: { type: 'string' },
  prompt: { type: 'string' },
  new: { type: 'string' },
  repeats: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  work: { type: 'string' },
});
const { name, shape } = shapeFromArgs(values);
const k = Number(values['k'] ?? 10);
// An explainer prompt: instructions and 10-20 marked exemplars of up to 95 tokens.
const promptLength = Number(values['prompt'] ?? 1000);
const newTokens = Number(values['new'] ?? 32);
const repeats = Number(values['repeats'] ?? 3);
const provider = (values['provider'] ?? 'cpu') as 'cpu' | 'webgpu' | 'cuda';
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));

const hfDir = join(work, `${name}-hf`);
const modelDir = join(work, `${name}-${dtype}`);
if (!(await exists(join(hfDir, 'config.json')))) await writeRandomCheckpoint(hfDir, shape);
if (!(await exists(join(modelDir, 'expgen-model.json')))) await buildOnnxModel(hfDir, modelDir, { dtype });

const provenance: Provenance = {
  kind: 'describer',
  component: 'distilled-llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'bench',
};
const model = await openLlamaSubjectModel(modelDir, {
  provider,
  provenance,
  ...(values['threads'] ? { intraOpThreads: Number(values['threads']) } : {}),
});
const random = new Sfc32(11);
const prompt = Array.from({ length: promptLength }, () => 1000 + Math.floor(random.nextFloat() * 100000));
const request = (sharePrefill: boolean) => ({
  prompts: Array.from({ length: k }, () => prompt),
  seeds: Array.from({ length: k }, (_, i) => i),
  maxNewTokens: newTokens,
  temperature: 1,
  stopTokens: [],
  sharePrefill,
});

await model.generate({ ...request(true), maxNewTokens: 2 }); // warm-up: builds and loads the generation graph
const runs: Record<'shared' | 'perRow', { ms: number[]; result?: LlamaGenerationResult }> = {
  shared: { ms: [] },
  perRow: { ms: [] },
};
for (let r = 0; r < repeats; r++) {
  for (const mode of r % 2 === 0 ? (['perRow', 'shared'] as const) : (['shared', 'perRow'] as const)) {
    const { result, ms } = await timed(() => model.generate(request(mode === 'shared')));
    runs[mode].ms.push(ms);
    runs[mode].result = result;
  }
}
const same = JSON.stringify(runs.shared.result!.sequences) === JSON.stringify(runs.perRow.result!.sequences);
await model.dispose();

// The host copy of a shared prefill's cache into K rows, alone: what tiling in the graph could save at most.
const { heads, headDim } = { heads: shape.kvHeads, headDim: shape.hidden / shape.heads };
const layerCache = {
  type: dtype === 'fp16' ? ('float16' as const) : ('float32' as const),
  dims: [1, heads, promptLength, headDim],
  data:
    dtype === 'fp16'
      ? new Uint16Array(heads * promptLength * headDim)
      : new Float32Array(heads * promptLength * headDim),
};
const copies: number[] = [];
for (let r = 0; r < 5; r++) {
  const start = performance.now();
  for (let t = 0; t < 2 * shape.layers; t++) gatherCacheRows(layerCache, new Array<number>(k).fill(0));
  copies.push(performance.now() - start);
}

const shared = median(runs.shared.ms);
const perRow = median(runs.perRow.ms);
const usage = (mode: 'shared' | 'perRow') => runs[mode].result!.usage;
console.log(
  `\nshared prefill: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}, K = ${k} samples of one ${promptLength}-token prompt, ${newTokens} new tokens each, median of ${repeats}`,
);
console.log(
  table([
    ['prefill', 'prompt tokens through the model', 'generated tokens', 'ms'],
    ['one per row (previous path)', usage('perRow').prefillTokens, usage('perRow').generatedTokens, perRow],
    ['once, cache copied into the K rows', usage('shared').prefillTokens, usage('shared').generatedTokens, shared],
  ]),
);
console.log(
  `ratio: shared vs per-row prefill: prompt tokens x${(usage('shared').prefillTokens / usage('perRow').prefillTokens).toFixed(3)}, wall time x${(shared / perRow).toFixed(2)} (${(perRow / shared).toFixed(2)}x faster); tokens identical: ${same}`,
);
console.log(
  `host copy of the prefilled cache into ${k} rows: ${median(copies).toFixed(1)} ms (${((100 * median(copies)) / shared).toFixed(2)}% of the shared call): the most tiling in the graph could save`,
);
