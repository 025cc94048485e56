import { createHash } from 'node:crypto';
import { callStoreFor } from '@expgen/plugin-kit';
import { ExpgenError, type ChatMessage, type ComponentContext } from '@expgen/contract';
import {
  openLlamaSubjectModel,
  resolveModelFolder,
  resolveModelOption,
  type LlamaSubjectModel,
} from '@expgen/plugin-llama';
import { noUsage, type EngineAnswer, type JudgeEngine, type JudgeUsage, type Sampling } from './judge-engine.js';
import type { JudgeOptions } from './options.js';

/** Changes when the cache entry layout or what determines an answer changes. */
const CACHE_FORMAT = 1;

/** One prompt row waiting for a batched generation. */
interface Row {
  readonly prompt: readonly number[];
  readonly temperature: number;
  readonly seed: number;
  readonly done: (result: { text: string; promptTokens: number; completionTokens: number } | { error: string }) => void;
}

/**
 * A judge on the local Llama engine (`@expgen/plugin-llama`'s ONNX Runtime sessions, any execution provider): the
 * messages go through the model's chat template, each sample is a row with its own seed, and rows of every prompt
 * in flight — the batches of many feature-signs, judged side by side — share batched generations of up to
 * `local.batchSize` rows (rows of one temperature together). Answers are cached durably by (model hashes, prompt,
 * sampling settings, seed). A prompt generated counts as one request of the cost accounting.
 */
export async function localJudgeEngine(
  options: JudgeOptions,
  context: ComponentContext,
  label: string,
): Promise<JudgeEngine> {
  const local = options.local;
  const dir =
    local.model === null
      ? await resolveModelFolder({ model: null, tiny: local.tiny }, context)
      : resolveModelOption('options.judge.local.model', local.model, context.baseDir);
  const model: LlamaSubjectModel = await openLlamaSubjectModel(dir, {
    provider: local.provider,
    deviceId: local.deviceId,
    provenance: context.provenance,
    logger: context.logger,
  });
  try {
    // Fail now, not at the first feature, when the folder's tokenizer has no chat template (a base model).
    model.tokenizer.encodeChat([{ role: 'user', content: 'check' }], { addGenerationPrompt: true, date: local.date });
  } catch (error) {
    await model.dispose();
    throw new ExpgenError(
      `${label}: options.judge.local.model (${dir}) cannot be a judge: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const cache = local.cache ? callStoreFor(context, 'judge/local') : null;
  const modelKey = { hashes: model.info.hashes, dtype: model.info.dtype };
  const stopTokens = [...model.tokenizer.eosIds];
  const stops = new Set(stopTokens);
  const queue: Row[] = [];
  let running = false;

  /** Generates queued rows, a batch of one temperature at a time, until the queue is empty. */
  const drain = async () => {
    if (running) return;
    running = true;
    try {
      while (queue.length > 0) {
        const temperature = queue[0]!.temperature;
        const batch: Row[] = [];
        for (let i = 0; i < queue.length && batch.length < local.batchSize; ) {
          if (queue[i]!.temperature === temperature) batch.push(...queue.splice(i, 1));
          else i++;
        }
        try {
          const result = await model.generate({
            prompts: batch.map((r) => r.prompt),
            maxNewTokens: options.maxTokens,
            temperature,
            seeds: batch.map((r) => r.seed),
            stopTokens,
          });
          batch.forEach((row, k) => {
            const { tokens, finishReason } = result.sequences[k]!;
            const body = finishReason === 'stop' && stops.has(tokens.at(-1)!) ? tokens.slice(0, -1) : tokens;
            row.done({
              text: model.tokenizer.decode(body),
              promptTokens: row.prompt.length,
              completionTokens: tokens.length,
            });
          });
        } catch (error) {
          for (const row of batch) row.done({ error: error instanceof Error ? error.message : String(error) });
        }
      }
    } finally {
      running = false;
    }
  };

  const generateRow = (prompt: readonly number[], temperature: number, seed: number) =>
    new Promise<Parameters<Row['done']>[0]>((done) => {
      queue.push({ prompt, temperature, seed, done });
      void drain();
    });

  return {
    settings: {
      engine: 'local',
      model: local.model === null ? 'tiny' : dir,
      dtype: model.info.dtype,
      executionProvider: model.info.executionProvider,
      maxTokens: options.maxTokens,
      date: local.date,
    },
    async ask(messages: readonly ChatMessage[], sampling: Sampling): Promise<EngineAnswer> {
      const usage: JudgeUsage = noUsage();
      const prompt = model.tokenizer.encodeChat(messages, { addGenerationPrompt: true, date: local.date });
      const digest = createHash('sha256')
        .update(new Uint8Array(Int32Array.from(prompt).buffer))
        .digest('hex');
      const answers = await Promise.all(
        Array.from({ length: sampling.samples }, async (_, i) => {
          const seed = sampling.seed + i;
          const key = {
            format: CACHE_FORMAT,
            model: modelKey,
            prompt: { sha256: digest, tokens: prompt.length },
            temperature: sampling.temperature,
            maxTokens: options.maxTokens,
            stopTokens,
            seed,
          };
          const cached = await cache?.get<{ text: string }>(key);
          if (cached) {
            usage.cachedCalls++;
            return cached.text;
          }
          const result = await generateRow(prompt, sampling.temperature, seed);
          if ('error' in result) return { error: result.error };
          usage.calls++;
          usage.promptTokens += result.promptTokens;
          usage.completionTokens += result.completionTokens;
          await cache?.put(key, { text: result.text });
          return result.text;
        }),
      );
      const failed = answers.find((a): a is { error: string } => typeof a !== 'string');
      if (failed) return { ok: false, error: `local generation failed: ${failed.error}`, usage };
      return { ok: true, texts: answers as string[], usage };
    },
    dispose: () => model.dispose(),
  };
}
