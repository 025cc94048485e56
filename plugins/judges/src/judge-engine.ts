import { callStoreFor } from '@expgen/plugin-kit';
import type { CallStore, ChatMessage, ComponentContext } from '@expgen/contract';
import { clientFor, OpenAIRequestError, type FactoryExtras, type OpenAICompatibleClient } from '@expgen/plugin-openai';
import type { JudgeOptions } from './options.js';

/** What a judge's calls cost, in the contract's `DescribeUsage` terms. */
export interface JudgeUsage {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  cachedCalls: number;
}

export function noUsage(): JudgeUsage {
  return { calls: 0, promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0, cachedCalls: 0 };
}

export function addUsage(into: JudgeUsage, more: JudgeUsage): void {
  into.calls += more.calls;
  into.promptTokens += more.promptTokens;
  into.completionTokens += more.completionTokens;
  into.cachedPromptTokens += more.cachedPromptTokens;
  into.cachedCalls += more.cachedCalls;
}

/** How one prompt is sampled: `samples` answers (with the chat API's `n` on a server), from `seed` on. */
export interface Sampling {
  readonly seed: number;
  readonly temperature: number;
  readonly samples: number;
}

/**
 * The answers to one prompt: the texts (fewer than asked when a server ignores `n`), or why there are none (a
 * request that failed after the client's retries, or that the server refused). A setup that cannot work (a key
 * refused, a model not served), a spent budget or a cancelled run throws instead: every other prompt would fail
 * the same way, so the run stops.
 */
export type EngineAnswer =
  | { readonly ok: true; readonly texts: readonly string[]; readonly usage: JudgeUsage }
  | { readonly ok: false; readonly error: string; readonly usage: JudgeUsage };

/** A judge model: chat messages in, sampled answers out. */
export interface JudgeEngine {
  /** What the judge is, for the scorer's provenance (engine, model, sampling settings). */
  readonly settings: Readonly<Record<string, unknown>>;
  ask(messages: readonly ChatMessage[], sampling: Sampling): Promise<EngineAnswer>;
  dispose?(): Promise<void> | void;
}

/** The durable cache namespace of the judges' chat answers. */
export const JUDGE_CACHE_NAMESPACE = 'judge/openai-compatible';

/**
 * A judge behind any OpenAI-compatible chat server, through the describer's client (`@expgen/plugin-openai`):
 * replicas, bounded concurrency, retries with backoff honouring Retry-After, timeouts, token accounting and the
 * budget. Several samples are one request with `n`. Answers of successful requests are cached durably, keyed on
 * model, messages, sampling parameters, `n` and seed (not the base URL or the key), so a rerun sends nothing.
 */
export function openAIJudgeEngine(
  options: JudgeOptions,
  context: ComponentContext,
  label: string,
  extras: FactoryExtras = {},
): JudgeEngine & { readonly client: OpenAICompatibleClient } {
  const client = clientFor(options, context, { ...(context.fetch ? { fetch: context.fetch } : {}), ...extras }, label);
  const cache: CallStore = callStoreFor(context, JUDGE_CACHE_NAMESPACE);
  return {
    client,
    settings: {
      engine: 'openai-compatible',
      model: client.model,
      api: 'chat/completions',
      maxTokens: options.maxTokens,
      ...(Object.keys(options.extraBody).length ? { extraBody: options.extraBody } : {}),
    },
    async ask(messages, sampling) {
      const usage = noUsage();
      const body = {
        ...options.extraBody,
        messages: messages.map((m) => ({ role: m.role, content: m.content })),
        temperature: sampling.temperature,
        max_tokens: options.maxTokens,
        // n is left out when 1, so a request for one answer is the same request (and cache entry) either way.
        ...(sampling.samples > 1 ? { n: sampling.samples } : {}),
        seed: sampling.seed,
      };
      const key = { api: 'chat/completions', model: client.model, body };
      const cached = await cache.get<{ texts: string[] }>(key);
      if (cached) {
        usage.cachedCalls++;
        return { ok: true, texts: cached.texts, usage };
      }
      try {
        const result = await client.chatChoices(body, context.signal);
        usage.calls += result.httpCalls;
        usage.promptTokens += result.usage.promptTokens;
        usage.completionTokens += result.usage.completionTokens;
        usage.cachedPromptTokens += result.usage.cachedPromptTokens;
        // A choice without a readable message, a refusal or a null content is an answer with no list in it.
        const texts = result.value.map((c) => ('malformed' in c ? '' : (c.content ?? c.refusal ?? '')));
        await cache.put(key, { texts });
        return { ok: true, texts, usage };
      } catch (error) {
        if (error instanceof OpenAIRequestError && error.severity !== 'fatal') {
          usage.calls += error.httpCalls;
          return { ok: false, error: error.message, usage };
        }
        throw error;
      }
    },
  };
}
