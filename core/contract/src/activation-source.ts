import type { GraphFragment } from './graph-fragment.js';
import type { Provenance } from './provenance.js';
import type { Sign } from './sign.js';

/** How one layer's features are read from the subject. */
export interface LayerPlan {
  readonly layer: number;
  /** Hook point the features are computed from, e.g. `mlp/12` or `resid/12`. */
  readonly hook: string;
  /** Width of the hook point's values. */
  readonly hookWidth: number;
  /** Number of features in this layer (the fragment's output width, or `hookWidth` without one). */
  readonly width: number;
  /** Runs inside the subject's graph when the subject can run graphs (an SAE encoder must). */
  readonly fragment?: GraphFragment;
}

/**
 * Turns hook-point values into feature activations: MLP neurons (identity on `mlp/<layer>`), SAE latents (an
 * encoder on `resid/<layer>`), ... The feature keys it produces are `{space}/{layer}/{index}`.
 */
export interface ActivationSource {
  readonly provenance: Provenance;
  /** Feature-key space of every feature it produces (`mlp`, `sae:<name>`, ...). */
  readonly space: string;
  /** Signs worth describing by default: both for MLP neurons (they can be negative), positive for SAE latents. */
  readonly signs: readonly Sign[];
  /** Layers it can read, ascending. */
  layers(): readonly number[];
  /** How a layer's features are read. Throws an ExpgenError naming the layer when it does not exist. */
  plan(layer: number): LayerPlan;
  /**
   * Host-side computation of the same features from hook values [rows, hookWidth] -> [rows, width]: used by
   * subjects that cannot run graph fragments, and as the reference the fragment is tested against.
   */
  encode(layer: number, hookValues: Float32Array, rows: number): Float32Array;
  dispose?(): Promise<void> | void;
}
