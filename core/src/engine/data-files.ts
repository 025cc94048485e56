import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';

const COMPONENT_BY_EXTENSION: Record<string, string> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.parquet': 'parquet',
  '.arrow': 'arrow',
  '.arrows': 'arrow',
  '.feather': 'arrow',
  '.ipc': 'arrow',
};

/**
 * The `datasets` section that `--data PATH` (repeatable) swaps in for the configured one: the dataset component
 * follows the file extension (a folder takes the kind of the files in it), each source with ratio 1, named after
 * its file so exemplars record where they came from.
 */
export function datasetsFromFiles(
  paths: readonly string[],
  cwd: string,
): { component: string; name: string; ratio: number; options: { path: string } }[] {
  const names = new Set<string>();
  return paths.map((given) => {
    const path = resolve(cwd, given);
    if (!existsSync(path)) throw new ExpgenError(`--data ${given}: ${path} does not exist`);
    const component = componentFor(path, given);
    const base =
      basename(path)
        .replace(/\.[^.]+$/, '')
        .replace(/[^A-Za-z0-9._-]/g, '_') || 'data';
    let name = base;
    for (let i = 2; names.has(name); i++) name = `${base}-${i}`;
    names.add(name);
    return { component, name, ratio: 1, options: { path } };
  });
}

function componentFor(path: string, given: string): string {
  if (statSync(path).isDirectory()) {
    const kinds = new Set(
      readdirSync(path)
        .map((f) => COMPONENT_BY_EXTENSION[extname(f).toLowerCase()])
        .filter(Boolean),
    );
    if (kinds.size === 1) return [...kinds][0]!;
    throw new ExpgenError(
      `--data ${given}: the folder ${kinds.size ? 'mixes several kinds of data files' : 'holds no .jsonl, .parquet or .arrow files'}: pass files of one kind, or configure datasets in the config`,
    );
  }
  const component = COMPONENT_BY_EXTENSION[extname(path).toLowerCase()];
  if (!component)
    throw new ExpgenError(
      `--data ${given}: unknown file type "${extname(path) || '(none)'}": use .jsonl, .parquet or .arrow (or configure the dataset in the config)`,
    );
  return component;
}
