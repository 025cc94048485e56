import { resolve } from 'node:path';
import { contentId } from '@expgen/plugin-kit';
import { defineComponent, definePlugin, packageMeta, s } from '@expgen/contract';
import { readParagraphs } from './paragraphs.js';

/**
 * A third-party plugin as any author would write it: a plain object with meta and components, found by its
 * package name (`expgen-plugin-*`) and adding a command (`expgen text-lines stats`) through oclif.
 */
export default definePlugin({
  meta: { ...packageMeta(import.meta.url), apiVersion: 1 },
  components: [
    defineComponent({
      kind: 'dataset',
      name: 'text-lines',
      description: 'A plain-text file, one document per paragraph (blank-line separated).',
      options: s.object({ path: s.string({ nonEmpty: true }).describe('The text file; relative to the config file.') }),
      async create(options, context) {
        const path = resolve(context.baseDir, options.path);
        const paragraphs = await readParagraphs(path);
        return {
          provenance: { ...context.provenance, settings: { path } },
          name: 'text-lines',
          async *documents() {
            for (const text of paragraphs) yield { id: contentId({ text }), text };
          },
        };
      },
    }),
  ],
});
