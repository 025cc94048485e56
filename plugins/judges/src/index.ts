import {
  ExpgenError,
  defineComponent,
  definePlugin,
  packageMeta,
  type ComponentContext,
  type Tokenizer,
} from '@expgen/contract';
import type { FactoryExtras } from '@expgen/plugin-openai';
import { openAIJudgeEngine, type JudgeEngine } from './judge-engine.js';
import { loadJudgeTemplate } from './judge-prompt.js';
import { createJudgeScorer, type JudgeTask } from './judge-scorer.js';
import { localJudgeEngine } from './local-engine.js';
import {
  detectionOptionsSchema,
  fuzzingOptionsSchema,
  type DetectionOptions,
  type FuzzingOptions,
  type SharedOptions,
} from './options.js';
import { drawDetection, drawFuzzing } from './sequence-draw.js';

export { balancedAccuracyOf, createJudgeScorer, type JudgeTask } from './judge-scorer.js';
export {
  JUDGE_CACHE_NAMESPACE,
  openAIJudgeEngine,
  type EngineAnswer,
  type JudgeEngine,
  type JudgeUsage,
  type Sampling,
} from './judge-engine.js';
export { localJudgeEngine } from './local-engine.js';
export {
  ANSWER_MARKER,
  JUDGE_PLACEHOLDERS,
  descriptionLine,
  excerptText,
  judgeMessages,
  loadJudgeTemplate,
  parseJudgeAnswer,
  shippedTemplatePath,
  type ParsedJudgeAnswer,
} from './judge-prompt.js';
export {
  drawDetection,
  drawFuzzing,
  fireThreshold,
  firingTokens,
  peakOf,
  sequenceFires,
  type DetectionDraw,
  type FuzzingDraw,
  type ShownSequence,
} from './sequence-draw.js';
export {
  detectionOptionsSchema,
  fuzzingOptionsSchema,
  type DetectionOptions,
  type FuzzingOptions,
  type JudgeOptions,
} from './options.js';

/** The task of each component: which sequences it shows the judge, and how they are marked. */
export function detectionTask(options: DetectionOptions): JudgeTask {
  return { name: 'detection', draw: (request) => drawDetection(request, options) };
}

export function fuzzingTask(options: FuzzingOptions): JudgeTask {
  return { name: 'fuzzing', draw: (request) => drawFuzzing(request, options) };
}

/** The judge engine the options name; `extras` (library users, tests): the network, the clock, the environment. */
export async function judgeEngineOf(
  options: SharedOptions,
  context: ComponentContext,
  extras: FactoryExtras = {},
): Promise<JudgeEngine> {
  const label = `${context.provenance.kind} ${context.provenance.component}`;
  return options.judge.engine === 'local'
    ? localJudgeEngine(options.judge, context, label)
    : openAIJudgeEngine(options.judge, context, label, extras);
}

/** A judge scorer of `task` over the subject's tokenizer, its prompt template read before anything is loaded. */
async function createScorer(task: JudgeTask, options: SharedOptions, context: ComponentContext, tokenizer: Tokenizer) {
  if (options.samples > 1 && options.judge.temperature === 0)
    throw new ExpgenError(
      `scorer ${task.name}: options.samples is ${options.samples} with judge.temperature 0, so every sample would be the same answer: set judge.temperature above 0, or samples to 1`,
    );
  const template = await loadJudgeTemplate(task.name, options.promptTemplate, context.baseDir);
  const engine = await judgeEngineOf(options, context);
  const scorer = createJudgeScorer({ task, options, engine, tokenizer, template, provenance: context.provenance });
  return { ...scorer, dispose: () => engine.dispose?.() };
}

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'scorer',
      name: 'detection',
      description:
        'A judge model reads the description and a shuffled batch of sequences, and says in which the feature fires; balanced accuracy against the truth.',
      options: detectionOptionsSchema,
      // The subject's tokenizer turns the sequences' token ids into the text the judge reads.
      needs: ['subject-model'],
      create: (options, context) => createScorer(detectionTask(options), options, context, context.subject.tokenizer),
    }),
    defineComponent({
      kind: 'scorer',
      name: 'fuzzing',
      description:
        'A judge model reads the description and sequences with tokens marked, and says whether the marks are where the feature fires; balanced accuracy.',
      options: fuzzingOptionsSchema,
      needs: ['subject-model'],
      create: (options, context) => createScorer(fuzzingTask(options), options, context, context.subject.tokenizer),
    }),
  ],
});
