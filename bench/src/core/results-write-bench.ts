/**
 * Writing `results.arrow` and `descriptions/candidates.arrow` at scale: this version's writer (typed structs and
 * lists, built column by column into Arrow buffers, record batches of 65,536 rows) against the previous one, run in
 * the same process on the same rows (format 1: nested values as JSON text, every column through apache-arrow's
 * `vectorFromArray`, copied below as it was). Usage:
 *
 *   npm run bench results-write [-- --rows 131072] [--candidates 50] [--rounds 3]
 *
 * Llama-3.1-8B's full run is 917,504 feature-signs of 50 candidates each; rows scale linearly. Rounds alternate the
 * writers and medians are printed: the machine is shared.
 */
import { cpus, loadavg } from 'node:os';
import {
  Bool,
  Field,
  Float64,
  Int32,
  List,
  Table,
  Utf8,
  tableToIPC,
  vectorFromArray,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { CANDIDATE_COLUMNS, RESULT_COLUMNS, recordsToArrow } from '@expgen/core';

const options = { rows: 131_072, candidates: 50, rounds: 3 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const name = argv[i]!.replace(/^--/, '') as keyof typeof options;
  if (!(name in options)) throw new Error(`unknown option ${argv[i]}; options: ${Object.keys(options).join(', ')}`);
  options[name] = Number(argv[i + 1]);
}

// ---- the previous writer, as it was (format 1) ------------------------------------------------------------------
type LegacyType = 'utf8' | 'int32' | 'float64' | 'bool' | 'float64-list' | 'utf8-list' | 'json';
const LEGACY_TYPES: Record<LegacyType, () => DataType> = {
  utf8: () => new Utf8(),
  json: () => new Utf8(),
  int32: () => new Int32(),
  float64: () => new Float64(),
  bool: () => new Bool(),
  'float64-list': () => new List(new Field('item', new Float64(), true)),
  'utf8-list': () => new List(new Field('item', new Utf8(), true)),
};
function legacyRecordsToArrow(
  columns: readonly { name: string; type: LegacyType }[],
  rows: readonly Record<string, unknown>[],
): Uint8Array {
  const vectors: Record<string, Vector> = {};
  for (const column of columns) {
    const type = LEGACY_TYPES[column.type]();
    const values = rows.map((row) => {
      const value = row[column.name];
      if (value === undefined || value === null) return null;
      if (column.type === 'json') return JSON.stringify(value);
      if (column.type === 'float64' && typeof value === 'number' && !Number.isFinite(value)) return null;
      return value;
    });
    vectors[column.name] = vectorFromArray(values, type);
  }
  return tableToIPC(new Table(vectors), 'file');
}
const LEGACY_RESULT_COLUMNS: { name: string; type: LegacyType }[] = [
  ...['feature', 'sign', 'status', 'reason', 'description'].map((name) => ({ name, type: 'utf8' as const })),
  { name: 'score', type: 'float64' },
  { name: 'ci', type: 'float64-list' },
  { name: 'selectionScore', type: 'float64' },
  { name: 'candidates', type: 'int32' },
  ...['pearson', 'rSquared', 'absoluteDeviationExplained', 'pooledScore', 'nullScore'].map((name) => ({
    name,
    type: 'float64' as const,
  })),
  ...['describer', 'simulator', 'scorer'].map((name) => ({ name, type: 'json' as const })),
];
const LEGACY_CANDIDATE_COLUMNS: { name: string; type: LegacyType }[] = [
  ...['feature', 'sign', 'status', 'reason'].map((name) => ({ name, type: 'utf8' as const })),
  { name: 'descriptions', type: 'utf8-list' },
  { name: 'seeds', type: 'json' },
  { name: 'failures', type: 'json' },
  { name: 'exemplarRanks', type: 'json' },
  { name: 'threshold', type: 'float64' },
  { name: 'thresholdRule', type: 'utf8' },
  { name: 'describedBy', type: 'json' },
  { name: 'usage', type: 'json' },
];

// ---- rows as a run over Llama-3.1-8B's width writes them ---------------------------------------------------------
const provenance = (kind: string) => ({
  kind,
  component: 'openai-compatible',
  plugin: '@expgen/plugin-openai',
  plugin_version: '0.1.0',
  pluginVersion: '0.1.0',
  settings: { model: 'distilled-llama', temperature: 1, maxTokens: 100 },
});
const results = Array.from({ length: options.rows }, (_, i) => {
  const scored = i % 10 !== 0;
  const f = i >> 1;
  return {
    feature: `mlp/${f % 32}/${f}`,
    space: 'mlp',
    layer: f % 32,
    index: f,
    sign: i % 2 ? 'negative' : 'positive',
    status: scored ? 'scored' : 'no_test_score',
    reason: scored ? null : 'the simulation of the chosen description is the same for every test token',
    description: `tokens of numbers in a list, such as "${i % 97}" in tables`,
    score: scored ? ((i * 7919) % 1000) / 1000 : null,
    ci: scored ? [0.1, 0.9] : null,
    selection_score: 0.5,
    selectionScore: 0.5,
    candidates: options.candidates,
    pearson: 0.5,
    r_squared: 0.25,
    rSquared: 0.25,
    absolute_deviation_explained: 0.1,
    absoluteDeviationExplained: 0.1,
    pooled_score: 0.4,
    pooledScore: 0.4,
    null_score: 0.01,
    nullScore: 0.01,
    describer: provenance('describer'),
    simulator: { ...provenance('simulator'), mode: 'logprobs' },
    scorer: provenance('scorer'),
  };
});
const described = results.map((r, i) => {
  const candidates = Array.from({ length: options.candidates }, (_, seed) => ({
    description: `numbers in lists and tables, like "${(i + seed) % 97}" after a comma (${seed})`,
    seed,
  }));
  const ranks = Array.from({ length: 15 }, (_, k) => (k * 7) % 20);
  const usage = { calls: 1, prompt_tokens: 1672, completion_tokens: 5000, cached_prompt_tokens: 0, cached_calls: 0 };
  return {
    ...r,
    status: 'described',
    reason: null,
    candidates,
    descriptions: candidates.map((c) => c.description),
    seeds: candidates.map((c) => c.seed),
    failures: i % 50 === 0 ? [{ seed: 3, reason: 'malformed', detail: 'no [DESCRIPTION]: marker' }] : [],
    exemplar_ranks: ranks,
    exemplarRanks: ranks,
    threshold: 1.5,
    threshold_rule: 'least-extreme-quantile',
    thresholdRule: 'least-extreme-quantile',
    described_by: provenance('describer'),
    describedBy: provenance('describer'),
    usage,
  };
});

// ---- timing -----------------------------------------------------------------------------------------------------
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
function time(write: () => Uint8Array): { ms: number; bytes: number } {
  const start = performance.now();
  const bytes = write().length;
  return { ms: performance.now() - start, bytes };
}
const cases = [
  {
    file: 'results.arrow',
    rows: results.length,
    baseline: () => legacyRecordsToArrow(LEGACY_RESULT_COLUMNS, results),
    current: () => recordsToArrow(RESULT_COLUMNS, results, { 'expgen.format': 'expgen-results/2' }),
  },
  {
    file: 'candidates.arrow',
    rows: described.length,
    baseline: () => legacyRecordsToArrow(LEGACY_CANDIDATE_COLUMNS, described),
    current: () => recordsToArrow(CANDIDATE_COLUMNS, described, { 'expgen.format': 'expgen-candidates/2' }),
  },
];
console.log(
  `results-write: ${options.rows.toLocaleString('en-US')} feature-signs, ${options.candidates} candidates each, ${options.rounds} rounds; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`,
);
for (const c of cases) {
  const base: number[] = [];
  const now: number[] = [];
  let sizes = { base: 0, now: 0 };
  for (let round = 0; round < options.rounds; round++) {
    const b = time(c.baseline);
    const n = time(c.current);
    base.push(b.ms);
    now.push(n.ms);
    sizes = { base: b.bytes, now: n.bytes };
  }
  const [mb, mn] = [median(base), median(now)];
  console.log(
    `  ${c.file.padEnd(17)} format 1 (JSON text, vectorFromArray) ${mb.toFixed(0).padStart(6)} ms ${(sizes.base / 1e6).toFixed(1).padStart(7)} MB | format 2 (structs, column buffers) ${mn.toFixed(0).padStart(6)} ms ${(sizes.now / 1e6).toFixed(1).padStart(7)} MB | ${(c.rows / (mn / 1000)).toFixed(0)} rows/s, ${(mb / mn).toFixed(2)}x the previous writer's speed`,
  );
}
