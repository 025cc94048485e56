import { callStoreFor } from '@expgen/plugin-kit';
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
import { CandidateRounds, type SlotOutcome, type Spent } from './candidate-rounds.js';
import { OpenAICompatibleClient, type ClientHooks } from './chat-client.js';
import { clientOptionsShape, resolveConnection, type ClientOptions } from './client-options.js';
import { parseDescriptionAnswer, type ParsedAnswer } from './describe-answer.js';
import { NSupport } from './n-support.js';

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
      'Further samples (new seeds) for a candidate whose answer is a refusal, blank, malformed or has no marker.',
    ),
  useN: s
    .boolean()
    .default(true)
    .describe(
      "Ask for a sign's candidates in one request with the chat API's n (the server prefills the prompt once); a server that ignores n is detected and served per candidate. false: one request per candidate.",
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
 * An explainer behind an OpenAI-compatible chat API. A sign's K candidates are asked for in one request with `n: K`
 * and `seed` (vLLM and SGLang prefill the prompt once for all of them); candidate i is choice i, and on vLLM choice
 * i of a request seeded `seed` is sampled with `seed + i`, exactly what a request of its own would be. Candidates
 * whose choice is unusable (refusal, blank, malformed, no marker, cut by maxTokens) or missing are topped up by a
 * further request asking only for them, up to `maxRetries` further samples each; round r's requests are seeded from
 * `seed + count x r` (see CandidateRounds), so no seed repeats. A server that ignores `n` is detected once
 * (NSupport) and served one request per candidate for the rest of the run, candidate i with seed `seed + i` and its
 * r-th retry with `seed + i + count x r`. The request that produced a candidate is recorded in its
 * `describedBy.settings` (`candidateRequests`, `sampledSeed`, and `n` and `choice` for a request for several). A
 * candidate that never yields a description is a DescriptionFailure, never placeholder text.
 *
 * Answers of successful requests are cached durably, keyed on model, messages, sampling parameters, `n` and seed
 * (not the base URL or the key), so a rerun reproduces the same candidates and failures without a single request.
 * Failed requests are never cached.
 */
export function createOpenAIDescriber(
  options: DescriberOptions,
  context: ComponentContext,
  extras: FactoryExtras = {},
): OpenAIDescriber {
  const label = `${context.provenance.kind} ${context.provenance.component}`;
  // A dry run sends nothing, so it can price a run before any server is set up.
  const client = clientFor(options, context, extras, label, { baseUrlRequired: !options.dryRun });
  const cache = callStoreFor(context, CHAT_CACHE_NAMESPACE);
  const nSupport = new NSupport(options.useN, label, context.logger);
  const sampling = {
    temperature: options.temperature,
    ...(options.topP !== undefined ? { top_p: options.topP } : {}),
    max_tokens: options.maxTokens,
  };
  const settings = {
    model: client.model,
    api: 'chat/completions',
    ...sampling,
    maxRetries: options.maxRetries,
    ...(Object.keys(options.extraBody).length ? { extraBody: options.extraBody } : {}),
  };
  // The mode can change once in a run (a server found to ignore n), so the provenance says which is in use now.
  const currentProvenance = (): Provenance => ({
    ...context.provenance,
    settings: { ...settings, candidateRequests: nSupport.mode },
  });

  // n is left out when 1, so a request for one candidate is the same request (and cache entry) in either mode.
  const bodyFor = (request: DescribeRequest, seed: number, n: number) => ({
    ...options.extraBody,
    messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
    ...sampling,
    ...(n > 1 ? { n } : {}),
    seed,
  });
  const cacheKey = (request: DescribeRequest, seed: number, n: number) => ({
    api: 'chat/completions',
    model: client.model,
    body: bodyFor(request, seed, n),
  });
  const rounds = new CandidateRounds({ client, cache, nSupport, signal: context.signal, body: bodyFor });

  /** The candidate or the reason it is not one, from one slot's answer. */
  function read(
    outcome: Extract<SlotOutcome, { kind: 'answer' }>,
    slotSeed: number,
  ): DescriptionCandidate | Extract<ParsedAnswer, { ok: false }> {
    const { answer } = outcome;
    const parsed =
      'malformed' in answer
        ? ({ ok: false, reason: 'malformed', detail: `the choice ${answer.malformed}` } as const)
        : parseDescriptionAnswer(answer.content, answer.refusal, answer.finishReason);
    if (!parsed.ok) return parsed;
    const base = currentProvenance();
    const choice = outcome.n === undefined ? {} : { n: outcome.n, choice: outcome.choice };
    return {
      description: parsed.description,
      seed: slotSeed,
      describedBy: {
        ...base,
        settings: {
          ...base.settings,
          candidateRequests: outcome.n === undefined ? 'per-candidate' : 'n',
          sampledSeed: outcome.seed,
          ...choice,
        },
      },
    };
  }

  return {
    get provenance() {
      return currentProvenance();
    },
    client,
    async describe(request: DescribeRequest): Promise<DescribeResult> {
      if (options.dryRun) {
        throw new ExpgenError(
          `${label}: dryRun is set, so describe() sends nothing; the stage calls estimate(request) instead — set dryRun: false to describe`,
        );
      }
      const spent: Spent = { calls: 0, promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, cachedCalls: 0 };
      const results: (DescriptionCandidate | DescriptionFailure | undefined)[] = new Array(request.count);
      const tried: { sample: string; parsed: Extract<ParsedAnswer, { ok: false }> }[][] = Array.from(
        { length: request.count },
        () => [],
      );
      let pending = Array.from({ length: request.count }, (_, slot) => slot);
      // Each round answers or spends an attempt of at least one pending slot, so the loop ends.
      for (let round = 0; pending.length > 0; round++) {
        const outcomes = await rounds.round(request, round, pending, spent);
        const next: number[] = [];
        for (const slot of pending) {
          const outcome = outcomes.get(slot)!;
          const slotSeed = request.seed + slot;
          if (outcome.kind === 'missing') next.push(slot);
          else if (outcome.kind === 'error')
            results[slot] = { seed: slotSeed, reason: 'error', detail: outcome.detail };
          else {
            const candidate = read(outcome, slotSeed);
            if ('description' in candidate) {
              results[slot] = candidate;
              continue;
            }
            const sample =
              outcome.n === undefined
                ? `${outcome.seed}`
                : `${outcome.seed} (choice ${outcome.choice} of ${outcome.n})`;
            tried[slot]!.push({ sample, parsed: candidate });
            if (tried[slot]!.length <= options.maxRetries) next.push(slot);
            else results[slot] = exhausted(slotSeed, tried[slot]!);
          }
        }
        pending = next;
      }
      const candidates = results.filter((r): r is DescriptionCandidate => r !== undefined && 'description' in r);
      const failures = results.filter((r): r is DescriptionFailure => r !== undefined && !('description' in r));
      return { candidates, failures, usage: spent };
    },
    async estimate(request: DescribeRequest): Promise<CallEstimate> {
      const promptTokens = Math.ceil(request.messages.reduce((n, m) => n + m.content.length, 0) / 4);
      const all = Array.from({ length: request.count }, (_, slot) => slot);
      if (
        request.count >= 2 &&
        nSupport.mode === 'n' &&
        (await cache.get(cacheKey(request, request.seed, request.count)))
      )
        return { calls: 0, cachedCalls: 1, promptTokens: 0, maxCompletionTokens: 0 };
      const cached = await Promise.all(all.map((slot) => cache.get(cacheKey(request, request.seed + slot, 1))));
      const cachedCalls = cached.filter((c) => c !== undefined).length;
      const missing = request.count - cachedCalls;
      // Retries of bad answers come on top: they depend on the answers.
      const calls = missing === 0 ? 0 : nSupport.mode === 'n' ? 1 : missing;
      return {
        calls,
        cachedCalls,
        promptTokens: calls * promptTokens,
        maxCompletionTokens: missing * options.maxTokens,
      };
    },
  };
}

/** The failure of a slot whose every sample was unusable: the last reason, with every sample tried. */
function exhausted(
  seed: number,
  tried: readonly { sample: string; parsed: Extract<ParsedAnswer, { ok: false }> }[],
): DescriptionFailure {
  const last = tried.at(-1)!.parsed;
  return {
    seed,
    reason: last.reason,
    detail: `${last.detail} (${tried.length} attempt${tried.length === 1 ? '' : 's'}, seeds ${tried.map((t) => t.sample).join(', ')})`,
  };
}
