import type { ActivationSource } from '../activation-source.js';
import type { DatasetSource, SourceDocument } from '../dataset-source.js';
import type { DescribeRequest, Describer } from '../describer.js';
import type { ComponentKind, Provenance } from '../provenance.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';

export function fakeProvenance(kind: ComponentKind, component = 'fake'): Provenance {
  return { kind, component, plugin: '@expgen/core/testing', pluginVersion: '0' };
}

/** Documents from memory, in the order given. */
export function fakeDataset(documents: readonly SourceDocument[], name = 'fake'): DatasetSource {
  return {
    provenance: fakeProvenance('dataset'),
    name,
    async *documents() {
      yield* documents;
    },
  };
}

/** MLP neurons of a subject's `mlp/<layer>` hooks, read as they are. */
export function fakeActivationSource(subject: SubjectModel, space = 'mlp'): ActivationSource {
  const hooks = subject.hookPoints().filter((h) => h.name.startsWith(`${space}/`));
  const layers = hooks.map((h) => Number(h.name.split('/')[1])).sort((a, b) => a - b);
  const plan = (layer: number) => {
    const hook = hooks.find((h) => h.name === `${space}/${layer}`);
    if (!hook) throw new Error(`no layer ${layer}`);
    return { layer, hook: hook.name, hookWidth: hook.width, width: hook.width };
  };
  return {
    provenance: fakeProvenance('activation-source', space),
    space,
    signs: ['positive', 'negative'],
    layers: () => layers,
    plan,
    encode: (_layer, values) => values.slice(),
  };
}

/** Answers every request with the descriptions `answer` returns (cycled to the requested count). */
export function fakeDescriber(answer: (request: DescribeRequest) => readonly string[]): Describer {
  const provenance = fakeProvenance('describer');
  return {
    provenance,
    async describe(request) {
      const texts = answer(request);
      return {
        candidates: Array.from({ length: texts.length ? request.count : 0 }, (_, i) => ({
          description: texts[i % texts.length]!,
          seed: request.seed + i,
          describedBy: provenance,
        })),
        failures: [],
      };
    },
  };
}

/** Predicts with `predict(description, tokens)` for each description and sequence. */
export function fakeSimulator(
  predict: (description: string, tokens: readonly number[]) => ArrayLike<number>,
): Simulator {
  const provenance = fakeProvenance('simulator');
  return {
    provenance,
    async simulate(request) {
      return {
        predictions: request.descriptions.map((d) =>
          request.sequences.map((tokens) => Float32Array.from(predict(d, tokens))),
        ),
        mode: 'fake',
        simulatedBy: provenance,
      };
    },
  };
}
