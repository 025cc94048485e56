import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertOneLineError, repoRoot, runCli, tempDir, testCacheDir } from './helpers/run-cli.js';

/** `expgen exemplars` as users run it, on the tiny seeded Llama model: SIGKILL and resume, shards and merge. */
describe('expgen exemplars on the tiny model', () => {
  const dir = tempDir('expgen-exemplars-cli-');
  const corpus = join(dir, 'corpus.jsonl');
  const common = [
    '--set',
    'exemplars.sequences=90',
    '--set',
    'exemplars.batchSize=4',
    '--set',
    'exemplars.seqLen=16',
    '--set',
    'exemplars.topK=5',
  ];
  const whole = join(dir, 'whole');

  before(async () => {
    const words =
      'the river rose for three days after the storm and 42 farmers moved 17 cattle to the ridge near the old mill in 1887'.split(
        ' ',
      );
    const lines = Array.from({ length: 50 }, (_, i) => {
      const text = Array.from({ length: 40 }, (_, j) => words[(i * 7 + j * ((i % 5) + 1)) % words.length]).join(' ');
      return JSON.stringify(
        i % 6 === 5
          ? {
              id: `c${i}`,
              messages: [
                { role: 'user', content: text.slice(0, 60) },
                { role: 'assistant', content: text.slice(60) },
              ],
            }
          : { id: `d${i}`, text },
      );
    });
    writeFileSync(corpus, `${lines.join('\n')}\n`);
    const result = await runCli(['exemplars', '--data', corpus, '--out', whole, ...common]);
    assert.equal(result.code, 0, result.stderr);
  });

  it('writes one Arrow file per layer and split, the distributions, and the manifests', () => {
    const files = listFiles(whole);
    assert.deepEqual(files.filter((f) => f.endsWith('.arrow')).sort(), [
      'exemplars/mlp/layer-00/test.arrow',
      'exemplars/mlp/layer-00/train.arrow',
      'exemplars/mlp/layer-00/valid.arrow',
      'exemplars/mlp/layer-01/test.arrow',
      'exemplars/mlp/layer-01/train.arrow',
      'exemplars/mlp/layer-01/valid.arrow',
    ]);
    assert.ok(files.includes('exemplars/manifest.json'));
    assert.ok(files.includes('exemplars/mlp/layer-00/train.distribution.feather'));
    const run = JSON.parse(readFileSync(join(whole, 'expgen-manifest.json'), 'utf8'));
    assert.equal(run.command, 'exemplars');
    assert.equal(run.subject.execution_provider, 'cpu');
    assert.ok(Object.keys(run.subject.hashes).length > 0, 'the model hashes are repeated beside the output');
    assert.ok(!files.some((f) => f.includes('checkpoint')), 'no checkpoint is left after a complete run');
  });

  it('a second identical command finds the output complete and changes nothing', async () => {
    const before = snapshot(whole);
    const result = await runCli(['exemplars', '--data', corpus, '--out', whole, ...common]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /already complete/);
    assert.deepEqual(snapshot(whole), before);
  });

  it('refuses another config over the same output, naming the keys that differ', async () => {
    const line = assertOneLineError(
      await runCli(['exemplars', '--data', corpus, '--out', whole, ...common, '--set', 'exemplars.topK=6']),
    );
    assert.match(line, /exemplars\.topK/);
  });

  it('killed with SIGKILL mid-run and started again, it ends with identical files', async () => {
    const out = join(dir, 'killed');
    const args = ['exemplars', '--data', corpus, '--out', out, ...common, '--set', 'exemplars.checkpointSeconds=0.001'];
    const child = spawn(process.execPath, [join(repoRoot, 'core/bin/run.js'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, XDG_CACHE_HOME: testCacheDir() },
      stdio: 'ignore',
    });
    const checkpoint = join(out, 'exemplars', 'checkpoint', 'checkpoint.json');
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let killed = false;
    for (let i = 0; i < 600 && child.exitCode === null; i++) {
      if (existsSync(checkpoint)) {
        const { sequencesDone } = JSON.parse(readFileSync(checkpoint, 'utf8')) as { sequencesDone: number };
        if (sequencesDone >= 20) {
          child.kill('SIGKILL');
          killed = true;
          break;
        }
      }
      await sleep(20);
    }
    await exited;
    assert.ok(killed, 'the run was killed while a checkpoint existed');
    assert.ok(!existsSync(join(out, 'exemplars', 'manifest.json')), 'a killed run leaves nothing that looks complete');
    const resumed = await runCli(args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /resuming from the checkpoint/);
    assertSameData(whole, out);
  });

  it('shards merged with `expgen exemplars merge` equal the single run', async () => {
    const shards = [0, 1].map((i) => join(dir, `shard-${i}`));
    for (const [i, out] of shards.entries()) {
      const result = await runCli(['exemplars', '--data', corpus, '--out', out, ...common, '--shard', `${i}/2`]);
      assert.equal(result.code, 0, result.stderr);
    }
    const merged = join(dir, 'merged');
    const result = await runCli(['exemplars', 'merge', ...shards, '--out', merged]);
    assert.equal(result.code, 0, result.stderr);
    assertSameData(whole, merged);
  });

  it('--json prints a summary and nothing else on standard output', async () => {
    const result = await runCli([
      'exemplars',
      '--data',
      corpus,
      '--out',
      join(dir, 'json'),
      ...common,
      '--features',
      'mlp/1/3,mlp/1/5',
      '--json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.end.reason, 'completed');
    assert.equal(summary.sequences, 90);
  });

  describe('bad input gets one clear line', () => {
    it('a data file of unknown type', async () => {
      const text = join(dir, 'notes.txt');
      writeFileSync(text, 'hello');
      assert.match(
        assertOneLineError(await runCli(['exemplars', '--data', text, '--out', join(dir, 'bad1')])),
        /unknown file type ".txt"/,
      );
    });
    it('a feature that does not exist', async () => {
      assert.match(
        assertOneLineError(
          await runCli(['exemplars', '--data', corpus, '--out', join(dir, 'bad2'), '--features', 'mlp/7/1']),
        ),
        /layer 7 is not read/,
      );
    });
    it('a corrupt JSON Lines file', async () => {
      const broken = join(dir, 'broken.jsonl');
      writeFileSync(broken, '{"text": "fine"}\n{"text": oops}\n');
      assert.match(
        assertOneLineError(await runCli(['exemplars', '--data', broken, '--out', join(dir, 'bad3')])),
        /broken\.jsonl:2: not valid JSON/,
      );
      assert.ok(!listFiles(join(dir, 'bad3')).some((f) => f.endsWith('.arrow')), 'no data file is left behind');
    });
    it('a bad --shard', async () => {
      assert.match(
        assertOneLineError(await runCli(['exemplars', '--data', corpus, '--out', join(dir, 'bad4'), '--shard', '2/2'])),
        /shard/,
      );
    });
  });
});

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(dir, path));
    }
  };
  walk(dir);
  return out.sort();
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(listFiles(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

/** The data files (everything under exemplars/) are byte-identical. */
function assertSameData(a: string, b: string): void {
  const left = listFiles(join(a, 'exemplars'));
  assert.deepEqual(listFiles(join(b, 'exemplars')), left);
  for (const f of left)
    assert.ok(
      readFileSync(join(a, 'exemplars', f)).equals(readFileSync(join(b, 'exemplars', f))),
      `${f} is byte-identical`,
    );
}
