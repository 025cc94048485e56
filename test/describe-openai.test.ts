import assert from 'node:assert/strict';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  mixedFaults,
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeReply,
  type FakeServerOptions,
} from '@expgen/plugin-openai/testing';
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
      { kind: 'empty-choices' },
      { kind: 'choices', choices: ['', "I'm sorry, I can't help with that.", 'These tokens look like punctuation.'] },
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
    const keys = lines.map((l) => `${l.feature}:${l.sign}`).sort();
    const expected = [0, 1, 2, 3, 4, 5].flatMap((i) => [`mlp/1/${i}:negative`, `mlp/1/${i}:positive`]).sort();
    assert.deepEqual(keys, expected, 'each feature and sign once');
    for (const line of lines) {
      assert.ok(['described', 'failed', 'skipped'].includes(line.status));
      if (line.status !== 'skipped')
        assert.equal(
          line.candidates.length + line.failures.length,
          3,
          `${line.feature}:${line.sign}: every candidate described or reported as failed`,
        );
      for (const c of line.candidates)
        assert.match(c.description, /^fake feature [0-9a-f]{8}, sample \d+$/, 'no placeholder text');
    }
    assert.ok(
      lines.some((l) => l.candidates.length > 0),
      'most candidates are described',
    );
    assert.ok(server.requests.length > 6 * 2, 'faults were retried, unusable choices topped up');
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
    assert.equal(estimate.feature_signs, 12);
    assert.equal(estimate.calls, 12 - estimate.skipped, 'one request with n per feature-sign');
    assert.ok(estimate.prompt_tokens > 0);
    assert.equal(server.requests.length, before, 'nothing was sent');
  });
});

/**
 * The bar for `n`: `describe.candidates=10` against a server that honours `n` and fails one request in
 * four (429 with Retry-After, 500, truncated bodies, resets, answers with no choices) takes at most 1.5 requests
 * per feature-sign, counted at the server; against a server that ignores `n`, every sign still gets its 10
 * candidates; a rerun makes zero requests.
 */
describe('expgen describe --set describe.candidates=10 with n', () => {
  const dir = tempDir('expgen-describe-n-');
  const cache = tempDir('expgen-describe-n-cache-');
  const exemplars = join(dir, 'exemplars-only');
  const small = [
    '--set',
    'exemplars.sequences=200',
    '--set',
    'activation.options.layers=[1]',
    '--features',
    'mlp/1/0,mlp/1/1,mlp/1/2,mlp/1/3,mlp/1/4,mlp/1/5',
  ];
  const servers: FakeOpenAIServer[] = [];

  before(async () => {
    const result = await runCli(['exemplars', '--out', exemplars, ...small], { cacheDir: cache });
    assert.equal(result.code, 0, result.stderr);
  });
  after(async () => Promise.all(servers.map((s) => s.close())));

  /** A run folder with the shared exemplars, described against a fresh server; returns the rows and the server. */
  async function describeAgainst(name: string, options: FakeServerOptions) {
    const server = await startFakeOpenAIServer(options);
    servers.push(server);
    const out = join(dir, name);
    cpSync(exemplars, out, { recursive: true });
    const args = [
      'describe',
      '--out',
      out,
      ...small,
      '--describer',
      'openai-compatible',
      '--set',
      `describer.options.baseUrl=${server.url}`,
      '--set',
      // Its own model name per scenario: the shared call cache must not answer one scenario from another.
      `describer.options.model=fake-explainer-${name}`,
      '--set',
      'describer.options.apiKeyEnv=EXPGEN_TEST_NO_KEY',
      '--set',
      'describer.options.backoffMs=1',
      '--set',
      'describe.candidates=10',
      '--json',
    ];
    const result = await runCli(args, { cacheDir: cache });
    assert.equal(result.code, 0, result.stderr);
    const rows = readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    return { server, rows, args, out, stderr: result.stderr };
  }

  it('honoured n, one request in four failing: at most 1.5 requests per feature-sign; a rerun sends none', async () => {
    const { server, rows, args, out } = await describeAgainst('honours-n', { respond: mixedFaults(4, 1) });
    const asked = rows.filter((r) => r.status !== 'skipped');
    assert.ok(asked.length >= 6, `${asked.length} feature-signs described`);
    for (const row of asked) {
      assert.equal(row.status, 'described');
      assert.equal(row.candidates.length, 10, `${row.feature} ${row.sign}: 10 candidates`);
      assert.equal(new Set(row.candidates.map((c: { description: string }) => c.description)).size, 10);
      assert.equal(row.described_by.settings.candidateRequests, 'n');
    }
    const perSign = server.requests.length / asked.length;
    assert.ok(perSign <= 1.5, `${server.requests.length} requests for ${asked.length} feature-signs (${perSign})`);
    assert.ok(server.requests.length > asked.length, 'faults were injected and retried');
    const usage = asked.reduce((n, r) => n + r.usage.calls, 0);
    assert.equal(usage, server.requests.length, 'usage.calls counts every request, retries included');

    const before = server.requests.length;
    const first = readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8');
    const again = await runCli(args, { cacheDir: cache });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.requests.length, before, 'the rerun sent nothing');
    assert.equal(readFileSync(join(out, 'descriptions', 'candidates.jsonl'), 'utf8'), first);
  });

  it('a server that ignores n still gives every sign its 10 candidates, one request each after detection', async () => {
    const { server, rows, args, out, stderr } = await describeAgainst('ignores-n', { n: 'ignore' });
    const asked = rows.filter((r) => r.status !== 'skipped');
    for (const row of asked) {
      assert.equal(row.candidates.length, 10, `${row.feature} ${row.sign}: 10 candidates`);
      assert.equal(new Set(row.candidates.map((c: { description: string }) => c.description)).size, 10);
    }
    assert.equal(stderr.match(/ignores "n"/g)?.length, 1, 'detected once, said once');
    // Only the requests in flight when the second one-choice answer came back asked for n; each still gave one
    // candidate, so nothing was wasted.
    const withN = server.requests.filter((r) => typeof r.body['n'] === 'number').length;
    assert.ok(withN < server.requests.length / 4, `${withN} of ${server.requests.length} requests asked for n`);
    assert.equal(server.requests.length, asked.length * 10);
    // Rerun into a fresh folder with the same cache: every answer, asked either way, comes from the cache.
    const before = server.requests.length;
    const other = `${out}-rerun`;
    cpSync(exemplars, other, { recursive: true });
    const again = await runCli(
      args.map((a) => (a === out ? other : a)),
      { cacheDir: cache },
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.requests.length, before, 'the rerun sent nothing');
  });
});
