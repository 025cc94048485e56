/**
 * Simulate less, choose the same: the selection strategies of stage 3 on synthetic candidates of known quality.
 * Usage (after `tsc -b core`):
 *
 *   node core/dist/score/bench/selection-strategies.js [--features 2000] [--k 50] [--duplicates 0.3] [--spread 0.35]
 *        [--seed 1] [--grid]
 *
 * Each feature-sign has true activations on 25 valid and 25 test sequences (20 top exemplars that fire on some
 * tokens, 5 random ones that rarely do) of 65 counted tokens after a 30-token prefix, as in the reference setup.
 * Its K candidates are drawn from a pool of description "types" with Zipf-distributed frequencies (so some texts
 * repeat, as sampled explainer answers do; `--duplicates` sets the expected share of repeated texts); each type
 * predicts the true activations on the simulator's 0..10 scale plus Gaussian noise of its own level, fixed per
 * (type, token), as a deterministic simulator would. A feature's types share a base noise level and scatter around
 * it by a log-normal factor (`--spread`, its standard deviation in log units), with 15% off-target texts. The strategies run through the stage's own code
 * (`selectCandidate`, the distinct-text step, the correlation of pooled moments) and are measured against:
 *
 * - the naive count: every candidate, duplicates included, on every valid sequence, plus the chosen description
 *   on the test sequences and the null baseline's simulation there (`cost.score.simulator_tokens_naive`);
 * - regret: the test score of the exhaustive strategy's choice minus the test score of the strategy's choice.
 *
 * `--grid` also tries other halving parameters, to show where the default sits.
 */
import type { SimulationScorer, Sign } from '@expgen/contract';
import { pearsonFromMoments, pooledStatistics, scoredSequence, Sfc32 } from '@expgen/plugin-kit';
import {
  selectCandidate,
  setScorerOf,
  type ExemplarRow,
  type ScoringSequences,
  type SelectionSettings,
} from '@expgen/core';

interface Options {
  features: number;
  k: number;
  duplicates: number;
  spread: number;
  seed: number;
  grid: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = { features: 2000, k: 50, duplicates: 0.3, spread: 0.35, seed: 1, grid: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--grid') options.grid = true;
    else if (flag === '--features') options.features = Number(argv[++i]);
    else if (flag === '--k') options.k = Number(argv[++i]);
    else if (flag === '--duplicates') options.duplicates = Number(argv[++i]);
    else if (flag === '--spread') options.spread = Number(argv[++i]);
    else if (flag === '--seed') options.seed = Number(argv[++i]);
    else throw new Error(`unknown option ${flag}`);
  }
  return options;
}

const PREFIX = 30;
const COUNTED = 65;

class Gaussian {
  constructor(private readonly rng: Sfc32) {}
  next(): number {
    const u = 1 - this.rng.nextFloat();
    const v = this.rng.nextFloat();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/** Sequences of one split: 20 top exemplars (sparse firing) and 5 random ones (rare firing). */
function sequencesOf(rng: Sfc32, sign: Sign): ScoringSequences {
  const rows: ExemplarRow[] = [];
  const strata: ('top' | 'random')[] = [];
  for (let s = 0; s < 25; s++) {
    const top = s < 20;
    const activations = new Float32Array(PREFIX + COUNTED);
    for (let t = PREFIX; t < activations.length; t++) {
      const fires = rng.nextFloat() < (top ? 0.12 : 0.01);
      const magnitude = fires ? 0.5 + 3.5 * rng.nextFloat() : 0.05 * rng.nextFloat();
      activations[t] = sign === 'positive' ? magnitude : -magnitude;
    }
    rows.push({
      feature: 0,
      sign: top ? sign : 'random',
      rank: top ? s : s - 20,
      activation: 0,
      sequence: s,
      dataset: 'synthetic',
      document: null,
      window: null,
      countFrom: PREFIX,
      tokens: new Int32Array(activations.length),
      activations,
    });
    strata.push(top ? 'top' : 'random');
  }
  return { rows, strata, tokens: rows.length * (PREFIX + COUNTED) };
}

/**
 * A type's predictions on a split, fixed per (type, token): the true activation on 0..10 plus its own noise; an
 * off-target type (a description of something else) predicts noise alone.
 */
function predictionsOf(
  sequences: ScoringSequences,
  type: { readonly noise: number; readonly offTarget: boolean },
  seed: number,
): Float32Array[] {
  const gauss = new Gaussian(new Sfc32(seed));
  const signal = type.offTarget ? 0 : 2.5;
  return sequences.rows.map((row) =>
    Float32Array.from(row.activations, (a) =>
      Math.min(10, Math.max(0, signal * Math.abs(a) + type.noise * gauss.next())),
    ),
  );
}

/** Zipf exponent whose K draws from `pool` types repeat about `share` of the texts. */
function zipfFor(k: number, share: number, pool: number): number[] {
  const expectedDistinct = (weights: number[]) => weights.reduce((n, w) => n + 1 - (1 - w) ** k, 0);
  let best: number[] = [];
  let bestGap = Number.POSITIVE_INFINITY;
  for (let s = 0; s <= 3; s += 0.01) {
    const raw = Array.from({ length: pool }, (_, i) => (i + 1) ** -s);
    const total = raw.reduce((a, b) => a + b, 0);
    const weights = raw.map((w) => w / total);
    const gap = Math.abs(expectedDistinct(weights) - k * (1 - share));
    if (gap < bestGap) {
      bestGap = gap;
      best = weights;
    }
  }
  return best;
}

const correlation: SimulationScorer = {
  provenance: { kind: 'scorer', component: 'correlation', plugin: 'bench', pluginVersion: '0' },
  score: (request) => ({
    value: pooledStatistics(request.actual.map((actual, s) => ({ predicted: request.predicted[s]!, actual }))).pearson,
    stats: {},
    scoredBy: { kind: 'scorer', component: 'correlation', plugin: 'bench', pluginVersion: '0' },
  }),
  valueFromMoments: pearsonFromMoments,
};

interface Outcome {
  tokens: number;
  regret: number[];
  same: number;
  failed: number;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const scorer = setScorerOf(correlation);
  const pool = 25 * options.k; // large enough that --duplicates 0 gives (almost) no repeats
  const weights = zipfFor(options.k, options.duplicates, pool);
  const strategies: { name: string; settings: SelectionSettings }[] = [
    { name: 'exhaustive', settings: selection('exhaustive', 0.2, 0.34, 2) },
    { name: 'halving (default: first 0.2, keep 0.34, growth 2)', settings: selection('halving', 0.2, 0.34, 2) },
  ];
  if (options.grid)
    for (const firstSlice of [0.12, 0.2, 0.3])
      for (const keep of [0.25, 0.34, 0.5])
        for (const growth of [2, 3])
          strategies.push({
            name: `halving first ${firstSlice}, keep ${keep}, growth ${growth}`,
            settings: selection('halving', firstSlice, keep, growth),
          });
  const outcomes = strategies.map((): Outcome => ({ tokens: 0, regret: [], same: 0, failed: 0 }));
  let naive = 0;
  let distinctTexts = 0;
  const started = performance.now();
  for (let f = 0; f < options.features; f++) {
    const rng = new Sfc32(options.seed * 1_000_003 + f);
    const sign: Sign = f % 2 === 0 ? 'positive' : 'negative';
    const valid = sequencesOf(rng, sign);
    const test = sequencesOf(rng, sign);
    // A feature's candidates share a level of quality (its base noise: the feature's test correlations range from
    // about 0.1 to 0.9 over features) and scatter around it, with some off-target texts: close competitors, as a
    // real explainer's samples are, so a choice on fewer sequences can go wrong.
    const gauss = new Gaussian(rng);
    const base = 0.7 * 15 ** rng.nextFloat();
    const typeOf = Array.from({ length: pool }, () => ({
      noise: base * Math.exp(options.spread * gauss.next()),
      offTarget: rng.nextFloat() < 0.15,
    }));
    const drawn = Array.from({ length: options.k }, () => {
      let u = rng.nextFloat();
      for (let j = 0; j < pool; j++) if ((u -= weights[j]!) < 0) return j;
      return pool - 1;
    });
    const types = [...new Set(drawn)];
    distinctTexts += types.length;
    naive += options.k * valid.tokens + 2 * test.tokens;
    const typeSeed = (j: number) => options.seed * 7919 + f * 1021 + j;
    const validPredictions = new Map(types.map((j) => [j, predictionsOf(valid, typeOf[j]!, typeSeed(j))]));
    const testScore = (type: number) => {
      const predictions = predictionsOf(test, typeOf[type]!, typeSeed(pool + type));
      return scorer.value(
        test.rows.map((row, s) =>
          scoredSequence(sign, { activations: row.activations, countFrom: row.countFrom }, predictions[s]!),
        ),
      );
    };
    let exhaustiveTest: number | null = null;
    let exhaustiveType: number | null = null;
    for (const [i, strategy] of strategies.entries()) {
      const counter = { tokens: 0 };
      const outcome = await selectCandidate(
        {
          sign,
          sequences: valid,
          descriptions: types.map(String),
          scorer,
          simulate: async (descriptions, rows) => {
            counter.tokens += descriptions.length * rows.length * (PREFIX + COUNTED);
            return descriptions.map((d) => {
              const all = validPredictions.get(Number(d))!;
              return rows.map((r) => all[r]!);
            });
          },
        },
        strategy.settings,
      );
      const chosenType = outcome.chosen === null ? null : types[outcome.chosen]!;
      const result = outcomes[i]!;
      result.tokens += counter.tokens + (chosenType === null ? 0 : 2 * test.tokens);
      if (chosenType === null) {
        result.failed++;
        continue;
      }
      const score = testScore(chosenType) ?? 0;
      if (i === 0) {
        exhaustiveTest = score;
        exhaustiveType = chosenType;
      }
      if (exhaustiveTest !== null) result.regret.push(exhaustiveTest - score);
      if (chosenType === exhaustiveType) result.same++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `selection strategies: ${options.features} feature-signs, K = ${options.k} candidates, spread ${options.spread}, ${(100 * (1 - distinctTexts / (options.features * options.k))).toFixed(1)}% repeated texts, 25 valid + 25 test sequences of ${PREFIX + COUNTED} tokens (${seconds.toFixed(1)} s)`,
  );
  console.log('strategy | simulator tokens / naive | mean regret | 95th pct regret | same choice as exhaustive');
  for (const [i, strategy] of strategies.entries()) {
    const o = outcomes[i]!;
    const regret = [...o.regret].sort((a, b) => a - b);
    const mean = regret.reduce((a, b) => a + b, 0) / Math.max(1, regret.length);
    const p95 = regret[Math.floor(0.95 * (regret.length - 1))] ?? 0;
    console.log(
      `${strategy.name} | ${(o.tokens / naive).toFixed(3)} | ${mean.toFixed(4)} | ${p95.toFixed(4)} | ${((100 * o.same) / Math.max(1, o.regret.length)).toFixed(1)}%`,
    );
  }
}

function selection(
  strategy: 'exhaustive' | 'halving',
  firstSlice: number,
  keep: number,
  growth: number,
): SelectionSettings {
  return { top: 20, random: 5, strategy, halving: { firstSlice, keep, growth } };
}

await main();
