import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { loadPromptTemplate, TEMPLATE_PLACEHOLDERS } from '../describe/prompts/index.js';
import type { ShardSpec } from '../exemplars/corpus/index.js';
import { layerStateBytes } from '../exemplars/exemplar-stage.js';
import { halvingPlan } from '../score/selection-strategies.js';
import { estimateJudges } from './estimate-judges.js';
import { runCostOf, zeroCost, type RunCost, type StageCost } from './stage-cost.js';
import { subjectShape, type SubjectShape } from './subject-shape.js';

/**
 * Figures an estimate uses when the config gives none, each with where it comes from. Throughputs are for one GPU
 * and an 8B model; other subjects scale them by parameter count.
 */
export const ESTIMATE_FIGURES = {
  /** Stage 1, all layers: one H200, PyTorch bf16, Llama-3.1-8B shape, batch 512 x 95, top-100 / bottom-100 kept. */
  exemplarTokensPerSecond: 32_700,
  /** An 8B forward pass alone on the same anchor (1.35 s per 512 x 95 batch): prefill and simulation. */
  forwardTokensPerSecond: 36_000,
  /**
   * Batched generation of an 8B model on one GPU, typical of vLLM at large batch on an H100 / H200: an assumption,
   * not measured here; `cost.explainerCompletionTokensPerSecond` replaces it.
   */
  completionTokensPerSecond: 10_000,
  /**
   * Stage 3's host work, feature-signs per second per core, for the reference shape: `npm run bench
   * score-throughput` gives about 500 per core (1,000-1,100 on the development machine's 2 cores) for its small
   * shape, 13 + 13 sequences of 32 tokens and 5 candidates; 25 + 25 sequences of 95 tokens and 50 candidates put
   * about ten times more numbers into each detail file.
   */
  scoreHostPerCore: 150,
  /**
   * Stage 2's host work (prompt selection, threshold, rendering, counting tokens), feature-signs per second per
   * core: the embedded default's stage 2 on the same machine, 85-210 feature-signs/s.
   */
  describeHostPerCore: 50,
  /** Parameters of the model the throughputs were measured on. */
  anchorParameters: 8.03e9,
} as const;

export type StageName = 'exemplars' | 'describe' | 'score';

export interface EstimateInput {
  /** The resolved config (plugin options parsed). */
  readonly config: ExpgenConfig;
  /** The stages the command would run. */
  readonly stages: readonly StageName[];
  /** `--features`, or null for the config's. */
  readonly features: string | null;
  readonly featuresBaseDir: string;
  /** Folder relative paths of the subject's options start at. */
  readonly subjectBaseDir: string;
  /** Folder the prompt template path starts at. */
  readonly describeBaseDir: string;
  readonly featureShard?: ShardSpec;
  /** Cores of this machine, for the host seconds. */
  readonly cores: number;
}

/** `expgen run --dry-run`: what the configured run would cost, with nothing loaded, sent or written. */
export interface RunEstimate {
  /** The same keys as a run's `cost`, as estimates. */
  readonly cost: RunCost;
  /** GPU-hours on one GPU of the `cost.gpu` kind, per stage that runs locally (0 for hosted or absent stages). */
  readonly gpu_hours: { exemplars: number; describe: number; score: number; total: number };
  /** Money for the stages priced as hosted APIs (`cost.describerPrice`, `cost.simulatorPrice`); null for none. */
  readonly money: { describe: number; score: number; total: number; currency: string } | null;
  /** The figures the estimate was computed from. */
  readonly basis: Record<string, number | string>;
  /** Every figure that was assumed rather than read or configured, in words. */
  readonly assumed: string[];
}

export async function estimateRun(input: EstimateInput): Promise<RunEstimate> {
  const { config } = input;
  const assumed: string[] = [];
  const shape: SubjectShape = subjectShape(config.subject, input.subjectBaseDir);
  assumed.push(`subject shape ${shape.source}`);
  const { layers, featuresPerLayer, signs } = activationShape(config, shape, assumed);
  const selected = countFeatures(input.features ?? config.features, layers, featuresPerLayer, input.featuresBaseDir);
  const shard = input.featureShard;
  const features = shard ? Math.floor((selected + shard.count - 1 - shard.index) / shard.count) : selected;
  const featureSigns = features * signs;
  // Stage 1 runs the subject: a subject far from 8B scales the 8B figure by parameters. The explainer and the
  // simulator are 8B models (the reference's fine-tuned Llama-3.1-8B) whatever the subject.
  const subjectScale = shape.parameters > 5e9 ? 1 : ESTIMATE_FIGURES.anchorParameters / shape.parameters;
  const throughput = (figure: number, configured: number | null, what: string, scale = 1) => {
    if (configured !== null) return configured;
    assumed.push(
      `${what}: ${Math.round(figure * scale).toLocaleString('en-US')} tokens/s on one ${config.cost.gpu}${scale === 1 ? '' : ` (the 8B figure ${figure.toLocaleString('en-US')} scaled by parameters)`}`,
    );
    return figure * scale;
  };
  const seqLen = config.exemplars.seqLen;
  const gpu = { exemplars: 0, describe: 0, score: 0, total: 0 };

  // Stage 1: every sequence through the subject once per group of layers that fits the memory budget.
  let exemplarTokens = 0;
  if (input.stages.includes('exemplars')) {
    const splits = Object.values(config.exemplars.splits).filter((share) => share > 0).length;
    const perLayer = layerStateBytes(featuresPerLayer, config.exemplars, splits);
    const budget = config.exemplars.memoryBudgetGB;
    const layersPerPass = budget === null ? layers.length : Math.max(1, Math.floor((budget * 1e9) / perLayer));
    const passes = Math.ceil(layers.length / layersPerPass);
    exemplarTokens = config.exemplars.sequences * seqLen * passes;
    const rate = throughput(
      ESTIMATE_FIGURES.exemplarTokensPerSecond,
      config.cost.exemplarTokensPerSecond,
      'stage 1 throughput',
      subjectScale,
    );
    gpu.exemplars = exemplarTokens / rate / 3600;
    assumed.push(
      `stage 1: ${config.exemplars.sequences.toLocaleString('en-US')} sequences of ${seqLen} tokens, ${passes} pass(es) over the corpus (${(perLayer / 1e9).toFixed(1)} GB of state per layer, exemplars.memoryBudgetGB ${budget ?? 'unset'})`,
    );
  }

  // Stage 2: one request per feature-sign for all its candidates (the explainer prefills the prompt once).
  const describe = zeroCost();
  const k = config.describe.candidates;
  let promptTokens = 0;
  const maxTokens = numberOption(config.describer.options, 'maxTokens') ?? 100;
  if (input.stages.includes('describe')) {
    promptTokens = await promptTokensPerRequest(config, input.describeBaseDir, assumed);
    describe.feature_signs = featureSigns;
    describe.explainer_requests = featureSigns;
    describe.prompt_tokens = featureSigns * promptTokens;
    describe.completion_tokens = featureSigns * k * maxTokens;
    describe.host_seconds = featureSigns / (ESTIMATE_FIGURES.describeHostPerCore * input.cores);
    assumed.push(
      `stage 2: one request per feature-sign asks for all ${k} candidates (the explainer prefills the prompt once), none answered by the cache; every candidate uses its ${maxTokens} completion tokens (an upper bound)`,
    );
    if (config.cost.describerPrice === null) {
      const prefill = throughput(
        ESTIMATE_FIGURES.forwardTokensPerSecond,
        config.cost.explainerPromptTokensPerSecond,
        'explainer prefill (an 8B explainer)',
      );
      const decode = config.cost.explainerCompletionTokensPerSecond ?? ESTIMATE_FIGURES.completionTokensPerSecond;
      if (config.cost.explainerCompletionTokensPerSecond === null)
        assumed.push(
          `explainer generation: ${decode.toLocaleString('en-US')} tokens/s on one ${config.cost.gpu} (typical of batched serving of an 8B model, not measured here)`,
        );
      gpu.describe = (describe.prompt_tokens / prefill + describe.completion_tokens / decode) / 3600;
    }
  }

  // Stage 3: the selection strategy's simulations, the chosen description on the test split, the null baseline.
  const score = zeroCost();
  const valid =
    Math.min(config.score.selection.top, config.exemplars.topK) +
    Math.min(config.score.selection.random, config.exemplars.randomPerFeature);
  const test =
    Math.min(config.score.report.top, config.exemplars.topK) +
    Math.min(config.score.report.random, config.exemplars.randomPerFeature);
  if (input.stages.includes('score')) {
    const pairs =
      config.score.selection.strategy === 'exhaustive'
        ? k * valid
        : halvingPlan(k, valid, config.score.selection.halving).pairs;
    score.feature_signs = featureSigns;
    score.simulator_tokens = featureSigns * (pairs + 2 * test) * seqLen;
    score.simulator_tokens_naive = featureSigns * (k * valid + 2 * test) * seqLen;
    score.host_seconds = featureSigns / (ESTIMATE_FIGURES.scoreHostPerCore * input.cores);
    assumed.push(
      `stage 3: ${valid} valid and ${test} test sequences per feature-sign, every one of the ${k} candidate texts distinct (repeats are simulated once, so they only lower the figure), the ${config.score.selection.strategy} strategy`,
    );
    if (config.cost.simulatorPrice === null) {
      const rate = throughput(
        ESTIMATE_FIGURES.forwardTokensPerSecond,
        config.cost.simulatorTokensPerSecond,
        'simulator (an 8B simulator)',
      );
      gpu.score = score.simulator_tokens / rate / 3600;
    }
    // Judge scorers (detection, fuzzing) ask a model too: their requests count as the explainer's do.
    const judges = estimateJudges(config, featureSigns, assumed);
    if (judges.requests > 0) {
      score.explainer_requests = judges.requests;
      score.prompt_tokens = judges.promptTokens;
      score.completion_tokens = judges.completionTokens;
      const prefill = config.cost.explainerPromptTokensPerSecond ?? ESTIMATE_FIGURES.forwardTokensPerSecond;
      const decode = config.cost.explainerCompletionTokensPerSecond ?? ESTIMATE_FIGURES.completionTokensPerSecond;
      gpu.score += (judges.promptTokens / prefill + judges.completionTokens / decode) / 3600;
    }
  }
  assumed.push(
    `host seconds: stage 2 at ${ESTIMATE_FIGURES.describeHostPerCore} and stage 3 at ${ESTIMATE_FIGURES.scoreHostPerCore} feature-signs/s per core, on this machine's ${input.cores} cores`,
  );
  gpu.total = gpu.exemplars + gpu.describe + gpu.score;

  const prices = [config.cost.describerPrice, config.cost.simulatorPrice];
  const money = prices.some((p) => p !== null)
    ? (() => {
        const d = config.cost.describerPrice;
        const sPrice = config.cost.simulatorPrice;
        const describeMoney = d
          ? (describe.prompt_tokens * d.prompt + describe.completion_tokens * d.completion) / 1e6
          : 0;
        const scoreMoney = sPrice ? (score.simulator_tokens * sPrice.prompt) / 1e6 : 0;
        return {
          describe: describeMoney,
          score: scoreMoney,
          total: describeMoney + scoreMoney,
          currency: config.cost.currency,
        };
      })()
    : null;

  return {
    cost: runCostOf(describe, score),
    gpu_hours: roundAll(gpu, 2),
    money: money && {
      ...roundAll({ describe: money.describe, score: money.score, total: money.total }, 2),
      currency: money.currency,
    },
    basis: {
      subject: shape.name,
      layers: layers.length,
      features_per_layer: featuresPerLayer,
      features,
      signs,
      feature_signs: featureSigns,
      sequences: config.exemplars.sequences,
      seq_len: seqLen,
      stage1_tokens: exemplarTokens,
      candidates: k,
      prompt_tokens_per_request: promptTokens,
      valid_sequences: valid,
      test_sequences: test,
      selection_strategy: config.score.selection.strategy,
      gpu: config.cost.gpu,
    },
    assumed,
  };
}

/** The stage 2 part of an estimate replaced by the describer's own estimate over finished exemplars. */
export function withDescriberEstimate(
  estimate: RunEstimate,
  described: {
    feature_signs: number;
    calls: number;
    cached_calls: number;
    prompt_tokens: number;
    max_completion_tokens: number;
  },
  note: string,
): RunEstimate {
  const describe: StageCost = {
    ...estimate.cost.describe,
    feature_signs: described.feature_signs,
    explainer_requests: described.calls,
    cached_calls: described.cached_calls,
    prompt_tokens: described.prompt_tokens,
    completion_tokens: described.max_completion_tokens,
  };
  return { ...estimate, cost: runCostOf(describe, estimate.cost.score), assumed: [note, ...estimate.assumed] };
}

function roundAll<T extends Record<string, number>>(values: T, digits: number): T {
  const f = 10 ** digits;
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v * f) / f])) as T;
}

function numberOption(options: unknown, key: string): number | null {
  const v = (options as Record<string, unknown> | null | undefined)?.[key];
  return typeof v === 'number' ? v : null;
}

/** Layers the activation source reads, features per layer and signs, from its section and the subject's shape. */
function activationShape(
  config: ExpgenConfig,
  shape: SubjectShape,
  assumed: string[],
): { layers: number[]; featuresPerLayer: number; signs: number } {
  const { component, options } = config.activation;
  const configured = (options as { layers?: unknown } | undefined)?.layers;
  const all = Array.from({ length: config.cost.layers ?? shape.layers }, (_, i) => i);
  const layers = Array.isArray(configured) ? (configured as number[]) : all;
  let featuresPerLayer = config.cost.featuresPerLayer;
  if (featuresPerLayer === null) {
    if (component === 'mlp') featuresPerLayer = shape.intermediate;
    else if (component === 'resid') featuresPerLayer = shape.hidden;
    else
      throw new ExpgenError(
        `--dry-run cannot tell how many features activation source "${component}" has per layer: set cost.featuresPerLayer (e.g. the SAE's width)`,
      );
  }
  const signs = component === 'mlp' || component === 'resid' ? 2 : 1;
  assumed.push(
    `${component === 'mlp' || component === 'resid' ? 'both signs' : 'the positive sign only'} of each ${component} feature described`,
  );
  return { layers, featuresPerLayer, signs };
}

/** How many features a `--features` spec selects (null: every feature of every layer read). */
function countFeatures(spec: string | null, layers: readonly number[], perLayer: number, baseDir: string): number {
  if (spec === null) return layers.length * perLayer;
  const items = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((item) =>
      item.startsWith('@')
        ? readFileSync(resolve(baseDir, item.slice(1)), 'utf8')
            .split(/[\n,]/)
            .map((line) => line.replace(/#.*/, '').trim())
            .filter(Boolean)
        : [item],
    );
  const wholeLayers = new Set<string>();
  const keys = new Set<string>();
  for (const item of items) {
    const parts = item.split('/');
    if (parts.at(-1) === '*') wholeLayers.add(parts.slice(0, -1).join('/'));
    else keys.add(item);
  }
  const single = [...keys].filter((k) => !wholeLayers.has(k.split('/').slice(0, -1).join('/'))).length;
  return wholeLayers.size * perLayer + single;
}

/**
 * Prompt tokens of one explainer request, from the template and the configured exemplars: the template's own
 * text at about 4 characters per token, and per excerpt its counted tokens plus markers and numbering.
 */
async function promptTokensPerRequest(config: ExpgenConfig, baseDir: string, assumed: string[]): Promise<number> {
  const template = await loadPromptTemplate(config.describe.promptTemplate, { baseDir });
  const placeholders = new RegExp(`\\{(${Object.keys(TEMPLATE_PLACEHOLDERS).join('|')})\\}`, 'g');
  const text = template.sections.map((s) => s.content.replace(placeholders, '')).join('');
  const templateTokens = Math.ceil(text.length / 4) + 8 * template.sections.length + 5;
  const prefix = config.exemplars.prefix;
  const prefixTokens = prefix === null ? 1 : tokensOfText(prefix);
  const shown = Math.max(1, config.exemplars.seqLen - prefixTokens);
  const { min, max } = config.describe.exemplarsPerPrompt;
  const pool = Math.min(config.describe.fromTopRanks, config.exemplars.topK);
  const excerpts = Math.min(pool, (min + max) / 2);
  // An excerpt re-tokenized as display text runs about 10% longer (escaped line breaks, split words); the two
  // marked spans' braces and the list number add about 6.
  const perExcerpt = shown * 1.1 + 6;
  const tokens = Math.round(templateTokens + excerpts * perExcerpt);
  assumed.push(
    `explainer prompt: about ${tokens} tokens (template ${templateTokens}, ${excerpts} excerpts of ${shown} shown tokens at about ${perExcerpt.toFixed(0)} tokens each; text at 4 characters per token)`,
  );
  return tokens;
}

/** Tokens of trusted text: each special token `<|...|>` one, the rest at about 4 characters per token. */
function tokensOfText(text: string): number {
  const specials = text.match(/<\|[^|]*\|>/g) ?? [];
  const rest = text.replace(/<\|[^|]*\|>/g, '');
  return specials.length + Math.ceil(rest.length / 4);
}
