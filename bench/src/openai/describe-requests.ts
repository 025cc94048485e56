// Requests and prompt tokens per feature-sign, and descriptions/s, of the openai-compatible describer against a
// loopback server that answers after a fixed latency: one request per candidate (useN: false, the baseline), K
// candidates per request with `n`, and a server that ignores `n` (detected, then one request per candidate), all
// measured in the same run. `--faults 4` makes one request in four fail (429, 500, truncated, reset, no choices).
// Describe calls run `--signs-at-once` at a time, as stage 2 runs them. Every configuration starts with an empty
// cache, so every answer is a real HTTP request. The fake server's latency does not grow with n (a real server's
// does, a little: it decodes the K answers as one batch), so descriptions/s overstate the gain; requests and prompt
// tokens are what the server is spared.
//
//   node plugins/openai/dist/bench/describe-requests.js [--signs 64] [--candidates 10] [--latency 50]
//     [--concurrency 16] [--signs-at-once 8] [--faults 0]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { memoryLogger } from '@expgen/contract/testing';
import { createOpenAIDescriber, describerOptionsSchema } from '@expgen/plugin-openai';
import { mixedFaults, startFakeOpenAIServer } from '@expgen/plugin-openai/testing';

const { values } = parseArgs({
  options: {
    signs: { type: 'string' },
    candidates: { type: 'string' },
    latency: { type: 'string' },
    concurrency: { type: 'string' },
    'signs-at-once': { type: 'string' },
    faults: { type: 'string' },
  },
});
const signs = Number(values.signs ?? 64);
const candidates = Number(values.candidates ?? 10);
const latencyMs = Number(values.latency ?? 50);
const concurrency = Number(values.concurrency ?? 16);
const signsAtOnce = Number(values['signs-at-once'] ?? 8);
const faultEvery = Number(values.faults ?? 0);

const request = (sign: number) => ({
  feature: { space: 'mlp', layer: 0, index: sign },
  sign: 'positive' as const,
  exemplars: [],
  threshold: 1,
  messages: [
    { role: 'system', content: 'Describe what the feature responds to. End with [DESCRIPTION]: <description>.' },
    {
      role: 'user',
      content: `Feature ${sign}.\n${Array.from({ length: 15 }, (_, i) => `Exemplar ${i + 1}: the {{cat}} sat on the mat, and the dog watched the {{cat}} from the door.`).join('\n')}`,
    },
  ],
  count: candidates,
  seed: 0,
});

interface Row {
  readonly name: string;
  readonly requests: number;
  readonly promptTokens: number;
  readonly seconds: number;
  readonly described: number;
}

async function measure(name: string, server: 'honours' | 'ignores', useN: boolean): Promise<Row> {
  const fake = await startFakeOpenAIServer({
    latencyMs,
    n: server === 'honours' ? 'honour' : 'ignore',
    ...(faultEvery > 0 ? { respond: mixedFaults(faultEvery, 0) } : {}),
  });
  const cacheDir = mkdtempSync(join(tmpdir(), 'expgen-bench-openai-'));
  try {
    const describer = createOpenAIDescriber(
      describerOptionsSchema.parse({
        baseUrl: fake.url,
        model: 'bench',
        concurrency,
        useN,
        backoffMs: 1,
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
    let next = 0;
    let described = 0;
    let promptTokens = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: signsAtOnce }, async () => {
        while (next < signs) {
          const result = await describer.describe(request(next++));
          described += result.candidates.length;
          promptTokens += result.usage?.promptTokens ?? 0;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    // With injected faults a request can fail all its retries: its candidates are reported failures, as in a run.
    if (faultEvery === 0 && described !== signs * candidates)
      throw new Error(`${name}: ${described} of ${signs * candidates} described`);
    return { name, requests: fake.requests.length, promptTokens, seconds, described };
  } finally {
    await fake.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

const rows = [
  await measure('one request per candidate (useN: false)', 'honours', false),
  await measure('n, server honours it', 'honours', true),
  await measure('n, server ignores it (detected)', 'ignores', true),
];

console.log(
  `openai-compatible describer: ${signs} feature-signs x ${candidates} candidates, loopback server answering after ${latencyMs} ms` +
    `${faultEvery > 0 ? `, one request in ${faultEvery} failing` : ''}; client concurrency ${concurrency}, ${signsAtOnce} signs at once`,
);
console.log('configuration                              requests/sign  prompt tokens/sign  descriptions/s  described');
for (const r of rows)
  console.log(
    `${r.name.padEnd(42)} ${(r.requests / signs).toFixed(2).padStart(13)} ${(r.promptTokens / signs).toFixed(0).padStart(19)} ${(r.described / r.seconds).toFixed(1).padStart(15)} ${`${r.described}/${signs * candidates}`.padStart(10)}`,
  );
const [base, withN, ignored] = rows as [Row, Row, Row];
console.log(
  `ratio: n vs one request per candidate: requests x${(withN.requests / base.requests).toFixed(3)}, prompt tokens x${(withN.promptTokens / base.promptTokens).toFixed(3)}, descriptions/s x${(withN.described / withN.seconds / (base.described / base.seconds)).toFixed(1)}`,
);
console.log(
  `ratio: ignored n vs one request per candidate: requests x${(ignored.requests / base.requests).toFixed(3)} (the detection costs nothing: every answer is a candidate)`,
);
