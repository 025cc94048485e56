import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { produceFolderOnce } from '@expgen/plugin-kit';
import type { Logger } from '@expgen/contract';
import { generateTinyLlama } from '../hf/tiny-model.js';
import { BUILT_MODEL_MANIFEST, type TinyModelOptions } from '../model-folder.js';
import { buildOnnxModel } from '../onnx/build-model.js';
import { llama31TokenizerFiles } from '../tokenizer/llama31-tokenizer-files.js';

/**
 * A tiny seeded random model shaped like the released simulator: Llama 3's vocabulary extended to `vocabSize` ids
 * (PAD and the remapped control tokens), with the Llama-3.1 tokenizer files beside it — the generator writes them
 * only for exactly 128,256 ids. Generated and built once into the cache; for tests and the demo.
 */
export async function tinySimulatorFolder(
  tiny: TinyModelOptions,
  vocabSize: number,
  context: { cacheDir: string; logger: Logger },
): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ format: 2, kind: 'simulator', vocabSize, ...tiny }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(context.cacheDir, 'models', `tiny-simulator-${key}`);
  await produceFolderOnce(
    dir,
    (d) => existsSync(join(d, 'onnx', BUILT_MODEL_MANIFEST)),
    async (scratch) => {
      context.logger.info(
        `generating the tiny demo simulator (seed ${tiny.seed}, ${tiny.layers} layers, ${vocabSize} ids) into ${dir}`,
      );
      const hf = join(scratch, 'hf');
      await generateTinyLlama(hf, { ...tiny, vocabSize, dtype: 'BF16', shards: 1 });
      const files = await llama31TokenizerFiles();
      await writeFile(join(hf, 'tokenizer.json'), `${JSON.stringify(files.tokenizerJson)}\n`);
      await writeFile(join(hf, 'tokenizer_config.json'), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
      await buildOnnxModel(hf, join(scratch, 'onnx'), { dtype: 'fp32' });
    },
  );
  return join(dir, 'onnx');
}
