/** The kinds of component a plugin can provide, spelled as in `expgen plugins --json`. */
export const COMPONENT_KINDS = [
  'dataset',
  'subject-model',
  'activation-source',
  'describer',
  'simulator',
  'scorer',
] as const;
export type ComponentKind = (typeof COMPONENT_KINDS)[number];

/**
 * Who produced a value. Every component carries one and stamps it on what it returns (`describedBy`,
 * `simulatedBy`, `scoredBy`, ...), so the provenance of every number in an output is data, not a log line.
 */
export interface Provenance {
  /** Component kind. */
  readonly kind: ComponentKind;
  /** Component name within its plugin, e.g. `mlp`, `baseline`. */
  readonly component: string;
  /** Name of the plugin package that provided it. */
  readonly plugin: string;
  /** Version of that plugin package. */
  readonly pluginVersion: string;
  /** Settings that change the component's output (model id, sampling parameters, execution provider, hashes). */
  readonly settings?: Readonly<Record<string, unknown>>;
}
