import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeOpenAIServer, type FakeOpenAIServer, type FakeReply } from '@expgen/plugin-openai/testing';
import { runCli, tempDir } from './helpers/run-cli.js';

/**
 * `expgen describe --describer openai-compatible` against a real OpenAI-compatible server on loopback that
 * injects faults: every feature ends described or recorded as failed, none lost or duplicated, and a second
 * identical run makes zero model calls.
 */
describe('expgen describe against an OpenAI-compatible server with injected faults', () => {
  const dir = tempDir('expgen-describe-openai-');
  const out = join(dir, 'run');
  const cache = tempDir('expgen-describe-openai-cache-');
  const small = [
    '--set',
    'exemplars.sequences=200',
    '--set',
    'activation.options.layers=[1]',
    '--features',
    'mlp/1/0,mlp/1/1,mlp/1/2,mlp/1/3,mlp/1/4,mlp/1/5',
  ];
  let server: FakeOpenAIServer;
  let describeArgs: string[];

  before(async () => {
    // A fixed plan of faults by arrival order, then normal answers: retried faults must not lose or duplicate items.
    const plan: FakeReply[] = [
      { kind: 'status', status: 429, headers: { 'retry-after': '0' } },
      { kind: 'status', status: 500 },
      { kind: 'malformed' },
      { kind: 'truncated' },
      { kind: 'reset' },
      { kind: 'stall' },
      { kind: 'chat', content: '' },
      { kind: 'chat', content: "I'm sorry, I can't help with that." },
      { kind: 'chat', content: 'These tokens look like punctuation.' },
    ];
    server = await startFakeOpenAIServer({
      respond: (request) =>
        request.path.endsWith('/chat/completions') ? (plan[request.index] ?? { kind: 'answer' }) : { kind: 'answer' },
    });
    describeArgs = [
      'describe',
      '--out',
      out,
      ...small,
      '--describer',
      'openai-compatible',
      '--set',
      `describer.options.baseUrl=${server.url}`,
      '--set',
      'describer.options.model=fake-explainer',
      '--set',
      'describer.options.apiKeyEnv=EXPGEN_TEST_NO_KEY',
      '--set',
      'describer.options.timeoutMs=1000',
      '--set',
      'describer.options.backoffMs=1',
      '--set',
      'describer.options.concurrency=4',
      '--set',
      'describe.candidates=3',
    ];
    const exemplars = await runCli(['exemplars', '--out', out, ...small], { cacheDir: cache });
    assert.equal(exemplars.code, 0, exemplars.stderr);
  });
  after(async () => server.close());

  it('describes every feature and sign exactly once, recording failures instead of losing them', async () => {
    const result = await runCli(describeArgs, { cacheDir: cache });
    assert.equal(result.code, 0, result.stderr);
    const lines = readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const keys = lines.map((l) => l.key).sort();
    const expected = [0, 1, 2, 3, 4, 5].flatMap((i) => [`mlp/1/${i}:negative`, `mlp/1/${i}:positive`]).sort();
    assert.deepEqual(keys, expected, 'each feature and sign once');
    for (const line of lines) {
      assert.ok(['described', 'failed', 'skipped'].includes(line.status));
      if (line.status !== 'skipped')
        assert.equal(
          line.candidates.length + line.failures.length,
          3,
          `${line.key}: every candidate described or reported as failed`,
        );
      for (const c of line.candidates)
        assert.match(c.description, /^fake feature [0-9a-f]{8}, sample \d+$/, 'no placeholder text');
    }
    assert.ok(
      lines.some((l) => l.candidates.length > 0),
      'most candidates are described',
    );
    assert.ok(server.requests.length > 6 * 2 * 3, 'faults were retried');
  });

  it('a second identical run makes zero model calls and writes the same candidates', async () => {
    const before = server.requests.length;
    const first = readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8');
    const result = await runCli(describeArgs, { cacheDir: cache });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.requests.length, before, 'no request reached the server');
    assert.equal(readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8'), first);
  });

  it('into a new folder with the same cache, it also makes zero model calls', async () => {
    const before = server.requests.length;
    const other = join(dir, 'other');
    const exemplars = await runCli(['exemplars', '--out', other, ...small], { cacheDir: cache });
    assert.equal(exemplars.code, 0, exemplars.stderr);
    const result = await runCli(
      describeArgs.map((a) => (a === out ? other : a)),
      { cacheDir: cache },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(server.requests.length, before);
  });

  it('--dry-run estimates calls and tokens without sending any', async () => {
    const before = server.requests.length;
    const fresh = join(dir, 'dry');
    await runCli(['exemplars', '--out', fresh, ...small], { cacheDir: tempDir() });
    const result = await runCli([...describeArgs.map((a) => (a === out ? fresh : a)), '--dry-run', '--json'], {
      cacheDir: tempDir(),
    });
    assert.equal(result.code, 0, result.stderr);
    const { estimate } = JSON.parse(result.stdout);
    assert.equal(estimate.featureSigns, 12);
    assert.equal(estimate.calls, (12 - estimate.skipped) * 3);
    assert.ok(estimate.promptTokens > 0);
    assert.equal(server.requests.length, before, 'nothing was sent');
  });
});
