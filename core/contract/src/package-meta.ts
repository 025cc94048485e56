import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Name, version and description from the package.json nearest to a plugin module, so `meta` never drifts from
 * what npm installed. Use as `meta: { ...packageMeta(import.meta.url), apiVersion: 1 }`.
 */
export function packageMeta(moduleUrl: string): { name: string; version: string; description?: string } {
  for (let dir = dirname(fileURLToPath(moduleUrl)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
        description?: string;
      };
      if (pkg.name && pkg.version)
        return { name: pkg.name, version: pkg.version, ...(pkg.description ? { description: pkg.description } : {}) };
    } catch {
      // no package.json here: keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`no package.json with a name and version above ${moduleUrl}`);
  }
}
