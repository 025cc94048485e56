import { defineComponent, definePlugin, packageMeta, s } from '@expgen/core';
import { openJsonlDataset } from './jsonl-dataset.js';

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'dataset',
      name: 'jsonl',
      description: 'JSON Lines: {"text": ...} documents or {"messages": [...]} conversations, one per line.',
      options: s.object({
        path: s.string({ nonEmpty: true }).describe('The .jsonl file; relative to the config file.'),
        textField: s.string({ nonEmpty: true }).default('text'),
        messagesField: s.string({ nonEmpty: true }).default('messages'),
        idField: s.string({ nonEmpty: true }).nullable().default('id').describe('Field holding a stable document id; without one, a content hash.'),
      }),
      create: async (options, context) => openJsonlDataset(context.provenance.component, options, context),
    }),
  ],
});
