// Descriptions per second from the openai-compatible describer against a loopback server that answers after a
// fixed latency, at concurrency 1 and 64 (or --concurrency a,b,...), with the ratio to the first level measured
// in the same run. Each level starts with an empty cache, so every candidate is a real HTTP call.
//
//   node plugins/openai/dist/bench/describe-concurrency.js [--latency 50] [--concurrency 1,64] [--per-slot 10]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { memoryLogger } from '@expgen/contract/testing';
import { createOpenAIDescriber, describerOptionsSchema } from '@expgen/plugin-openai';
import { startFakeOpenAIServer } from '@expgen/plugin-openai/testing';

const { values } = parseArgs({
  options: { latency: { type: 'string' }, concurrency: { type: 'string' }, 'per-slot': { type: 'string' } },
});
const latencyMs = Number(values.latency ?? 50);
const levels = String(values.concurrency ?? '1,64')
  .split(',')
  .map(Number);
// Candidates per level: enough rounds at each concurrency that start-up does not dominate (at least 40).
const perSlot = Number(values['per-slot'] ?? 10);

const server = await startFakeOpenAIServer({ latencyMs });
const messages = [
  { role: 'system', content: 'Describe what the feature responds to. End with [DESCRIPTION]: <description>.' },
  { role: 'user', content: 'Exemplar 1: the {{cat}} sat on the mat\nExemplar 2: a {{cat}} and a dog' },
];
const request = (count: number, seed: number) => ({
  feature: { space: 'mlp', layer: 0, index: 0 },
  sign: 'positive' as const,
  exemplars: [],
  threshold: 1,
  messages,
  count,
  seed,
});

const rows: { concurrency: number; candidates: number; seconds: number; perSecond: number; maxInFlight: number }[] = [];
for (const concurrency of levels) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'expgen-bench-openai-'));
  try {
    const describer = createOpenAIDescriber(
      describerOptionsSchema.parse({
        baseUrl: server.url,
        model: 'bench',
        concurrency,
        apiKeyEnv: 'EXPGEN_BENCH_UNSET_KEY',
      }),
      {
        provenance: {
          kind: 'describer',
          component: 'openai-compatible',
          plugin: '@expgen/plugin-openai',
          pluginVersion: 'bench',
        },
        baseDir: process.cwd(),
        cacheDir,
        logger: memoryLogger(),
      },
    );
    await describer.describe(request(Math.min(concurrency, 8), 1_000_000)); // warm-up: connections, JIT
    const candidates = Math.max(40, perSlot * concurrency);
    const start = performance.now();
    const result = await describer.describe(request(candidates, 0));
    const seconds = (performance.now() - start) / 1000;
    if (result.candidates.length !== candidates)
      throw new Error(`only ${result.candidates.length} of ${candidates} candidates described`);
    rows.push({ concurrency, candidates, seconds, perSecond: candidates / seconds, maxInFlight: server.maxInFlight });
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
await server.close();

console.log(`openai-compatible describer, loopback server answering after ${latencyMs} ms`);
console.log('concurrency  candidates  seconds  descriptions/s');
for (const r of rows)
  console.log(
    `${String(r.concurrency).padStart(11)}  ${String(r.candidates).padStart(10)}  ${r.seconds.toFixed(2).padStart(7)}  ${r.perSecond.toFixed(1).padStart(14)}`,
  );
const base = rows[0]!;
for (const r of rows.slice(1)) {
  console.log(
    `ratio: concurrency ${r.concurrency} vs ${base.concurrency}: ${(r.perSecond / base.perSecond).toFixed(1)}x descriptions/s (ideal ${(r.concurrency / base.concurrency).toFixed(0)}x)`,
  );
}
