import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkPluginShape, ExpgenError, type ExpgenPlugin } from '@expgen/contract';
import type { PluginCandidate } from './discover-plugins.js';

export interface LoadedPlugin {
  readonly plugin: ExpgenPlugin;
  readonly candidate: PluginCandidate;
}

/** The module file a package folder's `import()` would load: `exports["."]` (import/default), then `main`. */
export function packageEntry(dir: string): string {
  let pkg: { exports?: unknown; main?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as typeof pkg;
  } catch {
    return join(dir, 'index.js');
  }
  const pick = (target: unknown): string | undefined => {
    if (typeof target === 'string') return target;
    if (target && typeof target === 'object') {
      const t = target as Record<string, unknown>;
      return pick(t['.']) ?? pick(t.import) ?? pick(t.node) ?? pick(t.default);
    }
    return undefined;
  };
  const entry = pick(pkg.exports) ?? (typeof pkg.main === 'string' ? pkg.main : 'index.js');
  return join(dir, entry);
}

/** Loads one plugin module and checks its shape; every error names the plugin and says what to do. */
export async function loadPluginFrom(candidate: PluginCandidate): Promise<LoadedPlugin> {
  const where = `plugin "${candidate.name}"${candidate.origin === 'builtin' ? '' : ` (${candidate.location})`}`;
  let entry: string;
  try {
    entry = statSync(candidate.location).isDirectory() ? packageEntry(candidate.location) : candidate.location;
  } catch {
    throw new ExpgenError(
      candidate.origin === 'builtin'
        ? `${where} is missing from this install: run "npm ci" (or "npm install") in the expgen folder`
        : `${where} was not found: check the path in plugins.paths`,
    );
  }
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    const fix =
      (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND'
        ? ' (is it built? run its build, e.g. "npm run build")'
        : '';
    throw new ExpgenError(`${where} could not be imported from ${entry}: ${reason}${fix}`, { cause: error });
  }
  const plugin = (module.default ?? module.plugin) as ExpgenPlugin | undefined;
  checkPluginShape(plugin, where);
  return { plugin, candidate };
}
