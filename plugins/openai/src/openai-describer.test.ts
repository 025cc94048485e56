import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { ExpgenError, isExpgenError, SchemaError, type DescribeResult } from '@expgen/contract';
import { BudgetExhaustedError } from './chat-client.js';
import {
  createOpenAIDescriber,
  describerOptionsSchema,
  isCallEstimator,
  type FactoryExtras,
} from './openai-describer.js';
import { describeRequest, fakeClock, filesUnder, removeDir, testContext } from './openai.test-util.js';
import {
  fakeDescription,
  startFakeOpenAIServer,
  type FakeReply,
  type FakeRequest,
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

function context(cacheDir?: string) {
  const c = testContext('describer', cacheDir ? { cacheDir } : {});
  dirs.push(c.cacheDir);
  return c;
}

function describer(raw: Record<string, unknown>, ctx = context(), extras: FactoryExtras = {}) {
  return {
    describer: createOpenAIDescriber(describerOptionsSchema.parse({ model: 'fake-explainer', ...raw }), ctx, {
      env: {},
      ...fakeClock(),
      ...extras,
    }),
    context: ctx,
  };
}

/** Slot seeds of a result: each requested candidate exactly once. */
function slotSeeds(result: DescribeResult): number[] {
  return [...result.candidates.map((c) => c.seed), ...result.failures.map((f) => f.seed)].sort((a, b) => a - b);
}

describe('openai-compatible describer', () => {
  it('per candidate (useN: false): accounts for every candidate through every injected fault, none lost or duplicated', async () => {
    const count = 12;
    const seed = 100;
    const attempts = new Map<number, number>();
    const bySlot: Record<number, (attempt: number, seedUsed: number) => FakeReply> = {
      0: (a) => (a === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : { kind: 'answer' }),
      1: (a) => (a === 0 ? { kind: 'status', status: 500 } : { kind: 'answer' }),
      2: (a) => (a === 0 ? { kind: 'stall' } : { kind: 'answer' }),
      3: (a) => (a === 0 ? { kind: 'malformed' } : { kind: 'answer' }),
      4: (a) => (a === 0 ? { kind: 'truncated' } : { kind: 'answer' }),
      5: (a) => (a === 0 ? { kind: 'reset' } : { kind: 'answer' }),
      6: () => ({ kind: 'chat', content: '   ' }),
      // A deterministic refusal on the slot's own seed; the retry's fresh seed gets an answer.
      7: (_a, s) =>
        s === seed + 7 ? { kind: 'chat', content: "I'm sorry, but I can't help with that." } : { kind: 'answer' },
      8: () => ({ kind: 'chat', content: 'The feature fires on cats.' }),
      9: () => ({ kind: 'status', status: 500, body: 'always down' }),
      10: (a) => (a === 0 ? { kind: 'stall-body' } : { kind: 'answer' }),
      11: () => ({ kind: 'chat', content: null, refusal: 'I will not describe this.' }),
    };
    const respond = (request: FakeRequest): FakeReply => {
      const s = Number(request.body['seed']);
      const slot = (s - seed) % count;
      const a = attempts.get(s) ?? 0;
      attempts.set(s, a + 1);
      return bySlot[slot]!(a, s);
    };
    const server = await serve({ respond });
    const clock = fakeClock();
    const { describer: d, context: ctx } = describer(
      { baseUrl: server.url, timeoutMs: 1_500, requestRetries: 3, maxRetries: 3, concurrency: 6, useN: false },
      context(),
      clock,
    );
    const result = await d.describe(describeRequest(count, seed));

    assert.deepEqual(
      slotSeeds(result),
      Array.from({ length: count }, (_, i) => seed + i),
      'every slot once',
    );
    assert.deepEqual(
      result.candidates.map((c) => c.seed).sort((a, b) => a - b),
      [100, 101, 102, 103, 104, 105, 107, 110],
    );
    const failures = Object.fromEntries(result.failures.map((f) => [f.seed - seed, f]));
    assert.equal(failures[6]!.reason, 'empty');
    assert.match(failures[6]!.detail, /4 attempts, seeds 106, 118, 130, 142/);
    assert.equal(failures[8]!.reason, 'malformed');
    assert.equal(failures[9]!.reason, 'error');
    assert.match(failures[9]!.detail, /always down/);
    assert.equal(failures[11]!.reason, 'refusal');
    for (const c of result.candidates) {
      assert.ok(c.description.length > 0 && !/never|cut/.test(c.description), 'no placeholder or partial text');
      const sampled = c.describedBy.settings!['sampledSeed'] as number;
      assert.equal(
        c.description,
        fakeDescription(
          describeRequest(count, seed).messages.map((m) => ({ ...m })),
          sampled,
        ),
      );
      assert.equal(sampled, c.seed === 107 ? 119 : c.seed, 'the refused slot was sampled again with seed + count');
    }
    assert.ok(Math.max(...clock.sleeps) >= 1_000, 'Retry-After: 1 was honoured');
    assert.equal(result.usage!.calls, server.requests.length, 'usage counts every HTTP request');

    // A rerun reuses every cached answer; only the transport failure (never cached) is asked again.
    const before = server.requests.length;
    const { describer: again } = describer(
      { baseUrl: server.url, timeoutMs: 1_500, requestRetries: 3, maxRetries: 3, useN: false },
      context(ctx.cacheDir),
    );
    const second = await again.describe(describeRequest(count, seed));
    assert.equal(server.requests.length - before, 4, 'only slot 9 was requested again (1 + 3 retries)');
    assert.ok(server.requests.slice(before).every((r) => r.body['seed'] === seed + 9));
    assert.deepEqual(second.candidates, result.candidates);
    assert.deepEqual(
      second.failures.map((f) => [f.seed, f.reason]),
      result.failures.map((f) => [f.seed, f.reason]),
    );
  });

  it("keeps its answers in the run's call store when the run provides one, not in the cache folder", async () => {
    const server = await serve();
    const entries = new Map<string, unknown>();
    const namespaces = new Set<string>();
    const store = (namespace: string) => {
      namespaces.add(namespace);
      return {
        get: async <T>(request: unknown) => entries.get(`${namespace} ${JSON.stringify(request)}`) as T | undefined,
        put: async (request: unknown, value: unknown) => {
          entries.set(`${namespace} ${JSON.stringify(request)}`, value);
        },
      };
    };
    const ctx = { ...context(), callCache: store };
    const { describer: first } = describer({ baseUrl: server.url }, ctx);
    const a = await first.describe(describeRequest(4, 0));
    assert.equal(server.requests.length, 1);
    assert.deepEqual([...namespaces], ['openai-compatible/chat']);
    assert.equal(entries.size, 1, 'the answer went to the run store');
    assert.deepEqual(filesUnder(ctx.cacheDir), [], 'nothing written to the cache folder');
    const { describer: again } = describer({ baseUrl: server.url }, ctx);
    assert.deepEqual((await again.describe(describeRequest(4, 0))).candidates, a.candidates);
    assert.equal(server.requests.length, 1, 'answered from the run store');
  });

  it('a second identical run makes zero HTTP calls', async () => {
    const server = await serve();
    const { describer: first, context: ctx } = describer({ baseUrl: server.url });
    const a = await first.describe(describeRequest(8, 0));
    assert.equal(server.requests.length, 1, 'one request with n: 8');
    assert.equal(a.candidates.length, 8);
    // The base URL (a different replica) and the key are not part of the cache key.
    const other = await serve();
    const { describer: second } = describer({ baseUrl: [other.url, server.url] }, context(ctx.cacheDir), {
      env: { OPENAI_API_KEY: 'sk-other' },
    });
    const b = await second.describe(describeRequest(8, 0));
    assert.equal(server.requests.length + other.requests.length, 1, 'no request on the rerun');
    assert.deepEqual(b.candidates, a.candidates);
    assert.deepEqual(b.usage, {
      calls: 0,
      promptTokens: 0,
      completionTokens: 0,
      cachedPromptTokens: 0,
      cachedCalls: 1,
    });
    // What changes the answer misses the cache: another seed, another model, another temperature.
    await second.describe(describeRequest(1, 50));
    const { describer: hotter } = describer({ baseUrl: server.url, temperature: 0.5 }, context(ctx.cacheDir));
    await hotter.describe(describeRequest(1, 0));
    assert.equal(server.requests.length + other.requests.length, 3);
  });

  it('never lets the key reach logs, cache files, results or errors', async () => {
    const key = 'sk-live-TOPSECRET-abcdef123456';
    const seen = new Set<unknown>();
    // First try of each seed: a 500 whose body quotes the key back, as a misbehaving proxy might.
    const server = await serve({
      apiKey: key,
      respond: (r) =>
        seen.has(r.body['seed'])
          ? { kind: 'answer' }
          : (seen.add(r.body['seed']),
            { kind: 'status', status: 500, body: `proxy error; header was Authorization: Bearer ${key}` }),
    });
    const { describer: d, context: ctx } = describer({ baseUrl: server.url }, context(), {
      env: { OPENAI_API_KEY: key },
    });
    const result = await d.describe(describeRequest(3));
    assert.equal(result.candidates.length, 3);
    assert.ok(
      server.requests.every((r) => r.authorization === `Bearer ${key}`),
      'the key was sent',
    );
    assert.ok(
      ctx.logger.lines.some((l) => l.includes('proxy error')),
      'the retries were logged',
    );

    const { describer: wrong } = describer({ baseUrl: server.url }, context(ctx.cacheDir), {
      env: { MY_KEY: 'sk-wrong-KEY-000111222' },
    });
    // apiKeyEnv names the variable; the wrong key gets a 401 whose body echoes it.
    const { describer: wrongByEnv } = describer({ baseUrl: server.url, apiKeyEnv: 'MY_KEY' }, context(ctx.cacheDir), {
      env: { MY_KEY: 'sk-wrong-KEY-000111222' },
    });
    const error = await wrongByEnv.describe(describeRequest(2, 7)).catch((e: unknown) => e);
    assert.ok(isExpgenError(error), 'a refused key stops the describe with an ExpgenError');
    assert.match((error as Error).message, /refused the request .* \$MY_KEY is not accepted/);
    const noKeyError = await wrong.describe(describeRequest(1, 9)).catch((e: unknown) => e);
    assert.match((noKeyError as Error).message, /\$OPENAI_API_KEY is missing/);

    const texts = [
      ...ctx.logger.lines,
      ...filesUnder(ctx.cacheDir).map((f) => f.text),
      JSON.stringify(result),
      JSON.stringify(d.provenance),
      inspect(d, { depth: 10 }),
      inspect(error, { depth: 10 }),
      (error as Error).message,
    ];
    assert.ok(filesUnder(ctx.cacheDir).length >= 1, 'answers were cached');
    for (const text of texts)
      assert.ok(
        !text.includes(key) && !text.includes('sk-wrong-KEY-000111222'),
        `key leaked into: ${text.slice(0, 300)}`,
      );
  });

  it('keeps the concurrency bound across all candidates', async () => {
    const server = await serve({ latencyMs: 20 });
    const { describer: d } = describer({ baseUrl: server.url, concurrency: 5, useN: false });
    const result = await d.describe(describeRequest(30));
    assert.equal(result.candidates.length, 30);
    assert.ok(server.maxInFlight <= 5, `max in flight ${server.maxInFlight}`);
    assert.ok(server.maxInFlight >= 2);
  });

  it('sends traffic to every base URL', async () => {
    const replicas = await Promise.all([serve({ latencyMs: 5 }), serve({ latencyMs: 5 }), serve({ latencyMs: 5 })]);
    const { describer: d } = describer({ baseUrl: replicas.map((s) => s.url), concurrency: 4, useN: false });
    const result = await d.describe(describeRequest(24));
    assert.equal(result.candidates.length, 24);
    for (const s of replicas) assert.ok(s.requests.length > 0, `traffic: ${replicas.map((r) => r.requests.length)}`);
    assert.equal(
      replicas.reduce((n, s) => n + s.requests.length, 0),
      24,
    );
  });

  it('stops cleanly when the budget is spent, and a rerun with more budget pays only for the rest', async () => {
    const server = await serve();
    const { describer: d, context: ctx } = describer({
      baseUrl: server.url,
      concurrency: 2,
      budget: { maxCalls: 4 },
      useN: false,
    });
    const error = await d.describe(describeRequest(10)).catch((e: unknown) => e);
    assert.ok(error instanceof BudgetExhaustedError && isExpgenError(error));
    assert.match(
      error.message,
      /budget spent: budget\.maxCalls \(4\) reached after 4 HTTP calls and \d+ tokens \(\d+ prompt \+ \d+ completion\)/,
    );
    assert.equal(server.requests.length, 4);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.requests.length, 4, 'nothing is sent after the describe rejected');
    const { describer: more } = describer(
      { baseUrl: server.url, budget: { maxCalls: 6 }, useN: false },
      context(ctx.cacheDir),
    );
    const result = await more.describe(describeRequest(10));
    assert.equal(result.candidates.length, 10);
    assert.equal(server.requests.length, 10, 'the 4 answers already paid for came from the cache');
  });

  it('dryRun sends nothing; estimate() prices a request from the prompt and the cache', async () => {
    const server = await serve();
    const { describer: dry, context: ctx } = describer({
      baseUrl: server.url,
      dryRun: true,
      maxTokens: 100,
      useN: false,
    });
    assert.ok(isCallEstimator(dry));
    const request = describeRequest(5);
    const chars = request.messages.reduce((n, m) => n + m.content.length, 0);
    assert.deepEqual(await dry.estimate(request), {
      calls: 5,
      cachedCalls: 0,
      promptTokens: 5 * Math.ceil(chars / 4),
      maxCompletionTokens: 500,
    });
    await assert.rejects(
      dry.describe(request),
      (e: unknown) => e instanceof ExpgenError && /dryRun is set/.test(e.message),
    );
    assert.equal(server.requests.length, 0);
    const { describer: real } = describer({ baseUrl: server.url, maxTokens: 100, useN: false }, context(ctx.cacheDir));
    await real.describe(describeRequest(3));
    assert.deepEqual(await dry.estimate(request), {
      calls: 2,
      cachedCalls: 3,
      promptTokens: 2 * Math.ceil(chars / 4),
      maxCompletionTokens: 200,
    });
    // No server is needed to price a run.
    const { describer: offline } = describer({ dryRun: true, maxTokens: 100, useN: false }, context(ctx.cacheDir));
    assert.equal((await offline.estimate(request)).cachedCalls, 3);

    // With n (the default), a sign not in the cache is one request: the prompt once, up to 5 answers.
    const { describer: dryN, context: nCtx } = describer({ dryRun: true, maxTokens: 100 });
    assert.deepEqual(await dryN.estimate(request), {
      calls: 1,
      cachedCalls: 0,
      promptTokens: Math.ceil(chars / 4),
      maxCompletionTokens: 500,
    });
    const { describer: realN } = describer({ baseUrl: server.url, maxTokens: 100 }, context(nCtx.cacheDir));
    await realN.describe(request);
    assert.deepEqual(await dryN.estimate(request), {
      calls: 0,
      cachedCalls: 1,
      promptTokens: 0,
      maxCompletionTokens: 0,
    });
  });

  it('sends the sampling parameters and seed; records the model, not the URL, in its provenance', async () => {
    const server = await serve();
    const { describer: d } = describer({
      baseUrl: server.url,
      temperature: 0.7,
      topP: 0.9,
      maxTokens: 64,
      extraBody: { top_k: 20 },
    });
    await d.describe(describeRequest(2, 40));
    const sent = server.requests.map((r) => [
      r.path,
      r.body['model'],
      r.body['seed'],
      r.body['temperature'],
      r.body['top_p'],
      r.body['max_tokens'],
      r.body['top_k'],
      r.body['n'],
    ]);
    assert.deepEqual(sent, [['/v1/chat/completions', 'fake-explainer', 40, 0.7, 0.9, 64, 20, 2]]);
    assert.deepEqual(d.provenance.settings, {
      model: 'fake-explainer',
      api: 'chat/completions',
      temperature: 0.7,
      top_p: 0.9,
      max_tokens: 64,
      maxRetries: 3,
      extraBody: { top_k: 20 },
      candidateRequests: 'n',
    });
  });

  it('reads base URL, model and key from the environment; names what is missing', () => {
    const ctx = context();
    const options = describerOptionsSchema.parse({});
    const d = createOpenAIDescriber(options, ctx, {
      env: {
        OPENAI_BASE_URL: 'http://127.0.0.1:1/v1, http://127.0.0.1:2/v1/',
        OPENAI_MODEL: 'env-model',
        OPENAI_API_KEY: 'k',
      },
    });
    assert.equal(d.client.model, 'env-model');
    assert.deepEqual(
      d.client.endpointCalls().map((e) => e.url),
      ['http://127.0.0.1:1/v1', 'http://127.0.0.1:2/v1'],
    );
    assert.throws(
      () => createOpenAIDescriber(options, ctx, { env: { OPENAI_MODEL: 'm' } }),
      /no base URL: set options\.baseUrl .* \$OPENAI_BASE_URL/,
    );
    assert.throws(
      () => createOpenAIDescriber(options, ctx, { env: { OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' } }),
      /no model: set options\.model or \$OPENAI_MODEL/,
    );
  });

  it('refuses an API key in the config, without echoing it', () => {
    assert.throws(
      () => describerOptionsSchema.parse({ apiKey: 'sk-in-config-123' }, ['describers', 0, 'options']),
      (e: unknown) =>
        e instanceof SchemaError &&
        /describers\[0\]\.options\.apiKey: an API key is never read from the config/.test(e.message) &&
        !e.message.includes('sk-in-config') &&
        !inspect(e).includes('sk-in-config'),
    );
    assert.throws(
      () => describerOptionsSchema.parse({ baseUrl: ['http://ok/v1', 'ftp://no'] }),
      /baseUrl\[1\]: expected an http\(s\) URL/,
    );
    const parsed = describerOptionsSchema.parse({ baseUrl: 'http://127.0.0.1:8000/v1' });
    assert.deepEqual(parsed.baseUrl, ['http://127.0.0.1:8000/v1']);
    assert.equal(parsed.temperature, 1);
    assert.equal(parsed.concurrency, 16);
    assert.equal(parsed.maxRetries, 3);
  });
});
