import { readFileSync } from 'node:fs';
import { ExpgenError, PLANTED_TRUTH_FORMAT, type PlantedClass, type PlantedTruth } from '@expgen/contract';

/**
 * Reads and checks a planted-truth file (`PlantedTruth`): the format tag, every class (patterns compile, context
 * classes follow a token class), every feature-sign naming a known class. A broken file is one line naming it.
 */
export function readPlantedTruth(file: string): PlantedTruth {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ExpgenError(`${file}: not a readable planted-truth file (${(error as Error).message})`);
  }
  const fail = (what: string): never => {
    throw new ExpgenError(
      `${file}: ${what}; the planted-truth format is described in core/contract/src/planted-truth.ts`,
    );
  };
  const truth = raw as Partial<PlantedTruth> | null;
  if (truth === null || typeof truth !== 'object') return fail('not a JSON object');
  if (truth.format !== PLANTED_TRUTH_FORMAT)
    fail(`format is ${JSON.stringify(truth.format)}, expected "${PLANTED_TRUTH_FORMAT}"`);
  if (!Array.isArray(truth.classes)) fail('"classes" is not a list');
  if (!Array.isArray(truth.features)) fail('"features" is not a list');
  const classes = new Map<string, PlantedClass>();
  truth.classes!.forEach((c, i) => {
    if (typeof c?.id !== 'string' || (c.kind !== 'token' && c.kind !== 'context'))
      fail(`classes[${i}]: needs a string "id" and "kind" token or context`);
    if (!Array.isArray(c.keywords) || c.keywords.some((k) => typeof k !== 'string'))
      fail(`classes[${i}] (${c.id}): "keywords" is not a list of strings`);
    if (c.kind === 'token') {
      try {
        new RegExp(c.pattern, c.flags ?? '');
      } catch (error) {
        fail(`classes[${i}] (${c.id}): pattern does not compile (${(error as Error).message})`);
      }
    }
    classes.set(c.id, c);
  });
  for (const c of classes.values()) {
    if (c.kind === 'context' && classes.get(c.previous)?.kind !== 'token')
      fail(`class "${c.id}" follows "${c.previous}", which is not a token class of the file`);
  }
  truth.features!.forEach((f, i) => {
    if (typeof f?.feature !== 'string' || (f.sign !== 'positive' && f.sign !== 'negative'))
      fail(`features[${i}]: needs a "feature" key and a "sign" positive or negative`);
    if (f.class !== null && !classes.has(f.class))
      fail(`features[${i}] (${f.feature} ${f.sign}): unknown class "${f.class}"`);
  });
  return truth as PlantedTruth;
}
