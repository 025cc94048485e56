import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ExpgenError, type ComponentContext, type Tokenizer } from '@expgen/contract';
import { callStoreFor } from '@expgen/plugin-kit';
import { resolveModelOption } from '../describer/local-model-folder.js';
import { openLlamaSubjectModel } from '../llama-subject-model.js';
import type { TinyModelOptions } from '../model-folder.js';
import { LlamaTokenizer } from '../tokenizer/llama-tokenizer.js';
import { checkSharedVocabulary, FinetunedSimulator } from './finetuned-simulator.js';
import { tinySimulatorFolder } from './tiny-simulator-model.js';

export interface FinetunedSimulatorOptions {
  model: string | null;
  tiny: TinyModelOptions;
  provider: 'cpu' | 'webgpu' | 'cuda';
  deviceId: number;
  /** Source id (a decimal string, as config mappings key it) -> the id the model reads instead. */
  remap: Record<string, number>;
  padId: number;
  binIds: number[];
  batchSize: number;
  prefixReuse: boolean;
  cache: boolean;
}

/**
 * Opens the simulator's own model with its base tokenizer (the model folder's tokenizer files, else Llama-3.1's)
 * and an extended vocabulary allowed, after refusing a subject whose token ids it would misread.
 */
export async function openFinetunedSimulator(
  options: FinetunedSimulatorOptions,
  context: ComponentContext,
): Promise<FinetunedSimulator> {
  const subject = context.subject;
  if (!subject)
    throw new ExpgenError('simulator "finetuned" reads the subject\'s token ids and needs the subject model');
  const remap = new Map<number, number>();
  for (const [from, to] of Object.entries(options.remap)) {
    if (!/^\d+$/.test(from)) throw new ExpgenError(`simulator.options.remap: key "${from}" must be a token id`);
    remap.set(Number(from), to);
  }

  let tokenizer: Tokenizer;
  let source: string;
  let dir: string | null = null;
  if (options.model !== null) {
    dir = resolveModelOption('simulator.options.model', options.model, context.baseDir);
    const folder = statSync(dir).isFile() ? dirname(dir) : dir;
    if (existsSync(join(folder, 'tokenizer.json')))
      [tokenizer, source] = [await LlamaTokenizer.fromDirectory(folder), folder];
    else [tokenizer, source] = [await LlamaTokenizer.llama31(), 'Llama-3.1'];
  } else {
    [tokenizer, source] = [await LlamaTokenizer.llama31(), 'Llama-3.1'];
  }
  // Before the model is generated or loaded: a mismatch is a configuration error, found in milliseconds.
  checkSharedVocabulary(subject.tokenizer, tokenizer, source);

  if (dir === null) {
    const vocabSize = Math.max(tokenizer.vocabSize - 1, options.padId, ...remap.values(), ...options.binIds) + 1;
    dir = await tinySimulatorFolder(options.tiny, vocabSize, context);
  }
  const engine = await openLlamaSubjectModel(dir, {
    provider: options.provider,
    deviceId: options.deviceId,
    provenance: context.provenance,
    logger: context.logger,
    tokenizer,
    allowExtendedVocabulary: true,
  });
  try {
    return new FinetunedSimulator(
      engine,
      {
        remap,
        padId: options.padId,
        binIds: options.binIds,
        batchSize: options.batchSize,
        prefixReuse: options.prefixReuse,
        callCache: options.cache ? callStoreFor(context, 'simulator/finetuned') : null,
      },
      context.provenance,
    );
  } catch (error) {
    await engine.dispose();
    throw error;
  }
}
