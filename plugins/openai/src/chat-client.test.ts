import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { memoryLogger } from '@expgen/contract/testing';
import {
  BudgetExhaustedError,
  OpenAICompatibleClient,
  OpenAIRequestError,
  parseRetryAfter,
  type ClientSettings,
} from './chat-client.js';
import { fakeClock } from './openai.test-util.js';
import { startFakeOpenAIServer, type FakeReply, type FakeServerOptions } from './testing/fake-openai-server.js';

const servers: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function serve(options: FakeServerOptions = {}) {
  const server = await startFakeOpenAIServer(options);
  servers.push(server);
  return server;
}

/** Replies in order for the first requests, then normal answers. */
function script(...replies: FakeReply[]): FakeServerOptions['respond'] {
  return (request) => replies[request.index] ?? { kind: 'answer' };
}

function client(baseUrls: string[], settings: Partial<ClientSettings> = {}) {
  return new OpenAICompatibleClient({ baseUrls, model: 'fake-model', timeoutMs: 2_000, ...settings });
}

const hello = { messages: [{ role: 'user', content: 'hello' }], seed: 1 };

describe('OpenAICompatibleClient', () => {
  it('retries after 429 no sooner than Retry-After, given in seconds or as an HTTP date', async () => {
    const clock = fakeClock();
    const date = new Date(clock.now() + 3_000).toUTCString();
    const server = await serve({
      respond: script(
        { kind: 'status', status: 429, headers: { 'retry-after': '2' } },
        { kind: 'status', status: 429, headers: { 'retry-after': date } },
        { kind: 'status', status: 503, headers: { 'retry-after-ms': '1500' } },
      ),
    });
    const c = client([server.url], { ...clock, backoffMs: 10 });
    const result = await c.chat(hello);
    assert.match(result.value.content!, /\[DESCRIPTION\]:/);
    assert.equal(result.httpCalls, 4);
    assert.equal(server.requests.length, 4);
    assert.equal(clock.sleeps.length, 3);
    assert.ok(clock.sleeps[0]! >= 2_000, `waited ${clock.sleeps[0]} ms after Retry-After: 2`);
    assert.ok(clock.sleeps[1]! >= 3_000, `waited ${clock.sleeps[1]} ms after a Retry-After date 3 s ahead`);
    assert.ok(clock.sleeps[2]! >= 1_500, `waited ${clock.sleeps[2]} ms after retry-after-ms: 1500`);
    assert.equal(c.totals.retries, 3);
  });

  it('backs off exponentially with jitter when the server gives no Retry-After', async () => {
    const clock = fakeClock();
    const server = await serve({
      respond: script(...Array.from({ length: 4 }, () => ({ kind: 'status', status: 500 }) as const)),
    });
    let r = 0;
    const randoms = [0, 0.999, 0.5, 0];
    await client([server.url], { ...clock, backoffMs: 100, maxBackoffMs: 500, random: () => randoms[r++]! }).chat(
      hello,
    );
    // ceiling 100, 200, 400, 500 (capped); delay = ceiling / 2 + random x ceiling / 2
    assert.deepEqual(clock.sleeps, [50, 200, 300, 250]);
  });

  it('retries 5xx, malformed and truncated bodies, resets and stalls past the timeout, then answers', async () => {
    const clock = fakeClock();
    const server = await serve({
      respond: script(
        { kind: 'status', status: 500 },
        { kind: 'malformed' },
        { kind: 'truncated' },
        { kind: 'reset' },
        { kind: 'stall' },
        { kind: 'stall-body' },
        { kind: 'json', body: { choices: [] } },
      ),
    });
    const logger = memoryLogger();
    const c = client([server.url], { ...clock, timeoutMs: 1_000, requestRetries: 10, logger });
    const result = await c.chat(hello);
    assert.match(result.value.content!, /\[DESCRIPTION\]:/);
    assert.equal(result.httpCalls, 8);
    assert.equal(server.requests.length, 8);
    const reasons = logger.lines.join('\n');
    for (const expected of [
      /HTTP 500/,
      /malformed JSON body/,
      /truncated/,
      /connection failed/,
      /no complete answer within/,
      /malformed answer: the body has no choices/,
    ]) {
      assert.match(reasons, expected);
    }
  });

  it('gives up after requestRetries with a transient error naming the last failure', async () => {
    const server = await serve({ respond: () => ({ kind: 'status', status: 502, body: 'bad gateway' }) });
    const error = await client([server.url], { ...fakeClock(), requestRetries: 2 })
      .chat(hello)
      .catch((e: unknown) => e);
    assert.ok(error instanceof OpenAIRequestError);
    assert.equal(error.severity, 'transient');
    assert.match(error.message, /failed 3 times; last: HTTP 502: bad gateway/);
    assert.equal(server.requests.length, 3);
  });

  it('does not retry a request the server rejects, and calls a refused key or unknown model fatal', async () => {
    const server = await serve({
      respond: script(
        { kind: 'status', status: 400, body: '{"error":"context too long"}' },
        { kind: 'status', status: 404 },
      ),
    });
    const c = client([server.url], fakeClock());
    const rejected = await c.chat(hello).catch((e: unknown) => e);
    assert.ok(rejected instanceof OpenAIRequestError && rejected.severity === 'rejected' && rejected.status === 400);
    const missing = await c.chat(hello).catch((e: unknown) => e);
    assert.ok(missing instanceof OpenAIRequestError && missing.severity === 'fatal');
    assert.match(missing.message, /check baseUrl .* model "fake-model"/);
    assert.equal(server.requests.length, 2);
    assert.ok(isExpgenError(missing));
  });

  it('sends the key, and never puts it in an error, a log line, or an inspected error even when the server echoes it', async () => {
    const key = 'sk-test-SECRET-0123456789';
    const server = await serve({
      apiKey: key,
      respond: script({
        kind: 'status',
        status: 500,
        body: `upstream said: Authorization: Bearer ${key} (key ${key})`,
      }),
    });
    const logger = memoryLogger();
    const good = client([server.url], { ...fakeClock(), apiKey: key, logger });
    await good.chat(hello);
    assert.equal(server.requests[1]!.authorization, `Bearer ${key}`, 'the key is sent');
    assert.ok(logger.lines.length > 0 && logger.lines.some((l) => l.includes('upstream said')), 'the retry was logged');

    const wrong = 'sk-wrong-KEY-9876543210';
    const error = await client([server.url], { ...fakeClock(), apiKey: wrong, logger })
      .chat(hello)
      .catch((e: unknown) => e);
    assert.ok(error instanceof OpenAIRequestError && error.severity === 'fatal' && error.status === 401);
    assert.match(error.message, /not accepted/);
    for (const text of [
      ...logger.lines,
      error.message,
      inspect(error, { depth: 10 }),
      inspect(good, { depth: 10 }),
      JSON.stringify(good),
    ]) {
      assert.ok(!text.includes(key) && !text.includes(wrong), `no key in: ${text.slice(0, 200)}`);
    }
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const server = await serve({ latencyMs: 15 });
    const c = client([server.url], { concurrency: 4 });
    await Promise.all(Array.from({ length: 24 }, () => c.chat(hello)));
    assert.equal(server.requests.length, 24);
    assert.ok(server.maxInFlight <= 4, `max in flight ${server.maxInFlight}`);
    assert.ok(server.maxInFlight >= 2, 'requests did overlap');
  });

  it('spreads requests over every base URL, round-robin and least-in-flight', async () => {
    const replicas = await Promise.all([serve({ latencyMs: 5 }), serve({ latencyMs: 5 }), serve({ latencyMs: 5 })]);
    const rr = client(
      replicas.map((s) => s.url),
      { balance: 'round-robin', concurrency: 1 },
    );
    for (let i = 0; i < 9; i++) await rr.chat(hello);
    assert.deepEqual(
      replicas.map((s) => s.requests.length),
      [3, 3, 3],
    );
    const least = client(
      replicas.map((s) => s.url),
      { concurrency: 6 },
    );
    await Promise.all(Array.from({ length: 30 }, () => least.chat(hello)));
    for (const s of replicas)
      assert.ok(s.requests.length > 3, `each replica got traffic: ${replicas.map((r) => r.requests.length)}`);
    assert.equal(
      least.endpointCalls().reduce((n, e) => n + e.calls, 0),
      30,
    );
  });

  it('stops cleanly when the call budget is spent, saying what was used', async () => {
    const server = await serve();
    const c = client([server.url], { budget: { maxCalls: 3 }, concurrency: 2 });
    const settled = await Promise.allSettled(Array.from({ length: 5 }, () => c.chat(hello)));
    assert.equal(settled.filter((r) => r.status === 'fulfilled').length, 3);
    const errors = settled
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as Error);
    assert.equal(errors.length, 2);
    for (const e of errors) {
      assert.ok(e instanceof BudgetExhaustedError && isExpgenError(e));
      assert.match(e.message, /budget spent: budget\.maxCalls \(3\) reached after 3 HTTP calls and \d+ tokens/);
    }
    assert.equal(server.requests.length, 3);
  });

  it('counts tokens from usage (or estimates them) and stops at the token budget', async () => {
    const server = await serve();
    const c = client([server.url], { budget: { maxTokens: 1 } });
    const first = await c.chat(hello);
    assert.equal(first.usage.estimated, false);
    assert.ok(first.usage.promptTokens > 0 && first.usage.completionTokens > 0);
    assert.equal(
      c.totals.promptTokens + c.totals.completionTokens,
      first.usage.promptTokens + first.usage.completionTokens,
    );
    await assert.rejects(c.chat(hello), /budget\.maxTokens \(1\) reached after 1 HTTP calls/);
    const bare = await serve({ usage: false });
    const estimated = await client([bare.url]).chat(hello);
    assert.equal(estimated.usage.estimated, true);
    assert.ok(estimated.usage.promptTokens > 0);
  });

  it('an abort stops a call at once, without retrying', async () => {
    const server = await serve({ respond: () => ({ kind: 'stall' }) });
    const controller = new AbortController();
    const pending = client([server.url], { timeoutMs: 60_000 }).chat(hello, controller.signal);
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('run cancelled'));
    await assert.rejects(pending, /run cancelled/);
    assert.equal(server.requests.length, 1);
  });

  it('parses Retry-After forms', () => {
    const headers = (h: Record<string, string>) => ({ get: (n: string) => h[n] ?? null });
    assert.equal(parseRetryAfter(headers({ 'retry-after': '1.5' }), 0), 1500);
    assert.equal(parseRetryAfter(headers({ 'retry-after': new Date(10_000).toUTCString() }), 4_000), 6_000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': new Date(0).toUTCString() }), 4_000), 0);
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'soon' }), 0), undefined);
    assert.equal(parseRetryAfter(headers({}), 0), undefined);
  });

  it('fails rather than stall when Retry-After is longer than maxRetryAfterMs', async () => {
    const server = await serve({
      respond: script({ kind: 'status', status: 429, headers: { 'retry-after': '3600' } }),
    });
    const clock = fakeClock();
    await assert.rejects(
      client([server.url], { ...clock, maxRetryAfterMs: 60_000 }).chat(hello),
      /asked to retry after 3600 s/,
    );
    assert.deepEqual(clock.sleeps, []);
  });

  it('takes an injected fetch', async () => {
    const seen: string[] = [];
    const fetchStub: typeof fetch = async (input) => {
      seen.push(String(input));
      return new Response(
        JSON.stringify({ choices: [{ message: { content: '[DESCRIPTION]: stub' }, finish_reason: 'stop' }] }),
        { status: 200 },
      );
    };
    const result = await client(['http://127.0.0.1:9/v1'], { fetch: fetchStub }).chat(hello);
    assert.equal(result.value.content, '[DESCRIPTION]: stub');
    assert.deepEqual(seen, ['http://127.0.0.1:9/v1/chat/completions']);
  });
});
