import { defineComponent, definePlugin, packageMeta, type ComponentContext } from '@expgen/contract';
import { createOpenAIDescriber, describerOptionsSchema } from './openai-describer.js';
import { createOpenAISimulator, simulatorOptionsSchema } from './openai-simulator.js';

export {
  OpenAICompatibleClient,
  OpenAIRequestError,
  BudgetExhaustedError,
  parseRetryAfter,
  classifyStatus,
} from './chat-client.js';
export type {
  ClientHooks,
  ClientSettings,
  CallResult,
  CallUsage,
  ChatAnswer,
  CompletionAnswer,
  CompletionLogprobs,
} from './chat-client.js';
export {
  ENV,
  clientOptionsShape,
  resolveConnection,
  type ClientOptions,
  type Connection,
} from './client-options.js';
export { DESCRIPTION_MARKER, REFUSAL_PATTERNS, parseDescriptionAnswer, type ParsedAnswer } from './describe-answer.js';
export {
  clientFor,
  createOpenAIDescriber,
  describerOptionsSchema,
  isCallEstimator,
  type CallEstimate,
  type CallEstimator,
  type DescriberOptions,
  type FactoryExtras,
  type OpenAIDescriber,
} from './openai-describer.js';
export {
  createOpenAISimulator,
  simulatorOptionsSchema,
  type OpenAISimulator,
  type SimulationMode,
  type SimulatorOptions,
} from './openai-simulator.js';
export { SIMULATION_PROMPT_VERSION, expectedBin, logprobPrompt, readSlots } from './simulation-prompt.js';

/** The client hooks a run gives: its fetch, when it has one (the global fetch otherwise). */
function networkOf(context: ComponentContext): { fetch?: typeof fetch } {
  return context.fetch ? { fetch: context.fetch } : {};
}

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'describer',
      name: 'openai-compatible',
      description:
        'Samples candidate descriptions from any OpenAI-compatible chat API (vLLM, SGLang, llama.cpp, Ollama, OpenAI), cached and budgeted.',
      options: describerOptionsSchema,
      // The run's fetch (ComponentContext.fetch), so a test or a library user swaps the network in one place.
      create: async (options, context) => createOpenAIDescriber(options, context, networkOf(context)),
    }),
    defineComponent({
      kind: 'simulator',
      name: 'openai-compatible',
      description:
        'Predicts per-token activations from prompt logprobs of an OpenAI-compatible completions API (or a generated list).',
      options: simulatorOptionsSchema,
      needs: ['subject-model'],
      create: async (options, context) => createOpenAISimulator(options, context, networkOf(context)),
    }),
  ],
});
