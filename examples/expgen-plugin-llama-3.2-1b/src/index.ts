import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineComponent, definePlugin, ExpgenError, packageMeta, s } from '@expgen/contract';
import {
  BUILT_MODEL_MANIFEST,
  buildOnnxModel,
  LlamaTokenizer,
  openLlamaSubjectModel,
  readLlamaConfig,
} from '@expgen/plugin-llama';
import { checkLlama321bShape, checkLlama3Vocabulary, LLAMA_32_1B_CHECKPOINT } from './llama-3.2-1b.js';
import { twinModelFolder } from './twin.js';

/**
 * A third-party plugin for one more subject model, Llama-3.2-1B-Instruct, which shares Llama-3.1-8B's tokenizer.
 * It writes no engine of its own: @expgen/plugin-llama builds and runs any Llama-family checkpoint, so what this
 * plugin adds is what is particular to the model:
 *
 * - its identity: a model folder is refused unless it is 1B-shaped (16 layers, hidden 2,048, intermediate 8,192,
 *   32 heads / 8 KV heads of 64, tied embeddings, rope scaling factor 32) and carries Llama-3.1/3.2's vocabulary,
 *   id for id (see llama-3.2-1b.ts for why the vocabulary is what "same tokenizer" means);
 * - a tiny random twin with the same architecture features, so the component runs without the download;
 * - a `build` hook, so `expgen model build --set subject.component=llama-3.2-1b` checks the checkpoint before it
 *   spends minutes converting it.
 *
 * What it needs nothing for: hook points (`mlp/<layer>`, the input of down_proj, 8,192 wide; `resid/<layer>`, the
 * residual stream after the layer, 2,048 wide) come from the built graph and are read by name by the `mlp` and
 * `resid` activation sources; the chat template travels with the tokenizer files the build copies from the
 * checkpoint, so chat data is rendered with the 1B's own template. No code outside the plugins knows which model
 * runs: everything else sees the `SubjectModel` contract.
 */
export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'subject-model',
      name: 'llama-3.2-1b',
      description:
        'Llama-3.2-1B-Instruct (the Llama-3.1 tokenizer) on ONNX Runtime; without a model folder, its tiny random twin.',
      options: s.object({
        model: s
          .string({ nonEmpty: true })
          .nullable()
          .default(null)
          .describe(`Folder built by "expgen model build" from ${LLAMA_32_1B_CHECKPOINT}; null: the tiny random twin.`),
        twin: s
          .object({ seed: s.integer({ min: 0 }).default(0).describe("Seed of the twin's random weights.") })
          .describe("The tiny random twin used when `model` is null: the 1B's architecture features at tiny sizes."),
        provider: s
          .enum(['cpu', 'webgpu', 'cuda'])
          .default('cpu')
          .describe('ONNX Runtime execution provider; never falls back silently.'),
        deviceId: s.integer({ min: 0 }).default(0).describe('GPU index for cuda.'),
      }),
      async create(options, context) {
        const twin = options.model === null;
        const dir = twin
          ? await twinModelFolder(options.twin.seed, context)
          : builtModelFolder(resolve(context.baseDir, options.model!));
        const where = twin
          ? `the Llama-3.2-1B twin (seed ${options.twin.seed}) in ${dir}`
          : `subject.options.model: ${dir}`;
        // Both checks read small files only, so a wrong folder is refused before any weights are loaded.
        checkLlama321bShape(await readLlamaConfig(dir), where, { twin });
        const tokenizer = await LlamaTokenizer.fromDirectory(dir);
        await checkLlama3Vocabulary(tokenizer, where);
        return openLlamaSubjectModel(dir, {
          provider: options.provider,
          deviceId: options.deviceId,
          provenance: { ...context.provenance, settings: twin ? { twin: { seed: options.twin.seed } } : {} },
          logger: context.logger,
          tokenizer,
        });
      },
      async build(source, out, options, context) {
        // Refuse a checkpoint of another model (or with another vocabulary) before converting gigabytes of weights.
        checkLlama321bShape(await readLlamaConfig(source), source, {
          twin: false,
          fix: `give a download of ${LLAMA_32_1B_CHECKPOINT}, or build other Llama-family checkpoints with the general "llama" component (leave out --set subject.component=llama-3.2-1b)`,
        });
        await checkLlama3Vocabulary(await LlamaTokenizer.fromDirectory(source), source);
        const dtype = options['dtype'] === 'fp16' ? 'fp16' : 'fp32';
        let lastReported = 0;
        await buildOnnxModel(source, out, {
          dtype,
          onProgress: (done, total, tensor) => {
            const now = Date.now();
            if (done === total || now - lastReported > 2000) {
              lastReported = now;
              context.logger.info(`building: ${done}/${total} tensors (${tensor})`);
            }
          },
        });
        return { out, summary: `built Llama-3.2-1B-Instruct (${dtype}) into ${out}` };
      },
    }),
  ],
});

/** A folder `expgen model build` wrote (or an existing ONNX export); anything else is refused with what to do. */
function builtModelFolder(dir: string): string {
  const build = `expgen model build <hf-dir> --out ${dir} --set subject.component=llama-3.2-1b`;
  if (!existsSync(dir))
    throw new ExpgenError(
      `subject.options.model: folder ${dir} does not exist; build ${LLAMA_32_1B_CHECKPOINT} into it with "${build}"`,
    );
  if (existsSync(join(dir, BUILT_MODEL_MANIFEST)) || existsSync(join(dir, 'model.onnx'))) return dir;
  if (existsSync(join(dir, 'config.json'))) {
    throw new ExpgenError(
      `subject.options.model: ${dir} is a Hugging Face checkpoint, not a runnable model; build it with "expgen model build ${dir} --out <dir> --set subject.component=llama-3.2-1b" and point subject.options.model at <dir>`,
    );
  }
  throw new ExpgenError(
    `subject.options.model: ${dir} holds neither ${BUILT_MODEL_MANIFEST} (expgen model build) nor model.onnx (an existing export); build one with "${build}"`,
  );
}
