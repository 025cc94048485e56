import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ActivationSource, ExpgenError, formatFeatureKey, parseFeatureKey } from '@expgen/contract';

/** Which features of each layer a run covers: every index of the layer, or a sorted list. */
export type FeatureSelection = ReadonlyMap<number, 'all' | readonly number[]>;

/**
 * Parses `--features` / the config's `features`: comma-separated items, each a key (`mlp/5/2183`), a whole
 * layer (`mlp/5/*`), or `@file` naming a file with one item per line (`#` starts a comment). Null selects every
 * layer the activation source reads. Items are checked against the source: its space, its layers, its widths.
 */
export function selectFeatures(
  spec: string | null,
  source: ActivationSource,
  baseDir = process.cwd(),
): FeatureSelection {
  const layers = source.layers();
  if (spec === null) return new Map(layers.map((l) => [l, 'all' as const]));
  const items = expandItems(spec, baseDir);
  if (items.length === 0) throw new ExpgenError(`--features "${spec}" selects no features`);
  const selection = new Map<number, 'all' | Set<number>>();
  for (const item of items) {
    const wildcard = /^(.+)\/(\d+)\/\*$/.exec(item);
    const key = wildcard ? { space: wildcard[1]!, layer: Number(wildcard[2]), index: -1 } : parseFeatureKey(item);
    if (key.space !== source.space) {
      throw new ExpgenError(
        `feature "${item}" is in space "${key.space}", but the activation source produces "${source.space}" features: use ${source.space}/<layer>/<index> or choose another source with --plugin`,
      );
    }
    if (!layers.includes(key.layer)) {
      throw new ExpgenError(
        `feature "${item}": layer ${key.layer} is not read by the activation source (layers ${layers.join(', ')})`,
      );
    }
    if (wildcard) {
      selection.set(key.layer, 'all');
      continue;
    }
    const width = source.plan(key.layer).width;
    if (key.index >= width)
      throw new ExpgenError(
        `feature "${formatFeatureKey(key)}" does not exist: layer ${key.layer} has ${width} features (0..${width - 1})`,
      );
    const current = selection.get(key.layer);
    if (current === 'all') continue;
    selection.set(key.layer, (current ?? new Set<number>()).add(key.index));
  }
  return new Map(
    [...selection.entries()]
      .sort(([a], [b]) => a - b)
      .map(([layer, indices]) => [layer, indices === 'all' ? 'all' : [...indices].sort((a, b) => a - b)]),
  );
}

function expandItems(spec: string, baseDir: string): string[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((item) => {
      if (!item.startsWith('@')) return [item];
      const file = resolve(baseDir, item.slice(1));
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        throw new ExpgenError(`--features ${item}: cannot read ${file}: give a file with one feature key per line`);
      }
      return text
        .split('\n')
        .map((line) => line.replace(/#.*/, '').trim())
        .filter(Boolean)
        .flatMap((line) =>
          line
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        );
    });
}

/** The feature indices of `layer` under a selection (all of `width` when the layer is selected whole). */
export function selectedIndices(selection: FeatureSelection, layer: number, width: number): readonly number[] {
  const chosen = selection.get(layer);
  if (chosen === undefined) return [];
  return chosen === 'all' ? Array.from({ length: width }, (_, i) => i) : chosen;
}

/**
 * Refuses a selection that holds none of the layers a finished stage 1 output holds (describing it would end with
 * "0 described" and look like success): exemplars of layer 1 described with an activation source that reads layer
 * 0. `held` are the manifest's layers, `dir` the folder they come from.
 */
export function checkSelectionHeld(
  selection: FeatureSelection,
  held: readonly { readonly space: string; readonly layer: number }[],
  dir: string,
): void {
  const heldLayers = new Set(held.map((l) => l.layer));
  const selected = [...selection.keys()];
  if (selected.some((layer) => heldLayers.has(layer))) return;
  const list = (layers: Iterable<number>) => [...layers].sort((a, b) => a - b).join(', ');
  throw new ExpgenError(
    `the exemplars in ${dir} hold layer(s) ${list(heldLayers)}, and the features selected are in layer(s) ${list(selected)} (activation.options.layers, features or --features): select features of the layers the exemplars hold, or run "expgen exemplars" for layer(s) ${list(selected)}`,
  );
}
