import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ExpgenError } from '@expgen/contract';
import { fakeSubjectModel } from '@expgen/contract/testing';
import { createOpenAISimulator, simulatorOptionsSchema } from './openai-simulator.js';
import { fakeClock, removeDir, testContext } from './openai.test-util.js';
import { startFakeOpenAIServer, type FakeServerOptions } from './testing/fake-openai-server.js';

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

const subject = fakeSubjectModel();
const tok = subject.tokenizer;

function simulator(raw: Record<string, unknown>, cacheDir?: string) {
  const context = testContext('simulator', { subject, ...(cacheDir ? { cacheDir } : {}) });
  dirs.push(context.cacheDir);
  const sim = createOpenAISimulator(simulatorOptionsSchema.parse({ model: 'fake-simulator', ...raw }), context, {
    env: {},
    ...fakeClock(),
  });
  return { sim, context };
}

function close(actual: Float32Array, expected: readonly number[]) {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => {
    assert.ok(Math.abs(actual[i]! - e) < 1e-6, `token ${i}: ${actual[i]} vs ${e}`);
  });
}

describe('openai-compatible simulator', () => {
  it('reads the expected bin at every token from the served prompt logprobs (hand computation)', async () => {
    // Slot k of every prompt gets table[k]; the expected values below are worked out by hand.
    const table: Record<string, number>[] = [
      { '0': Math.log(0.5), '10': Math.log(0.25), '5': Math.log(0.25) }, // (10 x .25 + 5 x .25) / 1 = 3.75
      { '0': Math.log(0.2), ' 4': Math.log(0.2), foo: Math.log(0.6) }, // (4 x .2) / .4 = 2
      { '7': 0 }, // 7
      { foo: 0, '12': -1 }, // no bin: predicted 0, and counted
    ];
    const server = await serve({ binLogprobs: (slot) => table[slot.index]! });
    const { sim, context } = simulator({ baseUrl: server.url });
    const result = await sim.simulate({
      descriptions: ['first', 'second'],
      sequences: [tok.encode('abcd'), tok.encode('xy'), []],
    });
    assert.equal(result.mode, 'prompt-logprobs');
    assert.equal(result.simulatedBy.settings!['mode'], 'prompt-logprobs');
    for (const perSequence of result.predictions) {
      close(perSequence[0]!, [3.75, 2, 7, 0]);
      close(perSequence[1]!, [3.75, 2]);
      assert.equal(perSequence[2]!.length, 0);
    }
    assert.ok(
      context.logger.lines.some((l) => /2 token position\(s\) had no activation bin among the top 20 logprobs/.test(l)),
    );
    // One probe, then one call per (description, non-empty sequence).
    assert.equal(server.requests.length, 1 + 2 * 2);
    for (const r of server.requests)
      assert.deepEqual(
        [r.path, r.body['echo'], r.body['logprobs'], r.body['max_tokens']],
        ['/v1/completions', true, 20, 1],
      );
  });

  it('default fake logprobs: a token the description names reads 8.8, any other 0.1579 (by hand)', async () => {
    const server = await serve();
    const { sim } = simulator({ baseUrl: server.url, mode: 'prompt-logprobs' });
    const result = await sim.simulate({ descriptions: ['the letter "c"'], sequences: [tok.encode('cab')] });
    // named: (10 x .7 + 9 x .2 + 0 x .1) / 1 = 8.8; other: (0 x .8 + 1 x .15) / (.8 + .15)
    close(result.predictions[0]![0]!, [8.8, 0.15 / 0.95, 0.15 / 0.95]);
    assert.equal(server.requests.length, 1, 'a forced mode sends no probe');
  });

  it('probes once per simulator, and a rerun answered by the cache sends nothing at all', async () => {
    const server = await serve();
    const { sim, context } = simulator({ baseUrl: server.url });
    const request = { descriptions: ['the letter "c"', 'vowels'], sequences: [tok.encode('cat'), tok.encode('dog')] };
    const first = await sim.simulate(request);
    await sim.simulate({ ...request, descriptions: ['another'] });
    assert.equal(server.requests.length, 1 + 4 + 2, 'one probe for both calls');
    const { sim: rerun } = simulator({ baseUrl: server.url }, context.cacheDir);
    const again = await rerun.simulate(request);
    assert.equal(server.requests.length, 7, 'zero calls on the rerun');
    assert.deepEqual(again.predictions, first.predictions);
    assert.equal(again.mode, 'prompt-logprobs');
  });

  for (const promptLogprobs of [false, 'reject'] as const) {
    it(`falls back to generate mode, with a warning, when the server ${promptLogprobs === false ? 'ignores echo' : 'rejects echo'}`, async () => {
      const server = await serve({ promptLogprobs });
      const { sim, context } = simulator({ baseUrl: server.url });
      const result = await sim.simulate({
        descriptions: ['the letter "c"'],
        sequences: [tok.encode('cab'), tok.encode('ccc')],
      });
      assert.equal(result.mode, 'generate');
      assert.deepEqual(
        result.predictions[0]!.map((p) => [...p]),
        [
          [10, 0, 0],
          [10, 10, 10],
        ],
      );
      assert.ok(context.logger.lines.some((l) => /warning: .*returns no prompt logprobs.*generate mode/.test(l)));
      assert.equal(server.requests.filter((r) => r.path.endsWith('/chat/completions')).length, 2);
      const calls = server.requests.length;
      const { sim: rerun } = simulator({ baseUrl: server.url }, context.cacheDir);
      assert.equal(
        (await rerun.simulate({ descriptions: ['the letter "c"'], sequences: [tok.encode('cab'), tok.encode('ccc')] }))
          .mode,
        'generate',
      );
      assert.equal(server.requests.length, calls, 'the cache answers the rerun in generate mode too');
    });
  }

  it('forced prompt-logprobs mode on a server without them fails with a clear error', async () => {
    const server = await serve({ promptLogprobs: false });
    const { sim } = simulator({ baseUrl: server.url, mode: 'prompt-logprobs' });
    await assert.rejects(
      sim.simulate({ descriptions: ['x'], sequences: [tok.encode('ab')] }),
      (e: unknown) =>
        e instanceof ExpgenError && /cannot be read: .*no prompt logprobs.*set mode: generate/.test(e.message),
    );
  });

  it('generate mode asks again with a fresh seed after an unusable list, then gives up with an error', async () => {
    const server = await serve({
      respond: (r) =>
        Number(r.body['seed']) < 2
          ? { kind: 'chat', content: Number(r.body['seed']) === 0 ? 'no idea' : '[1, 2]' }
          : { kind: 'answer' },
    });
    const { sim } = simulator({ baseUrl: server.url, mode: 'generate', maxRetries: 2 });
    const result = await sim.simulate({ descriptions: ['the letter "a"'], sequences: [tok.encode('abc')] });
    assert.deepEqual([...result.predictions[0]![0]!], [10, 0, 0]);
    assert.deepEqual(
      server.requests.map((r) => r.body['seed']),
      [0, 1, 2],
    );
    const { sim: strict } = simulator({ baseUrl: server.url, mode: 'generate', maxRetries: 1 });
    await assert.rejects(
      strict.simulate({ descriptions: ['d'], sequences: [tok.encode('xyz')] }),
      /no usable list of 3 activations .* after 2 attempts \(seeds 0, 1\): expected 3 activations, found 2/,
    );
  });

  it('needs the subject tokenizer', () => {
    const context = testContext('simulator');
    dirs.push(context.cacheDir);
    assert.throws(
      () =>
        createOpenAISimulator(simulatorOptionsSchema.parse({ model: 'm', baseUrl: 'http://127.0.0.1:1/v1' }), context, {
          env: {},
        }),
      /needs the subject model's tokenizer/,
    );
  });
});
