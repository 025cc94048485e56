import { callStoreFor } from '@expgen/plugin-kit';
import {
  ExpgenError,
  isExpgenError,
  s,
  type ComponentContext,
  type Infer,
  type Provenance,
  type SimulateRequest,
  type SimulateResult,
  type Simulator,
} from '@expgen/contract';
import {
  BudgetExhaustedError,
  OpenAIRequestError,
  type ChatAnswer,
  type OpenAICompatibleClient,
} from './chat-client.js';
import { clientOptionsShape } from './client-options.js';
import { CHAT_CACHE_NAMESPACE, clientFor, type FactoryExtras } from './openai-describer.js';
import {
  SIMULATION_PROMPT_VERSION,
  generateMessages,
  logprobPrompt,
  parseActivationList,
  readSlots,
  tokenText,
} from './simulation-prompt.js';

export const simulatorOptionsSchema = s.object({
  ...clientOptionsShape,
  mode: s
    .enum(['auto', 'prompt-logprobs', 'generate'] as const)
    .default('auto')
    .describe(
      'auto: probe the server once and use prompt logprobs when it returns them, else generate (with a warning); or force one.',
    ),
  logprobs: s
    .integer({ min: 1, max: 100 })
    .default(20)
    .describe('Top logprobs per position to ask for (vLLM allows 20 unless started with --max-logprobs).'),
  temperature: s
    .number({ min: 0, max: 2 })
    .default(0)
    .describe('generate mode: sampling temperature of the activation list.'),
  maxTokens: s.integer({ min: 1 }).optional().describe('generate mode: longest answer (default 16 + 4 per token).'),
  maxRetries: s
    .integer({ min: 0, max: 20 })
    .default(3)
    .describe('generate mode: fresh requests (seed + attempt) after an answer without a usable list.'),
  seed: s.integer({ min: 0 }).default(0).describe('generate mode: seed of the first request.'),
});
export type SimulatorOptions = Infer<typeof simulatorOptionsSchema>;

export type SimulationMode = 'prompt-logprobs' | 'generate';

export interface OpenAISimulator extends Simulator {
  readonly client: OpenAICompatibleClient;
}

/** The cache namespace of prompt-logprob readouts (per-token expected bins of one prompt). */
export const LOGPROB_CACHE_NAMESPACE = 'openai-compatible/prompt-logprobs';

interface Readout {
  values: number[];
  /** Slots whose top logprobs held no bin, predicted 0. */
  missing: number;
}

/**
 * A simulator behind an OpenAI-compatible server. `prompt-logprobs` (vLLM, SGLang): one completions call per
 * (description, sequence) with `echo: true, logprobs: N, max_tokens: 1` on an all-at-once prompt listing the
 * sequence's tokens (decoded with the subject's tokenizer) each followed by a slot; the prediction at a token is
 * the expected bin over "0".."10" in the top logprobs at its slot. `generate` (servers without prompt logprobs,
 * such as Ollama, llama.cpp and OpenAI's chat models): one chat call asking for a JSON list of integer
 * activations. `auto` probes once per simulator — unless the cache answers the whole request — and warns when it
 * falls back to `generate`. The mode used is recorded on every result.
 */
export function createOpenAISimulator(
  options: SimulatorOptions,
  context: ComponentContext,
  extras: FactoryExtras = {},
): OpenAISimulator {
  const label = `${context.provenance.kind} ${context.provenance.component}`;
  const tokenizer = context.subject?.tokenizer;
  if (!tokenizer)
    throw new ExpgenError(`${label}: needs the subject model's tokenizer to read token ids; the run gave it none`);
  const client = clientFor(options, context, extras, label);
  const logprobCache = callStoreFor(context, LOGPROB_CACHE_NAMESPACE);
  const chatCache = callStoreFor(context, CHAT_CACHE_NAMESPACE);
  const extraBody = options.extraBody;
  const provenance: Provenance = {
    ...context.provenance,
    settings: {
      model: client.model,
      mode: options.mode,
      promptVersion: SIMULATION_PROMPT_VERSION,
      logprobs: options.logprobs,
      tokenizer: tokenizer.fingerprint,
      ...(options.mode !== 'prompt-logprobs'
        ? { temperature: options.temperature, seed: options.seed, maxRetries: options.maxRetries }
        : {}),
      ...(Object.keys(extraBody).length ? { extraBody } : {}),
    },
  };
  let probed: Promise<SimulationMode> | undefined;

  async function viaLogprobs(
    description: string,
    tokens: readonly string[],
    cachedOnly: boolean,
  ): Promise<Readout | undefined> {
    const { prompt, slots } = logprobPrompt(description, tokens);
    const body = { ...extraBody, prompt, echo: true, logprobs: options.logprobs, max_tokens: 1, temperature: 0 };
    const key = {
      api: 'completions',
      model: client.model,
      body,
      readout: `expected-bin-v${SIMULATION_PROMPT_VERSION}`,
    };
    const cached = await logprobCache.get<Readout>(key);
    if (cached || cachedOnly) return cached;
    const { value } = await client.complete(body, context.signal);
    let readout: Readout;
    try {
      readout = readSlots(value.logprobs, slots);
    } catch (error) {
      throw new ExpgenError(
        `${label}: the prompt-logprobs answer cannot be read: ${(error as Error).message}; the server must support echo with logprobs on /completions (vLLM, SGLang), or set mode: generate`,
      );
    }
    await logprobCache.put(key, readout);
    return readout;
  }

  async function viaGeneration(
    description: string,
    tokens: readonly string[],
    sequence: number,
    cachedOnly: boolean,
  ): Promise<Readout | undefined> {
    const messages = generateMessages(description, tokens);
    const tried: number[] = [];
    let detail = '';
    for (let attempt = 0; attempt <= options.maxRetries; attempt++) {
      const seed = options.seed + attempt;
      tried.push(seed);
      const body = {
        ...extraBody,
        messages,
        temperature: options.temperature,
        max_tokens: options.maxTokens ?? 16 + 4 * tokens.length,
        seed,
      };
      const key = { api: 'chat/completions', model: client.model, body };
      let answer = await chatCache.get<ChatAnswer>(key);
      if (!answer) {
        if (cachedOnly) return undefined;
        answer = (await client.chat(body, context.signal)).value;
        await chatCache.put(key, answer);
      }
      const parsed = parseActivationList(answer.content, tokens.length);
      if (parsed.ok) return { values: parsed.values, missing: 0 };
      detail = parsed.detail;
    }
    throw new ExpgenError(
      `${label} (generate mode): no usable list of ${tokens.length} activations for description ${JSON.stringify(description.slice(0, 80))} ` +
        `on sequence ${sequence} after ${tried.length} attempts (seeds ${tried.join(', ')}): ${detail}`,
    );
  }

  async function probe(): Promise<SimulationMode> {
    const prompt = logprobPrompt('the word "cat"', ['The', ' cat']);
    try {
      const { value } = await client.complete(
        { ...extraBody, prompt: prompt.prompt, echo: true, logprobs: options.logprobs, max_tokens: 1, temperature: 0 },
        context.signal,
      );
      readSlots(value.logprobs, prompt.slots);
      context.logger.debug(`${label}: the server returns prompt logprobs: simulating in prompt-logprobs mode`);
      return 'prompt-logprobs';
    } catch (error) {
      const unsupported =
        (error instanceof OpenAIRequestError &&
          error.severity !== 'transient' &&
          error.status !== 401 &&
          error.status !== 403) ||
        (!isExpgenError(error) && error instanceof Error && /prompt logprobs|offsets/.test(error.message));
      if (!unsupported || error instanceof BudgetExhaustedError) throw error;
      context.logger.warn(
        `${label}: the server returns no prompt logprobs (${(error as Error).message}); simulating in generate mode ` +
          '(the model writes the activations as a JSON list), recorded as mode "generate" on every score; set mode to silence this',
      );
      return 'generate';
    }
  }

  const predict = (
    mode: SimulationMode,
    description: string,
    tokens: readonly string[],
    sequence: number,
    cachedOnly: boolean,
  ) =>
    tokens.length === 0
      ? Promise.resolve({ values: [], missing: 0 })
      : mode === 'prompt-logprobs'
        ? viaLogprobs(description, tokens, cachedOnly)
        : viaGeneration(description, tokens, sequence, cachedOnly);

  async function predictAll(
    mode: SimulationMode,
    request: SimulateRequest,
    texts: readonly string[][],
    cachedOnly: boolean,
  ): Promise<(Readout | undefined)[][]> {
    const settled = await Promise.allSettled(
      request.descriptions.map((d) => Promise.all(texts.map((tokens, s) => predict(mode, d, tokens, s, cachedOnly)))),
    );
    // Every call has settled before anything is thrown, so no request outlives the simulate call.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((r) => (r as PromiseFulfilledResult<(Readout | undefined)[]>).value);
  }

  return {
    provenance,
    client,
    async simulate(request: SimulateRequest): Promise<SimulateResult> {
      const texts = request.sequences.map((sequence) => sequence.map((id) => tokenText(tokenizer, id)));
      let mode: SimulationMode;
      let readouts: (Readout | undefined)[][] | undefined;
      if (options.mode !== 'auto') mode = options.mode;
      else if (probed) mode = await probed;
      else {
        // A rerun answered wholly by the cache needs no probe, so it sends nothing at all.
        for (const candidate of ['prompt-logprobs', 'generate'] as const) {
          const fromCache = await predictAll(candidate, request, texts, true).catch(() => undefined);
          if (fromCache?.every((row) => row.every(Boolean))) [mode, readouts] = [candidate, fromCache];
          if (readouts) break;
        }
        if (!readouts) {
          probed ??= probe();
          probed.catch(() => (probed = undefined)); // a failed probe (e.g. a timeout) is tried again next time
          mode = await probed;
        }
      }
      readouts ??= await predictAll(mode!, request, texts, false);
      const missing = readouts.flat().reduce((n, r) => n + r!.missing, 0);
      if (missing > 0) {
        context.logger.warn(
          `${label}: ${missing} token position(s) had no activation bin among the top ${options.logprobs} logprobs and were predicted 0; raise logprobs if this is common`,
        );
      }
      return {
        predictions: readouts.map((row) => row.map((r) => Float32Array.from(r!.values))),
        mode: mode!,
        simulatedBy: { ...provenance, settings: { ...provenance.settings, mode: mode! } },
      };
    },
  };
}
