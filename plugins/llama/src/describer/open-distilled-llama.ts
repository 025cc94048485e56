import { ExpgenError, type ComponentContext } from '@expgen/contract';
import { callStoreFor } from '@expgen/plugin-kit';
import { openLlamaSubjectModel } from '../llama-subject-model.js';
import { resolveModelFolder, type TinyModelOptions } from '../model-folder.js';
import { DistilledLlamaDescriber } from './distilled-llama-describer.js';
import { resolveModelOption } from './local-model-folder.js';

export interface DistilledLlamaOptions {
  model: string | null;
  tiny: TinyModelOptions;
  provider: 'cpu' | 'webgpu' | 'cuda';
  deviceId: number;
  temperature: number;
  topP: number;
  maxTokens: number;
  maxRetries: number;
  batchSize: number;
  date: string;
  cache: boolean;
}

/** Opens the explainer's own model (or the tiny seeded one) on this plugin's ONNX engine and wraps it as a describer. */
export async function openDistilledLlamaDescriber(
  options: DistilledLlamaOptions,
  context: ComponentContext,
): Promise<DistilledLlamaDescriber> {
  const dir =
    options.model === null
      ? await resolveModelFolder({ model: null, tiny: options.tiny }, context)
      : resolveModelOption('describer.options.model', options.model, context.baseDir);
  const engine = await openLlamaSubjectModel(dir, {
    provider: options.provider,
    deviceId: options.deviceId,
    provenance: context.provenance,
    logger: context.logger,
  });
  try {
    // Fail now, not at the first feature, when the tokenizer has no chat template (a base model's files).
    engine.tokenizer.encodeChat([{ role: 'user', content: 'check' }], {
      addGenerationPrompt: true,
      date: options.date,
    });
    const { temperature, topP, maxTokens, maxRetries, batchSize, date } = options;
    return new DistilledLlamaDescriber(
      engine,
      {
        temperature,
        topP,
        maxTokens,
        maxRetries,
        batchSize,
        date,
        callCache: options.cache ? callStoreFor(context, 'describer/distilled-llama') : null,
      },
      context.provenance,
    );
  } catch (error) {
    await engine.dispose();
    if (error instanceof ExpgenError)
      throw new ExpgenError(`describer "distilled-llama" (${dir}): ${error.message}`, { cause: error });
    throw error;
  }
}
