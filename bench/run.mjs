// Runs one benchmark by name (after `npm run build`): `node bench/run.mjs <name> [options]`, or `npm run bench <name>`.
// Benchmarks are compiled with the package whose internals they measure; this file only finds them.
// Every benchmark prints a ratio against a baseline measured in the same run: machines here are shared and noisy.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = {
  'hook-overhead': [
    'plugins/llama/dist/bench/hook-overhead.js',
    'forward with in-graph hook reductions vs the plain forward',
  ],
  generation: [
    'plugins/llama/dist/bench/generation-throughput.js',
    'generated tokens/s with the KV cache at batch 1..64 vs batch 1 and vs recompute',
  ],
  'model-build': [
    'plugins/llama/dist/bench/build-model.js',
    'time and peak memory of building a (default Llama-3.1-8B-shaped) model vs copying its files',
  ],
  'gpu-check': [
    'plugins/llama/dist/bench/gpu-check.js',
    'GPU providers vs CPU: agreement on a tiny model, reductions vs plain forward',
  ],
  'exemplars-throughput': [
    'plugins/llama/dist/bench/exemplar-stage.js',
    'stage 1 (exemplars) on every MLP layer vs the bare forward on the same batches, tokens/s',
  ],
  'exemplars-memory': [
    'plugins/llama/dist/bench/exemplar-memory.js',
    'peak RSS of stage 1 over N and 10N sequences (separate processes): state independent of corpus length',
  ],
  'openai-describe': [
    'plugins/openai/dist/bench/describe-concurrency.js',
    'descriptions/s at concurrency 1 vs 64 against a loopback server with 50 ms latency',
  ],
  'simulator-throughput': [
    'plugins/llama/dist/bench/simulator-throughput.js',
    'fine-tuned simulator predictions/s with 16 descriptions per pass vs one per pass',
  ],
  'sae-encode': [
    'plugins/sae/dist/bench/sae-encode-bench.js',
    'host SAE encode tokens/s (4 rows/pass vs 1) and state, weight and intermediate bytes at 16k-131k latents',
  ],
  'stage1-host': [
    'core/dist/exemplars/state/bench/stage1-host-bench.js',
    "stage 1's host side at Llama-3.1-8B's width (early and steady state, 1..N merge workers) vs the 340 sequences/s one H100 needs",
  ],
  'exemplar-write': [
    'core/dist/exemplars/state/bench/exemplar-write-bench.js',
    "one layer-split's exemplar file at Llama-3.1-8B's width, column buffers vs a plain sequential write of the same bytes, MB/s",
  ],
  'exemplar-state': [
    'core/dist/exemplars/state/bench/exemplar-state-bench.js',
    'streaming top-k/bottom-k/extremes update vs a sort-based reference',
  ],
};

const [name, ...rest] = process.argv.slice(2);
const root = fileURLToPath(new URL('..', import.meta.url));
if (!name || !(name in BENCHMARKS)) {
  console.error(
    `usage: node bench/run.mjs <name> [options]\n\n${Object.entries(BENCHMARKS)
      .map(([n, [, what]]) => `  ${n.padEnd(20)} ${what}`)
      .join('\n')}`,
  );
  process.exit(name ? 2 : 0);
}
const [file] = BENCHMARKS[name];
if (!existsSync(new URL(file, `file://${root}/`))) {
  console.error(`bench ${name}: ${file} is not built: run "npm run build" first`);
  process.exit(1);
}
const result = spawnSync(process.execPath, [file, ...rest], { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
