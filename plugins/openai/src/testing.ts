/** For tests (ours and other packages'): a loopback OpenAI-compatible server that injects faults on request. */
export {
  startFakeOpenAIServer,
  fakeDescription,
  fakeBinLogprobs,
  type FakeOpenAIServer,
  type FakeServerOptions,
  type FakeRequest,
  type FakeReply,
} from './testing/fake-openai-server.js';
