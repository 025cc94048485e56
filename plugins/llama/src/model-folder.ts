import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  /** Neurons planted to respond to documented classes (hf/planted/README.md); false: every weight random. */
  planted?: boolean;
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
  const dir = join(context.cacheDir, 'models', `tiny-llama-${tinyModelKey(tiny)}`);
  await produceFolderOnce(
    dir,
    (d) => existsSync(join(d, 'onnx', BUILT_MODEL_MANIFEST)),
    async (scratch) => {
      context.logger.info(
        `generating the tiny ${tiny.planted ? 'planted ' : ''}demo model (seed ${tiny.seed}, ${tiny.layers} layers) into ${dir}`,
      );
      await generateTinyLlama(join(scratch, 'hf'), { ...tiny, dtype: 'BF16', shards: 2 });
      await buildOnnxModel(join(scratch, 'hf'), join(scratch, 'onnx'), { dtype: 'fp32' });
    },
  );
  return join(dir, 'onnx');
}

/**
 * The cache key of a tiny model: its options and the generator's own code, so a changed generator never reuses a
 * model another version wrote (worktrees and checkouts share ~/.cache/expgen).
 */
export function tinyModelKey(tiny: TinyModelOptions, generator: string = generatorSource()): string {
  return createHash('sha256')
    .update(JSON.stringify({ format: 2, ...tiny, planted: tiny.planted ?? false }))
    .update(generator)
    .digest('hex')
    .slice(0, 16);
}

let generatorHash: string | undefined;
/**
 * A hash over the compiled generator: every module under hf/ (the checkpoint writer, the planted construction and
 * its classes), in path order, read once per process. A folder rather than a list, so moving a file cannot leave
 * the key blind to it.
 */
export function generatorSource(): string {
  if (generatorHash === undefined) {
    const root = fileURLToPath(new URL('./hf/', import.meta.url));
    const hash = createHash('sha256');
    for (const file of modulesUnder(root)) hash.update(relative(root, file)).update(readFileSync(file));
    generatorHash = hash.digest('hex');
  }
  return generatorHash;
}

function modulesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) =>
      e.isDirectory()
        ? modulesUnder(join(dir, e.name))
        : e.name.endsWith('.js') && !e.name.endsWith('.test.js')
          ? [join(dir, e.name)]
          : [],
    );
}
