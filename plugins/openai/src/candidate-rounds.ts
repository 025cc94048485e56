import type { CallStore } from '@expgen/contract';
import type { DescribeRequest } from '@expgen/contract';
import {
  OpenAIRequestError,
  type ChatAnswer,
  type ChatChoice,
  type CallResult,
  type OpenAICompatibleClient,
} from './chat-client.js';
import type { NSupport } from './n-support.js';

/** What one round got for one slot (candidate index) of a describe request. */
export type SlotOutcome =
  /** An answer: `seed` is the seed of the request that produced it; `n` and `choice` when it asked for several. */
  | {
      readonly kind: 'answer';
      readonly answer: ChatChoice;
      readonly seed: number;
      readonly n?: number;
      readonly choice?: number;
    }
  /** The server answered fewer choices than asked and none for this slot: ask again, no attempt spent. */
  | { readonly kind: 'missing' }
  /** The request failed after the client's retries (or the server refused it): the slot fails. */
  | { readonly kind: 'error'; readonly detail: string };

/** What a describe call spent, in the contract's `DescribeUsage` terms. */
export interface Spent {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  cachedPromptTokens: number;
  cachedCalls: number;
}

export interface CandidateRoundsSettings {
  readonly client: OpenAICompatibleClient;
  readonly cache: CallStore;
  readonly nSupport: NSupport;
  readonly signal: AbortSignal | undefined;
  /** The request body for `seed`, asking for `n` choices (n is left out of the body when 1). */
  readonly body: (request: DescribeRequest, seed: number, n: number) => Record<string, unknown>;
}

/** The cache entry of a request for several choices. */
interface CachedChoices {
  readonly choices: readonly ChatChoice[];
}

/**
 * One round of a describe call: answers for the slots still pending. Round r's requests carry seeds from
 * `seed + count x r` on — slot i alone is asked with seed `seed + i + count x r`, a group of slots with `n` and the
 * seed its first slot would have — so no two requests of a call share a seed, and on vLLM (which samples choice j
 * of a seeded request with seed + j) round 0's n request gives each candidate what a request of its own would.
 *
 * Every request is cached by its body (with `n`); before sending, the round looks for the group's `n` answer and
 * then for per-candidate answers in the cache, so a rerun sends nothing whichever way the first run asked (a
 * server found to ignore `n` part-way through a run leaves some signs asked each way).
 */
export class CandidateRounds {
  constructor(private readonly settings: CandidateRoundsSettings) {}

  async round(
    request: DescribeRequest,
    round: number,
    pending: readonly number[],
    spent: Spent,
  ): Promise<Map<number, SlotOutcome>> {
    const outcomes = new Map<number, SlotOutcome>();
    const seedOf = (slot: number) => request.seed + slot + request.count * round;
    const { cache } = this.settings;
    if (pending.length >= 2) {
      const cached = await cache.get<CachedChoices>(this.key(request, seedOf(pending[0]!), pending.length));
      if (cached) {
        spent.cachedCalls++;
        assign(outcomes, pending, cached.choices, seedOf(pending[0]!));
        return outcomes;
      }
    }
    const single = await Promise.all(pending.map((slot) => cache.get<ChatAnswer>(this.key(request, seedOf(slot), 1))));
    const rest: number[] = [];
    pending.forEach((slot, k) => {
      const answer = single[k];
      if (answer === undefined) {
        rest.push(slot);
        return;
      }
      spent.cachedCalls++;
      outcomes.set(slot, { kind: 'answer', answer, seed: seedOf(slot) });
    });
    if (rest.length === 0) return outcomes;
    if (rest.length >= 2 && this.settings.nSupport.mode === 'n') {
      await this.askGroup(request, rest, seedOf(rest[0]!), rest.length < pending.length, outcomes, spent);
      return outcomes;
    }
    const settled = await Promise.allSettled(
      rest.map((slot) => this.askOne(request, slot, seedOf(slot), outcomes, spent)),
    );
    // Every request has settled before anything is thrown, so none outlives the describe call.
    const stop = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (stop) throw stop.reason;
    return outcomes;
  }

  private key(request: DescribeRequest, seed: number, n: number) {
    return { api: 'chat/completions', model: this.settings.client.model, body: this.settings.body(request, seed, n) };
  }

  /** One request with `n` for the slots of `group`; choice j fills `group[j]`. */
  private async askGroup(
    request: DescribeRequest,
    group: readonly number[],
    seed: number,
    lookFirst: boolean,
    outcomes: Map<number, SlotOutcome>,
    spent: Spent,
  ): Promise<void> {
    const key = this.key(request, seed, group.length);
    const cached = lookFirst ? await this.settings.cache.get<CachedChoices>(key) : undefined;
    if (cached) {
      spent.cachedCalls++;
      assign(outcomes, group, cached.choices, seed);
      return;
    }
    const result = await this.send(() => this.settings.client.chatChoices(key.body, this.settings.signal), spent);
    if ('error' in result) {
      for (const slot of group)
        outcomes.set(slot, { kind: 'error', detail: `seed ${seed} (n ${group.length}): ${result.error}` });
      return;
    }
    this.settings.nSupport.observe(group.length, result.value.length);
    await this.settings.cache.put(key, { choices: result.value } satisfies CachedChoices);
    assign(outcomes, group, result.value, seed);
  }

  private async askOne(
    request: DescribeRequest,
    slot: number,
    seed: number,
    outcomes: Map<number, SlotOutcome>,
    spent: Spent,
  ): Promise<void> {
    const key = this.key(request, seed, 1);
    const result = await this.send(() => this.settings.client.chat(key.body, this.settings.signal), spent);
    if ('error' in result) {
      outcomes.set(slot, { kind: 'error', detail: `seed ${seed}: ${result.error}` });
      return;
    }
    await this.settings.cache.put(key, result.value);
    outcomes.set(slot, { kind: 'answer', answer: result.value, seed });
  }

  /**
   * Sends one call and books what it cost. A transport failure that outlived the client's retries, or a request the
   * server refuses, fails the slots it was for and the others go on; a wrong setup, a spent budget or an abort
   * stops the describe.
   */
  private async send<T>(call: () => Promise<CallResult<T>>, spent: Spent): Promise<{ value: T } | { error: string }> {
    try {
      const result = await call();
      spent.calls += result.httpCalls;
      spent.promptTokens += result.usage.promptTokens;
      spent.completionTokens += result.usage.completionTokens;
      spent.cachedPromptTokens += result.usage.cachedPromptTokens;
      return { value: result.value };
    } catch (error) {
      if (error instanceof OpenAIRequestError && error.severity !== 'fatal') {
        spent.calls += error.httpCalls;
        return { error: error.message };
      }
      throw error;
    }
  }
}

function assign(
  outcomes: Map<number, SlotOutcome>,
  group: readonly number[],
  choices: readonly ChatChoice[],
  seed: number,
): void {
  group.forEach((slot, j) => {
    const answer = choices[j];
    if (answer === undefined) outcomes.set(slot, { kind: 'missing' });
    else if (group.length === 1) outcomes.set(slot, { kind: 'answer', answer, seed });
    else outcomes.set(slot, { kind: 'answer', answer, seed, n: group.length, choice: j });
  });
}
