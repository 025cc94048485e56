// The fine-tuned simulator's throughput, (description, exemplar token) predictions per second: batches of
// descriptions per forward pass against one description per pass, on the same model and inputs; plus the batched
// pass reading full-vocabulary logits on the host, the readout logitIds replaces. Then prefix reuse: one candidate
// (a description of about --description-tokens tokens) on --sequences exemplars, its prefix run once and its KV
// cache reused for every exemplar, against every row run whole: model tokens and predictions/s.
//
//   node plugins/llama/dist/bench/simulator-throughput.js [--shape small|tiny|1b|8b] [--descriptions 16]
//        [--batch 16] [--exemplar 95] [--sequences 25] [--description-tokens 20] [--repeats 3] [--sections batching,prefix]
//        [--provider cpu|webgpu|cuda] [--dtype fp32|fp16] [--threads N] [--work DIR]
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { Provenance } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { openLlamaSubjectModel } from '@expgen/plugin-llama';
import { buildOnnxModel } from '@expgen/plugin-llama';
import { expectedBin, FinetunedSimulator, RELEASED_SIMULATOR } from '@expgen/plugin-llama/testing';
import { llama31TokenizerFiles } from '@expgen/plugin-llama/testing';
import { LlamaTokenizer } from '@expgen/plugin-llama';
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
  descriptions: { type: 'string' },
  batch: { type: 'string' },
  exemplar: { type: 'string' },
  repeats: { type: 'string' },
  sequences: { type: 'string' },
  'description-tokens': { type: 'string' },
  sections: { type: 'string' },
  provider: { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  work: { type: 'string' },
});
const { name: shapeName, shape: baseShape } = shapeFromArgs(values);
// The released simulator's vocabulary: Llama 3's, PAD, and four remapped control tokens.
const shape = { ...baseShape, vocab: 128261 };
const name = `${shapeName}-sim`;
const descriptionCount = Number(values['descriptions'] ?? 16);
const batchSize = Number(values['batch'] ?? 16);
const exemplarLength = Number(values['exemplar'] ?? 95);
const repeats = Number(values['repeats'] ?? 3);
const sequenceCount = Number(values['sequences'] ?? 25);
const descriptionTokens = Number(values['description-tokens'] ?? 20);
const sections = new Set(String(values['sections'] ?? 'batching,prefix').split(','));
const provider = (values['provider'] ?? 'cpu') as 'cpu' | 'webgpu' | 'cuda';
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));

const hfDir = join(work, `${name}-hf`);
const modelDir = join(work, `${name}-${dtype}`);
if (!(await exists(join(hfDir, 'config.json')))) {
  const written = await writeRandomCheckpoint(hfDir, shape);
  const files = await llama31TokenizerFiles();
  await writeFile(join(hfDir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson));
  await writeFile(join(hfDir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  console.log(`random ${name} checkpoint: ${(written.bytes / 1e9).toFixed(2)} GB in ${written.seconds.toFixed(1)} s`);
}
if (!(await exists(join(modelDir, 'expgen-model.json')))) {
  const { ms } = await timed(() => buildOnnxModel(hfDir, modelDir, { dtype }));
  console.log(`built ${name} (${dtype}) in ${(ms / 1000).toFixed(1)} s`);
}

const provenance: Provenance = {
  kind: 'simulator',
  component: 'finetuned',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'bench',
};
const engine = await openLlamaSubjectModel(modelDir, {
  provider,
  provenance,
  tokenizer: await LlamaTokenizer.llama31(),
  allowExtendedVocabulary: true,
  // Every readout below keeps its sessions open: one per graph variant (forward, prefix prefill, prefix read).
  maxOpenSessions: 5,
  ...(values['threads'] ? { intraOpThreads: Number(values['threads']) } : {}),
});
const settings = {
  remap: RELEASED_SIMULATOR.remap,
  padId: RELEASED_SIMULATOR.padId,
  binIds: [...RELEASED_SIMULATOR.binIds],
  callCache: null,
};
// The first section measures batching and the readout of whole rows, as before prefix reuse existed.
const batched = new FinetunedSimulator(engine, { ...settings, batchSize, prefixReuse: false }, provenance);
const single = new FinetunedSimulator(engine, { ...settings, batchSize: 1, prefixReuse: false }, provenance);

const random = new Sfc32(7);
const words = [
  'numbers',
  'in',
  'dates',
  'the',
  'token',
  '"cat"',
  'and',
  'other',
  'animals',
  'years',
  'code',
  'closing',
  'brackets',
  'of',
  'lists',
];
const descriptions = Array.from({ length: descriptionCount }, () =>
  Array.from(
    { length: 3 + Math.floor(random.nextFloat() * 12) },
    () => words[Math.floor(random.nextFloat() * words.length)],
  ).join(' '),
);
// A chat-formatted exemplar, as stage 1 makes them: control tokens (remapped by the simulator) among text ids.
const exemplar = () => [
  128000,
  128006,
  882,
  128007,
  271,
  ...Array.from({ length: exemplarLength - 5 }, () => 1000 + Math.floor(random.nextFloat() * 100000)),
];
const predictions = descriptionCount * exemplarLength;

// The batched pass with the whole vocabulary's logits returned and the bins read on the host: what logitIds avoids.
async function fullLogitsReadout(sequence: number[]): Promise<void> {
  const inputs = descriptions.map((d) => [...batched.prefixIds(d), ...batched.remapIds(sequence)]);
  const vocab = engine.info.vocabSize;
  for (let start = 0; start < inputs.length; start += batchSize) {
    const rows = inputs.slice(start, start + batchSize);
    const seqLen = Math.max(...rows.map((r) => r.length));
    const tokens = new Int32Array(rows.length * seqLen).fill(RELEASED_SIMULATOR.padId);
    rows.forEach((r, i) => {
      tokens.set(r, i * seqLen);
    });
    const { logits } = await engine.forward({
      tokens,
      batch: rows.length,
      seqLen,
      lengths: Int32Array.from(rows, (r) => r.length),
      hooks: [],
      logits: 'all',
    });
    const bins = new Float32Array(11);
    rows.forEach((r, i) => {
      for (let t = r.length - sequence.length; t < r.length; t++) {
        for (let k = 0; k < 11; k++) bins[k] = logits![(i * seqLen + t) * vocab + k]!;
        expectedBin(bins, 0, 11);
      }
    });
  }
}

const runs: [string, (sequence: number[]) => Promise<unknown>][] = [
  [
    `${batchSize} descriptions per pass (logitIds)`,
    (sequence) => batched.simulate({ descriptions, sequences: [sequence] }),
  ],
  ['1 description per pass (logitIds)', (sequence) => single.simulate({ descriptions, sequences: [sequence] })],
  [`${batchSize} per pass, full logits to the host`, fullLogitsReadout],
];
async function batchingSection(): Promise<void> {
  for (const [, run] of runs) await run(exemplar()); // warm-up: builds the variants and opens their sessions
  // Interleaved, so drift in a shared machine's load falls on every readout alike.
  const times: number[][] = runs.map(() => []);
  for (let r = 0; r < repeats; r++) {
    const sequence = exemplar();
    for (const [i, [, run]] of runs.entries()) times[i]!.push((await timed(() => run(sequence))).ms);
  }
  const medians = times.map(median);
  const rates = medians.map((ms) => predictions / (ms / 1000));
  const rows = runs.map(([label], i) => [label, medians[i]!, rates[i]!, rates[i]! / rates[1]!]);
  console.log(
    `\nsimulator: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}, ${descriptionCount} descriptions x 1 exemplar of ` +
      `${exemplarLength} tokens per call, median of ${repeats}`,
  );
  console.log(table([['readout', 'ms per call', 'predictions/s', 'ratio vs 1 per pass'], ...rows]));
  console.log(
    `batching ${batchSize} descriptions per pass: ${(rates[0]! / rates[1]!).toFixed(2)}x the throughput of one per pass`,
  );
  console.log(
    `bin logits only (logitIds, head rows gathered in the graph) vs full logits to the host: ${(rates[0]! / rates[2]!).toFixed(2)}x`,
  );
}

/** Prefix reuse: one candidate on the valid split's exemplars, as stage 3 simulates it. */
async function prefixSection(): Promise<void> {
  let candidate = '';
  while (batched.prefixIds(candidate).length - batched.prefixIds('').length < descriptionTokens)
    candidate += `${candidate ? ' ' : ''}${words[Math.floor(random.nextFloat() * words.length)]}`;
  const reuse = new FinetunedSimulator(engine, { ...settings, batchSize }, provenance);
  const recompute = new FinetunedSimulator(engine, { ...settings, batchSize, prefixReuse: false }, provenance);
  const prefixRuns = [
    ['prefix once, KV cache reused', reuse],
    ['every row whole (recompute)', recompute],
  ] as const;
  const valid = () => Array.from({ length: sequenceCount }, exemplar);
  for (const [, simulator] of prefixRuns) await simulator.simulate({ descriptions: [candidate], sequences: valid() });
  const times: number[][] = prefixRuns.map(() => []);
  const tokens: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const sequences = valid();
    for (const [i, [, simulator]] of (r % 2 === 0 ? prefixRuns : [...prefixRuns].reverse()).entries()) {
      const k = r % 2 === 0 ? i : prefixRuns.length - 1 - i;
      const { result, ms } = await timed(() => simulator.simulate({ descriptions: [candidate], sequences }));
      times[k]!.push(ms);
      tokens[k] = result.usage.tokens;
    }
  }
  const rates = times.map((t) => (sequenceCount * exemplarLength) / (median(t) / 1000));
  const prefixLength = reuse.prefixIds(candidate).length;
  console.log(
    `\nprefix reuse: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, ${dtype}) on ${provider}, one candidate (${prefixLength - reuse.prefixIds('').length}-token description, ${prefixLength}-token prefix with BOS and the template) on ${sequenceCount} exemplars of ${exemplarLength} tokens, ${batchSize} rows per pass, median of ${repeats}`,
  );
  console.log(
    table([
      ['rows', 'model tokens', 'ms per call', 'predictions/s'],
      ...prefixRuns.map(([label], i) => [label, tokens[i]!, median(times[i]!), rates[i]!]),
    ]),
  );
  console.log(
    `ratio: prefix reuse vs recompute: model tokens x${(tokens[0]! / tokens[1]!).toFixed(3)}, predictions/s x${(rates[0]! / rates[1]!).toFixed(2)}`,
  );
}

if (sections.has('batching')) await batchingSection();
if (sections.has('prefix')) await prefixSection();
await engine.dispose();
