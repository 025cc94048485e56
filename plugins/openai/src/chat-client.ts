import { ExpgenError, type Logger } from '@expgen/contract';
import {
  MalformedAnswer,
  readChatChoices,
  readFirstChatChoice,
  readFirstCompletionChoice,
  readUsage,
  type ChatAnswer,
  type ChatChoice,
  type CompletionAnswer,
} from './chat-answers.js';
import { safeUrl } from './client-options.js';
import { postOnce, type Attempt } from './post-once.js';
import { backoffDelay, realSleep, seconds } from './retry-policy.js';
import { Semaphore } from './semaphore.js';

export type { ChatAnswer, ChatChoice, CompletionAnswer, CompletionLogprobs } from './chat-answers.js';
export { classifyStatus, parseRetryAfter } from './retry-policy.js';

/** Seams for tests and library users: the network and the clock. */
export interface ClientHooks {
  /** The `fetch` every request goes through (default: the global one), as the Vercel AI SDK's providers take it. */
  readonly fetch?: typeof fetch;
  /** Waits between retries (default: a timer); a fake clock records the delays and returns at once. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds since the epoch (default `Date.now`), for Retry-After given as an HTTP date. */
  readonly now?: () => number;
  /** Uniform in [0, 1) (default `Math.random`), for backoff jitter. */
  readonly random?: () => number;
}

export interface ClientSettings extends ClientHooks {
  /** Replicas of one model; requests are spread over them. Empty only for a client that never calls (a dry run). */
  readonly baseUrls: readonly string[];
  readonly model: string;
  /** Sent as `Authorization: Bearer ...`; never logged, cached, or put in an error message. */
  readonly apiKey?: string | undefined;
  /** Where the key came from, for messages (e.g. `OPENAI_API_KEY`). */
  readonly apiKeyEnv?: string;
  /** Most requests in flight at once over all base URLs (default 16). */
  readonly concurrency?: number;
  readonly balance?: 'least-in-flight' | 'round-robin';
  /** Per-request limit, body included (default 120 s). */
  readonly timeoutMs?: number;
  /** Retries of one request after a transient failure (default 5). */
  readonly requestRetries?: number;
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A Retry-After longer than this fails the request rather than stall the run (default 300 s). */
  readonly maxRetryAfterMs?: number;
  readonly budget?: { readonly maxCalls?: number | undefined; readonly maxTokens?: number | undefined };
  readonly logger?: Logger;
  /** Names the component in messages, e.g. `describer openai-compatible`. */
  readonly label?: string;
}

/** Tokens one call spent, from the answer's `usage`, or characters / 4 when the server leaves `usage` out. */
export interface CallUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** Of `promptTokens`, those the server served from its prefix cache (`usage.prompt_tokens_details.cached_tokens`). */
  readonly cachedPromptTokens: number;
  readonly estimated: boolean;
}

export interface CallResult<T> {
  readonly value: T;
  readonly usage: CallUsage;
  /** HTTP requests this call took, retries included. */
  readonly httpCalls: number;
}

/**
 * Why a request failed. `fatal`: the setup is wrong (key refused, URL or model not found) and every other request
 * would fail the same way, so the run stops. `rejected`: the server refused this request (e.g. HTTP 400) and
 * retrying it would not help. `transient`: retries were used up on 429/5xx/timeouts/resets/bad bodies.
 */
export class OpenAIRequestError extends ExpgenError {
  /** HTTP requests the failed call took, retries included. */
  httpCalls = 0;

  constructor(
    message: string,
    readonly severity: 'fatal' | 'rejected' | 'transient',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'OpenAIRequestError';
  }
}

/** The budget cap was reached: the run stops here, and a rerun with a larger cap goes on from the cache. */
export class BudgetExhaustedError extends ExpgenError {
  constructor(message: string) {
    super(message);
    this.name = 'BudgetExhaustedError';
  }
}

interface Endpoint {
  readonly url: string;
  inFlight: number;
  calls: number;
}

/**
 * A small client for OpenAI-compatible servers (OpenAI, vLLM, SGLang, llama.cpp, Ollama): chat completions and
 * completions, spread over replicas, with bounded concurrency, retries with exponential backoff and jitter that
 * honour Retry-After, a per-request timeout, token accounting and a spending cap. It never caches: callers key
 * their own cache on what determines an answer, which the base URL and the key do not.
 */
export class OpenAICompatibleClient {
  readonly model: string;
  /** HTTP requests sent (retries included) and tokens spent since this client was made. */
  readonly totals = { calls: 0, retries: 0, promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 };
  readonly #apiKey: string | undefined;
  readonly #endpoints: Endpoint[];
  readonly #semaphore: Semaphore;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #settings: Required<
    Pick<
      ClientSettings,
      | 'balance'
      | 'timeoutMs'
      | 'requestRetries'
      | 'backoffMs'
      | 'maxBackoffMs'
      | 'maxRetryAfterMs'
      | 'label'
      | 'apiKeyEnv'
    >
  >;
  readonly #budget: { readonly maxCalls?: number | undefined; readonly maxTokens?: number | undefined };
  readonly #logger: Logger | undefined;
  #next = 0;

  constructor(settings: ClientSettings) {
    this.model = settings.model;
    this.#apiKey = settings.apiKey || undefined;
    this.#endpoints = settings.baseUrls.map((url) => ({ url: url.replace(/\/+$/, ''), inFlight: 0, calls: 0 }));
    this.#semaphore = new Semaphore(settings.concurrency ?? 16);
    this.#fetch = settings.fetch ?? globalThis.fetch;
    this.#sleep = settings.sleep ?? realSleep;
    this.#now = settings.now ?? Date.now;
    this.#random = settings.random ?? Math.random;
    this.#settings = {
      balance: settings.balance ?? 'least-in-flight',
      timeoutMs: settings.timeoutMs ?? 120_000,
      requestRetries: settings.requestRetries ?? 5,
      backoffMs: settings.backoffMs ?? 500,
      maxBackoffMs: settings.maxBackoffMs ?? 30_000,
      maxRetryAfterMs: settings.maxRetryAfterMs ?? 300_000,
      label: settings.label ?? 'openai-compatible',
      apiKeyEnv: settings.apiKeyEnv ?? 'OPENAI_API_KEY',
    };
    this.#budget = settings.budget ?? {};
    this.#logger = settings.logger;
  }

  /** Requests sent to each base URL (credentials in URLs masked): shows that replicas share the load. */
  endpointCalls(): { url: string; calls: number }[] {
    return this.#endpoints.map((e) => ({ url: safeUrl(e.url), calls: e.calls }));
  }

  /** POST /chat/completions with `model` added; the first choice's message. */
  chat(body: Readonly<Record<string, unknown>>, signal?: AbortSignal): Promise<CallResult<ChatAnswer>> {
    return this.#call('/chat/completions', body, signal, readFirstChatChoice, (answer) => chatText([answer]));
  }

  /**
   * POST /chat/completions for several choices (the body's `n`): every choice, in order. A server that ignores `n`
   * answers with one; a choice that cannot be read comes back as `{ malformed }` (only an answer with no choices at
   * all is retried).
   */
  chatChoices(body: Readonly<Record<string, unknown>>, signal?: AbortSignal): Promise<CallResult<ChatChoice[]>> {
    return this.#call('/chat/completions', body, signal, readChatChoices, chatText);
  }

  /** POST /completions with `model` added; the first choice's text and logprobs. */
  complete(body: Readonly<Record<string, unknown>>, signal?: AbortSignal): Promise<CallResult<CompletionAnswer>> {
    return this.#call('/completions', body, signal, readFirstCompletionChoice, (answer) => answer.text);
  }

  async #call<T>(
    path: string,
    body: Readonly<Record<string, unknown>>,
    signal: AbortSignal | undefined,
    read: (json: unknown) => T,
    answerText: (value: T) => string,
  ): Promise<CallResult<T>> {
    const { requestRetries, label } = this.#settings;
    if (this.#endpoints.length === 0)
      throw new ExpgenError(`${label}: no base URL to send to: set options.baseUrl or $OPENAI_BASE_URL`);
    const payload = JSON.stringify({ ...body, model: this.model });
    let httpCalls = 0;
    for (let retry = 0; ; retry++) {
      const release = await this.#semaphore.acquire(signal);
      let attempt: Attempt;
      let url: string;
      try {
        this.#reserveCall();
        const endpoint = this.#pick();
        url = endpoint.url + path;
        endpoint.inFlight++;
        endpoint.calls++;
        httpCalls++;
        try {
          attempt = await this.#attempt(url, payload, signal);
        } finally {
          endpoint.inFlight--;
        }
      } finally {
        release();
      }
      if (attempt.ok) {
        try {
          const value = read(attempt.json);
          const usage = this.#usage(attempt.json, payload, answerText(value));
          this.totals.promptTokens += usage.promptTokens;
          this.totals.completionTokens += usage.completionTokens;
          this.totals.cachedPromptTokens += usage.cachedPromptTokens;
          return { value, usage, httpCalls };
        } catch (error) {
          if (!(error instanceof MalformedAnswer)) throw error;
          attempt = { ok: false, severity: 'transient', reason: `malformed answer: ${error.message}` };
        }
      }
      const where = safeUrl(url);
      const fail = (error: OpenAIRequestError) => Object.assign(error, { httpCalls });
      if (attempt.severity !== 'transient') throw fail(this.#requestError(attempt, where));
      if (retry >= requestRetries) {
        throw fail(
          new OpenAIRequestError(
            `${label}: ${where} failed ${httpCalls} time${httpCalls === 1 ? '' : 's'}; last: ${attempt.reason}`,
            'transient',
            attempt.status,
          ),
        );
      }
      if (attempt.retryAfterMs !== undefined && attempt.retryAfterMs > this.#settings.maxRetryAfterMs) {
        throw fail(
          new OpenAIRequestError(
            `${label}: ${where} asked to retry after ${seconds(attempt.retryAfterMs)}, longer than maxRetryAfterMs (${seconds(this.#settings.maxRetryAfterMs)}); last: ${attempt.reason}`,
            'transient',
            attempt.status,
          ),
        );
      }
      const delay = this.#delay(retry, attempt.retryAfterMs);
      this.totals.retries++;
      this.#logger?.debug(
        `${label}: ${attempt.reason} from ${where}; retry ${retry + 1} of ${requestRetries} in ${seconds(delay)}`,
      );
      await this.#sleep(delay, signal);
    }
  }

  #delay(retry: number, retryAfterMs: number | undefined): number {
    return backoffDelay(retry, retryAfterMs, this.#settings, this.#random);
  }

  #reserveCall(): void {
    const { maxCalls, maxTokens } = this.#budget;
    const t = this.totals;
    const spent =
      maxCalls !== undefined && t.calls >= maxCalls
        ? `budget.maxCalls (${maxCalls})`
        : maxTokens !== undefined && t.promptTokens + t.completionTokens >= maxTokens
          ? `budget.maxTokens (${maxTokens})`
          : undefined;
    if (spent) {
      throw new BudgetExhaustedError(
        `${this.#settings.label}: budget spent: ${spent} reached after ${t.calls} HTTP calls and ${t.promptTokens + t.completionTokens} tokens ` +
          `(${t.promptTokens} prompt + ${t.completionTokens} completion); raise it to go on — answers already received are cached and cost nothing on the next run`,
      );
    }
    t.calls++;
  }

  #pick(): Endpoint {
    const n = this.#endpoints.length;
    const start = this.#next++ % n;
    if (this.#settings.balance === 'round-robin') return this.#endpoints[start]!;
    let best = this.#endpoints[start]!;
    for (let k = 1; k < n; k++) {
      const e = this.#endpoints[(start + k) % n]!;
      if (e.inFlight < best.inFlight) best = e;
    }
    return best;
  }

  #attempt(url: string, payload: string, signal: AbortSignal | undefined): Promise<Attempt> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#apiKey) headers['authorization'] = `Bearer ${this.#apiKey}`;
    return postOnce({
      fetch: this.#fetch,
      url,
      headers,
      payload,
      timeoutMs: this.#settings.timeoutMs,
      signal,
      now: this.#now,
      redact: (text) => this.#redact(text),
    });
  }

  #requestError(attempt: Extract<Attempt, { ok: false }>, where: string): OpenAIRequestError {
    const { label, apiKeyEnv } = this.#settings;
    const status = attempt.status;
    if (status === 401 || status === 403) {
      return new OpenAIRequestError(
        `${label}: ${where} refused the request (${attempt.reason}): the API key from $${apiKeyEnv} is ${this.#apiKey ? 'not accepted' : 'missing'}; set a valid key and rerun`,
        'fatal',
        status,
      );
    }
    if (status === 404) {
      return new OpenAIRequestError(
        `${label}: ${where} was not found (${attempt.reason}): check baseUrl (it usually ends in /v1) and that the server serves model "${this.model}"`,
        'fatal',
        status,
      );
    }
    return new OpenAIRequestError(
      `${label}: ${where} rejected the request: ${attempt.reason}`,
      attempt.severity,
      status,
    );
  }

  /** Tokens from the answer's `usage`, or characters / 4 when the server leaves it out. */
  #usage(json: unknown, payload: string, answer: string): CallUsage {
    const reported = readUsage(json);
    if (reported) return { ...reported, estimated: false };
    return {
      promptTokens: Math.ceil(payload.length / 4),
      completionTokens: Math.ceil(answer.length / 4),
      cachedPromptTokens: 0,
      estimated: true,
    };
  }

  #redact(text: string): string {
    let out = text.replace(/(bearer\s+)[^\s"',]+/gi, '$1***');
    if (this.#apiKey && this.#apiKey.length >= 4) out = out.split(this.#apiKey).join('***');
    return out;
  }
}

/** What the answer's choices say, for estimating completion tokens when the server reports no `usage`. */
function chatText(choices: readonly ChatChoice[]): string {
  return choices.map((c) => ('malformed' in c ? '' : (c.content ?? c.refusal ?? ''))).join('');
}
