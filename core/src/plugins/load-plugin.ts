import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExpgenError } from '../contract/errors.js';
import type { AnyComponentDeclaration, ExpgenPlugin } from '../contract/plugin.js';
import { COMPONENT_KINDS } from '../contract/provenance.js';
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

/** Checks what TypeScript cannot check across a dynamic import: the plugin object a module exports. */
export function checkPluginShape(plugin: unknown, where: string): asserts plugin is ExpgenPlugin {
  const fail = (what: string): never => {
    throw new ExpgenError(`${where} is not a valid expgen plugin: ${what} (see CONTRIBUTING.md, "Writing a plugin")`);
  };
  if (!plugin || typeof plugin !== 'object') fail('its module has no default export with { meta, components }');
  const p = plugin as Partial<ExpgenPlugin>;
  if (!p.meta || typeof p.meta.name !== 'string' || typeof p.meta.version !== 'string')
    fail('meta.name and meta.version must be strings');
  if (p.meta!.apiVersion !== 1)
    fail(`meta.apiVersion is ${JSON.stringify(p.meta!.apiVersion)}, this expgen supports 1`);
  if (!Array.isArray(p.components)) fail('components must be a list');
  const seen = new Set<string>();
  p.components!.forEach((c: Partial<AnyComponentDeclaration>, i) => {
    const at = `components[${i}]${typeof c?.name === 'string' ? ` ("${c.name}")` : ''}`;
    if (!c || typeof c !== 'object') fail(`${at} is not an object`);
    if (!COMPONENT_KINDS.includes(c.kind as never))
      fail(`${at}.kind is ${JSON.stringify(c.kind)}, expected one of ${COMPONENT_KINDS.join(', ')}`);
    // Dots for model versions in names (`llama-3.2-1b`); nothing parses a component name apart.
    if (typeof c.name !== 'string' || !/^[a-z][a-z0-9.-]*$/.test(c.name))
      fail(`${at}.name must be lowercase letters, digits, "-" and "."`);
    if (typeof c.create !== 'function') fail(`${at}.create must be an async function`);
    if (!c.options || typeof (c.options as { parse?: unknown }).parse !== 'function')
      fail(`${at}.options must be a schema (use s.object from @expgen/core)`);
    const key = `${c.kind}/${c.name}`;
    if (seen.has(key)) fail(`${at} repeats the ${c.kind} "${c.name}"`);
    seen.add(key);
  });
}
