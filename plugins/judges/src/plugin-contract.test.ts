// The plugin against the contract every expgen plugin honours, with a loopback judge as its endpoint.
import { after } from 'node:test';
import { contractSuite } from '@expgen/contract/testing';
import { startFakeOpenAIServer } from '@expgen/plugin-openai/testing';
import plugin from './index.js';
import { coinJudge } from './testing/fake-judge.js';

const server = await startFakeOpenAIServer({ respond: coinJudge() });
after(() => server.close());

// apiKeyEnv names a variable nobody sets, so a key in the developer's environment is never sent, even to loopback.
const judge = { baseUrl: server.url, model: 'fake-judge', apiKeyEnv: 'EXPGEN_TEST_UNSET_OPENAI_KEY' };
contractSuite(plugin, {
  options: {
    'scorer/detection': { judge },
    'scorer/fuzzing': { judge },
  },
});
