// The tiny random twin of Llama-3.2-1B: what the component runs when no model folder is given, so tests, CI and a
// first `expgen run` work without the 2.5 GB download. It has the 1B's architecture in miniature and the real
// Llama-3 tokenizer; only its sizes (and, being random, its weights) differ.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { produceFolderOnce } from '@expgen/plugin-kit';
import type { Logger } from '@expgen/contract';
import { BUILT_MODEL_MANIFEST, buildOnnxModel, generateTinyLlama } from '@expgen/plugin-llama';
import { LLAMA_32_1B } from './llama-3.2-1b.js';

/**
 * The 1B's proportions at a size a CPU runs in seconds: 4 query heads per KV head (32:8), heads x head dim =
 * hidden (32 x 64 = 2,048), intermediate = 4 x hidden (8,192); tied embeddings and rope scaling factor 32 below.
 */
export const TWIN_SHAPE = { layers: 2, hiddenSize: 64, intermediateSize: 256, numHeads: 8, numKvHeads: 2 } as const;

/** Bumped when the twin's recipe changes, so a cached twin of an older recipe is never reused. */
const TWIN_FORMAT = 2;

/** The built folder of the twin with this seed: generated and built once into the cache, then reused. */
export async function twinModelFolder(seed: number, context: { cacheDir: string; logger: Logger }): Promise<string> {
  const recipe = {
    format: TWIN_FORMAT,
    seed,
    ...TWIN_SHAPE,
    tieWordEmbeddings: true,
    ropeScalingFactor: LLAMA_32_1B.ropeScalingFactor,
  };
  const key = createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
  const dir = join(context.cacheDir, 'models', `llama-3.2-1b-twin-${key}`);
  await produceFolderOnce(
    dir,
    (d) => existsSync(join(d, 'onnx', BUILT_MODEL_MANIFEST)),
    async (scratch) => {
      context.logger.info(`generating the tiny random twin of Llama-3.2-1B (seed ${seed}) into ${dir}`);
      const hf = join(scratch, 'hf');
      // generateTinyLlama writes a Llama-3.1-style config.json and the Llama-3.1 tokenizer files (the vocabulary the
      // 1B shares) next to seeded random weights.
      await generateTinyLlama(hf, { seed, ...TWIN_SHAPE, tieWordEmbeddings: true, dtype: 'BF16', shards: 1 });
      await useLlama32RopeScaling(join(hf, 'config.json'));
      await buildOnnxModel(hf, join(scratch, 'onnx'), { dtype: 'fp32' });
    },
  );
  return join(dir, 'onnx');
}

/**
 * Llama-3.1-8B stretches its rotary wavelengths by 8, Llama-3.2-1B by 32 (same low/high frequency factors and
 * original context). The weights do not depend on it, so the generated checkpoint's config.json is given the 1B's
 * factor before the build bakes the rotary tables into the graph.
 */
async function useLlama32RopeScaling(configFile: string): Promise<void> {
  const config = JSON.parse(await readFile(configFile, 'utf8')) as { rope_scaling: Record<string, unknown> };
  config.rope_scaling = { ...config.rope_scaling, factor: LLAMA_32_1B.ropeScalingFactor };
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
}
