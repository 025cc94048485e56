import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { columnarOptionsSchema } from './columnar-dataset.js';
import { openJsonlDataset } from './jsonl-dataset.js';

// The parquet and Arrow readers (hyparquet, apache-arrow) load when such a dataset is created, not with the plugin:
// every expgen command loads the plugin, and apache-arrow alone adds about 0.1 s to that.

export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'dataset',
      name: 'jsonl',
      description: 'JSON Lines: {"text": ...} documents or {"messages": [...]} conversations, one per line.',
      options: s.object({
        path: s.string({ nonEmpty: true }).describe('The .jsonl file; relative to the config file.'),
        textField: s.string({ nonEmpty: true }).default('text').describe('Field holding the document text.'),
        messagesField: s
          .string({ nonEmpty: true })
          .default('messages')
          .describe(
            'Field holding a conversation, a list of {"role", "content"} (LMSYS-Chat: conversation); used on lines without a text string.',
          ),
        idField: s
          .string({ nonEmpty: true })
          .nullable()
          .default('id')
          .describe('Field holding a stable document id; without one, a content hash.'),
      }),
      create: async (options, context) => openJsonlDataset(context.provenance.component, options, context),
    }),
    defineComponent({
      kind: 'dataset',
      name: 'parquet',
      description:
        'Parquet files or a folder of shards (FineWeb, LMSYS-Chat), streamed one row group at a time: a text column or a conversation column.',
      options: columnarOptionsSchema('.parquet'),
      create: async (options, context) =>
        (await import('./parquet-dataset.js')).openParquetDataset(context.provenance.component, options, context),
    }),
    defineComponent({
      kind: 'dataset',
      name: 'arrow',
      description:
        'Arrow IPC files or streams (Feather v2, Hugging Face datasets cache .arrow files), streamed one record batch at a time: a text column or a conversation column.',
      options: columnarOptionsSchema('.arrow/.arrows/.feather/.ipc'),
      create: async (options, context) =>
        (await import('./arrow-dataset.js')).openArrowDataset(context.provenance.component, options, context),
    }),
  ],
});
