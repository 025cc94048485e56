import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertOneLineError, repoRoot, runCli } from './helpers/run-cli.js';

/** The CLI helping a user who mistypes: suggestions, one-line errors, help that fits the command. */
describe('expgen CLI help', () => {
  it('"expgen help run" shows the help of run, as "expgen run --help" does', async () => {
    const [help, flag] = await Promise.all([runCli(['help', 'run']), runCli(['run', '--help'])]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^USAGE\n {2}\$ expgen run /m);
    assert.equal(help.stdout, flag.stdout);
    const merge = await runCli(['help', 'exemplars', 'merge']);
    assert.match(merge.stdout, /\$ expgen exemplars merge DIRS\.\.\. -o DIR/);
    assert.match(
      assertOneLineError(await runCli(['help', 'runn'])),
      /no command "runn"; did you mean "expgen help run"\?/,
    );
  });

  it('a mistyped command suggests the right one, in one line', async () => {
    for (const [typed, meant] of [
      ['runn', 'run'],
      ['plugin', 'plugins'],
      ['exemplar', 'exemplars'],
    ] as const) {
      const result = await runCli([typed]);
      assert.equal(result.code, 2);
      assert.match(
        assertOneLineError(result),
        new RegExp(`"${typed}" is not an expgen command; did you mean "expgen ${meant}"\\?`),
      );
    }
    assert.match(
      assertOneLineError(await runCli(['exemplars', 'merg', 'a'])),
      /did you mean "expgen exemplars merge"\?/,
    );
    assert.match(
      assertOneLineError(await runCli(['frobnicate'])),
      /^expgen: "frobnicate" is not an expgen command \("expgen --help" lists the commands\)$/,
    );
  });

  it('an unknown flag is one line with a hint, not the whole help', async () => {
    const result = await runCli(['run', '--featurs', 'mlp/0/1']);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.doesNotMatch(result.stderr, /USAGE|FLAGS/);
    assert.match(
      assertOneLineError(result),
      /^expgen: expgen run: unknown flag --featurs \(did you mean --features\?\); "expgen run --help" lists its flags$/,
    );
    assert.match(assertOneLineError(await runCli(['config', '--frobnicate'])), /unknown flag --frobnicate; /);
  });

  it('"expgen run extra" says that run takes no argument', async () => {
    const result = await runCli(['run', 'extra']);
    assert.equal(result.code, 2);
    assert.match(assertOneLineError(result), /^expgen: "expgen run" takes no argument \(found "extra"\)/);
    assert.match(assertOneLineError(await runCli(['report', 'a', 'b'])), /expgen report takes RUN only \(found "b"\)/);
    assert.match(assertOneLineError(await runCli(['report'])), /expgen report needs RUN/);
  });

  it('stage commands offer only the flags that apply to them', async () => {
    const flagsOf = async (command: string) =>
      new Set([...(await runCli([command, '--help'])).stdout.matchAll(/--([a-z-]+)/g)].map((m) => m[1]!));
    const exemplars = await flagsOf('exemplars');
    for (const absent of ['describer', 'simulator', 'dry-run', 'exemplars']) assert.ok(!exemplars.has(absent), absent);
    for (const present of ['data', 'shard', 'out', 'features', 'plugin']) assert.ok(exemplars.has(present), present);
    const describe = await flagsOf('describe');
    for (const absent of ['simulator', 'data']) assert.ok(!describe.has(absent), absent);
    assert.ok(describe.has('describer') && describe.has('dry-run'));
    const score = await flagsOf('score');
    for (const absent of ['describer', 'data', 'dry-run']) assert.ok(!score.has(absent), absent);
    assert.ok(score.has('simulator'));
    const run = await flagsOf('run');
    for (const present of ['data', 'describer', 'simulator', 'dry-run']) assert.ok(run.has(present), present);
    // A flag of another stage names where it belongs.
    assert.match(
      assertOneLineError(await runCli(['exemplars', '--describer', 'x'])),
      /--describer does not apply here \(it is a flag of "expgen describe", "expgen run"\)/,
    );
  });

  it('usage lines never break inside a flag, at any terminal width', async () => {
    for (const columns of ['40', '80', '120']) {
      for (const command of ['run', 'exemplars', 'describe', 'score', 'report', 'model trace']) {
        const result = await runCli([...command.split(' '), '--help'], { env: { OCLIF_COLUMNS: columns } });
        const usage = /USAGE\n([\s\S]*?)\n\n/.exec(result.stdout)![1]!;
        for (const line of usage.split('\n')) {
          const opened = (line.match(/\[/g) ?? []).length;
          const closed = (line.match(/\]/g) ?? []).length;
          assert.equal(opened, closed, `${command} at ${columns} columns: "${line}"`);
          assert.doesNotMatch(line, /(^|\s)(--?[a-z-]+)$/, `a flag is not separated from its value: "${line}"`);
        }
      }
    }
  });

  it('--help and the README list every environment variable expgen reads', async () => {
    // Every process.env.X the code of core/ and plugins/ reads (benchmark-internal ones aside), plus those read
    // through a table of names: the openai plugin's ENV and the shard's scheduler variables.
    const read = new Set([
      'OPENAI_BASE_URL',
      'OPENAI_API_KEY',
      'OPENAI_MODEL',
      'EXPGEN_EXAMPLES',
      // --shard auto/N reads these through SCHEDULER_INDEX_VARIABLES (core/src/engine/shard.ts).
      'SLURM_ARRAY_TASK_ID',
      'JOB_COMPLETION_INDEX',
    ]);
    for (const file of sources([join(repoRoot, 'core'), join(repoRoot, 'plugins')])) {
      for (const m of readFileSync(file, 'utf8').matchAll(/process\.env(?:\.([A-Z_]+)|\['([A-Z_]+)'\])/g)) {
        const name = m[1] ?? m[2]!;
        if (!name.startsWith('EXPGEN_BENCH')) read.add(name);
      }
    }
    for (const name of ['EXPGEN_DEBUG', 'EXPGEN_LOG', 'XDG_CACHE_HOME']) assert.ok(read.has(name), name);
    const help = await runCli(['--help']);
    const section = /^ENVIRONMENT\n([\s\S]*)$/m.exec(help.stdout)![1]!;
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    for (const name of read) {
      assert.match(section, new RegExp(`^ {2}${name}\\s`, 'm'), `expgen --help lists ${name}`);
      assert.ok(readme.includes(`\`${name}\``), `README lists ${name}`);
    }
    assert.match((await runCli(['run', '--help'])).stdout, /^ENVIRONMENT\n {2}EXPGEN_DEBUG/m);
  });
});

function sources(roots: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry === 'dist' || entry.startsWith('.')) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('.d.ts')) out.push(path);
    }
  };
  for (const root of roots) walk(root);
  return out;
}
