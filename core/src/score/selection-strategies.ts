import type { Sign } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { interleavedOrder, type ScoringSequences } from './scoring-sequences.js';
import type { SetScorer } from './set-scorer.js';

/** One feature-sign's choice among its distinct candidate descriptions, on the valid sequences. */
export interface SelectionProblem {
  readonly sign: Sign;
  /** The valid split's sequences (top exemplars of the sign, then random ones). */
  readonly sequences: ScoringSequences;
  /** Distinct candidate texts: identical candidates are simulated once, whatever the strategy. */
  readonly descriptions: readonly string[];
  /** Simulates `descriptions` on the rows at `rows` (indices into `sequences.rows`): predictions[d][j]. */
  simulate(descriptions: readonly string[], rows: readonly number[]): Promise<readonly (readonly Float32Array[])[]>;
  readonly scorer: SetScorer;
}

export interface SelectionOutcome {
  /** Index into `descriptions` of the choice; null when no candidate has a defined score on the whole set. */
  readonly chosen: number | null;
  /** Per description, its score on the sequences it was last scored on (null where undefined). */
  readonly scores: readonly (number | null)[];
  /** Per description, how many valid sequences it was simulated and scored on (all of them for the choice). */
  readonly evaluatedOn: readonly number[];
  /** predictions[d][row] in the set's row order; undefined where description d was not simulated on that row. */
  readonly predictions: readonly (readonly (Float32Array | undefined)[])[];
  /** Simulation rounds (1 for exhaustive). */
  readonly rounds: number;
}

export type SelectionSettings = ExpgenConfig['score']['selection'];

/** Runs the configured strategy. */
export function selectCandidate(problem: SelectionProblem, settings: SelectionSettings): Promise<SelectionOutcome> {
  return settings.strategy === 'exhaustive'
    ? exhaustiveSelection(problem)
    : halvingSelection(problem, settings.halving);
}

/** Candidate state shared by the strategies: predictions and scored sequences per row, filled as rounds go. */
class Candidates {
  readonly predictions: (Float32Array | undefined)[][];
  readonly scores: (number | null)[];
  readonly evaluatedOn: number[];

  constructor(private readonly problem: SelectionProblem) {
    const n = problem.sequences.rows.length;
    const d = problem.descriptions.length;
    this.predictions = Array.from({ length: d }, () => new Array<Float32Array | undefined>(n));
    this.scores = new Array<number | null>(d).fill(null);
    this.evaluatedOn = new Array<number>(d).fill(0);
  }

  /** Simulates `alive` on `rows` and keeps the predictions. */
  async simulate(alive: readonly number[], rows: readonly number[]): Promise<void> {
    if (alive.length === 0 || rows.length === 0) return;
    const predictions = await this.problem.simulate(
      alive.map((d) => this.problem.descriptions[d]!),
      rows,
    );
    alive.forEach((d, i) => {
      rows.forEach((row, j) => {
        this.predictions[d]![row] = predictions[i]![j]!;
      });
    });
  }

  /** Scores description d on `rows` (all simulated), remembering the score and how many rows it covers. */
  score(d: number, rows: readonly number[]): number | null {
    const { sign, sequences } = this.problem;
    const value = this.problem.scorer.valueOfRows(
      sign,
      rows.map((row) => {
        const r = sequences.rows[row]!;
        return { activations: r.activations, countFrom: r.countFrom, predicted: this.predictions[d]![row]! };
      }),
    );
    if (value !== null && !Number.isFinite(value))
      throw new RangeError(`the scorer returned ${value}; an undefined score must be null`);
    this.scores[d] = value;
    this.evaluatedOn[d] = rows.length;
    return value;
  }

  /** The best defined score among `among` (ties to the lower index); null when none is defined. */
  best(among: readonly number[]): number | null {
    let chosen: number | null = null;
    for (const d of among) {
      const s = this.scores[d];
      if (s === null || s === undefined) continue;
      if (chosen === null || s > this.scores[chosen]!) chosen = d;
    }
    return chosen;
  }

  outcome(chosen: number | null, rounds: number): SelectionOutcome {
    return { chosen, scores: this.scores, evaluatedOn: this.evaluatedOn, predictions: this.predictions, rounds };
  }
}

/** Every distinct candidate on the whole valid set; the best defined score wins (ties to the earlier candidate). */
export async function exhaustiveSelection(problem: SelectionProblem): Promise<SelectionOutcome> {
  const candidates = new Candidates(problem);
  const all = problem.descriptions.map((_, d) => d);
  const rows = problem.sequences.rows.map((_, i) => i);
  await candidates.simulate(all, rows);
  for (const d of all) candidates.score(d, rows);
  return candidates.outcome(candidates.best(all), 1);
}

/**
 * Successive halving over the valid split. Every distinct candidate is simulated on a first slice of the
 * sequences (`firstSlice` of them, in an order that mixes top and random sequences in proportion); the better
 * `keep` share (rounded up) survives; the slice grows by `growth`, and only the survivors are simulated on the
 * new sequences (their earlier predictions are kept); when the slice is the whole valid set, the best survivor
 * there is chosen, with the same rule as the exhaustive strategy. A round in which no survivor has a defined score
 * prunes nothing. Once one survivor is left it is simulated on the rest of the set directly.
 */
export async function halvingSelection(
  problem: SelectionProblem,
  params: SelectionSettings['halving'],
): Promise<SelectionOutcome> {
  const candidates = new Candidates(problem);
  const order = interleavedOrder(problem.sequences.strata);
  const n = order.length;
  let alive = problem.descriptions.map((_, d) => d);
  let done = 0;
  let size = Math.min(n, Math.max(1, Math.ceil(params.firstSlice * n)));
  let rounds = 0;
  for (;;) {
    rounds++;
    await candidates.simulate(alive, order.slice(done, size));
    const slice = order.slice(0, size);
    for (const d of alive) candidates.score(d, slice);
    if (size === n) return candidates.outcome(candidates.best(alive), rounds);
    alive = survivors(candidates.scores, alive, Math.max(1, Math.ceil(alive.length * params.keep)));
    done = size;
    size = alive.length === 1 ? n : Math.min(n, Math.max(size + 1, Math.ceil(size * params.growth)));
  }
}

/**
 * What halving simulates when every score is defined and every text distinct: the (description, sequence) pairs
 * over all rounds, and the rounds. The schedule `halvingSelection` follows; `--dry-run` prices it.
 */
export function halvingPlan(
  candidates: number,
  sequences: number,
  params: SelectionSettings['halving'],
): { pairs: number; rounds: number } {
  if (candidates === 0 || sequences === 0) return { pairs: 0, rounds: 0 };
  let alive = candidates;
  let done = 0;
  let size = Math.min(sequences, Math.max(1, Math.ceil(params.firstSlice * sequences)));
  let pairs = 0;
  let rounds = 0;
  for (;;) {
    rounds++;
    pairs += alive * (size - done);
    if (size === sequences) return { pairs, rounds };
    alive = Math.max(1, Math.ceil(alive * params.keep));
    done = size;
    size = alive === 1 ? sequences : Math.min(sequences, Math.max(size + 1, Math.ceil(size * params.growth)));
  }
}

/**
 * The `keep` best of `alive` by score (defined scores first, higher first, ties to the lower index), in index
 * order. Undefined scores fill only the places defined ones leave; if none is defined, all survive.
 */
function survivors(scores: readonly (number | null)[], alive: readonly number[], keep: number): number[] {
  if (alive.every((d) => scores[d] === null)) return [...alive];
  const ranked = [...alive].sort((a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    if (sa === null || sb === null) return sa === sb ? a - b : sa === null ? 1 : -1;
    return sb - sa || a - b;
  });
  return ranked.slice(0, keep).sort((a, b) => a - b);
}
