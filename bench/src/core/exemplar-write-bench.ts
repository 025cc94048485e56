/**
 * Writing one (layer, split)'s exemplar file at Llama-3.1-8B's width, against a plain sequential write of the same
 * bytes in the same run (the file read back into memory, then open, write 4 MB chunks, fsync, close: what the disk
 * and the page cache give any program). The exemplar file is built column by column from the states (storage/exemplar-columns.ts) and
 * written atomically (temporary name, fsync, rename); the row-by-row reference writer is timed too. Usage:
 *
 *   npm run bench exemplar-write [-- --features 14336] [--k 20] [--random 20] [--seq 95] [--rounds 3] [--dir DIR]
 *
 * Rounds alternate the writers and medians are printed: the machine and its disk are shared.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniforms } from './simulated-forward.js';
import {
  writeArrowFile,
  exemplarRecordBatches,
  exemplarSchema,
  writeExemplarFile,
  distributionRowsOf,
  exemplarRowsOf,
  type ExemplarOutputInfo,
  writeDistributionFile,
  ActivationDistribution,
  RandomSequences,
  SequenceStore,
  TopKExemplars,
} from '@expgen/core/internals';

const options = { features: 14_336, k: 20, random: 20, seq: 95, keep: 1000, rounds: 3, dir: tmpdir() };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i]!.replace(/^--/, '') as keyof typeof options;
  if (!(name in options)) throw new Error(`unknown option ${argv[i]}; options: ${Object.keys(options).join(', ')}`);
  (options as Record<string, number | string>)[name] = name === 'dir' ? argv[i + 1]! : Number(argv[i + 1]);
}
const { features, k, seq } = options;
const random = uniforms(3);

// States filled the way a run fills them: batches of rows, every pair gated while the lists fill.
const store = new SequenceStore({ seqLen: seq });
const topK = new TopKExemplars({ features, k, seqLen: seq, references: store });
const randomSequences = new RandomSequences({
  features,
  seqLen: seq,
  count: options.random,
  seed: 0,
  references: store,
});
const distribution = new ActivationDistribution({
  features,
  keep: options.keep,
  histogram: { low: -8, high: 8, bins: 64 },
});
const rowsPerBatch = 8;
let id = 0;
for (let batch = 0; batch < Math.ceil((2 * k) / rowsPerBatch); batch++) {
  const ids = Array.from({ length: rowsPerBatch }, () => id++);
  const max = new Float32Array(rowsPerBatch * features).map(() => random() * 4);
  const min = new Float32Array(rowsPerBatch * features).map(() => -random() * 4);
  const pairs = rowsPerBatch * features;
  const rows = Int32Array.from({ length: pairs }, (_, i) => i % rowsPerBatch);
  const pairFeatures = Int32Array.from({ length: pairs }, (_, i) => Math.floor(i / rowsPerBatch));
  const values = new Float32Array(pairs * seq).map(() => random() * 2 - 1);
  topK.offer({ sequenceIds: ids, max, min, gated: { rows, features: pairFeatures, values }, seqLen: seq });
  distribution.offer({ max, min, tokens: rowsPerBatch * seq });
  for (const [b, sequence] of ids.entries()) {
    if (randomSequences.wouldAdmit(sequence)) {
      const full = new Float32Array(seq * features).map(() => random());
      randomSequences.offer(sequence, full);
    }
    // Shorter sequences too, as chat rows and document ends are.
    const length = b % 4 === 0 ? seq - 17 : seq;
    store.put(sequence, {
      tokens: Int32Array.from({ length: seq }, (_, t) => (sequence * 131 + t) % 128000),
      length,
      datasetIndex: sequence % 2,
      documentId: `fineweb/CC-MAIN-2024-10/${1_000_000 + sequence}`,
      split: 'train',
      window: 0,
      countFrom: 30,
    });
  }
}
const info: ExemplarOutputInfo = {
  configHash: 'bench',
  datasets: ['fineweb', 'lmsys-chat-1m'],
  parameters: {
    seqLen: seq,
    k,
    randomCount: options.random,
    randomSeed: '0',
    extremesKept: options.keep,
    histogram: { low: -8, high: 8, bins: 64 },
    histogramSample: 1,
    countedFrom: 30,
  },
};
const state = { space: 'mlp', layer: 0, split: 'train', topK, random: randomSequences, distribution };

const dir = mkdtempSync(join(options.dir, 'expgen-write-bench-'));
const timed = (write: (path: string) => void, name: string, after?: (path: string) => void) => {
  const path = join(dir, name);
  const began = performance.now();
  write(path);
  const seconds = (performance.now() - began) / 1000;
  const bytes = statSync(path).size;
  after?.(path);
  rmSync(path);
  return { seconds, bytes };
};
const columns = (path: string) =>
  writeArrowFile(
    path,
    exemplarSchema(info.configHash),
    exemplarRecordBatches(
      exemplarSchema(info.configHash),
      {
        topK,
        random: randomSequences,
        features: null,
        width: features,
        split: 'train',
        datasets: info.datasets,
        countedFrom: 30,
        where: 'bench',
      },
      store.columns(),
    ),
  );
const rowsWriter = (path: string) =>
  writeExemplarFile(path, { configHash: info.configHash, features }, exemplarRowsOf(state, store, info));
const distributionWriter = (path: string) =>
  writeDistributionFile(path, { configHash: info.configHash, features }, distributionRowsOf(distribution));
// The baseline writes the very bytes of the exemplar file, read back into memory first (not timed).
let plainBytes = new Uint8Array(0);
const plain = (path: string) => {
  const fd = openSync(path, 'w');
  for (let written = 0; written < plainBytes.length; )
    written += writeSync(fd, plainBytes, written, Math.min(4 << 20, plainBytes.length - written));
  fsyncSync(fd);
  closeSync(fd);
};

if (process.env['EXPGEN_PROFILE_COLUMNS']) {
  // One column write under the inspector's profiler (for optimizing the writer), nothing else.
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const written = timed(columns, 'train.arrow');
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(process.env['EXPGEN_PROFILE_COLUMNS'], JSON.stringify(profile));
  console.log(`columns: ${(written.bytes / 1e6 / written.seconds).toFixed(0)} MB/s`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}

try {
  const results = {
    columns: [] as number[],
    rows: [] as number[],
    plain: [] as number[],
    distribution: [] as number[],
  };
  let fileBytes = 0;
  let distributionBytes = 0;
  for (let round = 0; round < options.rounds; round++) {
    const written = timed(columns, 'train.arrow', (path) => {
      plainBytes = readFileSync(path);
    });
    fileBytes = written.bytes;
    results.columns.push(written.bytes / 1e6 / written.seconds);
    const baseline = timed(plain, 'plain.bin');
    results.plain.push(baseline.bytes / 1e6 / baseline.seconds);
    const reference = timed(rowsWriter, 'rows.arrow');
    results.rows.push(reference.bytes / 1e6 / reference.seconds);
    const dist = timed(distributionWriter, 'train.distribution.feather');
    distributionBytes = dist.bytes;
    results.distribution.push(dist.bytes / 1e6 / dist.seconds);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
  const [c, p, r, d] = [
    median(results.columns),
    median(results.plain),
    median(results.rows),
    median(results.distribution),
  ];
  console.log(
    `exemplar-write: one layer-split at width ${features.toLocaleString('en-US')}, k ${k}, ${options.random} random, seqLen ${seq}: ${(fileBytes / 1e9).toFixed(2)} GB (${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}, ${options.rounds} rounds, medians)`,
  );
  console.log(`  plain sequential write of the same bytes: ${p.toFixed(0)} MB/s (baseline)`);
  console.log(
    `  exemplar file, column buffers:           ${c.toFixed(0)} MB/s = x${(c / p).toFixed(2)} of the plain write (goal: at least x0.5)`,
  );
  console.log(`  exemplar file, row by row (reference):   ${r.toFixed(0)} MB/s = x${(r / p).toFixed(2)}`);
  console.log(
    `  distribution file (${options.keep} extremes kept, ${(distributionBytes / 1e6).toFixed(0)} MB): ${d.toFixed(0)} MB/s = x${(d / p).toFixed(2)}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
