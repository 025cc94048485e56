import { CallCache } from '@expgen/plugin-kit';
import {
  ExpgenError,
  type CallEstimate,
  s,
  type ComponentContext,
  type DescribeRequest,
  type DescribeResult,
  type Describer,
  type DescriptionCandidate,
  type DescriptionFailure,
  type Infer,
  type Provenance,
} from '@expgen/contract';
import { OpenAICompatibleClient, OpenAIRequestError, type ChatAnswer, type ClientHooks } from './chat-client.js';
import { clientOptionsShape, resolveConnection, type ClientOptions } from './client-options.js';
import { parseDescriptionAnswer, type ParsedAnswer } from './describe-answer.js';

export const describerOptionsSchema = s.object({
  ...clientOptionsShape,
  temperature: s
    .number({ min: 0, max: 2 })
    .default(1)
    .describe('Sampling temperature of the explainer (the reference samples at 1.0).'),
  topP: s
    .number({ exclusiveMin: 0, max: 1 })
    .optional()
    .describe('Nucleus sampling mass; left out of requests when unset.'),
  maxTokens: s
    .integer({ min: 1 })
    .default(512)
    .describe('Longest answer, sent as max_tokens (not a budget: see budget.maxTokens).'),
  maxRetries: s
    .integer({ min: 0, max: 20 })
    .default(3)
    .describe(
      'Fresh requests (seed + count x attempt) for a candidate whose answer is a refusal, blank or has no marker.',
    ),
  dryRun: s
    .boolean()
    .default(false)
    .describe('Send nothing: the stage calls estimate(request) for the calls and prompt tokens a run would need.'),
});
export type DescriberOptions = Infer<typeof describerOptionsSchema>;

/** What a describe call would cost, from the cache and the prompt alone: the contract's `CallEstimate`. */
export type { CallEstimate } from '@expgen/contract';

/** A component that can price a request without sending it (for `dryRun`). */
export interface CallEstimator<R> {
  estimate(request: R): Promise<CallEstimate>;
}

export function isCallEstimator<R>(component: object): component is CallEstimator<R> {
  return typeof (component as { estimate?: unknown }).estimate === 'function';
}

export interface OpenAIDescriber extends Describer {
  /** Prices a request from the cache and the prompt alone (characters / 4 for prompt tokens). */
  estimate(request: DescribeRequest): Promise<CallEstimate>;
  /** The HTTP client, for its totals and per-URL call counts. */
  readonly client: OpenAICompatibleClient;
}

/** What library users and tests may pass besides the options: the network, the clock, the key, the environment. */
export interface FactoryExtras extends ClientHooks {
  /** The API key itself (library use); otherwise it is read from `$apiKeyEnv`. */
  readonly apiKey?: string;
  /** Where OPENAI_BASE_URL / OPENAI_MODEL / the key variable are read (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The cache namespace of chat answers, shared with the simulator's generate mode (keys differ by messages). */
export const CHAT_CACHE_NAMESPACE = 'openai-compatible/chat';

/** The client of one component, from its options and the environment. */
export function clientFor(
  options: ClientOptions,
  context: ComponentContext,
  extras: FactoryExtras,
  label: string,
  resolve: { baseUrlRequired?: boolean } = {},
): OpenAICompatibleClient {
  const env = extras.env ?? process.env;
  const connection = resolveConnection(options, env, label, resolve);
  return new OpenAICompatibleClient({
    ...extras,
    baseUrls: connection.baseUrls,
    model: connection.model,
    apiKey: extras.apiKey ?? connection.apiKey,
    apiKeyEnv: options.apiKeyEnv,
    concurrency: options.concurrency,
    balance: options.balance,
    timeoutMs: options.timeoutMs,
    requestRetries: options.requestRetries,
    backoffMs: options.backoffMs,
    maxBackoffMs: options.maxBackoffMs,
    maxRetryAfterMs: options.maxRetryAfterMs,
    budget: options.budget,
    logger: context.logger,
    label,
  });
}

/**
 * An explainer behind an OpenAI-compatible chat API. Candidate i of a request is one chat call with seed
 * `seed + i`; all candidates run concurrently within the client's bound. An unusable answer (refusal, blank, no
 * marker) is asked again up to `maxRetries` times with seed `seed + i + count x attempt` — a deterministic server
 * would repeat itself on the same seed — and the seed actually sampled is recorded in the candidate's
 * `describedBy.settings.sampledSeed`; the candidate keeps its slot's `seed + i`. A candidate that never yields a
 * description is a DescriptionFailure, never placeholder text.
 *
 * Answers of successful calls are cached durably, keyed on model, messages, sampling parameters and seed (not the
 * base URL or the key), so a rerun reproduces the same candidates and failures without a single call. Failed
 * calls are never cached.
 */
export function createOpenAIDescriber(
  options: DescriberOptions,
  context: ComponentContext,
  extras: FactoryExtras = {},
): OpenAIDescriber {
  const label = `${context.provenance.kind} ${context.provenance.component}`;
  // A dry run sends nothing, so it can price a run before any server is set up.
  const client = clientFor(options, context, extras, label, { baseUrlRequired: !options.dryRun });
  const cache = new CallCache(context.cacheDir, CHAT_CACHE_NAMESPACE);
  const sampling = {
    temperature: options.temperature,
    ...(options.topP !== undefined ? { top_p: options.topP } : {}),
    max_tokens: options.maxTokens,
  };
  const provenance: Provenance = {
    ...context.provenance,
    settings: {
      model: client.model,
      api: 'chat/completions',
      ...sampling,
      maxRetries: options.maxRetries,
      ...(Object.keys(options.extraBody).length ? { extraBody: options.extraBody } : {}),
    },
  };

  const bodyFor = (request: DescribeRequest, seed: number) => ({
    ...options.extraBody,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    ...sampling,
    seed,
  });
  const cacheKey = (body: Record<string, unknown>) => ({ api: 'chat/completions', model: client.model, body });

  async function describeSlot(
    request: DescribeRequest,
    slot: number,
    spent: { calls: number; promptTokens: number; completionTokens: number },
  ): Promise<DescriptionCandidate | DescriptionFailure> {
    const slotSeed = request.seed + slot;
    const tried: number[] = [];
    let last: Extract<ParsedAnswer, { ok: false }> | undefined;
    for (let attempt = 0; attempt <= options.maxRetries; attempt++) {
      const seed = slotSeed + request.count * attempt;
      tried.push(seed);
      const body = bodyFor(request, seed);
      const key = cacheKey(body);
      let answer = await cache.get<ChatAnswer>(key);
      if (!answer) {
        try {
          const result = await client.chat(body, context.signal);
          spent.calls += result.httpCalls;
          spent.promptTokens += result.usage.promptTokens;
          spent.completionTokens += result.usage.completionTokens;
          answer = result.value;
        } catch (error) {
          // A transport failure that outlived the client's retries, or a request the server refuses: this
          // candidate fails and the others go on. A wrong setup, a spent budget or an abort stops the describe.
          if (error instanceof OpenAIRequestError && error.severity !== 'fatal') {
            spent.calls += error.httpCalls;
            return { seed: slotSeed, reason: 'error', detail: `seed ${seed}: ${error.message}` };
          }
          throw error;
        }
        await cache.put(key, answer);
      }
      const parsed = parseDescriptionAnswer(answer.content, answer.refusal, answer.finishReason);
      if (parsed.ok) {
        return {
          description: parsed.description,
          seed: slotSeed,
          describedBy: { ...provenance, settings: { ...provenance.settings, sampledSeed: seed } },
        };
      }
      last = parsed;
    }
    return {
      seed: slotSeed,
      reason: last!.reason,
      detail: `${last!.detail} (${tried.length} attempt${tried.length === 1 ? '' : 's'}, seeds ${tried.join(', ')})`,
    };
  }

  return {
    provenance,
    client,
    async describe(request: DescribeRequest): Promise<DescribeResult> {
      if (options.dryRun) {
        throw new ExpgenError(
          `${label}: dryRun is set, so describe() sends nothing; the stage calls estimate(request) instead — set dryRun: false to describe`,
        );
      }
      const spent = { calls: 0, promptTokens: 0, completionTokens: 0 };
      const settled = await Promise.allSettled(
        Array.from({ length: request.count }, (_, slot) => describeSlot(request, slot, spent)),
      );
      // Every slot has settled before anything is thrown, so no request outlives the describe call.
      const stop = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (stop) throw stop.reason;
      const candidates: DescriptionCandidate[] = [];
      const failures: DescriptionFailure[] = [];
      for (const r of settled) {
        const value = (r as PromiseFulfilledResult<DescriptionCandidate | DescriptionFailure>).value;
        if ('description' in value) candidates.push(value);
        else failures.push(value);
      }
      return { candidates, failures, usage: spent };
    },
    async estimate(request: DescribeRequest): Promise<CallEstimate> {
      const promptChars = request.messages.reduce((n, m) => n + m.content.length, 0);
      let cachedCalls = 0;
      for (let slot = 0; slot < request.count; slot++) {
        if ((await cache.get(cacheKey(bodyFor(request, request.seed + slot)))) !== undefined) cachedCalls++;
      }
      const calls = request.count - cachedCalls;
      return {
        calls,
        cachedCalls,
        promptTokens: calls * Math.ceil(promptChars / 4),
        maxCompletionTokens: calls * options.maxTokens,
      };
    },
  };
}
