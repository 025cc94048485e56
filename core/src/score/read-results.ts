import { readFileSync } from 'node:fs';
import { ExpgenError, parseFeatureKey } from '@expgen/contract';
import { readProvenanceRecord } from '../engine/output-records.js';
import { NO_SELECTION_SCORE_REASON } from './result-states.js';
import type { ResultRow, SimulatorRecord } from './results.js';

/**
 * A result row as this version spells it, from a row of either spelling: this version's, or one written before the
 * names became snake_case (format 1: `selectionScore`, `nullScore`, ..., no `space`, `layer`, `index`, and the
 * statuses `scored` / `failed` / `skipped` only). An old row's status is restated as this version would write it:
 * `scored` with no test score becomes `no_test_score`, `failed` because no candidate had a valid-split score
 * becomes `no_selection_score`; it reports no scorer under `scores`. So `expgen report`, `expgen merge` and a
 * resumed stage 3 read folders of both.
 */
export function readResultRow(value: Record<string, unknown>): ResultRow {
  // A row written before several scorers were reported has no `scores`: it reports none.
  if (!('selectionScore' in value) && 'space' in value)
    return ('scores' in value ? value : { ...value, scores: {} }) as unknown as ResultRow;
  const v = value;
  const key = parseFeatureKey(String(v['feature']));
  const number = (name: string) => (typeof v[name] === 'number' ? (v[name] as number) : null);
  let status = v['status'] as ResultRow['status'];
  let reason = (v['reason'] as string | null | undefined) ?? null;
  if (status === 'scored' && number('score') === null) {
    status = 'no_test_score';
    reason =
      'the test score of the chosen description is undefined: its simulation, or the true activation, is the same for every test token (an earlier expgen wrote this row without saying which)';
  } else if (status === 'failed' && reason?.startsWith('no candidate has a defined score on the valid split')) {
    status = 'no_selection_score';
    reason = NO_SELECTION_SCORE_REASON;
  }
  const simulator = readProvenanceRecord(v['simulator']);
  return {
    feature: String(v['feature']),
    space: key.space,
    layer: key.layer,
    index: key.index,
    sign: v['sign'] as ResultRow['sign'],
    status,
    reason,
    description: (v['description'] as string | null | undefined) ?? null,
    score: number('score'),
    ci: (v['ci'] as [number, number] | null | undefined) ?? null,
    selection_score: number('selectionScore'),
    candidates: number('candidates') ?? 0,
    pearson: number('pearson'),
    r_squared: number('rSquared'),
    absolute_deviation_explained: number('absoluteDeviationExplained'),
    pooled_score: number('pooledScore'),
    null_score: number('nullScore'),
    describer: readProvenanceRecord(v['describer']),
    simulator: simulator
      ? ({
          ...simulator,
          mode: ((v['simulator'] as Record<string, unknown>)['mode'] as string | null | undefined) ?? null,
        } satisfies SimulatorRecord)
      : null,
    scorer: readProvenanceRecord(v['scorer']),
    scores: {},
  };
}

/** The rows of a `results.jsonl` (either spelling, see `readResultRow`); a line that is not JSON is refused by line. */
export function readResultRows(path: string): ResultRow[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new ExpgenError(`${path}: line ${i + 1} is not JSON (${(error as Error).message})`);
      }
      if (!value || typeof value !== 'object' || typeof (value as { feature?: unknown }).feature !== 'string')
        throw new ExpgenError(`${path}: line ${i + 1} is not a result row (no feature key): ${line.slice(0, 80)}`);
      return readResultRow(value as Record<string, unknown>);
    });
}
