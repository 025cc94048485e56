import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { correlationScorer } from './correlation-scorer.js';
import { namedTokenSimulator } from './named-token-simulator.js';
import { tokenStatisticsDescriber } from './token-statistics-describer.js';

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'describer',
      name: 'baseline',
      description:
        'Names the tokens that fire most reliably in the exemplars: the embedded default and a null baseline.',
      options: s.object({ maxTokens: s.integer({ min: 1, max: 50 }).default(5) }),
      needs: ['subject-model'],
      create: async (options, context) => tokenStatisticsDescriber(context.subject.tokenizer, options, context),
    }),
    defineComponent({
      kind: 'simulator',
      name: 'baseline',
      description: 'Predicts 10 on tokens a description names in quotes, 0 elsewhere: a null reference.',
      options: s.object({}),
      needs: ['subject-model'],
      create: async (_options, context) => namedTokenSimulator(context.subject.tokenizer, context),
    }),
    defineComponent({
      kind: 'scorer',
      name: 'correlation',
      description: 'Pearson correlation of simulated and true activations over pooled tokens (null when undefined).',
      options: s.object({}),
      create: async (_options, context) => correlationScorer(context),
    }),
  ],
});
