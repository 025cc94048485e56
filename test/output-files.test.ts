import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tableFromIPC, Type, type DataType, type Field } from 'apache-arrow';
import { CANDIDATE_COLUMNS, RESULT_COLUMNS, expgenVersion } from '@expgen/core';
import { coinJudge } from '@expgen/plugin-judges/testing';
import { startFakeOpenAIServer, type FakeOpenAIServer } from '@expgen/plugin-openai/testing';
import { runCli, tempDir } from './helpers/run-cli.js';

/**
 * Every file a run writes and every `--json` output, read as a pandas, polars or DuckDB user reads them: one
 * naming convention (snake_case) for expgen's own keys, Arrow tables whose nested columns are structs and lists,
 * the expgen and format versions in each Arrow schema and JSON header, and an independent reader (polars' Rust
 * reader, `nodejs-polars`) that sees the same values as the JSON Lines. The demo run is walked, and a run scored by
 * `--scorer correlation --scorer detection --scorer fuzzing` against a loopback judge (its judgments files, its
 * `scores` of three scorers).
 */

/** A key expgen writes: snake_case, or a distribution file's quantile column (`positive_q1e-5`). */
const OWN_KEY = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$|^(positive|negative)_q1e-\d+$/;

/**
 * Maps whose keys are not expgen's names: the user's config (as the config schema spells its keys), a component's
 * `settings` and a subject's `hashes` (as their plugin names them), a trace's hooks (hook names).
 */
const FOREIGN_KEYS = new Set(['config', 'settings', 'hashes', 'hooks']);

/** Every key path whose name is not snake_case, below `path`. */
function badKeys(value: unknown, path: string, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const item of value) badKeys(item, `${path}[]`, out);
  else if (value && typeof value === 'object')
    for (const [key, child] of Object.entries(value)) {
      if (!OWN_KEY.test(key)) out.add(`${path}.${key}`);
      if (!FOREIGN_KEYS.has(key)) badKeys(child, `${path}.${key}`, out);
    }
  return out;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every field of a schema, nested ones included, as `path: type`. */
function fieldsOf(fields: readonly Field[], path = ''): { path: string; name: string; type: DataType }[] {
  return fields.flatMap((f) => {
    const here = `${path}${f.name}`;
    const children = f.type.children as Field[] | undefined;
    return [{ path: here, name: f.name, type: f.type }, ...(children ? fieldsOf(children, `${here}.`) : [])];
  });
}

/** polars from npm: its prebuilt binary exists for this platform in package-lock (linux x64 glibc, macOS, ...). */
function loadPolars(): { polars: typeof import('nodejs-polars').default | null; why: string | null } {
  try {
    return { polars: createRequire(import.meta.url)('nodejs-polars'), why: null };
  } catch (error) {
    return { polars: null, why: (error as Error).message.split('\n')[0]! };
  }
}

describe('output files: one naming convention, typed Arrow tables, versions', () => {
  const dir = tempDir('expgen-output-files-');
  const out = join(dir, 'run');
  const small = ['--set', 'exemplars.sequences=300', '--set', 'activation.options.layers=[1]'];
  const judged = join(dir, 'judged');
  const printed = new Map<string, unknown>();
  let judge: FakeOpenAIServer | undefined;
  after(async () => judge?.close());

  before(async () => {
    const run = await runCli(['run', '--out', out, ...small, '--json']);
    assert.equal(run.code, 0, run.stderr);
    printed.set('expgen run --json', JSON.parse(run.stdout));
    judge = await startFakeOpenAIServer({ respond: coinJudge() });
    const scorers = ['--scorer', 'correlation', '--scorer', 'detection', '--scorer', 'fuzzing'];
    const judgedRun = await runCli(['run', '--out', judged, '--exemplars', out, ...small, ...scorers, '--json'], {
      env: { OPENAI_BASE_URL: judge.url, OPENAI_MODEL: 'fake-judge', OPENAI_API_KEY: '' },
    });
    assert.equal(judgedRun.code, 0, judgedRun.stderr);
    printed.set('expgen run --scorer ... --json', JSON.parse(judgedRun.stdout));
    const commands: [string, string[]][] = [
      ['expgen exemplars --json', ['exemplars', '--out', out, ...small, '--json']],
      ['expgen describe --json', ['describe', '--out', out, ...small, '--json']],
      ['expgen score --json', ['score', '--out', out, ...small, '--json']],
      ['expgen run --dry-run --json', ['run', '--out', join(dir, 'dry'), ...small, '--dry-run', '--json']],
      ['expgen report --json', ['report', out, '--out', join(dir, 'report.html'), '--json']],
      ['expgen report --json (judged)', ['report', judged, '--out', join(dir, 'judged.html'), '--json']],
      ['expgen plugins --json', ['plugins', '--json']],
      ['expgen model trace --json', ['model', 'trace', '--text', 'one two', '--hooks', 'mlp/0', '--json']],
    ];
    for (const [name, args] of commands) {
      const result = await runCli(args);
      assert.equal(result.code, 0, `${name}: ${result.stderr}`);
      printed.set(name, JSON.parse(result.stdout));
    }
  });

  /** Every JSON and JSON Lines file of `folder` whose keys were checked, by relative path. */
  function checkJsonKeys(folder: string): string[] {
    const checked: string[] = [];
    for (const path of filesUnder(folder)) {
      const name = relative(folder, path);
      // stages/*.json hold config sections, keyed as the config schema spells them.
      if (name.startsWith('stages/')) continue;
      let documents: unknown[];
      if (name.endsWith('.jsonl'))
        documents = readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l));
      else if (name.endsWith('.json')) documents = [JSON.parse(readFileSync(path, 'utf8'))];
      else continue;
      const bad = new Set<string>();
      for (const d of documents) badKeys(d, '', bad);
      assert.deepEqual([...bad], [], `${name}: keys not in snake_case`);
      checked.push(name);
    }
    return checked;
  }

  it('every JSON and JSON Lines file of the run folder uses snake_case keys (configs excepted)', () => {
    const checked = checkJsonKeys(out);
    for (const expected of [
      'results.jsonl',
      'descriptions/candidates.jsonl',
      'descriptions/journal.jsonl',
      'score/journal.jsonl',
      'score/null-scores.jsonl',
      'exemplars/manifest.json',
      'expgen-manifest.json',
      'planted-comparison.json',
      'cost.json',
    ])
      assert.ok(checked.includes(expected), `${expected} was checked`);
    assert.ok(checked.filter((n) => n.startsWith('features/')).length > 100, 'every per-feature detail file');
  });

  it('so does every file of a run scored by detection and fuzzing judges: judgments files, scores', () => {
    const checked = checkJsonKeys(judged);
    const judgments = checked.filter((n) => n.endsWith('.judgments.json'));
    assert.ok(judgments.length > 100, `${judgments.length} judgments files`);
    const first = JSON.parse(readFileSync(join(judged, judgments[0]!), 'utf8'));
    assert.deepEqual([first.format, first.expgen_version], ['expgen-judgments/1', expgenVersion()]);
    assert.equal(first.feature, `${first.space}/${first.layer}/${first.index}`);
    assert.deepEqual(Object.keys(first.scorers), ['detection', 'fuzzing']);
    assert.ok(
      Object.keys(first.scorers.detection.stats).some((k) => k.startsWith('accuracy_activating_q')),
      'the per-group statistics',
    );
    assert.ok(checked.includes('results.jsonl') && checked.includes('score/null-scores.jsonl'));
    const row = JSON.parse(readFileSync(join(judged, 'results.jsonl'), 'utf8').split('\n')[0]!);
    assert.deepEqual(Object.keys(row.scores), ['correlation', 'detection', 'fuzzing']);
    for (const entry of Object.values(row.scores))
      assert.deepEqual(Object.keys(entry as object), [
        'status',
        'reason',
        'score',
        'ci',
        'null_score',
        'judgments',
        'failures',
      ]);
  });

  it('every --json output uses snake_case keys', () => {
    for (const [name, value] of printed) assert.deepEqual([...badKeys(value, '', new Set())], [], name);
    const summary = (printed.get('expgen run --json') as { summary: Record<string, unknown> }).summary;
    const means = [
      'mean_score',
      'mean_score_ci',
      'mean_score_rows',
      'null_baseline',
      'null_baseline_ci',
      'null_baseline_rows',
    ];
    assert.deepEqual(Object.keys(summary), ['feature_signs', 'states', ...means, 'scores']);
    assert.deepEqual(Object.keys(summary['scores'] as object), ['correlation']);
    // Each reported scorer is summarized as the run is: its states, its means and the rows behind them.
    const judgedSummary = (printed.get('expgen run --scorer ... --json') as { summary: Record<string, unknown> })
      .summary['scores'] as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(judgedSummary), ['correlation', 'detection', 'fuzzing']);
    for (const scorer of Object.values(judgedSummary))
      assert.deepEqual(Object.keys(scorer), ['states', ...means, 'judgments', 'failures']);
  });

  it('JSON files carry their format and the expgen version in a header', () => {
    const header = (path: string) => {
      const { format, expgen_version } = JSON.parse(readFileSync(path, 'utf8'));
      return { format, expgen_version };
    };
    const version = expgenVersion();
    const detail = filesUnder(join(out, 'features'))[0]!;
    assert.deepEqual(header(detail), { format: 'expgen-feature-detail/2', expgen_version: version });
    assert.deepEqual(header(join(out, 'expgen-manifest.json')), { format: 2, expgen_version: version });
    assert.deepEqual(header(join(out, 'exemplars', 'manifest.json')), {
      format: 'expgen-exemplars-manifest/2',
      expgen_version: version,
    });
    assert.deepEqual(header(join(out, 'planted-comparison.json')), {
      format: 'expgen-planted-comparison/2',
      expgen_version: version,
    });
    // The detail file joins with results and exemplars on the same keys.
    const { feature, space, layer, index } = JSON.parse(readFileSync(detail, 'utf8'));
    assert.equal(feature, `${space}/${layer}/${index}`);
  });

  it('every Arrow file reads back typed: nested columns are structs and lists, no JSON text but `settings`', () => {
    const arrows = filesUnder(out).filter((p) => /\.(arrow|feather)$/.test(p));
    assert.equal(arrows.length, 2 + 3 * 2, 'results, candidates, and three splits of one layer');
    for (const path of [...arrows, join(judged, 'results.arrow')]) {
      const name = relative(dir, path);
      const table = tableFromIPC(readFileSync(path));
      assert.equal(table.schema.metadata.get('expgen.version'), expgenVersion(), `${name}: expgen.version`);
      assert.match(table.schema.metadata.get('expgen.format') ?? '', /^expgen-[a-z-]+\/\d+$/, `${name}: format`);
      for (const field of fieldsOf(table.schema.fields))
        assert.match(field.name, OWN_KEY, `${name}: column ${field.path} is not snake_case`);
      // A utf8 column holding JSON objects or lists would be a nested value written as text.
      for (const field of table.schema.fields) {
        if (field.type.typeId !== Type.Utf8) continue;
        const values = table.getChild(field.name)!.toArray() as (string | null)[];
        const json = values.filter((v) => v !== null && /^[[{]/.test(v) && isJson(v));
        assert.deepEqual(json, [], `${name}: column ${field.name} holds JSON text`);
      }
    }
    const typeOf = (file: string) =>
      Object.fromEntries(
        fieldsOf(tableFromIPC(readFileSync(join(out, file))).schema.fields).map((f) => [f.path, String(f.type)]),
      );
    const provenance = 'Struct<{kind:Utf8, component:Utf8, plugin:Utf8, plugin_version:Utf8, settings:Utf8}>';
    const results = typeOf('results.arrow');
    assert.deepEqual(
      Object.keys(results).filter((k) => !k.includes('.')),
      RESULT_COLUMNS.map((c) => c.name),
    );
    assert.equal(results['describer'], provenance);
    assert.equal(results['scorer'], provenance);
    assert.equal(results['simulator'], provenance.replace('settings:Utf8}', 'settings:Utf8, mode:Utf8}'));
    assert.equal(results['ci'], 'List<Float64>');
    assert.equal(results['layer'], 'Int32');
    assert.equal(results['index'], 'Int32');
    const entry =
      'Struct<{status:Utf8, reason:Utf8, score:Float64, ci:List<Float64>, null_score:Float64, judgments:Int32, failures:Int32}>';
    assert.equal(results['scores'], `Struct<{correlation:${entry}}>`);
    const judgedResults = typeOf(join('..', 'judged', 'results.arrow'));
    assert.equal(
      judgedResults['scores'],
      `Struct<{correlation:${entry}, detection:${entry}, fuzzing:${entry}}>`,
      'one typed struct per scorer',
    );
    const candidates = typeOf('descriptions/candidates.arrow');
    assert.deepEqual(
      Object.keys(candidates).filter((k) => !k.includes('.')),
      CANDIDATE_COLUMNS.map((c) => c.name),
    );
    assert.equal(candidates['candidates'], 'List<Struct<{description:Utf8, seed:Int64}>>');
    assert.equal(candidates['failures'], 'List<Struct<{seed:Int64, reason:Utf8, detail:Utf8}>>');
    assert.equal(candidates['exemplar_ranks'], 'List<Int32>');
    assert.equal(candidates['described_by'], provenance);
    assert.match(candidates['usage']!, /^Struct<\{calls:Int64, prompt_tokens:Int64, /);
  });

  it('results join the exemplar files on space, layer and index', () => {
    const results = tableFromIPC(readFileSync(join(out, 'results.arrow')));
    const exemplars = tableFromIPC(readFileSync(join(out, 'exemplars', 'mlp', 'layer-01', 'test.arrow')));
    const held = new Set(exemplars.getChild('feature')!.toArray() as Int32Array);
    for (let i = 0; i < results.numRows; i++) {
      const row = results.get(i)!.toJSON() as { space: string; layer: number; index: number; feature: string };
      assert.equal(row.feature, `${row.space}/${row.layer}/${row.index}`);
      assert.equal(row.layer, 1);
    }
    const indices = new Set(results.getChild('index')!.toArray() as Int32Array);
    assert.ok(
      [...held].every((f) => indices.has(f)),
      'every exemplar feature has result rows',
    );
  });

  const { polars, why } = loadPolars();
  const mustLoad = process.platform === 'linux' && process.arch === 'x64';
  it('polars (an independent reader) sees typed columns holding exactly the JSON Lines values', {
    skip: !polars && !mustLoad ? `nodejs-polars does not load here (${why})` : false,
  }, () => {
    assert.ok(polars, `nodejs-polars must load on linux x64 (its binary is in package-lock): ${why}`);
    const frame = (file: string) => polars.readIPC(readFileSync(join(out, file)));
    for (const [file, lines] of [
      ['results.arrow', 'results.jsonl'],
      ['descriptions/candidates.arrow', 'descriptions/candidates.jsonl'],
      ['../judged/results.arrow', '../judged/results.jsonl'],
    ] as const) {
      const df = frame(file);
      const expected = readFileSync(join(out, lines), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(df.height, expected.length);
      const variants = Object.fromEntries(
        Object.entries(df.schema).map(([k, t]) => [k, String((t as { variant: unknown }).variant)]),
      );
      if (file.endsWith('results.arrow'))
        assert.deepEqual(
          [
            variants['describer'],
            variants['simulator'],
            variants['scorer'],
            variants['ci'],
            variants['layer'],
            variants['scores'],
          ],
          ['Struct', 'Struct', 'Struct', 'List', 'Int32', 'Struct'],
        );
      else
        assert.deepEqual(
          [variants['candidates'], variants['failures'], variants['exemplar_ranks'], variants['described_by']],
          ['List', 'List', 'List', 'Struct'],
        );
      // The one JSON-text field, `settings`, holds what the JSON line holds as an object.
      const records = df.toRecords().map((r) => withSettingsParsed(r));
      assert.deepEqual(records, expected, `${file} equals ${lines}, value for value`);
    }
    for (const file of ['exemplars/mlp/layer-01/train.arrow', 'exemplars/mlp/layer-01/train.distribution.feather']) {
      const df = frame(file);
      assert.ok(df.height > 0, file);
      assert.equal(String(df.schema['feature']!.variant), 'Int32');
    }
    assert.equal(String(frame('exemplars/mlp/layer-01/train.arrow').schema['tokens']!.variant), 'List');
  });
});

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A record with every `settings` field (JSON text in Arrow) parsed, as the JSON Lines hold it. */
function withSettingsParsed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withSettingsParsed);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === 'settings' && typeof v === 'string' ? JSON.parse(v) : withSettingsParsed(v),
    ]),
  );
}
