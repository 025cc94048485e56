import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ExpgenError, type Logger } from '@expgen/contract';
import { produceFolderOnce } from '@expgen/plugin-kit';
import { generateTinyLlama } from './hf/tiny-model.js';
import { buildOnnxModel } from './onnx/build-model.js';

export interface TinyModelOptions {
  seed: number;
  layers: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
}

/** Marker file of a folder written by `expgen model build`. */
export const BUILT_MODEL_MANIFEST = 'expgen-model.json';

/**
 * The folder a `llama` subject loads: a built model, an existing ONNX export (model.onnx without our manifest),
 * or, without `model`, the tiny seeded model, generated and built once into the cache.
 */
export async function resolveModelFolder(
  options: { model: string | null; tiny: TinyModelOptions },
  context: { baseDir: string; cacheDir: string; logger: Logger },
): Promise<string> {
  if (options.model !== null) {
    const dir = resolve(context.baseDir, options.model);
    if (!existsSync(dir))
      throw new ExpgenError(
        `subject.options.model: folder ${dir} does not exist: build one with "expgen model build <hf-dir> --out ${dir}"`,
      );
    if (existsSync(join(dir, BUILT_MODEL_MANIFEST)) || existsSync(join(dir, 'model.onnx'))) return dir;
    if (existsSync(join(dir, 'config.json'))) {
      throw new ExpgenError(
        `subject.options.model: ${dir} is a Hugging Face checkpoint, not a runnable model: run "expgen model build ${dir} --out <dir>" and point subject.options.model at <dir>`,
      );
    }
    throw new ExpgenError(
      `subject.options.model: ${dir} holds neither ${BUILT_MODEL_MANIFEST} (expgen model build) nor model.onnx (an existing export)`,
    );
  }
  return tinyModelFolder(options.tiny, context);
}

async function tinyModelFolder(tiny: TinyModelOptions, context: { cacheDir: string; logger: Logger }): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ format: 2, ...tiny }))
    .digest('hex')
    .slice(0, 16);
  const dir = join(context.cacheDir, 'models', `tiny-llama-${key}`);
  await produceFolderOnce(
    dir,
    (d) => existsSync(join(d, 'onnx', BUILT_MODEL_MANIFEST)),
    async (scratch) => {
      context.logger.info(`generating the tiny demo model (seed ${tiny.seed}, ${tiny.layers} layers) into ${dir}`);
      await generateTinyLlama(join(scratch, 'hf'), { ...tiny, dtype: 'BF16', shards: 2 });
      await buildOnnxModel(join(scratch, 'hf'), join(scratch, 'onnx'), { dtype: 'fp32' });
    },
  );
  return join(dir, 'onnx');
}
