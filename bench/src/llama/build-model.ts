// Time and peak memory of building an ONNX model from a random-weight checkpoint of a given shape (Llama-3.1-8B by
// default: 16 GB of bf16), against copying the same checkpoint files (the I/O floor) measured in the same run.
// The checkpoint is written once into --work and reused; each measurement runs in a child process so its peak
// RSS is its own.
//
//   node plugins/llama/dist/bench/build-model.js [--shape 8b|1b|small|tiny] [--dtype fp16|fp32] [--work DIR] [--keep]
import { fork } from 'node:child_process';
import { copyFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOnnxModel } from '@expgen/plugin-llama';
import { args, exists, shapeFromArgs, shapeParameters, table, writeRandomCheckpoint } from './bench-support.js';

interface ChildReport {
  readonly seconds: number;
  readonly maxRssBytes: number;
  readonly bytes: number;
}

const CHILD = process.env['EXPGEN_BENCH_CHILD'];
if (CHILD) {
  const [task, source, target, dtype] = JSON.parse(CHILD) as [string, string, string, 'fp32' | 'fp16'];
  const started = performance.now();
  let bytes = 0;
  if (task === 'build') {
    const manifest = await buildOnnxModel(source, target, { dtype });
    bytes = manifest.weightsBytes;
  } else {
    // The I/O floor: copy every checkpoint file (read and write the same bytes the build reads and writes).
    for (const file of await readdir(source)) {
      if (!file.endsWith('.safetensors')) continue;
      await copyFile(join(source, file), join(target, file));
      bytes += (await stat(join(source, file))).size;
    }
  }
  const report: ChildReport = {
    seconds: (performance.now() - started) / 1000,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    bytes,
  };
  process.send!(report);
  process.exit(0);
}

const values = args({ dtype: { type: 'string' }, work: { type: 'string' }, keep: { type: 'boolean' } });
if (values['shape'] === undefined) values['shape'] = '8b';
const { name, shape } = shapeFromArgs(values);
const dtype = (values['dtype'] ?? 'fp16') as 'fp32' | 'fp16';
const work = String(values['work'] ?? join(tmpdir(), 'expgen-bench'));
const hfDir = join(work, `${name}-hf`);
const outDir = join(work, `${name}-${dtype}-build-bench`);
const copyDir = join(work, `${name}-copy-bench`);

if (!(await exists(join(hfDir, 'config.json')))) {
  console.log(
    `writing a random ${name} checkpoint (${(shapeParameters(shape) / 1e9).toFixed(2)}B parameters) into ${hfDir} ...`,
  );
  const written = await writeRandomCheckpoint(hfDir, shape);
  console.log(`  ${(written.bytes / 1e9).toFixed(2)} GB in ${written.seconds.toFixed(1)} s`);
}

function child(task: 'build' | 'copy', source: string, target: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const process_ = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, EXPGEN_BENCH_CHILD: JSON.stringify([task, source, target, dtype]) },
    });
    process_.once('message', (report) => resolve(report as ChildReport));
    process_.once('exit', (code) =>
      code === 0 ? undefined : reject(new Error(`${task} child exited with code ${code}`)),
    );
  });
}

await rm(copyDir, { recursive: true, force: true });
await rm(outDir, { recursive: true, force: true });
const { mkdir } = await import('node:fs/promises');
await mkdir(copyDir, { recursive: true });
const copy = await child('copy', hfDir, copyDir);
await rm(copyDir, { recursive: true, force: true });
const build = await child('build', hfDir, outDir);
if (!values['keep']) await rm(outDir, { recursive: true, force: true });

const largestTensor = shape.vocab * shape.hidden * 2;
console.log(
  `\nbuild: ${name} (${(shapeParameters(shape) / 1e9).toFixed(2)}B params, bf16 checkpoint of ${(copy.bytes / 1e9).toFixed(2)} GB) -> ${dtype}`,
);
console.log(
  table([
    ['step', 'seconds', 'GB/s read', 'peak RSS GB', 'ratio vs copy'],
    ['copy checkpoint files (baseline)', copy.seconds, copy.bytes / 1e9 / copy.seconds, copy.maxRssBytes / 1e9, 1],
    [
      `build ONNX ${dtype} (${(build.bytes / 1e9).toFixed(2)} GB written)`,
      build.seconds,
      copy.bytes / 1e9 / build.seconds,
      build.maxRssBytes / 1e9,
      build.seconds / copy.seconds,
    ],
  ]),
);
console.log(
  `largest tensor: ${(largestTensor / 1e9).toFixed(2)} GB bf16; build peak RSS / checkpoint size = ${(build.maxRssBytes / copy.bytes).toFixed(3)}`,
);
