// The run's fetch (ComponentContext.fetch, provided by expgen's container) is the one the plugin's clients use, so a
// test or a library user swaps the network in one place.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ComponentContext, Describer } from '@expgen/contract';
import { memoryLogger } from '@expgen/contract/testing';
import plugin from './index.js';
import { startFakeOpenAIServer } from './testing/fake-openai-server.js';

const server = await startFakeOpenAIServer();
const cacheDir = await mkdtemp(join(tmpdir(), 'expgen-openai-fetch-'));
after(async () => {
  await server.close();
  await rm(cacheDir, { recursive: true, force: true });
});

describe('openai-compatible describer: the network comes from the run', () => {
  it('sends every request through ComponentContext.fetch', async () => {
    const seen: string[] = [];
    const runFetch: typeof fetch = async (input, init) => {
      seen.push(String(input));
      return fetch(input, init);
    };
    const declaration = plugin.components.find((c) => c.kind === 'describer')!;
    const options = declaration.options.parse(
      { baseUrl: server.url, model: 'fake-model', apiKeyEnv: 'EXPGEN_TEST_UNSET_OPENAI_KEY' },
      ['describer', 'options'],
    );
    const context: ComponentContext = {
      provenance: { kind: 'describer', component: 'openai-compatible', plugin: 'p', pluginVersion: '0' },
      baseDir: process.cwd(),
      cacheDir,
      logger: memoryLogger(),
      fetch: runFetch,
    };
    const describer = (await declaration.create(options, context)) as Describer;
    const result = await describer.describe({
      feature: { space: 'mlp', layer: 0, index: 3 },
      sign: 'positive',
      exemplars: [],
      threshold: 1,
      messages: [{ role: 'user', content: 'Describe {{cat}} sat.' }],
      count: 2,
      seed: 1,
    });
    assert.equal(result.candidates.length, 2);
    // Both candidates in one request (`n`), through the run's fetch.
    assert.deepEqual(seen, [`${server.url}/chat/completions`]);
    assert.equal(server.requests.length, 1, 'and it reached the server');
  });
});
