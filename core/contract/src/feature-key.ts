import { ExpgenError } from './errors.js';

/**
 * Which unit of a model a description is about. Spaces name the kind of unit and where its basis comes from:
 * `mlp` (MLP neurons: the input of down_proj), `resid` (residual-stream dimensions), `sae:<name>` (latents of the
 * sparse autoencoder `<name>`), or any space a plugin defines.
 */
export interface FeatureKey {
  /** `[a-z][a-z0-9_-]*`, optionally followed by `:` and a name of `[A-Za-z0-9._-]+` (e.g. `sae:llama-scope-r8`). */
  readonly space: string;
  /** Decoder layer the feature is read at, counted from 0. */
  readonly layer: number;
  /** Index of the unit within the layer's width, counted from 0. */
  readonly index: number;
}

const SPACE = /^[a-z][a-z0-9_-]*(?::[A-Za-z0-9._-]+)?$/;
const NON_NEGATIVE_INTEGER = /^(?:0|[1-9][0-9]*)$/;

export function isValidSpace(space: string): boolean {
  return SPACE.test(space);
}

export function featureKey(space: string, layer: number, index: number): FeatureKey {
  if (!isValidSpace(space)) {
    throw new ExpgenError(
      `feature space "${space}" is not valid: use letters, digits, "_" or "-", optionally "name:suffix" (e.g. "mlp", "sae:res-16k")`,
    );
  }
  for (const [what, value] of [
    ['layer', layer],
    ['index', index],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new ExpgenError(`feature ${what} ${value} is not valid: it must be a non-negative integer`);
    }
  }
  return { space, layer, index };
}

/** The canonical string form `{space}/{layer}/{index}`, e.g. `mlp/12/4061`; `parseFeatureKey` inverts it. */
export function formatFeatureKey(key: FeatureKey): string {
  return `${key.space}/${key.layer}/${key.index}`;
}

export function parseFeatureKey(text: string): FeatureKey {
  const parts = text.split('/');
  if (parts.length !== 3 || !NON_NEGATIVE_INTEGER.test(parts[1]!) || !NON_NEGATIVE_INTEGER.test(parts[2]!)) {
    throw new ExpgenError(`feature key "${text}" is not valid: expected {space}/{layer}/{index}, e.g. "mlp/12/4061"`);
  }
  return featureKey(parts[0]!, Number(parts[1]), Number(parts[2]));
}

/** Total order: by space (code-unit order), then layer, then index. Sorting with it is deterministic everywhere. */
export function compareFeatureKeys(a: FeatureKey, b: FeatureKey): number {
  if (a.space !== b.space) return a.space < b.space ? -1 : 1;
  if (a.layer !== b.layer) return a.layer - b.layer;
  return a.index - b.index;
}

export function sameFeature(a: FeatureKey, b: FeatureKey): boolean {
  return compareFeatureKeys(a, b) === 0;
}
