import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { DescribeResult } from '@expgen/contract';
import { createOpenAIDescriber, describerOptionsSchema, type FactoryExtras } from './openai-describer.js';
import { describeRequest, fakeClock, removeDir, testContext } from './openai.test-util.js';
import {
  fakeDescription,
  mixedFaults,
  startFakeOpenAIServer,
  type FakeServerOptions,
} from './testing/fake-openai-server.js';

const servers: { close(): Promise<void> }[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  dirs.forEach(removeDir);
});

async function serve(options: FakeServerOptions = {}) {
  const server = await startFakeOpenAIServer(options);
  servers.push(server);
  return server;
}

function describer(raw: Record<string, unknown>, cacheDir?: string, extras: FactoryExtras = {}) {
  const context = testContext('describer', cacheDir ? { cacheDir } : {});
  dirs.push(context.cacheDir);
  const d = createOpenAIDescriber(describerOptionsSchema.parse({ model: 'fake-explainer', ...raw }), context, {
    env: {},
    ...fakeClock(),
    ...extras,
  });
  return { describer: d, context };
}

/** What the fake explainer answers for slot i of a request seeded `seed` (as a request of its own would). */
function expected(count: number, seed: number, text?: string): string[] {
  const messages = describeRequest(count, seed, text).messages.map((m) => ({ ...m }));
  return Array.from({ length: count }, (_, i) => fakeDescription(messages, seed + i));
}

const texts = (result: DescribeResult) => result.candidates.map((c) => c.description);
const bodies = (server: { requests: { body: Record<string, unknown> }[] }) =>
  server.requests.map((r) => ({ n: r.body['n'], seed: r.body['seed'] as number }));
/** Requests sent concurrently may arrive in any order. */
const bySeed = <T extends { seed: number }>(list: T[]) => [...list].sort((a, b) => a.seed - b.seed);

describe('openai-compatible describer: K candidates in one request with n', () => {
  it('asks once per sign, and each candidate is what a request of its own (seed + i) would have been', async () => {
    const server = await serve();
    const { describer: d } = describer({ baseUrl: server.url });
    const result = await d.describe(describeRequest(10, 300));
    assert.deepEqual(bodies(server), [{ n: 10, seed: 300 }]);
    assert.deepEqual(texts(result), expected(10, 300));
    assert.deepEqual(
      result.candidates.map((c) => c.seed),
      Array.from({ length: 10 }, (_, i) => 300 + i),
    );
    const settings = result.candidates[3]!.describedBy.settings!;
    assert.equal(settings['candidateRequests'], 'n');
    assert.deepEqual([settings['sampledSeed'], settings['n'], settings['choice']], [300, 10, 3]);
    assert.equal(result.usage!.calls, 1);
    assert.ok(result.usage!.promptTokens > 0 && result.usage!.completionTokens > 0);

    // The same candidates as per-candidate requests give, on a server that samples choice j with seed + j.
    const perCandidate = await serve();
    const { describer: single } = describer({ baseUrl: perCandidate.url, useN: false });
    const one = await single.describe(describeRequest(10, 300));
    assert.equal(perCandidate.requests.length, 10);
    assert.deepEqual(texts(one), texts(result));
    assert.equal(one.candidates[0]!.describedBy.settings!['candidateRequests'], 'per-candidate');
  });

  it('tops up only the unusable or missing choices, with one further request seeded past the first round', async () => {
    const server = await serve({
      respond: (r) =>
        r.index === 0
          ? {
              kind: 'choices',
              choices: [
                'ok.\n[DESCRIPTION]: first',
                "I'm sorry, but I can't help with that.",
                '',
                { malformed: true },
                'ok.\n[DESCRIPTION]: fifth',
                { refusal: 'no.' },
              ],
            }
          : { kind: 'answer' },
    });
    const { describer: d } = describer({ baseUrl: server.url });
    // 7 asked, 6 answered (one missing), 4 of them unusable: the top-up asks for the 5 slots left.
    const result = await d.describe(describeRequest(7, 100));
    assert.deepEqual(bodies(server), [
      { n: 7, seed: 100 },
      { n: 5, seed: 100 + 7 + 1 },
    ]);
    assert.deepEqual(
      result.candidates.map((c) => [c.seed, c.description]),
      [
        [100, 'first'],
        ...[1, 2, 3].map((slot, j) => [100 + slot, expected(5, 108)[j]!]),
        [104, 'fifth'],
        ...[5, 6].map((slot, j) => [100 + slot, expected(5, 108)[3 + j]!]),
      ],
    );
    assert.equal(result.failures.length, 0);
    const topped = result.candidates[1]!.describedBy.settings!;
    assert.deepEqual([topped['sampledSeed'], topped['n'], topped['choice']], [108, 5, 0]);
  });

  it('records a slot that never yields a description with every sample tried, never placeholder text', async () => {
    const server = await serve({
      respond: (r) => {
        const n = Number(r.body['n'] ?? 1);
        // Slot 1 is always refused: it is the first choice of every top-up, the second of the first request.
        return {
          kind: 'choices',
          choices: Array.from({ length: n }, (_, j) =>
            j === (r.index === 0 ? 1 : 0) ? 'I cannot do that.' : `x\n[DESCRIPTION]: d${r.index}.${j}`,
          ),
        };
      },
    });
    const { describer: d } = describer({ baseUrl: server.url, maxRetries: 2 });
    const result = await d.describe(describeRequest(3, 10));
    assert.deepEqual(
      result.candidates.map((c) => c.seed),
      [10, 12],
    );
    assert.equal(result.failures.length, 1);
    const failure = result.failures[0]!;
    assert.equal(failure.seed, 11);
    assert.equal(failure.reason, 'refusal');
    assert.match(failure.detail, /3 attempts, seeds 10 \(choice 1 of 3\), 14, 17\)$/);
    assert.deepEqual(bodies(server), [
      { n: 3, seed: 10 },
      { n: undefined, seed: 14 },
      { n: undefined, seed: 17 },
    ]);
  });

  it('an answer with no choices is retried like any fault and does not count against n', async () => {
    const server = await serve({ respond: (r) => (r.index === 0 ? { kind: 'empty-choices' } : { kind: 'answer' }) });
    const { describer: d, context } = describer({ baseUrl: server.url });
    const first = await d.describe(describeRequest(4, 0));
    const second = await d.describe(describeRequest(4, 50));
    assert.deepEqual(bodies(server), [
      { n: 4, seed: 0 },
      { n: 4, seed: 0 },
      { n: 4, seed: 50 },
    ]);
    assert.deepEqual(texts(first), expected(4, 0));
    assert.deepEqual(texts(second), expected(4, 50));
    assert.equal(first.usage!.calls, 2, 'the retry is a request');
    assert.equal(d.provenance.settings!['candidateRequests'], 'n');
    assert.equal(context.logger.lines.filter((l) => l.startsWith('warning')).length, 0);
  });

  it('detects a server that ignores n after two one-choice answers, then asks per candidate; every sign gets its K', async () => {
    const server = await serve({ n: 'ignore' });
    const { describer: d, context } = describer({ baseUrl: server.url });
    const first = await d.describe(describeRequest(4, 0, 'sign one'));
    // Slot 0 from {n: 4, seed 0}; slot 1 from the top-up {n: 3, seed 0 + 4 + 1}; then one request each.
    assert.deepEqual(bySeed(bodies(server)), [
      { n: 4, seed: 0 },
      { n: 3, seed: 5 },
      { n: undefined, seed: 10 },
      { n: undefined, seed: 11 },
    ]);
    assert.equal(first.candidates.length, 4);
    assert.equal(d.provenance.settings!['candidateRequests'], 'per-candidate');
    assert.equal(context.logger.lines.filter((l) => /ignores "n"/.test(l)).length, 1);
    const before = server.requests.length;
    const second = await d.describe(describeRequest(4, 0, 'sign two'));
    assert.deepEqual(
      bySeed(bodies(server).slice(before)),
      [0, 1, 2, 3].map((seed) => ({ n: undefined, seed })),
    );
    assert.deepEqual(texts(second), expected(4, 0, 'sign two'));

    // A rerun sends nothing, although its own detection would have gone differently: the cache answers both ways.
    const { describer: rerun } = describer({ baseUrl: server.url }, context.cacheDir);
    const total = server.requests.length;
    assert.deepEqual(texts(await rerun.describe(describeRequest(4, 0, 'sign one'))), texts(first));
    assert.deepEqual(texts(await rerun.describe(describeRequest(4, 0, 'sign two'))), texts(second));
    assert.equal(server.requests.length, total);
  });

  it('reports usage: requests with retries, tokens, prompt tokens served from the prefix cache, cached calls', async () => {
    const server = await serve({
      prefixCache: true,
      respond: (r) => (r.index === 0 ? { kind: 'status', status: 500 } : { kind: 'answer' }),
    });
    const { describer: d, context } = describer({ baseUrl: server.url });
    const first = await d.describe(describeRequest(5, 0));
    assert.equal(first.usage!.calls, 2);
    assert.equal(first.usage!.cachedPromptTokens, 0);
    assert.equal(first.usage!.cachedCalls, 0);
    // Same prompt, other seeds: the server says it served the prompt from its prefix cache.
    const second = await d.describe(describeRequest(5, 100));
    assert.equal(second.usage!.calls, 1);
    assert.ok(second.usage!.promptTokens > 0);
    assert.equal(second.usage!.cachedPromptTokens, second.usage!.promptTokens);
    const { describer: rerun } = describer({ baseUrl: server.url }, context.cacheDir);
    assert.deepEqual((await rerun.describe(describeRequest(5, 100))).usage, {
      calls: 0,
      promptTokens: 0,
      completionTokens: 0,
      cachedPromptTokens: 0,
      cachedCalls: 1,
    });
  });

  it('through one fault in four (429, 500, truncated, reset, no choices) makes about 4/3 requests per sign', async () => {
    const server = await serve({ respond: mixedFaults(4, 0) });
    const { describer: d } = describer({ baseUrl: server.url, concurrency: 4 });
    const signs = 24;
    const results = await Promise.all(
      Array.from({ length: signs }, (_, s) => d.describe(describeRequest(10, 0, `sign ${s}`))),
    );
    for (const [s, result] of results.entries()) assert.deepEqual(texts(result), expected(10, 0, `sign ${s}`));
    // Faults hit arrivals 3, 7, 11, ...: 24 answers take 31 requests, 7 of them faults (1.29 per sign).
    assert.equal(server.requests.length, 31);
    assert.equal(
      results.reduce((n, r) => n + r.usage!.calls, 0),
      server.requests.length,
    );
    assert.equal(d.provenance.settings!['candidateRequests'], 'n');
  });
});
