import { s, type Infer } from '@expgen/contract';
import { clientOptionsShape } from '@expgen/plugin-openai';

// The options of the `detection` and `fuzzing` scorers. Each is made by a function, because `describe` sets the
// text on the schema object itself and the two components describe some options differently.

const tinyShape = () =>
  s
    .object({
      seed: s.integer({ min: 0 }).default(0),
      layers: s.integer({ min: 1 }).default(2),
      hiddenSize: s.integer({ min: 8 }).default(64),
      intermediateSize: s.integer({ min: 8 }).default(128),
      numHeads: s.integer({ min: 1 }).default(4),
      numKvHeads: s.integer({ min: 1 }).default(2),
    })
    .describe('Shape and seed of the tiny random judge used when `model` is null (tests; it answers nonsense).');

/** The judge: any OpenAI-compatible server (the describer's client, options and environment), or the local engine. */
const judgeOptions = () =>
  s
    .object({
      engine: s
        .enum(['openai-compatible', 'local'] as const)
        .default('openai-compatible')
        .describe(
          'openai-compatible: any OpenAI-compatible chat server ($OPENAI_BASE_URL, $OPENAI_MODEL, $OPENAI_API_KEY or the options below); local: a Llama-family model on ONNX Runtime (`local`).',
        ),
      ...clientOptionsShape,
      temperature: s
        .number({ min: 0, max: 2 })
        .default(0)
        .describe("The judge's sampling temperature (0: its most likely answer)."),
      retryTemperature: s
        .number({ min: 0, max: 2 })
        .default(0.7)
        .describe(
          'Temperature of a retry after an answer that could not be read (at temperature 0 the same prompt would give the same answer again).',
        ),
      maxTokens: s
        .integer({ min: 1 })
        .default(512)
        .describe('Longest answer (the judge may reason before its answer line), sent as max_tokens.'),
      local: s
        .object({
          model: s
            .string({ nonEmpty: true })
            .nullable()
            .default(null)
            .describe(
              'Built folder of a Llama-family chat model (expgen model build), e.g. Llama-3.1-8B-Instruct; null: a tiny random model.',
            ),
          tiny: tinyShape(),
          provider: s
            .enum(['cpu', 'webgpu', 'cuda'] as const)
            .default('cpu')
            .describe('ONNX Runtime execution provider; never falls back silently.'),
          deviceId: s.integer({ min: 0 }).default(0).describe('GPU index for cuda.'),
          batchSize: s
            .integer({ min: 1 })
            .default(8)
            .describe('Most prompts generated in one batched pass (prompts of several feature-signs share it).'),
          date: s
            .string({ nonEmpty: true })
            .default('26 Jul 2024')
            .describe(
              '"Today Date" of the Llama-3.1 chat template, fixed so prompts (and cache keys) are reproducible.',
            ),
          cache: s.boolean().default(true).describe('Keep every answer in the durable call cache.'),
        })
        .describe('The local engine (engine: local).'),
    })
    .describe('The judge model and how to reach it.');

/** Options both scorers share: the judge, the prompts, batching, retries, votes and what "fires" means. */
const sharedShape = (task: 'detection' | 'fuzzing') => ({
  judge: judgeOptions(),
  promptTemplate: s
    .string({ nonEmpty: true })
    .nullable()
    .default(null)
    .describe(
      `Prompt template file (Markdown, as describe.promptTemplate; placeholders {description}, {examples}, {count}); null: the shipped prompts/${task}.md.`,
    ),
  batchSize: s
    .integer({ min: 1, max: 50 })
    .default(5)
    .describe('Sequences shown in one prompt; the judge answers for each.'),
  samples: s
    .integer({ min: 1, max: 25 })
    .default(1)
    .describe(
      "Answers sampled per prompt, in one request with the chat API's n, and put to a majority vote per sequence (a tie is a failure); more than 1 needs a temperature above 0.",
    ),
  maxRetries: s
    .integer({ min: 0, max: 10 })
    .default(2)
    .describe(
      'Further requests (another seed, retryTemperature) for a prompt whose answer cannot be read; after them its sequences are failures, never guessed.',
    ),
  activeFraction: s
    .number({ exclusiveMin: 0, max: 1 })
    .default(0.3)
    .describe(
      "A token fires when its activation (in the sign's direction) reaches this fraction of the strongest activation among the feature's kept top exemplars of the split; a sequence fires when one of its tokens does.",
    ),
  quantiles: s
    .integer({ min: 1, max: 20 })
    .default(5)
    .describe(
      'Activating sequences are drawn evenly from this many groups of the firing sequences, ordered by their strongest activation (q1 the strongest).',
    ),
});

export const detectionOptionsSchema = s.object({
  ...sharedShape('detection'),
  activating: s
    .integer({ min: 0 })
    .default(10)
    .describe('Activating sequences shown: the kept top exemplars and random sequences that fire, across quantiles.'),
  nonActivating: s
    .integer({ min: 0 })
    .default(10)
    .describe('Non-activating sequences shown: random sequences of the split that do not fire.'),
  hardNegatives: s
    .integer({ min: 0 })
    .default(5)
    .describe(
      'Further non-activating sequences that contain one of the tokens the feature fires on most often but do not fire (from every kept list), where there are any.',
    ),
  hardNegativeTokens: s
    .integer({ min: 1 })
    .default(5)
    .describe('How many of the most frequent firing tokens make a sequence a hard negative.'),
});
export type DetectionOptions = Infer<typeof detectionOptionsSchema>;

export const fuzzingOptionsSchema = s.object({
  ...sharedShape('fuzzing'),
  activating: s
    .integer({ min: 0 })
    .default(10)
    .describe('Activating sequences shown with their firing tokens marked (the marking is right).'),
  mismarked: s
    .integer({ min: 0 })
    .default(10)
    .describe(
      'Activating sequences shown with as many tokens marked, chosen at random among tokens that do not fire (the marking is wrong).',
    ),
});
export type FuzzingOptions = Infer<typeof fuzzingOptionsSchema>;

export type JudgeOptions = DetectionOptions['judge'];
export type SharedOptions = Pick<
  DetectionOptions,
  'judge' | 'promptTemplate' | 'batchSize' | 'samples' | 'maxRetries' | 'activeFraction' | 'quantiles'
>;
