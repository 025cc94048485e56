// The ground truth a subject model can carry about its own features: which class of tokens or contexts each
// feature-sign was built to respond to. expgen's demo model is planted this way (plugins/llama/src/hf/planted/),
// and any model folder may hold such a file; when a subject names one (`SubjectModelInfo.plantedTruth`), `expgen
// run` compares the chosen descriptions with it and the report marks each feature with its class.

/** The `format` field of a planted-truth file: bumped when a field changes meaning. */
export const PLANTED_TRUTH_FORMAT = 'expgen-planted-truth/1';

/**
 * A class defined by the tokens themselves. A token belongs to it when `pattern` (a JavaScript regular
 * expression with `flags`) matches the token's *name*: its decoded text without surrounding whitespace, or the
 * text itself when it is only whitespace (a newline). Descriptions name tokens the same way.
 */
export interface PlantedTokenClass {
  readonly id: string;
  readonly kind: 'token';
  /** One line for people: "number tokens (one to three digits)". */
  readonly description: string;
  readonly pattern: string;
  readonly flags?: string;
  /**
   * Words a description written in prose would use for the class ("number", "digit"); matched as whole words or
   * phrases, case-insensitively, outside quoted token names.
   */
  readonly keywords: readonly string[];
  /** How many vocabulary ids are members, and a few of them, for people reading the file. */
  readonly members?: number;
  readonly examples?: readonly string[];
}

/** A class defined by context: the token right after a member of another (token) class. */
export interface PlantedContextClass {
  readonly id: string;
  readonly kind: 'context';
  readonly description: string;
  /** Id of the token class whose members the planted tokens follow. */
  readonly previous: string;
  readonly keywords: readonly string[];
}

export type PlantedClass = PlantedTokenClass | PlantedContextClass;

/** One feature-sign and what it was built to respond to; `class` null: left random on purpose. */
export interface PlantedFeatureSign {
  /** Canonical feature key, `mlp/0/17`. */
  readonly feature: string;
  readonly sign: 'positive' | 'negative';
  readonly class: string | null;
}

/** The file (`planted.json`). */
export interface PlantedTruth {
  readonly format: typeof PLANTED_TRUTH_FORMAT;
  /** How the features were made, in a sentence or two, and where the construction is written down. */
  readonly about: string;
  readonly classes: readonly PlantedClass[];
  readonly features: readonly PlantedFeatureSign[];
}
