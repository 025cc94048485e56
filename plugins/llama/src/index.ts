import { defineComponent, definePlugin, packageMeta, s } from '@expgen/core';
import { openLlamaSubjectModel } from './llama-subject-model.js';
import { resolveModelFolder } from './model-folder.js';
import { buildOnnxModel } from './onnx/build-model.js';

const tinyOptions = s.object({
  seed: s.integer({ min: 0 }).default(0),
  layers: s.integer({ min: 1 }).default(2),
  hiddenSize: s.integer({ min: 8 }).default(64),
  intermediateSize: s.integer({ min: 8 }).default(128),
  numHeads: s.integer({ min: 1 }).default(4),
  numKvHeads: s.integer({ min: 1 }).default(2),
});

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'subject-model',
      name: 'llama',
      description: 'Llama-family models (Llama-3.1-8B-Instruct, Llama-3.2-1B, ...) on ONNX Runtime: cpu, webgpu or cuda.',
      options: s.object({
        model: s.string({ nonEmpty: true }).nullable().default(null)
          .describe('Built model folder (expgen model build) or an existing ONNX export; null: the tiny seeded model.'),
        tiny: tinyOptions.describe('Shape and seed of the tiny random model used when `model` is null.'),
        provider: s.enum(['cpu', 'webgpu', 'cuda']).default('cpu').describe('ONNX Runtime execution provider; never falls back silently.'),
        deviceId: s.integer({ min: 0 }).default(0).describe('GPU index for cuda.'),
      }),
      async create(options, context) {
        const dir = await resolveModelFolder(options, context);
        return openLlamaSubjectModel(dir, { provider: options.provider, deviceId: options.deviceId, provenance: context.provenance, logger: context.logger });
      },
      async build(source, out, options, context) {
        const dtype = options.dtype === 'fp16' ? 'fp16' : 'fp32';
        let lastReported = 0;
        const manifest = await buildOnnxModel(source, out, {
          dtype,
          onProgress: (done, total, tensor) => {
            const now = Date.now();
            if (done === total || now - lastReported > 2000) {
              lastReported = now;
              context.logger.info(`building: ${done}/${total} tensors (${tensor})`);
            }
          },
        });
        return { out, summary: `built ${manifest.config.numLayers}-layer Llama (${dtype}) into ${out}` };
      },
    }),
  ],
});
