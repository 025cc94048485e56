/**
 * Stage 3's host throughput with the baseline simulator, against the implementation it replaced, in the same run.
 * Usage (after `npm run build`): `npm run bench score-throughput -- [--layers 8] [--features 2048]
 * [--legacy-features 512] [--work DIR]`.
 *
 * It writes a synthetic run with the storage code (no model, no stage 1): per layer and feature, the valid and
 * test splits' top 10 exemplars of each sign and 3 random sequences of 32 tokens (the embedded default's shape),
 * with activations that fire on a few trigger tokens of the feature, and 5 candidate descriptions per feature-sign
 * naming trigger or other tokens (so texts repeat, as sampled ones do). Then:
 *
 * 1. in-process, on the first `--legacy-features` features (both signs): the previous stage (`legacy-score-stage`),
 *    the current one with the exhaustive strategy (its results must equal the previous stage's up to rounding:
 *    the two measured the same computation), and the current one with the default strategy;
 * 2. `expgen score` as users run it on every feature, with `score.concurrency=1` and with the default (the
 *    machine's cores): feature-signs per second of the stage's host seconds (`cost.json`) and of the whole
 *    command; the two outputs must be byte-identical.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ComponentContext,
  type DescribedFeature,
  ExemplarLibrary,
  type ExpgenConfig,
  type ExemplarRowInput,
  MANIFEST_FORMAT,
  memoryLogger,
  runScoreStage,
  Sfc32,
  type SimulationScorer,
  type Simulator,
  type SubjectModel,
  exemplarFilePath,
  configSchema,
  writeExemplarFile,
  writeExemplarManifest,
} from '@expgen/core';
import baseline from '@expgen/plugin-baseline';
import { LlamaTokenizer } from '@expgen/plugin-llama';
import { legacyCorrelationScorer, runLegacyScoreStage } from './legacy-score-stage.js';

interface Options {
  layers: number;
  features: number;
  legacyFeatures: number;
  work: string;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    layers: 8,
    features: 2048,
    legacyFeatures: 512,
    work: join(tmpdir(), 'expgen-bench-score'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    if (flag === '--layers') options.layers = Number(value);
    else if (flag === '--features') options.features = Number(value);
    else if (flag === '--legacy-features') options.legacyFeatures = Number(value);
    else if (flag === '--work') options.work = value!;
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const SEQ_LEN = 32;
const TOP = 10;
const RANDOM = 3;
const CANDIDATES = 5;

/** Word-like token ids of the Llama-3.1 vocabulary, so candidate texts name real tokens. */
function vocabulary(tokenizer: LlamaTokenizer): number[] {
  const ids: number[] = [];
  for (let id = 1000; id < 60_000 && ids.length < 4000; id += 7) {
    const text = tokenizer.decode([id]);
    if (/^ ?[a-z]{3,}$/.test(text)) ids.push(id);
  }
  return ids;
}

function tokenName(tokenizer: LlamaTokenizer, id: number): string {
  const text = tokenizer.decode([id]);
  return text.trim() || text;
}

/** Writes the synthetic stage 1 output and stage 2 journal; returns the described items. */
function writeSyntheticRun(dir: string, options: Options, tokenizer: LlamaTokenizer): DescribedFeature[] {
  const vocab = vocabulary(tokenizer);
  const triggersOf = (layer: number, feature: number) => {
    const rng = new Sfc32(layer * 100_003 + feature);
    return Array.from({ length: 4 }, () => vocab[rng.nextInt(vocab.length)]!);
  };
  for (const split of ['valid', 'test']) {
    for (let layer = 0; layer < options.layers; layer++) {
      const rows = function* (): Generator<ExemplarRowInput> {
        for (let feature = 0; feature < options.features; feature++) {
          const rng = new Sfc32((split === 'valid' ? 1 : 2) * 1_000_003 + layer * 100_003 + feature);
          const triggers = triggersOf(layer, feature);
          const sequence = (sign: 'positive' | 'negative' | 'random', rank: number): ExemplarRowInput => {
            const tokens = Int32Array.from({ length: SEQ_LEN }, (_, t) =>
              t === 0 ? 128000 : vocab[rng.nextInt(vocab.length)]!,
            );
            const activations = new Float32Array(SEQ_LEN);
            for (let t = 1; t < SEQ_LEN; t++) {
              const fires = sign !== 'random' && rng.nextFloat() < 0.15;
              if (fires) tokens[t] = triggers[(sign === 'positive' ? 0 : 2) + rng.nextInt(2)]!;
              const magnitude = fires ? 2 + 3 * rng.nextFloat() : 0.2 * rng.nextFloat();
              activations[t] =
                sign === 'negative' ? -magnitude : sign === 'random' && rng.nextInt(2) ? -magnitude : magnitude;
            }
            return {
              feature,
              sign,
              rank,
              activation: 0,
              sequence: rng.nextInt(1_000_000),
              dataset: 'synthetic',
              document: null,
              window: null,
              countFrom: 1,
              tokens,
              activations,
            };
          };
          for (let r = 0; r < TOP; r++) yield sequence('positive', r);
          for (let r = 0; r < TOP; r++) yield sequence('negative', r);
          for (let r = 0; r < RANDOM; r++) yield sequence('random', r);
        }
      };
      writeExemplarFile(
        exemplarFilePath(dir, { space: 'mlp', layer, split }),
        { configHash: 'bench', features: options.features },
        rows(),
      );
    }
  }
  writeExemplarManifest(dir, {
    format: MANIFEST_FORMAT,
    configHash: 'bench',
    shard: { index: 0, count: 1 },
    complete: true,
    parameters: {
      seqLen: SEQ_LEN,
      k: TOP,
      randomCount: RANDOM,
      randomSeed: '0',
      extremesKept: 1000,
      histogram: null,
      histogramSample: 1,
      countedFrom: 1,
    },
    datasets: ['synthetic'],
    splits: { valid: { sequencesSeen: null, tokensSeen: null }, test: { sequencesSeen: null, tokensSeen: null } },
    layers: Array.from({ length: options.layers }, (_, layer) => ({
      space: 'mlp',
      layer,
      features: options.features,
    })),
  });
  const describedBy = {
    kind: 'describer' as const,
    component: 'synthetic',
    plugin: 'bench',
    plugin_version: '0',
    settings: null,
  };
  const described: DescribedFeature[] = [];
  for (let layer = 0; layer < options.layers; layer++)
    for (let feature = 0; feature < options.features; feature++) {
      const triggers = triggersOf(layer, feature);
      for (const sign of ['positive', 'negative'] as const) {
        const rng = new Sfc32(layer * 7919 + feature * 31 + (sign === 'positive' ? 0 : 1));
        const own = sign === 'positive' ? triggers.slice(0, 2) : triggers.slice(2);
        const candidates = Array.from({ length: CANDIDATES }, (_, seed) => {
          const named = [own[rng.nextInt(2)]!, ...(rng.nextInt(2) ? [vocab[rng.nextInt(vocab.length)]!] : [])];
          const texts = named.map((id) => JSON.stringify(tokenName(tokenizer, id)));
          return { description: `the token${texts.length > 1 ? 's' : ''} ${texts.join(' and ')}`, seed };
        });
        const feature_ = `mlp/${layer}/${feature}`;
        described.push({
          feature: feature_,
          sign,
          status: 'described',
          reason: null,
          candidates,
          failures: [],
          exemplar_ranks: [],
          threshold: null,
          threshold_rule: null,
          described_by: describedBy,
          usage: null,
        });
      }
    }
  mkdirSync(join(dir, 'descriptions'), { recursive: true });
  writeFileSync(
    join(dir, 'descriptions', 'journal.jsonl'),
    described.map((d) => `${JSON.stringify({ key: `${d.feature}:${d.sign}`, ...d })}\n`).join(''),
  );
  return described;
}

/** sha256 over every file of a run's outputs (results and per-feature detail), in path order. */
function outputHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (path: string) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else {
        hash.update(full.slice(dir.length));
        hash.update(readFileSync(full));
      }
    }
  };
  for (const f of ['results.jsonl', 'results.arrow']) hash.update(readFileSync(join(dir, f)));
  walk(join(dir, 'features'));
  return hash.digest('hex').slice(0, 16);
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { work } = options;
  rmSync(work, { recursive: true, force: true });
  const runDir = join(work, 'run');
  const tokenizer = await LlamaTokenizer.llama31();
  const written = await timed(async () => writeSyntheticRun(runDir, options, tokenizer));
  const described = written.value;
  console.log(
    `score-throughput: ${options.layers} layers x ${options.features} features = ${described.length} feature-signs; synthetic run written in ${written.seconds.toFixed(1)} s; ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`,
  );

  // 1. In-process, the previous stage against the current one on the same feature-signs.
  const subject = { tokenizer } as unknown as SubjectModel;
  const context = (kind: 'simulator' | 'scorer', component: string): ComponentContext => ({
    provenance: { kind, component, plugin: '@expgen/plugin-baseline', pluginVersion: '0.1.0' },
    baseDir: repoRoot,
    cacheDir: join(work, 'cache'),
    logger: memoryLogger(),
    subject,
  });
  const declaration = (kind: string, name: string) =>
    baseline.components.find((c) => c.kind === kind && c.name === name)!;
  const simulator = (await declaration('simulator', 'baseline').create(
    {},
    context('simulator', 'baseline'),
  )) as Simulator;
  const scorer = (await declaration('scorer', 'correlation').create(
    {},
    context('scorer', 'correlation'),
  )) as SimulationScorer;
  const config = configSchema.parse({
    subject: { component: 'llama' },
    activation: { component: 'mlp' },
    datasets: [{ component: 'jsonl' }],
    describer: { component: 'baseline' },
    simulator: { component: 'baseline' },
    scorer: { component: 'correlation' },
    score: { selection: { top: TOP, random: RANDOM }, report: { top: TOP, random: RANDOM } },
  }) as ExpgenConfig;
  const subset = described.slice(0, 2 * Math.min(options.legacyFeatures, options.features));
  const inProcess = async (name: string, run: (library: ExemplarLibrary, outDir: string) => Promise<unknown>) => {
    const library = ExemplarLibrary.open(runDir);
    const outDir = join(work, name);
    const { seconds } = await timed(() => run(library, outDir));
    await library.close();
    return { outDir, seconds, rate: subset.length / seconds };
  };
  const legacy = await inProcess('legacy', (library, outDir) =>
    runLegacyScoreStage({
      library,
      described: subset,
      simulator,
      scorer: legacyCorrelationScorer(scorer.provenance),
      settings: { ...config.score, selection: { ...config.score.selection, strategy: 'exhaustive' } },
      outDir,
    }),
  );
  const currentStage = (settings: ExpgenConfig['score']) => (library: ExemplarLibrary, outDir: string) =>
    runScoreStage({
      library,
      described: subset,
      simulator,
      scorer,
      settings,
      outDir,
      logger: memoryLogger(),
      progress: false,
    });
  const exhaustive = await inProcess(
    'exhaustive',
    currentStage({ ...config.score, selection: { ...config.score.selection, strategy: 'exhaustive' } }),
  );
  const current = await inProcess('current', currentStage(config.score));
  const agreement = compareResults(join(legacy.outDir, 'results.jsonl'), join(exhaustive.outDir, 'results.jsonl'));
  console.log(`\nin-process, first ${subset.length} feature-signs (${options.legacyFeatures} features x 2 signs):`);
  console.log(
    `  previous implementation            ${legacy.rate.toFixed(1).padStart(8)} feature-signs/s (${legacy.seconds.toFixed(1)} s)  baseline`,
  );
  console.log(
    `  current, exhaustive strategy        ${exhaustive.rate.toFixed(1).padStart(8)} feature-signs/s  x${(exhaustive.rate / legacy.rate).toFixed(1)}  ${agreement}`,
  );
  console.log(
    `  current, default (halving)          ${current.rate.toFixed(1).padStart(8)} feature-signs/s  x${(current.rate / legacy.rate).toFixed(1)}`,
  );

  // 2. The command as users run it, on every feature, one thread and every core.
  const configFile = join(work, 'bench.yaml');
  writeFileSync(
    configFile,
    [
      'subject:',
      '  component: llama',
      '  options: { model: null, tiny: { seed: 0, layers: ' +
        options.layers +
        ', hiddenSize: 64, intermediateSize: ' +
        options.features +
        ', numHeads: 4, numKvHeads: 2 } }',
      `score: { selection: { top: ${TOP}, random: ${RANDOM} }, report: { top: ${TOP}, random: ${RANDOM} } }`,
      '',
    ].join('\n'),
  );
  const cli = (name: string, sets: string[], features?: string) => {
    const outDir = join(work, name);
    mkdirSync(join(outDir, 'descriptions'), { recursive: true });
    cpSync(join(runDir, 'descriptions', 'journal.jsonl'), join(outDir, 'descriptions', 'journal.jsonl'));
    const started = performance.now();
    const args = [
      'score',
      '--config',
      configFile,
      '--exemplars',
      runDir,
      '--out',
      outDir,
      '--json',
      ...sets.flatMap((s) => ['--set', s]),
    ];
    const result = spawnSync(
      process.execPath,
      [join(repoRoot, 'core/bin/run.js'), ...args, ...(features ? ['--features', features] : [])],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      },
    );
    const seconds = (performance.now() - started) / 1000;
    if (result.status !== 0) throw new Error(`expgen score failed: ${result.stderr}`);
    const cost = JSON.parse(result.stdout).cost.score as { feature_signs: number; host_seconds: number };
    return { outDir, seconds, cost };
  };
  cli('warm-up', [], 'mlp/0/0'); // builds the tiny subject of this shape into the cache once
  const oneThread = cli('cli-one-thread', ['score.concurrency=1']);
  const allCores = cli('cli-all-cores', []);
  const same = outputHash(oneThread.outDir) === outputHash(allCores.outDir);
  console.log(
    `\nexpgen score, all ${described.length} feature-signs (stage rate from cost.json's host seconds; whole command in brackets):`,
  );
  for (const [name, r] of [
    ['score.concurrency=1', oneThread],
    [`default (${availableParallelism()} threads)`, allCores],
  ] as const)
    console.log(
      `  ${name.padEnd(34)} ${(r.cost.feature_signs / r.cost.host_seconds).toFixed(0).padStart(8)} feature-signs/s  x${(r.cost.feature_signs / r.cost.host_seconds / legacy.rate).toFixed(1)} vs the previous implementation  (${(r.cost.feature_signs / r.seconds).toFixed(0)}/s, ${r.seconds.toFixed(1)} s)`,
    );
  console.log(`  results and per-feature files byte-identical across thread counts: ${same ? 'yes' : 'NO'}`);
  if (!same || !agreement.startsWith('results equal')) process.exitCode = 1;
}

/** Whether two results files agree: same rows, statuses and descriptions, numbers within 1e-9. */
function compareResults(a: string, b: string): string {
  const read = (path: string) =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ra = read(a);
  const rb = read(b);
  if (ra.length !== rb.length) return `DIFFERENT row counts ${ra.length} vs ${rb.length}`;
  let worst = 0;
  for (const [i, x] of ra.entries()) {
    const y = rb[i]!;
    for (const k of Object.keys(x)) {
      const vx = x[k];
      const vy = y[k];
      if (typeof vx === 'number' && typeof vy === 'number') worst = Math.max(worst, Math.abs(vx - vy));
      else if (Array.isArray(vx) && Array.isArray(vy))
        vx.forEach((v, j) => {
          worst = Math.max(worst, Math.abs((v as number) - (vy[j] as number)));
        });
      else if (JSON.stringify(vx) !== JSON.stringify(vy)) return `DIFFERENT ${x['feature']} ${x['sign']} ${k}`;
    }
  }
  return worst < 1e-9 ? `results equal (largest difference ${worst.toExponential(1)})` : `DIFFERENT numbers (${worst})`;
}

await main();
