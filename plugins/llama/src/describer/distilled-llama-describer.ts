import { createHash } from 'node:crypto';
import {
  type CallStore,
  ExpgenError,
  type DescribeRequest,
  type DescribeResult,
  type Describer,
  type DescriptionCandidate,
  type DescriptionFailure,
  type Provenance,
  type SubjectModelInfo,
  type Tokenizer,
} from '@expgen/contract';
import type { LlamaGenerationRequest, LlamaGenerationResult } from '../llama-subject-model.js';
import { parseDescription } from './parse-description.js';

/** What the describer needs of the model it runs: the llama engine, or a stand-in in tests. */
export interface ExplainerEngine {
  readonly info: SubjectModelInfo;
  readonly provenance: Provenance;
  readonly tokenizer: Tokenizer;
  /** Must honour `seeds` (one sampler seed per row), and say what it ran (`usage`). */
  generate(request: LlamaGenerationRequest): Promise<LlamaGenerationResult>;
  dispose?(): Promise<void> | void;
}

export interface DistilledLlamaSettings {
  readonly temperature: number;
  readonly topP: number;
  /** Most tokens of one answer. */
  readonly maxTokens: number;
  /** Further samples, each with a new seed, for a candidate whose answer cannot be parsed. */
  readonly maxRetries: number;
  /** Most answers sampled in one batched `generate` call. */
  readonly batchSize: number;
  /** `Today Date` of the Llama-3.1 chat template, fixed so prompts (and cache keys) are deterministic. */
  readonly date: string;
  /** The durable call cache (`callStoreFor(context, 'describer/distilled-llama')`); null: no cache. */
  readonly callCache: CallStore | null;
}

/** One sampled answer, as cached. */
interface Answer {
  readonly text: string;
  readonly completionTokens: number;
  readonly finishReason: 'stop' | 'length';
}

/** Changes when the cache entry layout or what determines an answer changes. */
const CACHE_FORMAT = 1;

/** What a describe call cost: the contract's DescribeUsage, counted as it runs. */
interface Usage {
  promptTokens: number;
  completionTokens: number;
  calls: number;
  cachedCalls: number;
}

/**
 * The fine-tuned explainer ("distilled Llama") run locally: the prompt is rendered with the Llama-3.1 chat template,
 * the K candidates of a request are sampled as one batch with per-row seeds (candidate i: `seed + i`) that prefills
 * the prompt once and shares its KV cache among the K rows, and each answer is cut at its last `[DESCRIPTION]:`
 * marker. An answer that cannot be parsed is sampled again with a new
 * seed (`seed + i + r * count` for retry r) up to `maxRetries` times, then reported as a DescriptionFailure. Every
 * sampled answer is cached durably by (model hashes, prompt tokens, sampling settings, seed), so a rerun samples
 * nothing. `usage` counts what ran: `calls` are generate passes, `promptTokens` the prompt tokens they prefilled
 * (once per pass), `completionTokens` the tokens sampled, `cachedCalls` the answers read from the cache.
 */
export class DistilledLlamaDescriber implements Describer {
  readonly provenance: Provenance;
  /** Answers sampled by the model and answers read from the cache, since this object was made. */
  readonly stats = { generated: 0, cached: 0 };
  private readonly cache: CallStore | null;
  private readonly modelKey: Record<string, unknown>;

  constructor(
    private readonly engine: ExplainerEngine,
    private readonly settings: DistilledLlamaSettings,
    provenance: Provenance,
  ) {
    const { temperature, topP, maxTokens, maxRetries, date } = settings;
    if (!(temperature >= 0) || !(topP > 0 && topP <= 1) || !Number.isSafeInteger(maxTokens) || maxTokens < 1) {
      throw new ExpgenError(
        `distilled-llama: temperature ${temperature} (>= 0), topP ${topP} (in (0, 1]) and maxTokens ${maxTokens} (>= 1) are out of range`,
      );
    }
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0)
      throw new ExpgenError(`distilled-llama: maxRetries ${maxRetries} must be a non-negative integer`);
    if (!Number.isSafeInteger(settings.batchSize) || settings.batchSize < 1)
      throw new ExpgenError(`distilled-llama: batchSize ${settings.batchSize} must be a positive integer`);
    this.provenance = {
      ...provenance,
      settings: {
        ...engine.provenance.settings,
        ...provenance.settings,
        temperature,
        topP,
        maxTokens,
        maxRetries,
        date,
      },
    };
    this.cache = settings.callCache;
    this.modelKey = { hashes: engine.info.hashes, dtype: engine.info.dtype };
  }

  async describe(request: DescribeRequest): Promise<DescribeResult> {
    const { count, seed } = request;
    if (!Number.isSafeInteger(count) || count < 0)
      throw new ExpgenError(`distilled-llama: count ${count} must be a non-negative integer`);
    if (!Number.isSafeInteger(seed)) throw new ExpgenError(`distilled-llama: seed ${seed} must be an integer`);
    const prompt = this.engine.tokenizer.encodeChat(request.messages, {
      addGenerationPrompt: true,
      date: this.settings.date,
    });
    const promptDigest = createHash('sha256')
      .update(new Uint8Array(Int32Array.from(prompt).buffer))
      .digest('hex');
    const usage: Usage = { promptTokens: 0, completionTokens: 0, calls: 0, cachedCalls: 0 };
    const candidates: (DescriptionCandidate | undefined)[] = new Array(count);
    const attempts: { seed: number; reason: DescriptionFailure['reason']; detail: string }[][] = Array.from(
      { length: count },
      () => [],
    );
    const failed: (DescriptionFailure | undefined)[] = new Array(count);

    let pending = Array.from({ length: count }, (_, i) => i);
    for (let attempt = 0; attempt <= this.settings.maxRetries && pending.length > 0; attempt++) {
      // Retry r of candidate i uses seed + i + r * count: distinct from every first sample and other retry.
      const seeds = pending.map((i) => seed + i + attempt * count);
      const answers = await this.sample(prompt, promptDigest, seeds, usage);
      const next: number[] = [];
      pending.forEach((i, k) => {
        const answer = answers[k]!;
        if ('error' in answer) {
          // A failed model call is not a format problem: another seed would not help, so it is reported at once.
          failed[i] = {
            seed: seed + i,
            reason: 'error',
            detail: `sampling with seed ${seeds[k]} failed: ${answer.error}`,
          };
          return;
        }
        const parsed = parseDescription(answer.text);
        if (parsed.ok) {
          candidates[i] = {
            description: parsed.description,
            seed: seed + i,
            describedBy: {
              ...this.provenance,
              settings: { ...this.provenance.settings, samplingSeed: seeds[k], attempt: attempt + 1 },
            },
          };
        } else {
          attempts[i]!.push({ seed: seeds[k]!, reason: parsed.reason, detail: parsed.detail });
          next.push(i);
        }
      });
      pending = next;
    }
    for (const i of pending) {
      const tries = attempts[i]!;
      const last = tries.at(-1)!;
      failed[i] = {
        seed: seed + i,
        reason: last.reason,
        detail: `${tries.length} sample${tries.length === 1 ? '' : 's'} (seeds ${tries.map((t) => t.seed).join(', ')}) gave no description: ${tries.map((t) => t.reason).join(', ')}; last: ${last.detail}`,
      };
    }
    return {
      candidates: candidates.filter((c): c is DescriptionCandidate => c !== undefined),
      failures: failed.filter((f): f is DescriptionFailure => f !== undefined),
      usage,
    };
  }

  async dispose(): Promise<void> {
    await this.engine.dispose?.();
  }

  /** Answers for `seeds`, from the cache where it has them and from batched generation for the rest. */
  private async sample(
    prompt: readonly number[],
    promptDigest: string,
    seeds: readonly number[],
    usage: Usage,
  ): Promise<(Answer | { error: string })[]> {
    const { temperature, topP, maxTokens } = this.settings;
    const stopTokens = [...this.engine.tokenizer.eosIds];
    const keys = seeds.map((seed) => ({
      format: CACHE_FORMAT,
      model: this.modelKey,
      prompt: { sha256: promptDigest, tokens: prompt.length },
      temperature,
      topP,
      maxTokens,
      stopTokens,
      seed,
    }));
    const answers: (Answer | { error: string } | undefined)[] = this.cache
      ? await Promise.all(keys.map((key) => this.cache!.get<Answer>(key)))
      : new Array(seeds.length);
    const missing = seeds.flatMap((_, k) => (answers[k] === undefined ? [k] : []));
    this.stats.cached += seeds.length - missing.length;
    usage.cachedCalls += seeds.length - missing.length;
    const stops = new Set(stopTokens);
    for (let start = 0; start < missing.length; start += this.settings.batchSize) {
      const rows = missing.slice(start, start + this.settings.batchSize);
      let result: LlamaGenerationResult;
      try {
        result = await this.engine.generate({
          prompts: rows.map(() => prompt),
          maxNewTokens: maxTokens,
          temperature,
          topP,
          seeds: rows.map((k) => seeds[k]!),
          stopTokens,
        });
      } catch (error) {
        for (const k of rows) answers[k] = { error: error instanceof Error ? error.message : String(error) };
        continue;
      }
      usage.calls++;
      usage.promptTokens += result.usage.prefillTokens;
      usage.completionTokens += result.usage.generatedTokens;
      await Promise.all(
        rows.map(async (k, row) => {
          const { tokens, finishReason } = result.sequences[row]!;
          const body = finishReason === 'stop' && stops.has(tokens.at(-1)!) ? tokens.slice(0, -1) : tokens;
          const answer: Answer = {
            text: this.engine.tokenizer.decode(body),
            completionTokens: tokens.length,
            finishReason,
          };
          answers[k] = answer;
          this.stats.generated++;
          await this.cache?.put(keys[k], answer);
        }),
      );
    }
    return answers as (Answer | { error: string })[];
  }
}
