// One short script for a GPU machine: for each GPU provider asked for, check a tiny model against the CPU provider
// (every hook, logits, greedy generation), time hook reductions against the plain forward pass on a larger shape,
// then run stage 1 end to end at the 8B's width (the stage1-host configuration: Llama-3.1-8B-shaped layers in
// fp16, k 20, 1,000 extremes kept, one split, batch 512) against the bare forward on the same batches, and the
// host side alone with the machine's cores as merge workers. Prints a short table last. Providers that fail to
// start, and steps that fail, are reported, not fatal.
//
//   node plugins/llama/dist/bench/gpu-check.js [--providers cuda,webgpu] [--shape small] [--batch 128] [--seq 95]
//        [--iterations 5] [--dtype fp32|fp16] [--work DIR] [--stage1-layers 4] [--stage1-sequences 8192]
//        [--stage1-workers N] [--stage1-shape 8b] [--stage1-batch 512] [--skip-stage1]
import { spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HookRequest, Provenance } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { openLlamaSubjectModel, type LlamaSubjectModel } from '@expgen/plugin-llama';
import { idTokenizer, tinyBuiltModel } from '@expgen/plugin-llama/testing';
import { args, benchModel, median, shapeFromArgs, table, timed } from './bench-support.js';

const values = args({
  providers: { type: 'string' },
  batch: { type: 'string' },
  seq: { type: 'string' },
  iterations: { type: 'string' },
  dtype: { type: 'string' },
  work: { type: 'string' },
  'stage1-layers': { type: 'string' },
  'stage1-sequences': { type: 'string' },
  'stage1-workers': { type: 'string' },
  'stage1-shape': { type: 'string' },
  'stage1-batch': { type: 'string' },
  'skip-stage1': { type: 'boolean' },
});
const providers = String(values['providers'] ?? 'cuda,webgpu').split(',') as ('cuda' | 'webgpu' | 'cpu')[];
const { name, shape } = shapeFromArgs(values);
const batch = Number(values['batch'] ?? 128);
const seq = Number(values['seq'] ?? 95);
const iterations = Number(values['iterations'] ?? 5);
const dtype = (values['dtype'] ?? 'fp32') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));
const provenance: Provenance = {
  kind: 'subject-model',
  component: 'llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'gpu-check',
};
const summary: (string | number)[][] = [['provider', 'check', 'result']];

// 1. Agreement with the CPU provider on a tiny model.
const tiny = await tinyBuiltModel({ seed: 1, layers: 2 }, dtype);
const random = new Sfc32(2);
const tokens = Int32Array.from({ length: 4 * 12 }, () => Math.floor(random.nextFloat() * 256));
const lengths = Int32Array.of(12, 9, 5, 1);
const request = (subject: LlamaSubjectModel) =>
  subject.forward({
    tokens,
    batch: 4,
    seqLen: 12,
    lengths,
    hooks: subject.hookPoints().map((h) => ({ hook: h.name, reduce: 'full' as const })),
    logits: 'all',
  });
const cpu = await openLlamaSubjectModel(tiny.modelDir, { provider: 'cpu', provenance, tokenizer: idTokenizer(256) });
const cpuResult = await request(cpu);
const cpuTokens = await cpu.generate({
  prompts: [
    [1, 2, 3],
    [4, 5, 6, 7, 8],
  ],
  maxNewTokens: 10,
  stopTokens: [],
});
await cpu.dispose();
for (const provider of providers) {
  let subject: LlamaSubjectModel | null = null;
  try {
    subject = await openLlamaSubjectModel(tiny.modelDir, { provider, provenance, tokenizer: idTokenizer(256) });
    const result = await request(subject);
    let worst = 0;
    const relative = (a: Float32Array, b: Float32Array) => {
      let error = 0;
      let scale = 0;
      a.forEach((v, i) => {
        if (Number.isNaN(b[i]!)) return;
        error = Math.max(error, Math.abs(v - b[i]!));
        scale = Math.max(scale, Math.abs(b[i]!));
      });
      return error / scale;
    };
    result.hooks.forEach((h, i) => {
      worst = Math.max(worst, relative(h.full!, cpuResult.hooks[i]!.full!));
    });
    worst = Math.max(worst, relative(result.logits!, cpuResult.logits!));
    summary.push([provider, `tiny ${dtype}: max relative error vs cpu (hooks, logits)`, worst.toExponential(2)]);
    const generated = await subject.generate({
      prompts: [
        [1, 2, 3],
        [4, 5, 6, 7, 8],
      ],
      maxNewTokens: 10,
      stopTokens: [],
    });
    summary.push([
      provider,
      'greedy tokens equal to cpu',
      String(JSON.stringify(generated.sequences) === JSON.stringify(cpuTokens.sequences)),
    ]);
  } catch (error) {
    summary.push([provider, 'tiny model', `FAILED: ${(error as Error).message.slice(0, 200)}`]);
  } finally {
    await subject?.dispose();
  }
}
await tiny.remove();

// 2. Hook reductions against the plain forward pass on a larger shape.
const modelDir = await benchModel(work, name, shape, dtype);
for (const provider of providers) {
  let subject: LlamaSubjectModel | null = null;
  try {
    subject = await openLlamaSubjectModel(modelDir, { provider, provenance, maxOpenSessions: 4 });
    const input = Int32Array.from({ length: batch * seq }, () => 1000 + Math.floor(random.nextFloat() * 100000));
    const mlp = subject.hookPoints().filter((h) => h.name.startsWith('mlp/'));
    const none = {
      top: new Float32Array(shape.intermediate).fill(Infinity),
      bottom: new Float32Array(shape.intermediate).fill(-Infinity),
    };
    // The BOS position does not count in reductions, as for stage 1 rows without a chat header.
    const countFrom = new Int32Array(batch).fill(1);
    const cases: [string, HookRequest[]][] = [
      ['plain forward', []],
      ['extremes, all mlp', mlp.map((h) => ({ hook: h.name, reduce: 'extremes' }))],
      ['gated (nothing passes), all mlp', mlp.map((h) => ({ hook: h.name, reduce: 'gated', thresholds: none }))],
    ];
    const times = cases.map(() => [] as number[]);
    for (const [, hooks] of cases)
      await subject.forward({ tokens: input, batch, seqLen: seq, countFrom, hooks, logits: 'last' });
    for (let i = 0; i < iterations; i++) {
      for (let k = 0; k < cases.length; k++) {
        const index = (i + k) % cases.length;
        times[index]!.push(
          (
            await timed(() =>
              subject!.forward({
                tokens: input,
                batch,
                seqLen: seq,
                countFrom,
                hooks: cases[index]![1],
                logits: 'last',
              }),
            )
          ).ms,
        );
      }
    }
    const baseline = median(times[0]!);
    cases.forEach(([label], i) => {
      const ms = median(times[i]!);
      summary.push([
        provider,
        `${name} ${dtype} batch ${batch}x${seq}: ${label}`,
        `${ms.toFixed(0)} ms, ${((batch * seq) / (ms / 1000)).toFixed(0)} tokens/s, ratio ${(ms / baseline).toFixed(3)}`,
      ]);
    });
  } catch (error) {
    summary.push([provider, `${name} timing`, `FAILED: ${(error as Error).message.slice(0, 200)}`]);
  } finally {
    await subject?.dispose();
  }
}
// 3. Stage 1 at the 8B's width: the forward with the stage's gates on the GPU, the merge on this machine's cores.
if (!values['skip-stage1']) {
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const stage1Layers = String(values['stage1-layers'] ?? 4);
  const stage1Shape = String(values['stage1-shape'] ?? '8b');
  const stage1Batch = String(values['stage1-batch'] ?? 512);
  const workers = String(values['stage1-workers'] ?? Math.max(1, availableParallelism() - 1));
  const run = (label: string, script: string, args: string[], keep: RegExp) => {
    const started = performance.now();
    const child = spawnSync(process.execPath, [join(root, script), ...args], { cwd: root, encoding: 'utf8' });
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    process.stdout.write(child.stdout ?? '');
    process.stderr.write(child.stderr ?? '');
    const lines = (child.stdout ?? '').split('\n').filter((line) => keep.test(line));
    if (child.status !== 0 || lines.length === 0)
      summary.push([
        '-',
        label,
        `FAILED (exit ${child.status}, ${seconds} s): ${(child.stderr ?? '').trim().split('\n').at(-1)?.slice(0, 200)}`,
      ]);
    for (const line of lines) summary.push(['-', label, line.trim()]);
  };
  for (const provider of providers) {
    run(
      `stage 1, ${stage1Layers} layers of the ${stage1Shape} shape, fp16, on ${provider}, batch ${stage1Batch} x 95, k 20, 1,000 extremes kept, one split`,
      'plugins/llama/dist/bench/exemplar-stage.js',
      [
        '--shape',
        stage1Shape,
        '--layers',
        stage1Layers,
        '--dtype',
        'fp16',
        '--provider',
        provider,
        '--batch',
        stage1Batch,
        '--sequences',
        String(values['stage1-sequences'] ?? 8192),
        '--k',
        '20',
        '--keep',
        '1000',
        '--random',
        '20',
        '--splits',
        '1',
        '--repeats',
        '1',
        '--workers',
        workers,
        '--work',
        work,
      ],
      /stage \/ bare forward|device -> host|bare forward \(plain|stage, streaming/,
    );
  }
  run(
    `stage 1 host side, ${workers} merge workers on ${availableParallelism()} cores`,
    'core/dist/exemplars/state/bench/stage1-host-bench.js',
    ['--layers', '1,4', '--workers', workers, '--early', '0', '--rounds', '2'],
    /one worker|workers: wall-clock|projected on|device -> host/,
  );
}

console.log(`\n${table(summary)}`);
