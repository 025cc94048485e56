import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ExpgenError,
  isExpgenError,
  type ActivationSource,
  type ComponentKind,
  type DatasetSource,
  type Describer,
  type SimulationScorer,
  type Simulator,
  type SubjectModel,
} from '@expgen/contract';
import { fakeProvenance, fakeSubjectModel } from '@expgen/contract/testing';
import { PluginCallError, stampComponent } from './plugin-calls.js';

const who = (kind: ComponentKind, component: string) => ({ kind, component, plugin: '@acme/expgen-plugin-x' });

/** Asserts the call fails with the stamped message; returns the error. */
async function failsWith(call: () => unknown, message: string): Promise<Error> {
  let caught: unknown;
  try {
    await call();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof Error, `expected an error with "${message}"`);
  assert.equal(caught.message, message);
  return caught;
}

describe('stampComponent: every error of every method names plugin, component and method', () => {
  it('dataset: an error from the async iterator of documents()', async () => {
    const dataset: DatasetSource = {
      provenance: fakeProvenance('dataset'),
      name: 'web',
      async *documents() {
        yield { id: 'a', text: 'fine' };
        throw new Error('truncated parquet page');
      },
    };
    const stamped = stampComponent(dataset, who('dataset', 'parquet'));
    const ids: string[] = [];
    const error = await failsWith(async () => {
      for await (const doc of stamped.documents()) ids.push(doc.id);
    }, 'dataset parquet (@acme/expgen-plugin-x) documents: truncated parquet page');
    assert.ok(error instanceof PluginCallError, 'a plain error stays a fault, not a user mistake');
    assert.equal((error.cause as Error).message, 'truncated parquet page');
    assert.deepEqual(ids, ['a']);
    assert.equal(stamped.name, 'web', 'values that are not methods pass through');
  });

  it('dataset: an iterator used directly (next) is stamped too', async () => {
    const dataset: DatasetSource = {
      provenance: fakeProvenance('dataset'),
      name: 'web',
      // biome-ignore lint/correctness/useYield: a source that fails before its first document
      async *documents() {
        throw new ExpgenError('datasets[0].options.path: no such file', { exitCode: 2 });
      },
    };
    const iterator = stampComponent(dataset, who('dataset', 'jsonl')).documents()[Symbol.asyncIterator]();
    const error = await failsWith(
      () => iterator.next(),
      'dataset jsonl (@acme/expgen-plugin-x) documents: datasets[0].options.path: no such file',
    );
    assert.ok(isExpgenError(error), 'an ExpgenError stays one');
    assert.equal(error.exitCode, 2);
  });

  it('subject model: async forward, and the sync methods of its tokenizer', async () => {
    const subject = fakeSubjectModel();
    const stamped = stampComponent(
      {
        ...subject,
        forward: async () => {
          throw new RangeError('CUDA out of memory');
        },
        tokenizer: {
          ...subject.tokenizer,
          encode: () => {
            throw new TypeError('not a string');
          },
        },
      } as SubjectModel,
      who('subject-model', 'llama'),
    );
    await failsWith(
      () => stamped.forward({ tokens: Int32Array.of(1), batch: 1, seqLen: 1, hooks: [] }),
      'subject-model llama (@acme/expgen-plugin-x) forward: CUDA out of memory',
    );
    await failsWith(
      () => stamped.tokenizer.encode('x'),
      'subject-model llama (@acme/expgen-plugin-x) tokenizer.encode: not a string',
    );
    assert.equal(stamped.tokenizer.decode([104, 105]), subject.tokenizer.decode([104, 105]), 'what works still works');
    assert.equal(stamped.tokenizer, stamped.tokenizer, 'nested objects keep one identity');
  });

  it('activation source: sync plan and encode', async () => {
    const source: ActivationSource = {
      provenance: fakeProvenance('activation-source'),
      space: 'sae:x',
      signs: ['positive'],
      layers: () => [0],
      plan: () => {
        throw new ExpgenError('layer 9 is not read by the "sae:x" activation source (layers: 0)');
      },
      encode: () => {
        throw new Error('W_enc is [4, 8], the hook has 6 values');
      },
    };
    const stamped = stampComponent(source, who('activation-source', 'sae'));
    await failsWith(
      () => stamped.plan(9),
      'activation-source sae (@acme/expgen-plugin-x) plan: layer 9 is not read by the "sae:x" activation source (layers: 0)',
    );
    await failsWith(
      () => stamped.encode(0, new Float32Array(6), 1),
      'activation-source sae (@acme/expgen-plugin-x) encode: W_enc is [4, 8], the hook has 6 values',
    );
    assert.deepEqual(stamped.layers(), [0]);
  });

  it('describer, simulator and scorer', async () => {
    const describer: Describer = {
      provenance: fakeProvenance('describer'),
      describe: async () => {
        throw new Error('401 Unauthorized');
      },
    };
    await failsWith(
      () => stampComponent(describer, who('describer', 'openai-compatible')).describe({} as never),
      'describer openai-compatible (@acme/expgen-plugin-x) describe: 401 Unauthorized',
    );
    const simulator: Simulator = {
      provenance: fakeProvenance('simulator'),
      simulate: async () => {
        throw new Error('the logprobs are missing');
      },
    };
    await failsWith(
      () => stampComponent(simulator, who('simulator', 'finetuned')).simulate({ descriptions: [], sequences: [] }),
      'simulator finetuned (@acme/expgen-plugin-x) simulate: the logprobs are missing',
    );
    const scorer: SimulationScorer = {
      provenance: fakeProvenance('scorer'),
      score: () => {
        throw new Error('lengths differ');
      },
    };
    await failsWith(
      () => stampComponent(scorer, who('scorer', 'correlation')).score({ predicted: [], actual: [] }),
      'scorer correlation (@acme/expgen-plugin-x) score: lengths differ',
    );
  });

  it('runs methods on the component itself, so class instances keep their private fields', async () => {
    class CountingScorer implements SimulationScorer {
      readonly provenance = fakeProvenance('scorer');
      #calls = 0;
      score(_input: Parameters<SimulationScorer['score']>[0]) {
        this.#calls++;
        return { value: this.#calls, stats: {}, scoredBy: this.provenance };
      }
    }
    const stamped = stampComponent(new CountingScorer(), who('scorer', 'counting'));
    assert.equal(stamped.score({ predicted: [], actual: [] }).value, 1);
    assert.equal(stamped.score({ predicted: [], actual: [] }).value, 2);
  });

  it('lets an abort through unchanged: the run was cancelled, the plugin did nothing wrong', async () => {
    const abort = new DOMException('The operation was aborted.', 'AbortError');
    const describer: Describer = {
      provenance: fakeProvenance('describer'),
      describe: async () => {
        throw abort;
      },
    };
    await assert.rejects(stampComponent(describer, who('describer', 'x')).describe({} as never), (e) => e === abort);
  });
});
