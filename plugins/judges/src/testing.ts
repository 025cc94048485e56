/** For tests (ours and other packages'): judges a loopback OpenAI-compatible server can play. */
export {
  coinJudge,
  fakeJudge,
  garbledJudge,
  readJudgePrompt,
  type ReadPrompt,
  type Verdict,
} from './testing/fake-judge.js';
