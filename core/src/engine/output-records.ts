import { packageMeta, type ComponentKind, type Provenance } from '@expgen/contract';
import type { RecordColumn } from './records-arrow.js';

/**
 * What every output file shares (docs/output-format.md): snake_case names, the expgen version and a format
 * version — in an Arrow file's schema metadata (`expgen.format`, `expgen.version`), in a JSON file's header
 * (`format`, `expgen_version`) — and provenance records spelled the same way everywhere.
 */

let version: string | undefined;

/** The version of `@expgen/core` that writes the outputs (its package.json's). */
export function expgenVersion(): string {
  version ??= packageMeta(import.meta.url).version;
  return version;
}

/** Schema metadata of an Arrow file expgen writes: its format (`expgen-results/2`) and the expgen version. */
export function arrowMetadata(format: string): Record<string, string> {
  return { 'expgen.format': format, 'expgen.version': expgenVersion() };
}

/** The head of a JSON file expgen writes: its format and the expgen version, first in the file. */
export function jsonHeader(format: string): { readonly format: string; readonly expgen_version: string } {
  return { format, expgen_version: expgenVersion() };
}

/**
 * A component's provenance as the output files write it (`describer`, `simulator` and `scorer` of a result row,
 * `described_by` of a candidates row, `components` of `expgen-manifest.json`). `settings` holds the component's
 * own settings, keyed as its plugin names them (they mirror its options): written as an object in JSON and as
 * JSON text in Arrow, the one open map of the tables.
 */
export interface ProvenanceRecord {
  readonly kind: ComponentKind;
  readonly component: string;
  readonly plugin: string;
  readonly plugin_version: string;
  readonly settings: Readonly<Record<string, unknown>> | null;
}

export function provenanceRecord(provenance: Provenance): ProvenanceRecord {
  return {
    kind: provenance.kind,
    component: provenance.component,
    plugin: provenance.plugin,
    plugin_version: provenance.pluginVersion,
    settings: provenance.settings ?? null,
  };
}

/** The struct fields of a provenance record in Arrow. */
export const PROVENANCE_FIELDS: readonly RecordColumn[] = [
  { name: 'kind', type: 'utf8' },
  { name: 'component', type: 'utf8' },
  { name: 'plugin', type: 'utf8' },
  { name: 'plugin_version', type: 'utf8' },
  { name: 'settings', type: 'json' },
];

/**
 * A provenance record read from a file of either spelling: this version's, or the camelCase `pluginVersion` of
 * files written before the names became snake_case (format 1). Null stays null.
 */
export function readProvenanceRecord(value: unknown): ProvenanceRecord | null {
  if (value === null || typeof value !== 'object') return null;
  const p = value as Record<string, unknown>;
  return {
    kind: p['kind'] as ComponentKind,
    component: String(p['component']),
    plugin: String(p['plugin']),
    plugin_version: String(p['plugin_version'] ?? p['pluginVersion'] ?? ''),
    settings: (p['settings'] as Record<string, unknown> | undefined) ?? null,
  };
}
