import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { openDistilledLlamaDescriber } from './describer/open-distilled-llama.js';
import { openLlamaSubjectModel } from './llama-subject-model.js';
import { resolveModelFolder } from './model-folder.js';
import { buildOnnxModel } from './onnx/build-model.js';
import { RELEASED_SIMULATOR } from './simulator/finetuned-simulator.js';
import { openFinetunedSimulator } from './simulator/open-finetuned-simulator.js';

// The building blocks of the `llama` component, public so a plugin for one particular Llama-family model (see
// examples/expgen-plugin-llama-3.2-1b) can check the model it is given and reuse the engine instead of copying it.
export { openLlamaSubjectModel, LlamaSubjectModel, type LlamaSubjectModelOptions } from './llama-subject-model.js';
export { buildOnnxModel, type BuildOptions, type BuiltModelManifest } from './onnx/build-model.js';
export { readLlamaConfig, type LlamaConfig } from './hf/hf-config.js';
export { LlamaTokenizer } from './tokenizer/llama-tokenizer.js';
export { generateTinyLlama, PLANTED_TRUTH_FILE, type TinyLlamaOptions } from './hf/tiny-model.js';
export { BUILT_MODEL_MANIFEST, resolveModelFolder, type TinyModelOptions } from './model-folder.js';
export { resolveModelOption } from './describer/local-model-folder.js';

// Factories: `describe` sets the text on the schema object itself, so each component gets its own.
const tinyShape = () => ({
  seed: s.integer({ min: 0 }).default(0),
  layers: s.integer({ min: 1 }).default(2),
  hiddenSize: s.integer({ min: 8 }).default(64),
  intermediateSize: s.integer({ min: 8 }).default(128),
  numHeads: s.integer({ min: 1 }).default(4),
  numKvHeads: s.integer({ min: 1 }).default(2),
});
const tinyOptions = () => s.object(tinyShape());

const providerOption = () =>
  s
    .enum(['cpu', 'webgpu', 'cuda'])
    .default('cpu')
    .describe('ONNX Runtime execution provider; never falls back silently.');
const deviceIdOption = () => s.integer({ min: 0 }).default(0).describe('GPU index for cuda.');

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'subject-model',
      name: 'llama',
      description:
        'Llama-family models (Llama-3.1-8B-Instruct, Llama-3.2-1B, ...) on ONNX Runtime: cpu, webgpu or cuda.',
      options: s.object({
        model: s
          .string({ nonEmpty: true })
          .nullable()
          .default(null)
          .describe('Built model folder (expgen model build) or an existing ONNX export; null: the tiny seeded model.'),
        tiny: s
          .object({
            ...tinyShape(),
            planted: s
              .boolean()
              .default(true)
              .describe(
                'Plant neurons that respond to documented classes of tokens and contexts, and write the truth to planted.json (false: every weight random).',
              ),
          })
          .describe('Shape and seed of the tiny model used when `model` is null.'),
        provider: providerOption(),
        deviceId: deviceIdOption(),
      }),
      async create(options, context) {
        const dir = await resolveModelFolder(options, context);
        return openLlamaSubjectModel(dir, {
          provider: options.provider,
          deviceId: options.deviceId,
          provenance: context.provenance,
          logger: context.logger,
        });
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
    defineComponent({
      kind: 'describer',
      name: 'distilled-llama',
      description:
        'The fine-tuned Llama-3.1 explainer ("distilled Llama") run locally on ONNX Runtime; candidates sampled as one batch, answers cached.',
      options: s.object({
        model: s
          .string({ nonEmpty: true })
          .nullable()
          .default(null)
          .describe(
            'Built folder of the explainer model (expgen model build); null: a tiny seeded random model (tests, demo).',
          ),
        tiny: tinyOptions().describe('Shape and seed of the tiny random explainer used when `model` is null.'),
        provider: providerOption(),
        deviceId: deviceIdOption(),
        temperature: s.number({ min: 0 }).default(1).describe('Sampling temperature (0: greedy).'),
        topP: s.number({ exclusiveMin: 0, max: 1 }).default(1).describe('Nucleus sampling mass.'),
        maxTokens: s.integer({ min: 1 }).default(100).describe('Most tokens of one answer.'),
        maxRetries: s
          .integer({ min: 0 })
          .default(3)
          .describe('New samples (new seeds) for a candidate whose answer has no usable description.'),
        batchSize: s.integer({ min: 1 }).default(16).describe('Most answers sampled in one batched generation.'),
        date: s
          .string({ nonEmpty: true })
          .default('26 Jul 2024')
          .describe('"Today Date" of the Llama-3.1 chat template, fixed for reproducible prompts.'),
        cache: s
          .boolean()
          .default(true)
          .describe('Keep every sampled answer in the durable call cache, so a rerun samples nothing.'),
      }),
      create: (options, context) => openDistilledLlamaDescriber(options, context),
    }),
    defineComponent({
      kind: 'simulator',
      name: 'finetuned',
      description:
        'The released fine-tuned Llama-3.1 simulator on ONNX Runtime: expected activation bin per token, one pass per batch of descriptions.',
      options: s.object({
        model: s
          .string({ nonEmpty: true })
          .nullable()
          .default(null)
          .describe(
            'Built folder of the simulator model (expgen model build); null: a tiny seeded random model with the extended vocabulary (tests, demo).',
          ),
        tiny: tinyOptions().describe('Shape and seed of the tiny random simulator used when `model` is null.'),
        provider: providerOption(),
        deviceId: deviceIdOption(),
        remap: s
          .record(s.integer({ min: 0 }))
          .default(Object.fromEntries([...RELEASED_SIMULATOR.remap].map(([from, to]) => [String(from), to])))
          .describe(
            'Token id -> the id the simulator reads instead (the released model moved four control tokens past its PAD).',
          ),
        padId: s.integer({ min: 0 }).default(RELEASED_SIMULATOR.padId).describe('Id of padded positions.'),
        binIds: s
          .array(s.integer({ min: 0 }), { minItems: 2 })
          .default([...RELEASED_SIMULATOR.binIds])
          .describe('Vocabulary ids whose logits are the activation bins 0, 1, ..., in order.'),
        batchSize: s.integer({ min: 1 }).default(16).describe('Most (description, exemplar) rows per forward pass.'),
        prefixReuse: s
          .boolean()
          .default(true)
          .describe(
            "Run each description's prefix once and reuse its KV cache for all of its exemplars; false: every row runs whole.",
          ),
        cache: s
          .boolean()
          .default(true)
          .describe('Keep predictions in the durable call cache, keyed by model, description and exemplar.'),
      }),
      needs: ['subject-model'],
      create: (options, context) => openFinetunedSimulator(options, context),
    }),
  ],
});
