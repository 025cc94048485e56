import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isExpgenError, type JudgeRequest, type JudgeScorer, type SubjectModel } from '@expgen/contract';
import { startFakeOpenAIServer, type FakeRequest, type FakeReply } from '@expgen/plugin-openai/testing';
import plugin from './index.js';
import { excerptText } from './judge-prompt.js';
import { catRequest, catTokenizer, testContext } from './judges.test-util.js';
import { fireThreshold, firingTokens, sequenceFires } from './sequence-draw.js';
import { coinJudge, fakeJudge, garbledJudge, readJudgePrompt } from './testing/fake-judge.js';

// The scorers against a loopback OpenAI-compatible judge that answers from the truth, at random, or not at all.

/** What is true of each excerpt a judge of `request` can be shown, by its text: detection and fuzzing alike. */
function truthOf(request: JudgeRequest): Map<string, boolean> {
  const tokenizer = catTokenizer();
  const threshold = fireThreshold(request, 0.3);
  const truth = new Map<string, boolean>();
  for (const list of ['top', 'opposite', 'random'] as const)
    request.sequences[list].forEach((sequence, index) => {
      const at = { list, index, group: '', truth: false };
      truth.set(
        excerptText({ ...at, marks: null }, request, tokenizer),
        sequenceFires(sequence, 'positive', threshold),
      );
      const marks = firingTokens(sequence, 'positive', threshold);
      if (marks.some(Boolean)) truth.set(excerptText({ ...at, marks }, request, tokenizer), true);
    });
  return truth;
}

/** A judge that knows the truth: right on every excerpt (a mismarked excerpt is not in the map: 0). */
function perfectJudge(request: JudgeRequest) {
  const truth = truthOf(request);
  return fakeJudge((_prompt, excerpt) => truth.get(excerpt) ?? false);
}

const server = await startFakeOpenAIServer({ respond: (r) => respond(r) });
after(() => server.close());
let respond: (request: FakeRequest) => FakeReply | Promise<FakeReply> = () => ({ kind: 'answer' });

async function scorer(
  name: 'detection' | 'fuzzing',
  options: Record<string, unknown> = {},
  context = testContext(name),
): Promise<JudgeScorer> {
  const declaration = plugin.components.find((c) => c.name === name)!;
  const parsed = declaration.options.parse({
    ...options,
    judge: {
      baseUrl: server.url,
      model: 'judge-model',
      apiKeyEnv: 'EXPGEN_TEST_UNSET_OPENAI_KEY',
      backoffMs: 0,
      ...(options['judge'] as object | undefined),
    },
  });
  const subject = { tokenizer: catTokenizer() } as SubjectModel;
  return (await declaration.create(parsed, { ...context, subject })) as JudgeScorer;
}

describe('judge scorers against a loopback judge', () => {
  const request = catRequest();

  it('a judge that answers from the truth scores 1, on every judgment, for detection and fuzzing', async () => {
    respond = perfectJudge(request);
    for (const name of ['detection', 'fuzzing'] as const) {
      const before = server.requests.length;
      const judge = await scorer(name);
      const result = await judge.judge(request);
      const shown = result.judgments.length;
      assert.ok(shown >= 10, `${name}: ${shown} sequences shown`);
      assert.ok(
        result.judgments.every((j) => j.answer === j.truth),
        `${name}: every answer right`,
      );
      assert.equal(judge.valueOfJudgments(result.judgments), 1);
      assert.deepEqual(result.failures, []);
      assert.equal(result.stats['accuracy'], 1);
      assert.equal(server.requests.length - before, Math.ceil(shown / 5), 'one request per prompt of 5');
      assert.equal(result.usage?.calls, Math.ceil(shown / 5));
      assert.ok((result.usage?.promptTokens ?? 0) > 0);
      assert.equal(result.judgedBy.component, name);
      assert.equal(result.judgedBy.settings?.['model'], 'judge-model');
      await judge.dispose?.();
    }
  });

  it('a judge that answers at random scores near chance', async () => {
    respond = coinJudge();
    const judge = await scorer('detection');
    const values: number[] = [];
    for (let seed = 0; seed < 40; seed++) {
      const result = await judge.judge(catRequest({ seed }));
      const value = judge.valueOfJudgments(result.judgments);
      if (value !== null) values.push(value);
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(values.length >= 35);
    assert.ok(Math.abs(mean - 0.5) < 0.08, `mean balanced accuracy ${mean}`);
  });

  it('unreadable answers are asked again, then counted as failures: nothing is guessed', async () => {
    respond = garbledJudge();
    const before = server.requests.length;
    const judge = await scorer('detection', { maxRetries: 2 });
    const result = await judge.judge(request);
    const prompts = Math.ceil(result.judgments.length / 5);
    assert.ok(
      result.judgments.every((j) => j.answer === null),
      'no answer invented',
    );
    assert.equal(judge.valueOfJudgments(result.judgments.filter((j) => j.answer !== null)), null);
    assert.equal(result.failures.length, prompts, 'one line per failed prompt');
    assert.match(result.failures[0]!, /no readable answer in 3 requests \(no \[\.\.\.\] list after \[ANSWER\]:/);
    assert.equal(server.requests.length - before, prompts * 3, 'each prompt asked three times');
    const retries = server.requests.slice(before).filter((r) => r.body['temperature'] === 0.7);
    assert.equal(retries.length, prompts * 2, 'retries at retryTemperature');
    assert.deepEqual(
      [...new Set(server.requests.slice(before).map((r) => r.body['seed']))].sort(),
      [0, 1, 2],
      'each retry another seed',
    );
    assert.equal(result.stats['failures'], result.judgments.length);
  });

  it('a retry that reads well is used; the first unreadable answer cost one request more', async () => {
    const perfect = perfectJudge(request);
    respond = (r) => (r.body['temperature'] === 0 ? { kind: 'chat', content: 'Hmm.' } : perfect(r));
    const before = server.requests.length;
    const judge = await scorer('fuzzing');
    const result = await judge.judge(request);
    assert.equal(judge.valueOfJudgments(result.judgments), 1);
    assert.equal(server.requests.length - before, 2 * Math.ceil(result.judgments.length / 5));
  });

  it('samples > 1 is one request with n, each sequence to the majority; a tie is a failure', async () => {
    const truth = truthOf(request);
    const right = fakeJudge((_p, e) => truth.get(e) ?? false);
    const wrong = fakeJudge((_p, e) => !(truth.get(e) ?? false));
    const text = (reply: FakeReply) => (reply as unknown as { choices: string[] }).choices[0] ?? '';
    respond = (r) => {
      const one = { ...r, body: { ...r.body, n: 1 } };
      return { kind: 'choices', choices: [text(right(one)), text(wrong(one)), text(right(one))] };
    };
    const before = server.requests.length;
    const judge = await scorer('detection', { samples: 3, judge: { temperature: 1 } });
    const result = await judge.judge(request);
    assert.equal(judge.valueOfJudgments(result.judgments), 1, 'two right answers out-vote one wrong');
    assert.ok(server.requests.slice(before).every((r) => r.body['n'] === 3));
    respond = (r) => {
      const one = { ...r, body: { ...r.body, n: 1 } };
      return { kind: 'choices', choices: [text(right(one)), text(wrong(one)), 'no list'] };
    };
    const tied = await (await scorer('detection', { samples: 3, judge: { temperature: 1 } })).judge(request);
    assert.ok(
      tied.judgments.every((j) => j.answer === null),
      'one against one, the third unreadable: no majority',
    );
    assert.match(tied.failures[0]!, /as many answers 1 as 0 over 2 readable samples/);
  });

  it('refuses several samples at temperature 0 (they would all be the same answer)', async () => {
    await assert.rejects(scorer('fuzzing', { samples: 3 }), /options.samples is 3 with judge.temperature 0/);
  });

  it('answers are cached: the same request again sends nothing', async () => {
    respond = perfectJudge(request);
    const context = testContext('detection');
    const first = await (await scorer('detection', {}, context)).judge(request);
    const before = server.requests.length;
    const again = await (await scorer('detection', {}, context)).judge(request);
    assert.equal(server.requests.length, before);
    assert.deepEqual(again.judgments, first.judgments);
    assert.equal(again.usage?.calls, 0);
    assert.equal(again.usage?.cachedCalls, first.usage?.calls);
  });

  it('a server error after the client retries fails its prompts; a refused key stops the run', async () => {
    respond = () => ({ kind: 'status', status: 500 });
    const judge = await scorer('detection', { judge: { requestRetries: 1 } });
    const result = await judge.judge(request);
    assert.ok(result.judgments.every((j) => j.answer === null));
    assert.match(result.failures[0]!, /prompt 1: scorer detection: .* failed 2 times; last: HTTP 500/);
    respond = () => ({ kind: 'status', status: 401 });
    await assert.rejects(judge.judge(catRequest({ seed: 5 })), (error: Error) => {
      assert.ok(isExpgenError(error));
      assert.match(error.message, /refused the request .* API key/);
      return true;
    });
  });

  it('says which setting is missing when there is no judge to ask', async () => {
    const declaration = plugin.components.find((c) => c.name === 'detection')!;
    const parsed = declaration.options.parse({ judge: { apiKeyEnv: 'EXPGEN_TEST_UNSET_OPENAI_KEY' } });
    const saved = { url: process.env.OPENAI_BASE_URL, model: process.env.OPENAI_MODEL };
    delete process.env.OPENAI_BASE_URL;
    delete process.env.OPENAI_MODEL;
    try {
      await assert.rejects(
        declaration.create(parsed, { ...testContext(), subject: { tokenizer: catTokenizer() } as SubjectModel }),
        /scorer detection: no base URL: set options.baseUrl .* or \$OPENAI_BASE_URL/,
      );
    } finally {
      if (saved.url !== undefined) process.env.OPENAI_BASE_URL = saved.url;
      if (saved.model !== undefined) process.env.OPENAI_MODEL = saved.model;
    }
  });

  it('the judge reads the shipped prompt: the description, then the excerpts in the order of the judgments', async () => {
    const prompts: string[][] = [];
    respond = (r) => {
      prompts.push([...(readJudgePrompt(r.body)?.excerpts ?? [])]);
      return perfectJudge(request)(r);
    };
    const result = await (await scorer('detection', { batchSize: 4 })).judge(request);
    const shown = prompts.flat();
    assert.equal(shown.length, result.judgments.length);
    const truth = truthOf(request);
    for (const [i, j] of result.judgments.entries()) assert.equal(truth.get(shown[i]!), j.truth, `excerpt ${i}`);
    assert.ok(prompts.every((p) => p.length <= 4));
  });
});
