import { SchemaError, s, type Infer } from '@expgen/contract';

/** A config section choosing one component: `{component: mlp, plugin?: ..., options: {...}}`. */
const componentSection = (what: string) =>
  s.object({
    component: s.string({ nonEmpty: true }).describe(`Name of the ${what} component (see \`expgen plugins\`).`),
    plugin: s
      .string({ nonEmpty: true })
      .optional()
      .describe('Plugin providing it, when several provide a component of that name.'),
    options: s.unknown().describe("The component's own options, validated by its plugin."),
  });

/** What can name a score: a key of `scores` in every output file, snake_case like every other key there. */
export const SCORE_NAME = /^[a-z][a-z0-9_]*$/;

/** A component's name as a score's default name: snake_case (`my-scorer` and `my.scorer` become `my_scorer`). */
export function snakeCaseName(name: string): string {
  return name.replace(/[-.]/g, '_');
}

/** An entry of `scorers`: a scorer section with an optional name (several entries may use one component). */
const reportedScorerSection = s.object({
  component: s.string({ nonEmpty: true }).describe('Name of the scorer component (see `expgen plugins`).'),
  plugin: s
    .string({ nonEmpty: true })
    .optional()
    .describe('Plugin providing it, when several provide a component of that name.'),
  name: s
    .string({
      pattern: SCORE_NAME,
      patternText: 'a snake_case name: lowercase letters, digits and "_", starting with a letter',
    })
    .optional()
    .describe(
      'The key of its score in `scores` (default: the component name in snake_case); `--scorer NAME` picks entries by it.',
    ),
  options: s.unknown().describe("The scorer's own options, validated by its plugin."),
});

/** `scorers: [correlation, {component: detection, options: {...}}]`: a name alone is a section with default options. */
const reportedScorer = s.custom<Infer<typeof reportedScorerSection>>(
  'a scorer name or a scorer section {component, name?, options?}',
  (value, path) => reportedScorerSection.parse(typeof value === 'string' ? { component: value } : value, path),
);

const datasetSection = s.object({
  component: s.string({ nonEmpty: true }).describe('Name of the dataset component (e.g. `jsonl`).'),
  plugin: s.string({ nonEmpty: true }).optional(),
  name: s
    .string({ pattern: /^[A-Za-z0-9._-]+$/, patternText: 'a name of letters, digits, ".", "_" or "-"' })
    .optional()
    .describe('Name recorded with every exemplar from this source (default: the component name and position).'),
  ratio: s
    .number({ exclusiveMin: 0 })
    .default(1)
    .describe('Share of sequences drawn from this source, relative to the others.'),
  options: s.unknown(),
});

const perMillionTokens = s.object({
  prompt: s.number({ min: 0 }).describe('Price of a million prompt tokens.'),
  cachedPrompt: s
    .number({ min: 0 })
    .nullable()
    .default(null)
    .describe('Price of a million prompt tokens served from the prefix cache; null: the prompt price.'),
  completion: s.number({ min: 0 }).default(0).describe('Price of a million completion tokens.'),
});

const costSection = s.object({
  gpu: s.string({ nonEmpty: true }).default('H200').describe('The GPU the throughputs below are for (a label).'),
  layers: s
    .integer({ min: 1 })
    .nullable()
    .default(null)
    .describe("The subject's layers, for a subject whose shape --dry-run cannot read or look up; null: found."),
  featuresPerLayer: s
    .integer({ min: 1 })
    .nullable()
    .default(null)
    .describe('Features per layer (e.g. an SAE width), when --dry-run cannot tell; null: from the subject shape.'),
  exemplarTokensPerSecond: s
    .number({ exclusiveMin: 0 })
    .nullable()
    .default(null)
    .describe("Stage 1's subject tokens per second on one GPU, all layers read; null: the built-in figure."),
  explainerPromptTokensPerSecond: s
    .number({ exclusiveMin: 0 })
    .nullable()
    .default(null)
    .describe("A local explainer's prompt (prefill) tokens per second on one GPU; null: the built-in figure."),
  explainerCompletionTokensPerSecond: s
    .number({ exclusiveMin: 0 })
    .nullable()
    .default(null)
    .describe("A local explainer's generated tokens per second on one GPU, batched; null: the built-in figure."),
  simulatorTokensPerSecond: s
    .number({ exclusiveMin: 0 })
    .nullable()
    .default(null)
    .describe("A local simulator's tokens per second on one GPU; null: the built-in figure."),
  describerPrice: perMillionTokens
    .nullable()
    .default(null)
    .describe('Set when the describer is a hosted API: its price per million tokens (money instead of GPU-hours).'),
  simulatorPrice: perMillionTokens
    .nullable()
    .default(null)
    .describe('Set when the simulator is a hosted API: its price per million prompt tokens.'),
  currency: s.string({ nonEmpty: true }).default('USD'),
});

const quantileList = s.array(s.number({ exclusiveMin: 0, max: 0.5 }), { minItems: 1 });

export const configSchema = s.object({
  subject: componentSection('subject model').describe('The model whose features are described.'),
  activation: componentSection('activation source').describe('Which features: MLP neurons, SAE latents, ...'),
  datasets: s.array(datasetSection, { minItems: 1 }).describe('Corpora streamed through the subject.'),
  describer: componentSection('describer'),
  simulator: componentSection('simulator'),
  scorer: componentSection('scorer').describe(
    'The scorer best-of-k chooses candidates with on the valid split: a scorer of simulations, such as `correlation`.',
  ),
  scorers: s
    .array(reportedScorer)
    .default([])
    .describe(
      'Scorers reported on the test split, each with its bootstrap interval and null baseline (`scores` in the results); [] reports `scorer` alone. `--scorer NAME` (repeatable) picks them by name.',
    ),
  features: s
    .string({ nonEmpty: true })
    .nullable()
    .default(null)
    .describe('Which features (same syntax as --features); null: every feature of every layer the source reads.'),
  exemplars: s.object({
    sequences: s.integer({ min: 1 }).default(2000).describe('Sequences to stream through the subject.'),
    seqLen: s.integer({ min: 2 }).default(95).describe('Tokens per sequence, fixed prefix included.'),
    prefix: s
      .string()
      .nullable()
      .default(null)
      .describe('Fixed text (e.g. a chat header) that starts every web-text window.'),
    rankPrefix: s.boolean().default(false).describe('Whether prefix tokens count when ranking exemplars.'),
    windowsPerDocument: s
      .integer({ min: 1 })
      .default(1)
      .describe('Most windows cut from one document (consecutive, from its start).'),
    shortDocuments: s
      .enum(['skip', 'pad'])
      .default('skip')
      .describe('Documents shorter than a window: skipped (and counted) or kept with padding that never counts.'),
    topK: s.integer({ min: 1 }).default(100).describe('Top and bottom exemplars kept per feature and split.'),
    randomPerFeature: s.integer({ min: 0 }).default(20).describe('Random sequences kept per feature and split.'),
    extremesKept: s
      .integer({ min: 1 })
      .default(10000)
      .describe('Largest (smallest) per-sequence extremes kept per feature for tail quantiles.'),
    histogramBins: s
      .integer({ min: 1 })
      .default(64)
      .describe('Bins of the fixed histogram of per-sequence extremes (plus under- and overflow).'),
    histogramRange: s
      .custom<[number, number]>('a list [low, high] of two numbers with low < high', (value, path) => {
        const ok =
          Array.isArray(value) &&
          value.length === 2 &&
          value.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
          value[0] < value[1];
        if (!ok) throw new SchemaError(path, 'a list [low, high] of two numbers with low < high', value);
        return [value[0], value[1]];
      })
      .default([-32, 32])
      .describe('[low, high] of the histogram bins; values outside land in the under- and overflow bins.'),
    histogramSequences: s
      .integer({ min: 1 })
      .default(10000)
      .describe(
        'About how many sequences (chosen by a hash of their id, a fraction histogramSequences / sequences of them) the histograms of per-sequence extremes count; the kept extremes and tail quantiles use every sequence.',
      ),
    splits: s
      .object({
        train: s.number({ min: 0 }).default(1),
        valid: s.number({ min: 0 }).default(1),
        test: s.number({ min: 0 }).default(1),
      })
      .describe("Relative shares of documents per split; a document's split is a function of its id."),
    batchSize: s.integer({ min: 1 }).default(32),
    checkpointSeconds: s
      .number({ exclusiveMin: 0 })
      .default(60)
      .describe(
        'Seconds between checkpoints of a running stage (at least: a checkpoint that takes long spaces the next ones so that checkpoints take at most a tenth of the run).',
      ),
    seed: s.integer({ min: 0 }).default(0).describe('Seed of the random-sequence choice and of the split assignment.'),
    memoryBudgetGB: s.number({ exclusiveMin: 0 }).nullable().default(null),
    workers: s
      .integer({ min: 1 })
      .nullable()
      .default(null)
      .describe(
        "Threads that merge each batch into the exemplar state, features split between them; null: the machine's cores minus the one that drives inference.",
      ),
    chatDate: s
      .string({ nonEmpty: true })
      .default('26 Jul 2024')
      .describe("Date given to chat templates that ask for today's."),
  }),
  describe: s.object({
    candidates: s.integer({ min: 1 }).default(50).describe('Candidate descriptions sampled per feature and sign.'),
    exemplarsPerPrompt: s.object({ min: s.integer({ min: 1 }).default(10), max: s.integer({ min: 1 }).default(20) }),
    fromTopRanks: s
      .integer({ min: 1 })
      .default(20)
      .describe('Exemplars for prompts are drawn from this many top ranks of the train split.'),
    minMarkedStrings: s.integer({ min: 1 }).default(3),
    thresholdQuantiles: quantileList.default([1e-8, 1e-7, 1e-6, 1e-5, 1e-4]),
    promptTemplate: s
      .string({ nonEmpty: true })
      .nullable()
      .default(null)
      .describe('Prompt template file; null: the shipped template.'),
    maxRetries: s.integer({ min: 0 }).default(3),
    seed: s.integer({ min: 0 }).default(0),
    concurrency: s
      .integer({ min: 1 })
      .default(8)
      .describe(
        'Feature-signs described at once: describers behind HTTP servers want many, local ones queue anyway. Results do not depend on it.',
      ),
  }),
  score: s.object({
    selection: s
      .object({
        top: s.integer({ min: 0 }).default(20),
        random: s.integer({ min: 0 }).default(5),
        strategy: s
          .enum(['exhaustive', 'halving'])
          .default('halving')
          .describe(
            'How the best candidate is found on the valid sequences: every distinct candidate on all of them (exhaustive), or successive halving (all distinct candidates on a first slice, the better part kept while the slice grows to the whole set).',
          ),
        halving: s
          .object({
            firstSlice: s
              .number({ exclusiveMin: 0, max: 1 })
              .default(0.2)
              .describe('Share of the valid sequences the first round scores every distinct candidate on.'),
            keep: s
              .number({ exclusiveMin: 0, max: 1 })
              .default(0.34)
              .describe('Share of the candidates (rounded up) kept after each round.'),
            growth: s
              .number({ min: 1.1 })
              .default(2)
              .describe('Factor the slice grows by from round to round, until it is the whole valid set.'),
          })
          .describe('Parameters of the halving strategy.'),
      })
      .describe('Valid-split exemplars used to choose the best candidate, and how it is chosen.'),
    report: s
      .object({ top: s.integer({ min: 0 }).default(20), random: s.integer({ min: 0 }).default(5) })
      .describe('Test-split exemplars the chosen description is reported on.'),
    bootstrap: s.integer({ min: 0 }).default(1000).describe('Bootstrap resamples for the 95% confidence interval.'),
    seed: s.integer({ min: 0 }).default(0),
    concurrency: s
      .integer({ min: 1 })
      .nullable()
      .default(null)
      .describe(
        "Threads for stage 3's host work (statistics, per-feature files), the simulating main thread included: 1 runs everything there; null: the machine's cores. Results do not depend on it.",
      ),
  }),
  cost: costSection.describe('Figures `expgen run --dry-run` prices a run with (GPU throughput, API prices).'),
  plugins: s.object({
    paths: s
      .array(s.string({ nonEmpty: true }))
      .default([])
      .describe('Plugin folders or files to load besides discovered packages.'),
  }),
  cacheDir: s
    .string({ nonEmpty: true })
    .nullable()
    .default(null)
    .describe('Durable cache shared by runs; null: $XDG_CACHE_HOME/expgen or ~/.cache/expgen.'),
});

export type ExpgenConfig = Infer<typeof configSchema>;
export type ComponentSection = Infer<ReturnType<typeof componentSection>>;
export type DatasetSection = ExpgenConfig['datasets'][number];
export type ReportedScorerSection = ExpgenConfig['scorers'][number];
