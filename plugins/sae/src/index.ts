import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { openSaeActivationSource } from './sae-activation-source.js';

export { loadSae, loadSaeFromSpec, type LoadedSae } from './load-sae.js';
export { readSaeSpec, type SaeSpec, type SaeArchitecture, type SaeNormalization } from './sae-config.js';
export { encodeSae, preActivations, type SaeEncoder } from './sae-encoder.js';
export { saeFragment } from './sae-fragment.js';
export { writeTinySae, tinySaeFolder, type TinySaeOptions, type TinySaeLayout } from './tiny-sae.js';
export { subjectHookFor } from './hook-names.js';

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'activation-source',
      name: 'sae',
      description:
        'Sparse-autoencoder latents (SAELens layout, also Llama Scope; ReLU, JumpReLU, TopK) encoded in the subject graph at resid/<layer>.',
      options: s.object({
        path: s
          .string({ nonEmpty: true })
          .nullable()
          .default(null)
          .describe(
            'Folder of one SAE (cfg.json + sae_weights.safetensors) or of per-layer SAE folders; null: a tiny SAE generated from `tiny` on every resid layer.',
          ),
        layers: s
          .array(s.integer({ min: 0 }), { minItems: 1 })
          .nullable()
          .default(null)
          .describe('Layers to read, each needing its SAE; null: every layer the folder has an SAE for.'),
        name: s
          .string({ pattern: /^[A-Za-z0-9._-]+$/, patternText: 'letters, digits, ".", "_" or "-"' })
          .nullable()
          .default(null)
          .describe(
            'Features are keyed sae:<name>/<layer>/<index>; null: the folder name (tiny for the generated SAE).',
          ),
        hook: s
          .string({ pattern: /\{layer\}/, patternText: 'a hook name containing {layer}' })
          .nullable()
          .default(null)
          .describe(
            "Hook point template overriding the configs, e.g. resid/{layer} or blocks.{layer}.hook_resid_post; null: each config's hook_name.",
          ),
        normScalingFactors: s
          .record(s.number({ exclusiveMin: 0 }))
          .default({})
          .describe('Per layer, the input scaling factor of expected_average_only_in SAEs whose config lacks it.'),
        tiny: s
          .object({
            seed: s.integer({ min: 0 }).default(0),
            dSae: s.integer({ min: 1 }).default(128).describe('Latents per layer.'),
            architecture: s.enum(['standard', 'jumprelu', 'topk']).default('jumprelu'),
            k: s
              .integer({ min: 1 })
              .nullable()
              .default(null)
              .describe('Latents kept per token for topk; null: dSae / 16.'),
          })
          .describe('Shape and seed of the tiny SAE generated when `path` is null.'),
      }),
      needs: ['subject-model'],
      create: (options, context) => openSaeActivationSource(options, context),
    }),
  ],
});
