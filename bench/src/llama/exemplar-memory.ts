// Peak resident memory of stage 1 over N and over 10N sequences, each run in its own child process so the peaks
// are separate. Goal: a ratio near 1 — the exemplar state is sized by features x k x seqLen, not by corpus length.
//
//   node plugins/llama/dist/bench/exemplar-memory.js [--shape tiny] [--sequences 1000] [--factor 10] [--batch 32]
//        [--seq 95] [--k 100] [--random 20] [--keep 1000] [--work DIR]
//
// Both runs stream the same synthetic JSON Lines corpus (long enough for the larger run) through every MLP layer
// with the `mlp` activation source of @expgen/plugin-neurons. N should be large enough that every split fills its
// lists (k and `--keep` per split): before that the state's pages are still being touched for the first time.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memoryLogger } from '@expgen/contract/testing';
import { runExemplarStage, selectFeatures } from '@expgen/core';
import { openLlamaSubjectModel } from '@expgen/plugin-llama';
import { args, BENCH_SUBJECT, benchModel, shapeFromArgs, shapeParameters, table } from './bench-support.js';
import { exemplarSettings, jsonlDataset, mlpActivationSource, writeSyntheticCorpus } from './exemplar-bench-support.js';

interface ChildResult {
  readonly sequences: number;
  readonly tokens: number;
  readonly seconds: number;
  /** Peak resident set of the child, bytes. */
  readonly maxRss: number;
  /** Resident set and V8 heap when the stage returned, bytes. */
  readonly rssAtEnd: number;
  readonly heapAtEnd: number;
  readonly stateLine: string | undefined;
}

const values = args({
  sequences: { type: 'string' },
  factor: { type: 'string' },
  batch: { type: 'string' },
  seq: { type: 'string' },
  k: { type: 'string' },
  random: { type: 'string' },
  keep: { type: 'string' },
  work: { type: 'string' },
  // Internal: run one stage in this process and print its figures as JSON.
  child: { type: 'string' },
});
if (values['shape'] === undefined) values['shape'] = 'tiny';
const { name, shape } = shapeFromArgs(values);
const sequences = Number(values['sequences'] ?? 1000);
const factor = Number(values['factor'] ?? 10);
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));
const settingsFor = (count: number) =>
  exemplarSettings({
    sequences: count,
    seqLen: Number(values['seq'] ?? 95),
    batchSize: Number(values['batch'] ?? 32),
    windowsPerDocument: 2,
    topK: Number(values['k'] ?? 100),
    randomPerFeature: Number(values['random'] ?? 20),
    extremesKept: Number(values['keep'] ?? 1000),
    checkpointSeconds: 3600,
  });

if (values['child'] !== undefined) {
  // Child: {modelDir, corpus, count} in, one JSON line out.
  const job = JSON.parse(String(values['child'])) as { modelDir: string; corpus: string; count: number };
  const subject = await openLlamaSubjectModel(job.modelDir, { provider: 'cpu', provenance: BENCH_SUBJECT });
  const logger = memoryLogger();
  const activation = await mlpActivationSource(subject, logger);
  const outDir = mkdtempSync(join(tmpdir(), 'expgen-bench-memory-out-'));
  const started = performance.now();
  const summary = await runExemplarStage({
    subject,
    activation,
    datasets: [{ source: await jsonlDataset(job.corpus, logger), ratio: 1, name: 'synthetic' }],
    settings: settingsFor(job.count),
    selection: selectFeatures(null, activation),
    outDir,
    configHash: 'bench',
    logger,
    progress: false,
  });
  const seconds = (performance.now() - started) / 1000;
  const memory = process.memoryUsage();
  await subject.dispose();
  rmSync(outDir, { recursive: true, force: true });
  if (summary.end.reason === 'source-exhausted')
    throw new Error(`the synthetic corpus ran out after ${summary.sequences} of ${job.count} sequences`);
  const result: ChildResult = {
    sequences: summary.sequences,
    tokens: summary.tokens,
    seconds,
    maxRss: process.resourceUsage().maxRSS * 1024,
    rssAtEnd: memory.rss,
    heapAtEnd: memory.heapUsed,
    stateLine: logger.lines.find((l) => l.startsWith('exemplar state:')),
  };
  console.log(JSON.stringify(result));
  process.exit(0);
}

const modelDir = await benchModel(work, name, shape);
const temp = mkdtempSync(join(tmpdir(), 'expgen-bench-memory-'));
const corpus = join(temp, 'corpus.jsonl');
await writeSyntheticCorpus(corpus, sequences * factor + 64);

function child(count: number): Promise<ChildResult> {
  const self = fileURLToPath(import.meta.url);
  const forwarded = process.argv.slice(2);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [self, ...forwarded, '--child', JSON.stringify({ modelDir, corpus, count })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{'))
        reject(new Error(`the child run over ${count} sequences exited with ${code}: ${out}`));
      else resolve(JSON.parse(line) as ChildResult);
    });
  });
}

const small = await child(sequences);
const large = await child(sequences * factor);
rmSync(temp, { recursive: true, force: true });

const mb = (bytes: number) => bytes / 1e6;
const settings = settingsFor(sequences);
console.log(
  `\nexemplars memory: ${name} (${(shapeParameters(shape) / 1e9).toFixed(3)}B params, fp32) on cpu; batch ${settings.batchSize} x ${settings.seqLen}; ` +
    `k ${settings.topK}, ${settings.randomPerFeature} random, ${settings.extremesKept} extremes kept` +
    (small.stateLine ? `\n${small.stateLine}` : ''),
);
console.log(
  table([
    ['run', 'sequences', 'tokens', 'seconds', 'peak RSS MB', 'RSS at end MB', 'V8 heap at end MB'],
    [`N`, small.sequences, small.tokens, small.seconds, mb(small.maxRss), mb(small.rssAtEnd), mb(small.heapAtEnd)],
    [
      `${factor}N`,
      large.sequences,
      large.tokens,
      large.seconds,
      mb(large.maxRss),
      mb(large.rssAtEnd),
      mb(large.heapAtEnd),
    ],
  ]),
);
console.log(
  `\npeak RSS ${factor}N / N: ${(large.maxRss / small.maxRss).toFixed(3)} (goal: about 1; the state does not grow with the corpus)`,
);
