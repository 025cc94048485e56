import { readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  ExpgenError,
  isValidSpace,
  type ActivationSource,
  type ComponentContext,
  type GraphFragment,
  type LayerPlan,
  type Sign,
} from '@expgen/contract';
import { layerFromFolderName, subjectHookFor } from './hook-names.js';
import { loadSaeFromSpec, type LoadedSae } from './load-sae.js';
import { describeSpec, isSaeFolder, readSaeSpec, type SaeSpec } from './sae-config.js';
import { encodeSae } from './sae-encoder.js';
import { saeFragment } from './sae-fragment.js';
import { tinySaeFolder, type TinySaeOptions } from './tiny-sae.js';

export interface SaeSourceOptions {
  /** A folder holding one SAE, or a folder of per-layer SAE folders; null: the tiny SAE generated from `tiny`. */
  readonly path: string | null;
  /** Layers to read (each needs its SAE); null: every layer the folder has SAEs for. */
  readonly layers: number[] | null;
  /** Feature space `sae:<name>`; null: the folder's name (`tiny` for the generated SAE). */
  readonly name: string | null;
  /** Hook point template with `{layer}` (`resid/{layer}`, `blocks.{layer}.hook_resid_post`); null: the config's hook. */
  readonly hook: string | null;
  /** Factor of `expected_average_only_in` normalization per layer, for configs that do not carry it. */
  readonly normScalingFactors: Record<string, number>;
  readonly tiny: TinySaeOptions;
}

const OPTION = 'activation.options';

interface SaeLayer {
  readonly layer: number;
  readonly hook: string;
  readonly sae: LoadedSae;
  readonly fragment: GraphFragment;
}

/** The `sae` activation source: one SAE per layer, encoded in the subject's graph at its hook point. */
export async function openSaeActivationSource(
  options: SaeSourceOptions,
  context: ComponentContext,
): Promise<ActivationSource> {
  const subject = context.subject;
  if (!subject)
    throw new ExpgenError('the "sae" activation source needs the subject model (declare needs: [\'subject-model\'])');
  const widths = new Map(subject.hookPoints().map((h) => [h.name, h.width]));

  let root: string;
  let defaultName: string;
  if (options.path === null) {
    const residLayers = [...widths.keys()]
      .filter((name) => name.startsWith('resid/'))
      .map((name) => Number(name.slice('resid/'.length)))
      .sort((a, b) => a - b);
    if (residLayers.length === 0)
      throw new ExpgenError(
        `${OPTION}.path is null, so a tiny SAE is generated on resid/<layer>, but the subject exposes no resid hook points; set ${OPTION}.path to an SAE folder`,
      );
    const layers = options.layers ?? residLayers;
    for (const layer of layers) {
      if (!widths.has(`resid/${layer}`))
        throw new ExpgenError(
          `${OPTION}.layers: layer ${layer} does not exist in the subject (layers ${residLayers[0]}..${residLayers.at(-1)})`,
        );
    }
    const dIn = widths.get(`resid/${layers[0]}`)!;
    root = await tinySaeFolder(context.cacheDir, options.tiny, dIn, [...new Set(layers)]);
    defaultName = 'tiny';
  } else {
    root = resolve(context.baseDir, options.path);
    if (!isDirectory(root))
      throw new ExpgenError(
        `${OPTION}.path: folder ${root} does not exist; point it at an SAE folder (cfg.json + sae_weights.safetensors) or a folder of per-layer SAE folders`,
      );
    defaultName = basename(root).replace(/[^A-Za-z0-9._-]+/g, '-');
  }
  const name = options.name ?? defaultName;
  const space = `sae:${name}`;
  if (!isValidSpace(space))
    throw new ExpgenError(
      `${OPTION}.name: "${name}" cannot name a feature space; use letters, digits, ".", "_" or "-"`,
    );

  const found = discoverSaes(root, options);
  const available = [...found.keys()].sort((a, b) => a - b);
  const layers = options.layers ? [...new Set(options.layers)].sort((a, b) => a - b) : available;
  for (const layer of layers) {
    if (!found.has(layer)) {
      throw new ExpgenError(
        `${OPTION}.layers: no SAE for layer ${layer} under ${root} (SAEs found for layers: ${available.join(', ') || 'none'}); add its folder (layer-${layer}/cfg.json + sae_weights.safetensors) or drop the layer`,
      );
    }
  }

  const byLayer = new Map<number, SaeLayer>();
  for (const layer of layers) {
    const { spec, hook } = found.get(layer)!;
    const width = widths.get(hook);
    if (width === undefined) {
      throw new ExpgenError(
        `${spec.configFile}: the SAE reads hook "${hook}", which the subject does not expose (it has ${sample([...widths.keys()])}); set ${OPTION}.hook to the right hook point`,
      );
    }
    if (width !== spec.dIn) {
      throw new ExpgenError(
        `${spec.configFile}: d_in is ${spec.dIn} but hook "${hook}" of the subject has ${width} values per token; this SAE was trained on another model or hook`,
      );
    }
    const sae = await loadSaeFromSpec(spec, {
      normScalingFactor: options.normScalingFactors[String(layer)] ?? null,
      optionKey: `${OPTION}.normScalingFactors.${layer}`,
    });
    const fragmentName = `sae_${name}_l${layer}`.replace(/[^A-Za-z0-9_]/g, '_');
    byLayer.set(layer, { layer, hook, sae, fragment: saeFragment(sae.encoder, fragmentName) });
    context.logger.debug(`sae layer ${layer}: ${describeSpec(spec)} at ${hook}`);
  }
  const signs: readonly Sign[] = ['positive'];
  const get = (layer: number): SaeLayer => {
    const entry = byLayer.get(layer);
    if (!entry)
      throw new ExpgenError(
        `layer ${layer} is not read by the "${space}" activation source (layers: ${layers.join(', ')})`,
      );
    return entry;
  };
  return {
    provenance: {
      ...context.provenance,
      settings: {
        name,
        path: options.path === null ? null : root,
        layers,
        saes: Object.fromEntries(
          layers.map((layer) => {
            const { sae, hook } = byLayer.get(layer)!;
            const { spec, encoder } = sae;
            return [
              String(layer),
              {
                hook,
                architecture: spec.architecture,
                dIn: spec.dIn,
                dSae: spec.dSae,
                k: spec.k,
                applyBDecToInput: spec.applyBDecToInput,
                normalization: encoder.normalization,
                format: spec.format,
                ...(options.path === null ? {} : { folder: spec.folder }),
              },
            ];
          }),
        ),
        ...(options.path === null ? { tiny: { ...options.tiny } } : {}),
      },
    },
    space,
    signs,
    layers: () => layers,
    plan(layer: number): LayerPlan {
      const { hook, sae, fragment } = get(layer);
      return { layer, hook, hookWidth: sae.spec.dIn, width: sae.spec.dSae, fragment };
    },
    encode(layer: number, hookValues: Float32Array, rows: number): Float32Array {
      const { sae } = get(layer);
      if (hookValues.length !== rows * sae.spec.dIn) {
        throw new ExpgenError(
          `"${space}" layer ${layer}: expected ${rows} x ${sae.spec.dIn} hook values, got ${hookValues.length}`,
        );
      }
      return encodeSae(sae.encoder, hookValues, rows);
    },
  };
}

/**
 * The SAEs under `root` by layer: `root` itself when it holds one SAE, else each subfolder that does (any names:
 * `layer-12/`, SAELens ids such as `blocks.12.hook_resid_post/`, Llama Scope's `Llama3_1-8B-Base-L12R-8x/`). A
 * SAE's layer and hook come from its config (`hook_name`, `hook_layer`), else from the folder name.
 */
function discoverSaes(root: string, options: SaeSourceOptions): Map<number, { spec: SaeSpec; hook: string }> {
  const folders = isSaeFolder(root)
    ? [root]
    : readdirSync(root, { withFileTypes: true })
        .filter(
          (entry) => entry.isDirectory() && !entry.name.includes('.partial-') && isSaeFolder(join(root, entry.name)),
        )
        .map((entry) => join(root, entry.name))
        .sort();
  if (folders.length === 0) {
    throw new ExpgenError(
      `${OPTION}.path: ${root} holds no SAE: expected cfg.json + sae_weights.safetensors (SAELens), hyperparams.json + checkpoints/final.safetensors (Llama Scope), or subfolders holding them`,
    );
  }
  const found = new Map<number, { spec: SaeSpec; hook: string }>();
  for (const folder of folders) {
    const placed = place(readSaeSpec(folder), folder, options, folders.length === 1 ? options.layers : null);
    const previous = found.get(placed.layer);
    if (previous)
      throw new ExpgenError(
        `${OPTION}.path: two SAEs for layer ${placed.layer}: ${previous.spec.folder} and ${folder}; keep one, or point path at one of them`,
      );
    found.set(placed.layer, { spec: placed.spec, hook: placed.hook });
  }
  return found;
}

/** Places one SAE: its layer and the subject hook it reads. */
function place(
  spec: SaeSpec,
  folder: string,
  options: SaeSourceOptions,
  requested: number[] | null,
): { spec: SaeSpec; layer: number; hook: string } {
  const mapped = spec.hookName !== null ? subjectHookFor(spec.hookName) : null;
  if (mapped && 'unsupported' in mapped && options.hook === null) {
    throw new ExpgenError(`${spec.configFile}: hook "${spec.hookName}": ${mapped.unsupported}`);
  }
  const layer =
    spec.hookLayer ??
    mapped?.layer ??
    layerFromFolderName(basename(folder)) ??
    (requested !== null && requested.length === 1 ? requested[0]! : null);
  if (layer === null) {
    throw new ExpgenError(
      `${spec.configFile}: cannot tell which layer this SAE reads (no hook_name or hook_layer, no layer in the folder name); name the folder layer-<L> or set ${OPTION}.layers to [<L>]`,
    );
  }
  let hook: string;
  if (options.hook !== null) {
    const named = options.hook.replaceAll('{layer}', String(layer));
    const target = subjectHookFor(named);
    if (target === null)
      throw new ExpgenError(
        `${OPTION}.hook: "${options.hook}" names no known hook point; use e.g. "resid/{layer}", "mlp/{layer}" or "blocks.{layer}.hook_resid_post"`,
      );
    if ('unsupported' in target) throw new ExpgenError(`${OPTION}.hook: "${named}": ${target.unsupported}`);
    hook = target.hook;
  } else if (mapped && 'hook' in mapped) {
    hook = mapped.hook;
  } else if (spec.hookName !== null) {
    throw new ExpgenError(
      `${spec.configFile}: hook "${spec.hookName}" is not a hook name the sae source knows; set ${OPTION}.hook (e.g. "resid/{layer}")`,
    );
  } else {
    // No hook named anywhere: SAEs are overwhelmingly trained on the residual stream.
    hook = `resid/${layer}`;
  }
  return { spec, layer, hook };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function sample(names: readonly string[]): string {
  return names.length > 6 ? `${names.slice(0, 6).join(', ')}, ...` : names.join(', ');
}
