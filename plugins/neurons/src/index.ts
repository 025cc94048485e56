import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { hookActivationSource } from './hook-activation-source.js';

const layerOptions = s.object({
  layers: s
    .array(s.integer({ min: 0 }), { minItems: 1 })
    .nullable()
    .default(null)
    .describe('Layers to read; null: every layer of the subject.'),
});

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'activation-source',
      name: 'mlp',
      description: 'MLP neurons: the input of down_proj, silu(gate(x)) * up(x), at mlp/<layer>.',
      options: layerOptions,
      needs: ['subject-model'],
      create: async (options, context) => hookActivationSource('mlp', options, context),
    }),
    defineComponent({
      kind: 'activation-source',
      name: 'resid',
      description: 'Residual-stream dimensions output by each decoder layer, at resid/<layer>.',
      options: layerOptions,
      needs: ['subject-model'],
      create: async (options, context) => hookActivationSource('resid', options, context),
    }),
  ],
});
