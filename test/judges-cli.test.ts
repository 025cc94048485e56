import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseFeatureKey, type Sign, type Tokenizer } from '@expgen/contract';
import { ExemplarLibrary } from '@expgen/core';
import { judgeRequestOf } from '@expgen/core/internals';
import { descriptionLine, excerptText, fireThreshold, firingTokens, sequenceFires } from '@expgen/plugin-judges';
import { coinJudge, fakeJudge, garbledJudge, type ReadPrompt } from '@expgen/plugin-judges/testing';
import { LlamaTokenizer } from '@expgen/plugin-llama';
import {
  startFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeReply,
  type FakeRequest,
} from '@expgen/plugin-openai/testing';
import { tableFromIPC } from 'apache-arrow';
import { runCli, tempDir } from './helpers/run-cli.js';

/**
 * `expgen run --scorer correlation --scorer detection --scorer fuzzing` on the demo, against a loopback
 * OpenAI-compatible judge found through OPENAI_BASE_URL and OPENAI_MODEL: a judge that answers from the truth scores
 * 1, one that answers at random scores near chance, and one whose answers cannot be read leaves every judgment a
 * counted failure. A run whose detection judge is the local Llama engine on the tiny model goes through too.
 */
describe('expgen run with detection and fuzzing judges', () => {
  const exemplars = tempDir('expgen-judges-exemplars-');
  const features = join(exemplars, 'features.txt');
  const keys = [0, 1, 2, 3, 4, 5, 6, 7].flatMap((i) => [`mlp/0/${i * 13}`, `mlp/1/${i * 11 + 3}`]);
  let server: FakeOpenAIServer;
  let respond: (request: FakeRequest) => FakeReply | Promise<FakeReply> = () => ({ kind: 'answer' });

  before(async () => {
    writeFileSync(features, `${keys.join('\n')}\n`);
    const result = await runCli(['exemplars', '--out', exemplars, '--features', `@${features}`]);
    assert.equal(result.code, 0, result.stderr);
    server = await startFakeOpenAIServer({ respond: (r) => respond(r) });
  });
  after(async () => server?.close());

  /** The run, every judge through the environment, each in its own folder and call cache. */
  async function run(out = tempDir('expgen-judges-run-'), extra: string[] = []) {
    const before = server.requests.length;
    const result = await runCli(
      [
        'run',
        '--exemplars',
        exemplars,
        '--out',
        out,
        ...extra,
        '--features',
        `@${features}`,
        '--scorer',
        'correlation',
        '--scorer',
        'detection',
        '--scorer',
        'fuzzing',
        '--json',
      ],
      {
        cacheDir: tempDir('expgen-judges-cache-'),
        env: { OPENAI_BASE_URL: server.url, OPENAI_MODEL: 'fake-judge', OPENAI_API_KEY: '' },
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Row);
    return { out, rows, json: JSON.parse(result.stdout), requests: server.requests.length - before };
  }

  it('a judge that answers from the truth scores 1; every score has its interval and null baseline', async () => {
    const out = tempDir('expgen-judges-perfect-');
    const oracle = await truthOracle(exemplars, out);
    const judge = fakeJudge((prompt, excerpt) => oracle.verdict(prompt, excerpt));
    respond = async (request) => {
      await oracle.ready();
      return judge(request);
    };
    const { rows, json } = await run(out);
    await oracle.close();
    const scored = rows.filter((r) => r.status === 'scored');
    assert.equal(rows.length, 2 * keys.length);
    assert.ok(scored.length >= 0.8 * rows.length, `${scored.length} scored`);
    for (const name of ['detection', 'fuzzing']) {
      const entries = scored.map((r) => r.scores[name]!);
      const defined = entries.filter((e) => e.score !== null);
      assert.ok(defined.length >= 0.8 * scored.length, `${name}: ${defined.length} of ${scored.length} defined`);
      for (const e of defined) {
        assert.equal(e.score, 1, `${name}: a perfect judge scores 1`);
        assert.deepEqual(e.ci, [1, 1]);
        assert.ok(e.judgments >= 4 && e.failures === 0);
      }
      const nulls = entries.map((e) => e.null_score).filter((v): v is number => v !== null);
      assert.ok(nulls.length >= 0.8 * scored.length, `${name}: null baselines`);
      const nullMean = nulls.reduce((a, b) => a + b, 0) / nulls.length;
      assert.ok(nullMean < 0.65, `${name}: another feature's description is judged near chance (${nullMean})`);
      assert.equal(json.summary.scores[name].mean_score, 1);
      assert.equal(json.summary.scores[name].mean_score_rows, defined.length + chosenWithoutTestScore(rows, name));
    }
    for (const r of scored) {
      const c = r.scores['correlation']!;
      assert.deepEqual([c.score, c.ci, c.null_score], [r.score, r.ci, r.null_score], 'correlation: the row itself');
    }
    // In Arrow, `scores` is one struct with a typed struct per scorer, as in the JSON Lines.
    const table = tableFromIPC(readFileSync(join(out, 'results.arrow')));
    const scores = table.schema.fields.find((f) => f.name === 'scores')!;
    assert.deepEqual(
      scores.type.children.map((f: { name: string }) => f.name),
      ['correlation', 'detection', 'fuzzing'],
    );
    for (const f of scores.type.children)
      assert.match(String(f.type), /^Struct<\{status:Utf8, reason:Utf8, score:Float64, ci:List<Float64>, null_score:/);
    const cost = JSON.parse(readFileSync(join(out, 'cost.json'), 'utf8'));
    assert.ok(cost.score.explainer_requests > 0 && cost.score.prompt_tokens > 0, 'judge requests and tokens counted');
    assert.ok(existsSync(join(out, 'features', 'mlp', 'layer-00', '0.positive.judgments.json')));
  });

  it('a judge that answers at random scores near chance', async () => {
    respond = coinJudge();
    const { rows, json } = await run();
    for (const name of ['detection', 'fuzzing']) {
      const mean = json.summary.scores[name].mean_score as number;
      assert.ok(Math.abs(mean - 0.5) < 0.1, `${name}: mean ${mean}`);
      const [low, high] = json.summary.scores[name].mean_score_ci as [number, number];
      assert.ok(low < 0.5 + 0.1 && high > 0.5 - 0.1, `${name}: interval [${low}, ${high}]`);
      assert.ok(rows.every((r) => r.status !== 'scored' || r.scores[name]!.failures === 0));
    }
  });

  it('feature shards judged apart and merged hold the unsharded results, every scorer and null baseline', async () => {
    respond = coinJudge();
    const whole = await run();
    const shards = [tempDir('expgen-judges-shard-'), tempDir('expgen-judges-shard-')];
    for (const [i, out] of shards.entries()) await run(out, ['--shard', `${i}/2`]);
    const merged = join(tempDir('expgen-judges-merged-'), 'merged');
    const result = await runCli(['merge', ...shards, '--out', merged, '--json']);
    assert.equal(result.code, 0, result.stderr);
    for (const file of ['results.jsonl', 'results.arrow', 'score/null-scores.jsonl'])
      assert.ok(
        readFileSync(join(merged, file)).equals(readFileSync(join(whole.out, file))),
        `${file} is byte-identical`,
      );
    assert.deepEqual(JSON.parse(result.stdout).summary.scores, whole.json.summary.scores);
  });

  it('answers that cannot be read are retried, then counted as failures; nothing is invented', async () => {
    respond = garbledJudge();
    const { rows, json, requests } = await run();
    let prompts = 0;
    for (const r of rows.filter((x) => x.status === 'scored'))
      for (const name of ['detection', 'fuzzing']) {
        const e = r.scores[name]!;
        assert.deepEqual([e.status, e.score, e.ci, e.judgments, e.null_score], ['failed', null, null, 0, null]);
        assert.match(
          e.reason!,
          new RegExp(`^every one of the ${e.failures} judgment\\(s\\) of the scorer "${name}" failed`),
        );
        assert.ok(e.failures > 0);
        prompts += Math.ceil(e.failures / 5);
      }
    assert.ok(json.summary.scores.detection.failures > 0);
    assert.equal(json.summary.scores.detection.judgments, 0);
    assert.equal(json.summary.scores.detection.mean_score_rows, 0);
    assert.equal(
      json.summary.scores.detection.states.failed,
      rows.filter((r) => r.description !== null || r.status === 'failed').length,
      'every judged description failed, and the rows with nothing to judge',
    );
    assert.ok(requests >= 3 * prompts, `${requests} requests for ${prompts} report prompts, each asked 3 times`);
  });

  it('--dry-run counts the judge requests of detection and fuzzing from their options', async () => {
    const result = await runCli([
      'run',
      '--dry-run',
      '--json',
      '--out',
      tempDir('expgen-judges-dry-'),
      '--features',
      'mlp/0/*',
      '--scorer',
      'correlation',
      '--scorer',
      'detection',
      '--set',
      'scorers=[correlation, {component: detection, options: {batchSize: 4, activating: 8, nonActivating: 4, hardNegatives: 0}}]',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const estimate = JSON.parse(result.stdout);
    const featureSigns = 128 * 2;
    // 8 + 4 sequences (the demo keeps 5 random per feature) in 3 prompts of 4, for the chosen description and the null.
    assert.equal(estimate.cost.score.explainer_requests, featureSigns * 2 * 3);
    assert.ok(estimate.cost.score.prompt_tokens > 0 && estimate.cost.score.completion_tokens > 0);
    assert.ok(estimate.assumed.some((a: string) => /scorer detection \(scorers\[1\]\): 12 sequences/.test(a)));
  });

  it('the local engine judges on the tiny model, its answers counted as failures when unreadable', async () => {
    const out = tempDir('expgen-judges-local-');
    const two = join(out, 'two.txt');
    writeFileSync(two, 'mlp/0/0\nmlp/1/3\n');
    const result = await runCli([
      'run',
      '--exemplars',
      exemplars,
      '--out',
      out,
      '--features',
      `@${two}`,
      '--set',
      'scorers=[correlation, {component: detection, options: {judge: {engine: local, maxTokens: 8}, activating: 4, nonActivating: 2, hardNegatives: 0, maxRetries: 0}}]',
      '--json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const rows = readFileSync(join(out, 'results.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Row);
    const judged = rows.filter((r) => r.status === 'scored').map((r) => r.scores['detection']!);
    assert.ok(judged.length > 0);
    for (const e of judged) assert.equal(e.judgments + e.failures, 6, 'every sequence shown judged or failed');
    const cost = JSON.parse(readFileSync(join(out, 'cost.json'), 'utf8'));
    assert.ok(cost.score.explainer_requests > 0 && cost.score.completion_tokens > 0, 'local generations counted');
  });
});

/** Rows whose correlation is undefined on the test split but which `name` scored (a judge judges them too). */
function chosenWithoutTestScore(rows: readonly Row[], name: string): number {
  return rows.filter((r) => r.status === 'no_test_score' && r.scores[name]!.status === 'scored').length;
}

interface Row {
  feature: string;
  sign: Sign;
  status: string;
  description: string | null;
  score: number | null;
  ci: [number, number] | null;
  null_score: number | null;
  scores: Record<
    string,
    {
      status: string;
      reason: string | null;
      score: number | null;
      ci: [number, number] | null;
      null_score: number | null;
      judgments: number;
      failures: number;
    }
  >;
}

/**
 * A judge that knows the truth. When the first judge request arrives, stage 2 has written the run's candidate
 * descriptions: the oracle reads them to know which feature-sign a prompt's description belongs to, and renders
 * every kept test sequence of those feature-signs as the prompts render them (the subject's tokenizer), unmarked and
 * with their firing tokens marked. It answers whether the feature fires in an excerpt (detection) or whether the
 * excerpt is marked right (fuzzing). An excerpt it cannot place (the null baseline shows another feature's data)
 * gets 0.
 */
async function truthOracle(exemplarsDir: string, outDir: string) {
  const tokenizer: Tokenizer = await LlamaTokenizer.llama31();
  const library = ExemplarLibrary.open(exemplarsDir);
  const byDescription = new Map<string, string[]>();
  const truths = new Map<string, { fires: Map<string, boolean>; marked: Set<string> }>();

  /** Per excerpt as a detection prompt shows it, whether the feature fires; and every right marking as shown. */
  const truthOf = async (feature: string, sign: Sign) => {
    const key = parseFeatureKey(feature);
    const request = judgeRequestOf(key, sign, '', await library.exemplars(key, 'test'), 0, 'report');
    const threshold = fireThreshold(request, 0.3);
    const fires = new Map<string, boolean>();
    const marked = new Set<string>();
    for (const list of ['top', 'opposite', 'random'] as const)
      request.sequences[list].forEach((sequence, index) => {
        const at = { list, index, group: '', truth: false };
        fires.set(excerptText({ ...at, marks: null }, request, tokenizer), sequenceFires(sequence, sign, threshold));
        const marks = firingTokens(sequence, sign, threshold);
        if (marks.some(Boolean)) marked.add(excerptText({ ...at, marks }, request, tokenizer));
      });
    return { fires, marked };
  };

  let indexed: Promise<void> | undefined;
  const index = async () => {
    const lines = readFileSync(join(outDir, 'descriptions', 'candidates.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean);
    for (const line of lines) {
      const d = JSON.parse(line) as { feature: string; sign: Sign; candidates: { description: string }[] };
      const id = `${d.feature}:${d.sign}`;
      for (const c of d.candidates) {
        const shown = descriptionLine(c.description, tokenizer);
        const list = byDescription.get(shown) ?? [];
        if (!list.includes(id)) list.push(id);
        byDescription.set(shown, list);
      }
      truths.set(id, await truthOf(d.feature, d.sign));
    }
  };
  return {
    /** Reads the run's candidates and the truths, once. */
    ready: () => (indexed ??= index()),
    verdict(prompt: ReadPrompt, excerpt: string): boolean {
      const ids = byDescription.get(prompt.description) ?? [];
      // Fuzzing: right when the excerpt is one of the description's feature-signs' right markings.
      if (excerpt.includes('{{')) return ids.some((id) => truths.get(id)!.marked.has(excerpt));
      // Detection: the feature-sign whose kept sequences hold every excerpt of the prompt.
      for (const id of ids) {
        const { fires } = truths.get(id)!;
        if (prompt.excerpts.every((e) => fires.has(e))) return fires.get(excerpt)!;
      }
      return false;
    },
    close: () => library.close(),
  };
}
