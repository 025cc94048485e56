// Runs one benchmark by name (after `npm run build`): `node bench/run.mjs <name> [options]`, or `npm run bench <name>`.
// Benchmarks live in the private workspace package @expgen/bench (bench/src, compiled to bench/dist), never in a
// published package's dist; they reach the code they measure through its packages' exports. This file only finds them.
// Every benchmark prints a ratio against a baseline measured in the same run: machines here are shared and noisy.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = {
  'hook-overhead': ['bench/dist/llama/hook-overhead.js', 'forward with in-graph hook reductions vs the plain forward'],
  generation: [
    'bench/dist/llama/generation-throughput.js',
    'generated tokens/s with the KV cache at batch 1..64 vs batch 1 and vs recompute',
  ],
  'shared-prefill': [
    'bench/dist/llama/shared-prefill.js',
    'local explainer, K = 10 samples of one prompt: prompt tokens and wall time, prefill once vs per row',
  ],
  'model-build': [
    'bench/dist/llama/build-model.js',
    'time and peak memory of building a (default Llama-3.1-8B-shaped) model vs copying its files',
  ],
  'gpu-check': [
    'bench/dist/llama/gpu-check.js',
    'GPU providers vs CPU: agreement on a tiny model, reductions vs plain forward',
  ],
  'exemplars-throughput': [
    'bench/dist/llama/exemplar-stage.js',
    'stage 1 (exemplars) on every MLP layer vs the bare forward on the same batches, tokens/s',
  ],
  'exemplars-memory': [
    'bench/dist/llama/exemplar-memory.js',
    'peak RSS of stage 1 over N and 10N sequences (separate processes): state independent of corpus length',
  ],
  'openai-describe': [
    'bench/dist/openai/describe-requests.js',
    'requests and prompt tokens per feature-sign, descriptions/s: K candidates per request with n vs one per candidate',
  ],
  'simulator-throughput': [
    'bench/dist/llama/simulator-throughput.js',
    'fine-tuned simulator predictions/s with 16 descriptions per pass vs one per pass',
  ],
  'sae-encode': [
    'bench/dist/sae/sae-encode-bench.js',
    'host SAE encode tokens/s (4 rows/pass vs 1) and state, weight and intermediate bytes at 16k-131k latents',
  ],
  'plugin-calls': [
    'bench/dist/core/plugin-call-overhead.js',
    'a stamped plugin call (every component method, errors named) vs the same call on the bare component',
  ],
  'judge-requests': [
    'bench/dist/judges/judge-requests.js',
    'detection judge: requests, prompt tokens per judgment and feature-signs/s by sequences per prompt, vs one per prompt',
  ],
  'score-selection': [
    'bench/dist/score/selection-strategies.js',
    'stage 3 selection strategies at K = 50: simulator tokens vs the naive count, and regret vs exhaustive',
  ],
  'score-throughput': [
    'bench/dist/score/score-throughput.js',
    'expgen score host throughput (baseline simulator, 8 x 2,048 features) vs the previous implementation',
  ],
  'stage1-host': [
    'bench/dist/core/stage1-host-bench.js',
    "stage 1's host side at Llama-3.1-8B's width (early and steady state, 1..N merge workers) vs the 340 sequences/s one H100 needs",
  ],
  'exemplar-write': [
    'bench/dist/core/exemplar-write-bench.js',
    "one layer-split's exemplar file at Llama-3.1-8B's width, column buffers vs a plain sequential write of the same bytes, MB/s",
  ],
  'results-write': [
    'bench/dist/core/results-write-bench.js',
    'results.arrow and candidates.arrow (typed structs, column buffers) vs the previous writer (JSON text), rows/s',
  ],
  'exemplar-state': [
    'bench/dist/core/exemplar-state-bench.js',
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
