import {
  ExpgenError,
  type ActivationSource,
  type ContextWithSubject,
  type LayerPlan,
  type Sign,
} from '@expgen/contract';

/**
 * Features that are the hook point's own coordinates: MLP neurons are the values at `mlp/<layer>`, residual
 * dimensions the values at `resid/<layer>`. No fragment: the subject reduces the hook values directly.
 */
export function hookActivationSource(
  space: 'mlp' | 'resid',
  options: { layers: number[] | null },
  context: ContextWithSubject,
): ActivationSource {
  const subject = context.subject;
  const widths = new Map<number, number>();
  for (const hook of subject.hookPoints()) {
    const [hookSpace, layer] = hook.name.split('/');
    if (hookSpace === space) widths.set(Number(layer), hook.width);
  }
  if (widths.size === 0)
    throw new ExpgenError(
      `the subject model exposes no "${space}/<layer>" hook points, so "${space}" features cannot be read from it`,
    );
  const available = [...widths.keys()].sort((a, b) => a - b);
  for (const layer of options.layers ?? []) {
    if (!widths.has(layer)) {
      throw new ExpgenError(
        `activation.options.layers: layer ${layer} does not exist in the subject (layers ${available[0]}..${available.at(-1)})`,
      );
    }
  }
  const layers = options.layers ? [...new Set(options.layers)].sort((a, b) => a - b) : available;
  const signs: readonly Sign[] = ['positive', 'negative'];
  return {
    provenance: { ...context.provenance, settings: { layers } },
    space,
    signs,
    layers: () => layers,
    plan(layer: number): LayerPlan {
      const width = widths.get(layer);
      if (width === undefined || !layers.includes(layer)) {
        throw new ExpgenError(
          `layer ${layer} is not read by the "${space}" activation source (layers: ${layers.join(', ')})`,
        );
      }
      return { layer, hook: `${space}/${layer}`, hookWidth: width, width };
    },
    encode(layer: number, hookValues: Float32Array, rows: number): Float32Array {
      const width = this.plan(layer).width;
      if (hookValues.length !== rows * width) {
        throw new ExpgenError(
          `"${space}" layer ${layer}: expected ${rows} x ${width} hook values, got ${hookValues.length}`,
        );
      }
      return hookValues.slice();
    },
  };
}
