import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';

/** What an estimate needs to know of a subject model. */
export interface SubjectShape {
  /** A name for messages: the checkpoint, or where the figures came from. */
  readonly name: string;
  readonly layers: number;
  readonly hidden: number;
  /** MLP neurons per layer (the `mlp` hook's width). */
  readonly intermediate: number;
  /** Parameters, to scale throughputs measured on another model. */
  readonly parameters: number;
  /** How the shape was found, said in the estimate's assumptions. */
  readonly source: string;
}

interface KnownCheckpoint {
  readonly name: string;
  /** Matches a model folder's name or a component name. */
  readonly pattern: RegExp;
  readonly layers: number;
  readonly hidden: number;
  readonly intermediate: number;
  readonly parameters: number;
}

/** Checkpoints whose shape an estimate may assume from a folder's or a component's name. */
export const KNOWN_CHECKPOINTS: readonly KnownCheckpoint[] = [
  {
    name: 'Llama-3.1-8B',
    pattern: /llama[-_.]?3\.?1[-_.]?8b/i,
    layers: 32,
    hidden: 4096,
    intermediate: 14_336,
    parameters: 8.03e9,
  },
  {
    name: 'Llama-3.2-1B',
    pattern: /llama[-_.]?3\.?2[-_.]?1b/i,
    layers: 16,
    hidden: 2048,
    intermediate: 8192,
    parameters: 1.24e9,
  },
];

/** Parameters of a Llama-architecture model with the Llama-3 vocabulary and grouped-query attention. */
function llamaParameters(layers: number, hidden: number, intermediate: number): number {
  const vocab = 128_256;
  const attention = 2 * hidden * hidden + 2 * hidden * (hidden / 4); // q, o; k, v with 4 query heads per KV head
  return layers * (attention + 3 * hidden * intermediate) + 2 * vocab * hidden;
}

/**
 * The subject's shape without loading it: the built (or Hugging Face) folder's `config.json` when the folder is
 * there; the generated tiny model's options; else the built-in table of known checkpoints, matched on the folder's
 * or the component's name.
 */
export function subjectShape(subject: { component: string; options: unknown }, baseDir: string): SubjectShape {
  const options = (subject.options ?? {}) as Record<string, unknown>;
  const model = typeof options['model'] === 'string' ? resolve(baseDir, options['model']) : null;
  if (model && existsSync(join(model, 'config.json'))) {
    const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Record<string, unknown>;
    const layers = config['num_hidden_layers'];
    const hidden = config['hidden_size'];
    const intermediate = config['intermediate_size'];
    if (typeof layers === 'number' && typeof hidden === 'number' && typeof intermediate === 'number')
      return {
        name: basename(model),
        layers,
        hidden,
        intermediate,
        parameters: llamaParameters(layers, hidden, intermediate),
        source: `read from ${join(model, 'config.json')}`,
      };
  }
  const tiny = options['tiny'] as Record<string, unknown> | undefined;
  if (model === null && tiny && typeof tiny['layers'] === 'number') {
    const layers = tiny['layers'];
    const hidden = Number(tiny['hiddenSize']);
    const intermediate = Number(tiny['intermediateSize']);
    return {
      name: 'the tiny seeded model',
      layers,
      hidden,
      intermediate,
      parameters: llamaParameters(layers, hidden, intermediate),
      source: 'from subject.options.tiny',
    };
  }
  for (const known of KNOWN_CHECKPOINTS) {
    const named = [model ? basename(model) : null, subject.component].find((n) => n !== null && known.pattern.test(n));
    if (named)
      return {
        name: known.name,
        layers: known.layers,
        hidden: known.hidden,
        intermediate: known.intermediate,
        parameters: known.parameters,
        source: `assumed from the name "${named}": ${known.name} has ${known.layers} layers x ${known.intermediate.toLocaleString('en-US')} MLP neurons (built-in table)`,
      };
  }
  throw new ExpgenError(
    `--dry-run cannot tell the shape of subject "${subject.component}"${model ? ` (${model} is not there and its name is not a known checkpoint: ${KNOWN_CHECKPOINTS.map((k) => k.name).join(', ')})` : ''}: set cost.layers and cost.featuresPerLayer`,
  );
}
