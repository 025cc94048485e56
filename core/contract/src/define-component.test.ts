// defineComponent's typing: declaring needs: ['subject-model'] makes context.subject a SubjectModel in `create`,
// and leaving it out keeps it optional. The checks are at compile time (this file must type-check); the runtime
// assertions keep the declarations honest.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defineComponent, definePlugin } from './plugin.js';
import { s } from './schema.js';
import type { SubjectModel } from './subject-model.js';
import { fakeActivationSource, fakeDescriber } from './testing/fake-components.js';
import { fakeSubjectModel } from './testing/fake-subject-model.js';

describe('defineComponent', () => {
  it('narrows context.subject to SubjectModel when needs names the subject', async () => {
    const source = defineComponent({
      kind: 'activation-source',
      name: 'narrowed',
      description: 'reads the subject without a non-null assertion',
      options: s.object({}),
      needs: ['subject-model'],
      create: async (_options, context) => {
        const subject: SubjectModel = context.subject;
        return fakeActivationSource(subject);
      },
    });
    const unsure = defineComponent({
      kind: 'describer',
      name: 'unsure',
      description: 'declares no needs, so the subject may be absent',
      options: s.object({}),
      create: async (_options, context) => {
        // @ts-expect-error without needs, context.subject is SubjectModel | undefined
        const subject: SubjectModel = context.subject;
        void subject;
        return fakeDescriber(() => ['x']);
      },
    });
    const plugin = definePlugin({ meta: { name: 'p', version: '0.0.0', apiVersion: 1 }, components: [source, unsure] });
    assert.deepEqual(source.needs, ['subject-model']);
    const context = {
      provenance: { kind: 'activation-source', component: 'narrowed', plugin: 'p', pluginVersion: '0' },
      baseDir: '.',
      cacheDir: '.',
      logger: { info() {}, warn() {}, debug() {} },
      subject: fakeSubjectModel(),
    } as const;
    assert.equal((await source.create({}, context)).space, 'mlp');
    assert.equal(plugin.components.length, 2);
  });
});
