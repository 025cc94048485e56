// Requests, prompt tokens and feature-signs/s of the detection scorer against a loopback judge that answers after a
// fixed latency, by prompt size: one sequence per prompt (the baseline: delphi's detection scorer class shows one
// example per prompt unless told otherwise; its run config asks for 5), then `batchSize` sequences per prompt as
// expgen does (5 by default), measured in the same run; then the same run again over the call cache. Feature-signs
// are judged `--signs-at-once` at a time, as stage 3 keeps them in flight, through a client of `--concurrency`
// requests. Every configuration starts with an empty cache. Prompt tokens are the fake server's count (characters /
// 4 of the messages), the same rule for every configuration; the judge's own latency does not grow with the prompt
// here (a real one's does, a little), so feature-signs/s overstate the gain: requests and prompt tokens are what the
// server is spared.
//
//   npm run bench judge-requests -- [--signs 64] [--latency 50] [--concurrency 16] [--signs-at-once 32]
//     [--batches 1,5,10]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { JudgeRequest, JudgeScorer, JudgeSequence, SubjectModel } from '@expgen/contract';
import { fakeTokenizer, memoryLogger } from '@expgen/contract/testing';
import { Sfc32 } from '@expgen/plugin-kit';
import judges from '@expgen/plugin-judges';
import { coinJudge } from '@expgen/plugin-judges/testing';
import { startFakeOpenAIServer } from '@expgen/plugin-openai/testing';

const { values } = parseArgs({
  options: {
    signs: { type: 'string' },
    latency: { type: 'string' },
    concurrency: { type: 'string' },
    'signs-at-once': { type: 'string' },
    batches: { type: 'string' },
  },
});
const signs = Number(values.signs ?? 64);
const latencyMs = Number(values.latency ?? 50);
const concurrency = Number(values.concurrency ?? 16);
const signsAtOnce = Number(values['signs-at-once'] ?? 32);
const batches = (values.batches ?? '1,5,10').split(',').map(Number);

const tokenizer = fakeTokenizer();
const WORDS = 'the a cat dog sat ran on under mat door and then quickly slowly house garden river bridge'.split(' ');

/** A feature-sign's kept test lists as stage 1 keeps them at the reference settings' shape (k 20 here, 20 random). */
function request(sign: number): JudgeRequest {
  const random = new Sfc32(sign + 1);
  const sequence = (peak: number, rank: number): JudgeSequence => {
    const words = Array.from({ length: 16 }, () => WORDS[random.nextInt(WORDS.length)]!);
    const tokens = tokenizer.encode(words.join(' '));
    return {
      tokens,
      activations: Float32Array.from(tokens, () => random.nextFloat() * peak),
      countFrom: 0,
      rank,
    };
  };
  return {
    feature: { space: 'mlp', layer: 0, index: sign },
    sign: 'positive',
    description: `the word "${WORDS[sign % WORDS.length]}" after an article`,
    sequences: {
      top: Array.from({ length: 20 }, (_, r) => sequence(10 - r * 0.2, r)),
      opposite: Array.from({ length: 20 }, (_, r) => sequence(0.5, r)),
      random: Array.from({ length: 20 }, (_, r) => sequence(r < 4 ? 8 : 1, r)),
    },
    seed: 0,
    purpose: 'report',
  };
}

interface Row {
  readonly name: string;
  readonly requests: number;
  readonly promptTokens: number;
  readonly judgments: number;
  readonly seconds: number;
}

async function measure(name: string, batchSize: number, cacheDir: string): Promise<Row> {
  const server = await startFakeOpenAIServer({ latencyMs, respond: coinJudge() });
  try {
    const declaration = judges.components.find((c) => c.name === 'detection')!;
    const options = declaration.options.parse({
      judge: { baseUrl: server.url, model: 'bench', concurrency, apiKeyEnv: 'EXPGEN_BENCH_UNSET_KEY' },
      batchSize,
    });
    const scorer = (await declaration.create(options, {
      provenance: { kind: 'scorer', component: 'detection', plugin: '@expgen/plugin-judges', pluginVersion: '0' },
      baseDir: process.cwd(),
      cacheDir,
      logger: memoryLogger(),
      subject: { tokenizer } as SubjectModel,
    })) as JudgeScorer;
    let promptTokens = 0;
    let judgments = 0;
    const start = performance.now();
    const queue = Array.from({ length: signs }, (_, i) => i);
    const worker = async () => {
      for (let sign = queue.shift(); sign !== undefined; sign = queue.shift()) {
        const result = await scorer.judge(request(sign));
        promptTokens += result.usage?.promptTokens ?? 0;
        judgments += result.judgments.length;
      }
    };
    await Promise.all(Array.from({ length: signsAtOnce }, worker));
    const seconds = (performance.now() - start) / 1000;
    return { name, requests: server.requests.length, promptTokens, judgments, seconds };
  } finally {
    await server.close();
  }
}

const rows: Row[] = [];
const dirs: string[] = [];
for (const batchSize of batches) {
  const cacheDir = mkdtempSync(join(tmpdir(), 'expgen-bench-judges-'));
  dirs.push(cacheDir);
  rows.push(await measure(`${batchSize} per prompt`, batchSize, cacheDir));
  if (batchSize === 5) rows.push(await measure('5 per prompt, again over the cache', 5, cacheDir));
}
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });

const base = rows[0]!;
console.log(
  `detection, ${signs} feature-signs (${base.judgments / signs} sequences shown each), loopback judge at ${latencyMs} ms, ${concurrency} requests in flight, ${signsAtOnce} feature-signs at once`,
);
console.log(
  `${'configuration'.padEnd(36)} ${'requests/sign'.padStart(13)} ${'prompt tokens/judgment'.padStart(22)} ${'signs/s'.padStart(8)}  vs ${base.name}`,
);
for (const r of rows) {
  const perSign = r.requests / signs;
  const perJudgment = r.judgments ? r.promptTokens / r.judgments : 0;
  const rate = signs / r.seconds;
  const ratio = (a: number, b: number) => (b === 0 ? 'n/a' : `x${(a / b).toFixed(2)}`);
  console.log(
    `${r.name.padEnd(36)} ${perSign.toFixed(2).padStart(13)} ${perJudgment.toFixed(1).padStart(22)} ${rate.toFixed(1).padStart(8)}  requests ${ratio(perSign, base.requests / signs)}, prompt tokens ${ratio(perJudgment, base.promptTokens / base.judgments)}, signs/s ${ratio(rate, signs / base.seconds)}`,
  );
}
