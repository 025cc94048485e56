// Shared by the stage 1 benchmarks (exemplar-stage.ts, exemplar-memory.ts): a synthetic JSON Lines corpus, stage
// settings, and the `mlp` activation source and `jsonl` dataset taken from their plugin objects exactly as
// `expgen exemplars` composes them.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { configSchema, type ExpgenConfig } from '@expgen/core';
import type {
  ActivationSource,
  ComponentContext,
  DatasetSource,
  ExpgenPlugin,
  Logger,
  Provenance,
  SubjectModel,
} from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';

const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ra',
  'te',
  'su',
  'no',
  'vi',
  'pe',
  'da',
  'qu',
  'zo',
  'ex',
  'an',
  'or',
  'ti',
  'mu',
  'ge',
  'ba',
  'fi',
];
const WORDS = [
  'the',
  'of',
  'and',
  'to',
  'in',
  'is',
  'that',
  'for',
  'it',
  'was',
  'on',
  'with',
  'as',
  'by',
  'at',
  'from',
  'this',
  'have',
  'river',
  'city',
  'market',
  'protein',
  'theorem',
  'engine',
  'winter',
  'senate',
  'guitar',
  'harvest',
  'Paris',
  'Tokyo',
  'function',
  'return',
  'variable',
  'because',
  'however',
  'therefore',
  'quickly',
  'never',
  'always',
  'bright',
  'heavy',
];

/**
 * Writes `documents` synthetic web-text documents (`{"id", "text"}`, 150-450 words drawn from a fixed list,
 * made-up words, numbers and punctuation, from a seed) to a JSON Lines file: about 200-600 Llama 3 tokens each, so
 * every document yields windows of 95 tokens. Streams, so any length fits in memory.
 */
export async function writeSyntheticCorpus(path: string, documents: number, seed = 7): Promise<void> {
  const random = new Sfc32(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random.nextFloat() * list.length)]!;
  const out = createWriteStream(path);
  for (let d = 0; d < documents; d++) {
    const words: string[] = [];
    const count = 150 + Math.floor(random.nextFloat() * 300);
    for (let w = 0; w < count; w++) {
      const u = random.nextFloat();
      let word =
        u < 0.7
          ? pick(WORDS)
          : u < 0.9
            ? pick(SYLLABLES) + pick(SYLLABLES) + (random.nextFloat() < 0.5 ? pick(SYLLABLES) : '')
            : String(Math.floor(random.nextFloat() * 10000));
      if (random.nextFloat() < 0.08) word += pick(['.', ',', ';', '!', '?']);
      words.push(word);
    }
    if (!out.write(`${JSON.stringify({ id: `doc-${d}`, text: words.join(' ') })}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** The `exemplars` section with the schema's defaults under `overrides` (validated like a config file's). */
export function exemplarSettings(overrides: Record<string, unknown>): ExpgenConfig['exemplars'] {
  const section = (component: string) => ({ component });
  return configSchema.parse({
    subject: section('llama'),
    activation: section('mlp'),
    describer: section('baseline'),
    simulator: section('baseline'),
    scorer: section('correlation'),
    datasets: [section('jsonl')],
    exemplars: overrides,
  }).exemplars;
}

/**
 * A built-in plugin object by package name. Imported at run time rather than statically: the llama package is
 * compiled before the other plugins (the root tsconfig's order) and does not depend on them.
 */
async function pluginObject(packageName: string): Promise<ExpgenPlugin> {
  const specifier: string = packageName;
  const loaded = (await import(specifier)) as { default: ExpgenPlugin };
  return loaded.default;
}

function context(component: string, plugin: string, logger: Logger, subject?: SubjectModel): ComponentContext {
  const provenance: Provenance = {
    kind: subject ? 'activation-source' : 'dataset',
    component,
    plugin,
    pluginVersion: 'bench',
  };
  return { provenance, baseDir: process.cwd(), cacheDir: process.cwd(), logger, ...(subject ? { subject } : {}) };
}

/** The `mlp` activation source of `@expgen/plugin-neurons` over `subject` (every layer unless `layers`). */
export async function mlpActivationSource(
  subject: SubjectModel,
  logger: Logger,
  layers: number[] | null = null,
): Promise<ActivationSource> {
  const neurons = await pluginObject('@expgen/plugin-neurons');
  const mlp = neurons.components.find((c) => c.kind === 'activation-source' && c.name === 'mlp')!;
  return (await mlp.create(
    mlp.options.parse({ layers }),
    context('mlp', neurons.meta.name, logger, subject),
  )) as ActivationSource;
}

/** The `jsonl` dataset of `@expgen/plugin-datasets` over `path`. */
export async function jsonlDataset(path: string, logger: Logger): Promise<DatasetSource> {
  const datasets = await pluginObject('@expgen/plugin-datasets');
  const jsonl = datasets.components.find((c) => c.kind === 'dataset' && c.name === 'jsonl')!;
  return (await jsonl.create(
    jsonl.options.parse({ path }),
    context('synthetic', datasets.meta.name, logger),
  )) as DatasetSource;
}
