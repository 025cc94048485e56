// Components for the testing kit's own tests: a Pearson scorer, sample documents, and a rectified-residual
// activation source whose fragment agrees with its encode (or, negated, does not).
import type { ActivationSource } from '../activation-source.js';
import type { SourceDocument } from '../dataset-source.js';
import { ExpgenError } from '../errors.js';
import type { GraphFragment } from '../graph-fragment.js';
import type { Provenance } from '../provenance.js';
import type { SimulationScorer } from '../scorer.js';
import type { SubjectModel } from '../subject-model.js';
import { fakeProvenance } from './fake-components.js';

/** A small Pearson-correlation scorer: null when either side is constant. */
export function pearsonScorer(provenance = fakeProvenance('scorer', 'pearson')): SimulationScorer {
  return {
    provenance,
    score({ predicted, actual }) {
      const x = predicted.flatMap((p) => [...p]);
      const y = actual.flatMap((a) => [...a]);
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const [mx, my] = [mean(x), mean(y)];
      let [sxy, sxx, syy] = [0, 0, 0];
      x.forEach((xi, i) => {
        sxy += (xi - mx) * (y[i]! - my);
        sxx += (xi - mx) ** 2;
        syy += (y[i]! - my) ** 2;
      });
      const value = sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
      return { value, stats: { n: x.length }, scoredBy: provenance };
    },
  };
}

export const DOCS: SourceDocument[] = [
  { id: 'a', text: 'The cat sat on the mat.' },
  {
    id: 'b',
    messages: [
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!' },
    ],
  },
  { id: 'c', text: 'Numbers: 1 2 3.' },
];

/**
 * Rectified residual dimensions: `max(0, x)` at `resid/<layer>`, computed in the subject's graph by a Relu fragment
 * and on the host by `encode`. `negate: true` is the classic bug: a Neg fragment beside an identity encode.
 */
export function reluSource(subject: SubjectModel, provenance: Provenance, negate = false): ActivationSource {
  const width = subject.hookPoints().find((h) => h.name === 'resid/0')!.width;
  const layers = subject
    .hookPoints()
    .filter((h) => h.name.startsWith('resid/'))
    .map((h) => Number(h.name.slice('resid/'.length)));
  const fragment: GraphFragment = {
    name: 'relu',
    input: 'x',
    output: 'y',
    inputWidth: width,
    outputWidth: width,
    initializers: [],
    nodes: [{ op: negate ? 'Neg' : 'Relu', inputs: ['x'], outputs: ['y'] }],
  };
  return {
    provenance,
    space: 'relu-resid',
    signs: ['positive'],
    layers: () => layers,
    plan: (layer) => {
      if (!layers.includes(layer)) throw new ExpgenError(`no layer ${layer}`);
      return { layer, hook: `resid/${layer}`, hookWidth: width, width, fragment };
    },
    encode: (_layer, values) => (negate ? values.slice() : values.map((v) => Math.max(0, v))),
  };
}
