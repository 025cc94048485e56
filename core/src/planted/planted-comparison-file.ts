import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@expgen/plugin-kit';
import type { PlantedClass, SubjectModelInfo } from '@expgen/contract';
import { comparePlantedTruth, type DescribedRow, type PlantedComparison } from './compare-descriptions.js';
import { readPlantedTruth } from './read-planted-truth.js';
import { jsonHeader } from '../engine/output-records.js';

/** The run folder's record of the comparison, which the report reads to mark each feature with its class. */
export const PLANTED_COMPARISON_FILE = 'planted-comparison.json';
const FORMAT = 'expgen-planted-comparison/2';
/** Format 1 said `truthFile`; nothing else changed. */
const FORMAT_1 = 'expgen-planted-comparison/1';

export interface PlantedComparisonRecord extends PlantedComparison {
  readonly format: typeof FORMAT;
  readonly expgen_version: string;
  /** The subject's planted-truth file the run was compared with. */
  readonly truth_file: string;
  readonly about: string;
  readonly classes: readonly PlantedClass[];
}

/**
 * When the subject carries a planted truth (`SubjectModelInfo.plantedTruth`), compares the run's chosen
 * descriptions with it and writes `planted-comparison.json` into the run folder; otherwise does nothing and
 * returns null. Any model folder with a planted.json gets this, not only the demo's.
 */
export function writePlantedComparison(
  subject: Pick<SubjectModelInfo, 'plantedTruth'>,
  rows: readonly DescribedRow[],
  runDir: string,
): PlantedComparisonRecord | null {
  if (subject.plantedTruth === undefined) return null;
  const truth = readPlantedTruth(subject.plantedTruth);
  const record: PlantedComparisonRecord = {
    ...jsonHeader(FORMAT),
    format: FORMAT,
    truth_file: subject.plantedTruth,
    about: truth.about,
    classes: truth.classes,
    ...comparePlantedTruth(truth, rows),
  };
  writeFileAtomic(join(runDir, PLANTED_COMPARISON_FILE), `${JSON.stringify(record)}\n`);
  return record;
}

/** The run folder's comparison, or null when the run's subject had no planted truth. */
export function readPlantedComparison(runDir: string): PlantedComparisonRecord | null {
  const path = join(runDir, PLANTED_COMPARISON_FILE);
  if (!existsSync(path)) return null;
  const record = JSON.parse(readFileSync(path, 'utf8')) as PlantedComparisonRecord & { truthFile?: string };
  if (record.format === FORMAT) return record;
  if (record.format !== FORMAT_1) return null;
  const { truthFile, ...rest } = record;
  return { ...rest, format: FORMAT, truth_file: truthFile ?? '' };
}

/** The `planted` object of `--json` outputs: the comparison's tallies, without the per-feature verdicts. */
export function plantedTallies(
  comparison: PlantedComparison,
): Pick<PlantedComparison, 'all' | 'token' | 'context' | 'random'> {
  const { all, token, context, random } = comparison;
  return { all, token, context, random };
}

/** The summary table's line: how many planted feature-signs the descriptions recovered. */
export function plantedSummaryRow(comparison: PlantedComparison): [string, string] {
  const { all, token, context, random } = comparison;
  const share = all.planted > 0 ? ` (${((100 * all.recovered) / all.planted).toFixed(0)}%)` : '';
  return [
    'planted truth: feature-signs recovered',
    `${all.recovered} of ${all.planted}${share}: token classes ${token.recovered}/${token.planted}, contexts ${context.recovered}/${context.planted}; ${random} left random`,
  ];
}
