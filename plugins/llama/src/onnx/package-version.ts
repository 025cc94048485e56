import { readFileSync } from 'node:fs';

let cached: { name: string; version: string } | null = null;

/** Name and version of this plugin package, recorded in every built model so outputs can name their producer. */
export function pluginPackage(): { name: string; version: string } {
  if (cached === null) {
    // dist/onnx/package-version.js -> the package root two folders up, the same from src/ under ts-node.
    const json = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name: string;
      version: string;
    };
    cached = { name: json.name, version: json.version };
  }
  return cached;
}
