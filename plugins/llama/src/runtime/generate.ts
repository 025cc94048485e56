import { ExpgenError, type GenerationRequest, type GenerationResult, type Provenance } from '@expgen/contract';
import { int64Tensor, type Feed, type HostTensor } from './host-tensor.js';
import { gatherCacheRows } from './kv-rows.js';
import type { ModelSessions } from './model-sessions.js';
import { TokenSampler } from './token-sampler.js';

/** The engine's generation request: the contract's, plus one sampler seed per row and how to prefill. */
export interface LlamaGenerationRequest extends GenerationRequest {
  /**
   * One sampler seed per prompt, replacing `seed`: each row draws from its own seeded stream, so K samples of one
   * prompt run as one batch and row i's tokens depend on its seed and prompt, not on the rows beside it (up to the
   * rounding of batched arithmetic).
   */
  readonly seeds?: readonly number[];
  /**
   * Prefill each distinct prompt once and copy its KV cache into every row that repeats it (default true), so K
   * samples of one prompt cost one prefill instead of K. false: every row prefills its own copy, as the reference
   * the tests and the benchmark compare against. The tokens are the same either way, for the same seeds.
   */
  readonly sharePrefill?: boolean;
}

/** What a generate call ran through the model, in hardware-independent units. */
export interface GenerationUsage {
  /** Prompt tokens prefilled (each distinct prompt once when the prefill is shared; padding not counted). */
  readonly prefillTokens: number;
  /** Tokens sampled, over all rows (a stop token included). */
  readonly generatedTokens: number;
  /** Forward passes: the prefill, then one per decoding step. */
  readonly passes: number;
}

export interface LlamaGenerationResult extends GenerationResult {
  readonly usage: GenerationUsage;
}

export interface GenerationSettings {
  readonly vocabSize: number;
  /** Default stop tokens (the tokenizer's end-of-sequence ids). */
  readonly eosIds: readonly number[];
  /** The model's provenance; generation settings are added to it. */
  readonly provenance: Provenance;
}

/**
 * Sampling with the KV cache: prompts left-padded so every row's last prompt token is in the same column, one
 * prefill pass, then one pass per new token that feeds the previous pass's cache back (kept in the inference worker,
 * never crossing threads). Rows that repeat a prompt share its prefill: the distinct prompts are prefilled as a
 * smaller batch, their cache comes to the host once and is copied into each row that uses it, and each row samples
 * its first token from its prompt's logits with its own sampler — so the tokens equal those of a prefill per row.
 * Copying on the host was chosen over tiling in the graph: under this runtime the outputs of a pass come back to
 * the host anyway, so a tile made in the graph would move K copies off the device instead of one (and the copy
 * costs little next to the passes: see `npm run bench shared-prefill`).
 */
export async function generateWithCache(
  sessions: ModelSessions,
  settings: GenerationSettings,
  request: LlamaGenerationRequest,
): Promise<LlamaGenerationResult> {
  const { prompts, maxNewTokens, seeds } = request;
  const temperature = request.temperature ?? 0;
  const topP = request.topP ?? 1;
  const seed = request.seed ?? 0;
  const stopTokens = new Set(request.stopTokens ?? settings.eosIds);
  checkGeneration(request, settings.vocabSize, temperature, topP, seed);
  const seedSettings = seeds ? { seeds: [...seeds] } : { seed };
  const generatedBy: Provenance = {
    ...settings.provenance,
    settings: { ...settings.provenance.settings, temperature, topP, ...seedSettings, maxNewTokens },
  };
  const batch = prompts.length;
  const generated: number[][] = prompts.map(() => []);
  const finished: boolean[] = prompts.map(() => false);
  const usage = { prefillTokens: 0, generatedTokens: 0, passes: 0 };
  if (batch === 0 || maxNewTokens === 0) {
    return {
      sequences: generated.map((tokens) => ({ tokens, finishReason: 'length' as const })),
      generatedBy,
      usage,
    };
  }

  // Which prefill row serves each row: the first row with the same prompt, when shared.
  const prefilled: (readonly number[])[] = [];
  const prefillRow: number[] = [];
  const byPrompt = new Map<string, number>();
  for (const prompt of prompts) {
    const key = request.sharePrefill === false ? String(prefilled.length) : prompt.join(',');
    let row = byPrompt.get(key);
    if (row === undefined) {
      row = prefilled.push(prompt) - 1;
      byPrompt.set(key, row);
    }
    prefillRow.push(row);
  }
  const shared = prefilled.length < batch;

  const { model, client } = sessions;
  const session = await sessions.acquire({ hooks: [], logits: 'last', kvCache: true });
  const samplers = seeds
    ? seeds.map((rowSeed) => new TokenSampler({ temperature, topP }, rowSeed))
    : new Array<TokenSampler>(batch).fill(new TokenSampler({ temperature, topP }, seed));
  const vocab = settings.vocabSize;
  const logitsName = session.variant.logits!;
  const pass = sessions.nextPassId();
  let retained: string[] = [];
  try {
    // Left padding aligns every prompt's last token at the same column, so each step appends one column.
    const promptLength = Math.max(...prefilled.map((p) => p.length));
    const padding = (p: readonly number[]) => new Array<number>(promptLength - p.length).fill(0);
    const prefillMask = prefilled.map((p) => [...padding(p), ...p.map(() => 1)]);
    let feeds: Record<string, Feed> = {
      [model.base.inputIds]: int64Tensor(
        prefilled.flatMap((p) => [...padding(p), ...p]),
        [prefilled.length, promptLength],
      ),
      [model.base.attentionMask]: int64Tensor(prefillMask.flat(), [prefilled.length, promptLength]),
      ...(model.positionIds
        ? {
            [model.positionIds]: int64Tensor(
              prefilled.flatMap((p) => [...padding(p), ...p.map((_, i) => i)]),
              [prefilled.length, promptLength],
            ),
          }
        : {}),
      ...sessions.emptyCache(prefilled.length),
    };
    usage.prefillTokens = prefilled.reduce((n, p) => n + p.length, 0);
    let mask = prefillRow.map((row) => [...prefillMask[row]!]);
    const nextPosition = prompts.map((p) => p.length);
    for (let step = 0; step < maxNewTokens; step++) {
      const retain: Record<string, string> = {};
      // A shared prefill's cache comes back to be copied into its rows; every other pass keeps it in the worker.
      const fetchCache = step === 0 && shared;
      if (!fetchCache) for (const pair of model.kvPairs) retain[pair.present] = `g${pass}.${step}.${pair.present}`;
      const outputs = await client.run(session.variant.key, feeds, {
        fetch: fetchCache ? [logitsName, ...model.kvPairs.map((p) => p.present)] : [logitsName],
        retain,
        releaseAfter: retained,
      });
      usage.passes++;
      retained = Object.values(retain);
      const logits = outputs[logitsName]!.data as Float32Array;
      const next = new Array<number>(batch).fill(0);
      for (let row = 0; row < batch; row++) {
        if (finished[row]) continue;
        const from = step === 0 ? prefillRow[row]! : row;
        const token = samplers[row]!.next(logits.subarray(from * vocab, (from + 1) * vocab));
        generated[row]!.push(token);
        next[row] = token;
        if (stopTokens.has(token)) finished[row] = true;
      }
      if (finished.every(Boolean) || step === maxNewTokens - 1) break;
      mask = mask.map((m) => [...m, 1]);
      feeds = {
        [model.base.inputIds]: int64Tensor(next, [batch, 1]),
        [model.base.attentionMask]: int64Tensor(mask.flat(), [batch, mask[0]!.length]),
        ...(model.positionIds
          ? {
              [model.positionIds]: int64Tensor(
                nextPosition.map((p, row) => p + generated[row]!.length - 1),
                [batch, 1],
              ),
            }
          : {}),
      };
      for (const pair of model.kvPairs) {
        feeds[pair.past] = fetchCache
          ? gatherCacheRows(outputs[pair.present] as HostTensor, prefillRow)
          : { retained: retain[pair.present]! };
      }
    }
  } finally {
    await client.release(retained).catch(() => undefined);
    sessions.release(session);
  }
  usage.generatedTokens = generated.reduce((n, tokens) => n + tokens.length, 0);
  return {
    sequences: generated.map((tokens, row) => ({
      tokens,
      finishReason: finished[row] ? ('stop' as const) : ('length' as const),
    })),
    generatedBy,
    usage,
  };
}

function checkGeneration(
  request: LlamaGenerationRequest,
  vocab: number,
  temperature: number,
  topP: number,
  seed: number,
): void {
  if (request.seeds !== undefined) {
    if (request.seeds.length !== request.prompts.length)
      throw new ExpgenError(
        `generate: ${request.seeds.length} seeds given for ${request.prompts.length} prompts; give one per prompt`,
      );
    request.seeds.forEach((rowSeed, row) => {
      if (!Number.isSafeInteger(rowSeed))
        throw new ExpgenError(`generate: seed ${rowSeed} of row ${row} must be an integer`);
    });
  }
  if (!Number.isSafeInteger(request.maxNewTokens) || request.maxNewTokens < 0)
    throw new ExpgenError(`generate: maxNewTokens ${request.maxNewTokens} must be a non-negative integer`);
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new ExpgenError(`generate: temperature ${temperature} must be a finite number >= 0`);
  if (!(topP > 0 && topP <= 1)) throw new ExpgenError(`generate: topP ${topP} must be in (0, 1]`);
  if (!Number.isSafeInteger(seed)) throw new ExpgenError(`generate: seed ${seed} must be an integer`);
  request.prompts.forEach((prompt, row) => {
    if (prompt.length === 0)
      throw new ExpgenError(`generate: prompt ${row} is empty; give at least one token (e.g. the BOS id)`);
    for (const id of prompt) {
      if (!Number.isSafeInteger(id) || id < 0 || id >= vocab)
        throw new ExpgenError(
          `generate: prompt ${row} holds token id ${id}, outside the model's vocabulary (0..${vocab - 1})`,
        );
    }
  });
}
