/** For tests (ours and other packages'): a loopback OpenAI-compatible server that injects faults on request. */
export {
  startFakeOpenAIServer,
  fakeDescription,
  fakeBinLogprobs,
  mixedFaults,
  type FakeOpenAIServer,
  type FakeServerOptions,
  type FakeRequest,
  type FakeReply,
  type FakeChoice,
} from './testing/fake-openai-server.js';
