// The plugin against the contract every expgen plugin honours, with a loopback server as its endpoint.
import { after } from 'node:test';
import { contractSuite } from '@expgen/contract/testing';
import plugin from './index.js';
import { startFakeOpenAIServer } from './testing/fake-openai-server.js';

const server = await startFakeOpenAIServer();
after(() => server.close());

// apiKeyEnv names a variable nobody sets, so a key in the developer's environment is never sent, even to loopback.
const endpoint = { baseUrl: server.url, model: 'fake-model', apiKeyEnv: 'EXPGEN_TEST_UNSET_OPENAI_KEY' };
contractSuite(plugin, {
  options: {
    'describer/openai-compatible': endpoint,
    'simulator/openai-compatible': endpoint,
  },
});
