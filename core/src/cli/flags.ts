import { Flags } from '@oclif/core';

// Every flag of expgen's own commands, defined once. Each command spreads the groups that apply to it, so
// `expgen exemplars --help` never offers a describer and `expgen score --help` never offers --data.

/** Flags every command that reads the config takes. */
export const configFlags = {
  config: Flags.string({
    char: 'c',
    description: 'Config file (default: searched from the current folder, else the embedded default).',
    helpValue: 'FILE',
  }),
  set: Flags.string({
    description: 'Override a config key, e.g. --set exemplars.topK=50 (repeatable).',
    multiple: true,
    helpValue: 'PATH=VALUE',
  }),
};

/** Flags of every stage command (run, exemplars, describe, score). */
export const stageFlags = {
  ...configFlags,
  out: Flags.string({
    char: 'o',
    description: 'Run folder (stage outputs go in its subfolders).',
    helpValue: 'DIR',
    default: 'out',
  }),
  plugin: Flags.string({ description: 'Activation source by component name, e.g. --plugin sae.', helpValue: 'NAME' }),
  features: Flags.string({
    description: 'Which features: keys (mlp/5/2183), a layer (mlp/5/*), or @file with one key per line.',
    helpValue: 'SPEC',
  }),
  json: Flags.boolean({ description: 'Print machine-readable JSON on standard output.' }),
};

/** `--data`, for the commands that read the corpus (run, exemplars). */
export const dataFlag = {
  data: Flags.string({
    description: 'Data file replacing the configured datasets (repeatable).',
    multiple: true,
    helpValue: 'PATH',
  }),
};

/** `--describer`, for the commands that describe (run, describe). */
export const describerFlag = {
  describer: Flags.string({ description: 'Describer by component name.', helpValue: 'NAME' }),
};

/** `--simulator`, for the commands that score (run, score). */
export const simulatorFlag = {
  simulator: Flags.string({ description: 'Simulator by component name.', helpValue: 'NAME' }),
};

/** `--scorer`, for the commands that score (run, score). */
export const scorerFlag = {
  scorer: Flags.string({
    description:
      'A scorer to report on the test split, with its interval and null baseline (repeatable; its `scorers` entry in the config, or the component of that name): --scorer correlation --scorer detection --scorer fuzzing.',
    multiple: true,
    helpValue: 'NAME',
  }),
};

/** Flags of the commands that describe or score: feature sharding and reusable exemplars. */
export const featureShardFlags = {
  shard: Flags.string({
    description:
      'Describe and score shard i of N of the features (i from 0; auto/N takes i from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX); combine shards with `expgen merge`.',
    helpValue: 'i/N',
  }),
  exemplars: Flags.string({
    description: 'Read finished stage 1 output from this run folder (e.g. merged sequence shards) instead of --out.',
    helpValue: 'DIR',
  }),
};

/** `--dry-run`, for the commands that describe. */
export const dryRunFlag = {
  'dry-run': Flags.boolean({
    description:
      "Estimate what the configured run costs (requests, tokens, simulator tokens, GPU-hours, money) from the config alone, or with finished exemplars from the describer's own estimate; load, send and write nothing.",
  }),
};
