import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareFeatureKeys, ExpgenError, parseFeatureKey, type Sign } from '@expgen/contract';
import { derangement, writeFileAtomic } from '@expgen/plugin-kit';
import { letSignalsIn } from '../engine/interrupts.js';

/**
 * The null baseline's pairs: feature t's test data is scored with the description chosen for feature partner(t),
 * partner being a seeded derangement over the run's WHOLE feature selection in key order (the same for every sign).
 * Because the pairs depend only on the selection and the seed, every feature shard (`--shard i/N`) derives the
 * same ones, and a merge of shards equals the unsharded run byte for byte. A shard knows only its own features'
 * chosen descriptions, so the work goes the other way round: each scored description is simulated on the test
 * data of its target (the feature it is the partner of), wherever that feature's row lives; `expgen merge` puts
 * the scores the shards computed on the rows they belong to.
 */
export class NullPairing {
  private constructor(
    private readonly features: readonly string[],
    private readonly position: ReadonlyMap<string, number>,
    /** target[j]: the feature whose data feature j's description is scored on (the inverse derangement). */
    private readonly target: Int32Array,
  ) {}

  /** Pairs over `features` (canonical keys, in key order; duplicates, such as one per sign, count once). */
  static over(features: readonly string[], seed: number): NullPairing {
    const unique = [...new Set(features)];
    const partner = derangement(unique.length, seed);
    const target = new Int32Array(unique.length).fill(-1);
    if (unique.length >= 2) for (const [t, p] of partner.entries()) target[p] = t;
    return new NullPairing(unique, new Map(unique.map((f, i) => [f, i])), target);
  }

  /**
   * The feature whose test data the description chosen for `feature` is scored on; null when there is none (a
   * selection of one feature has no other to pair with).
   */
  targetOf(feature: string): string | null {
    const j = this.position.get(feature);
    if (j === undefined)
      throw new ExpgenError(`null baseline: ${feature} is not in the run's feature selection the pairs are drawn from`);
    const t = this.target[j]!;
    return t < 0 ? null : this.features[t]!;
  }
}

/** One null score, a line of `score/null-scores.jsonl`: `feature`'s test data scored with the description chosen for `description_of`. */
export interface NullScore {
  readonly feature: string;
  readonly sign: Sign;
  readonly description_of: string;
  /** The selection scorer's value. */
  readonly null_score: number | null;
  /** Every reported scorer's value, by name (absent from files written before several scorers were reported). */
  readonly scores?: Readonly<Record<string, number | null>>;
}

/** What scoring one pair gives: the selection scorer's value and every reported scorer's. */
export interface PairScores {
  readonly null_score: number | null;
  readonly scores: Readonly<Record<string, number | null>>;
}

/** What the null baseline reads of a result row. */
interface PairableRow {
  readonly feature: string;
  readonly sign: Sign;
  readonly status: string;
  readonly description: string | null;
  readonly scores?: Readonly<Record<string, { readonly status: string }>>;
}

/**
 * Whether a row takes null scores: the row's own (`null_score`) when it is `scored`, a reported scorer's when that
 * scorer's entry is (a judge may score a description whose simulation is constant on the test split).
 */
function takesNullScores(row: Pick<PairableRow, 'status' | 'scores'>): boolean {
  return row.status === 'scored' || Object.values(row.scores ?? {}).some((e) => e.status === 'scored');
}

/**
 * Scores each chosen description (a `scored` or `no_test_score` row's) on its target's test data (`scoreOn`), up
 * to `concurrency` pairs at once (judges behind HTTP servers want many in flight; the scores are the same in any
 * order). A target among `rows` that is not scored, by the selection scorer or another, gets no null score (the
 * summary takes each null baseline over scored rows only), so it is not scored; a target outside `rows` (in another
 * feature shard) is, since its status is known only there.
 */
export async function scoreNullPairs(
  rows: readonly PairableRow[],
  pairing: NullPairing,
  scoreOn: (description: string, target: string, sign: Sign) => Promise<PairScores>,
  concurrency = 1,
): Promise<NullScore[]> {
  const takesHere = new Map(rows.map((r) => [pairKey(r.feature, r.sign), takesNullScores(r)]));
  const out: (NullScore | undefined)[] = [];
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  for (const row of rows) {
    await letSignalsIn();
    if (failure) break;
    if (row.description === null) continue;
    const target = pairing.targetOf(row.feature);
    if (target === null) continue;
    if (takesHere.get(pairKey(target, row.sign)) === false) continue;
    const slot = out.length;
    out.push(undefined);
    const job = scoreOn(row.description, target, row.sign)
      .then((scored) => {
        out[slot] = { feature: target, sign: row.sign, description_of: row.feature, ...scored };
      })
      .catch((error: unknown) => {
        failure ??= { error };
      })
      .finally(() => running.delete(job));
    running.add(job);
    if (running.size >= Math.max(1, concurrency)) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure) throw failure.error;
  return out as NullScore[];
}

/**
 * Each row with its null scores from `scores`: the selection scorer's `null_score` on a `scored` row, each reported
 * scorer's `scores.<name>.null_score` on a `scored` entry; null where no score was computed.
 */
export function applyNullScores<
  Row extends {
    feature: string;
    sign: Sign;
    status: string;
    scores?: Readonly<Record<string, { readonly status: string; readonly null_score: number | null }>>;
  },
>(rows: readonly Row[], scores: Iterable<NullScore>): (Row & { null_score: number | null })[] {
  const byTarget = new Map<string, NullScore>();
  for (const s of scores) byTarget.set(pairKey(s.feature, s.sign), s);
  return rows.map((row) => {
    const found = byTarget.get(pairKey(row.feature, row.sign));
    const entries = row.scores
      ? Object.fromEntries(
          Object.entries(row.scores).map(([name, entry]) => [
            name,
            { ...entry, null_score: entry.status === 'scored' ? (found?.scores?.[name] ?? null) : null },
          ]),
        )
      : undefined;
    return {
      ...row,
      null_score: row.status === 'scored' ? (found?.null_score ?? null) : null,
      ...(entries ? { scores: entries } : {}),
    };
  });
}

/** Where a run folder keeps the null scores its descriptions produced, for `expgen merge`. */
export const NULL_SCORES_FILE = join('score', 'null-scores.jsonl');

/** Writes the null scores a run computed, in the order of their target rows (feature key, then sign), whole. */
export function writeNullScores(outDir: string, scores: readonly NullScore[]): void {
  const ordered = [...scores].sort(
    (a, b) =>
      compareFeatureKeys(parseFeatureKey(a.feature), parseFeatureKey(b.feature)) ||
      (a.sign === b.sign ? 0 : a.sign === 'positive' ? -1 : 1),
  );
  writeFileAtomic(join(outDir, NULL_SCORES_FILE), ordered.map((s) => `${JSON.stringify(s)}\n`).join(''));
}

/** The null scores a run folder computed; undefined for a folder made before they were kept. */
export function readNullScores(dir: string): NullScore[] | undefined {
  const path = join(dir, NULL_SCORES_FILE);
  if (!existsSync(path)) return undefined;
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new ExpgenError(`${path}:${i + 1}: not a JSON line: rerun "expgen score" in ${dir} to rewrite it`);
      }
      // Lines written before the names became snake_case say `descriptionOf` and `nullScore`.
      return 'descriptionOf' in value
        ? {
            feature: value['feature'] as string,
            sign: value['sign'] as Sign,
            description_of: value['descriptionOf'] as string,
            null_score: (value['nullScore'] as number | null) ?? null,
          }
        : (value as unknown as NullScore);
    });
}

/**
 * The null scores of merged feature shards: every shard's, written into the merged folder and put on the rows
 * they belong to. Shards made before null scores were kept have none: their rows keep the scores drawn within
 * each shard.
 */
export function mergeNullScores<
  Row extends {
    feature: string;
    sign: Sign;
    status: string;
    null_score: number | null;
    scores?: Readonly<Record<string, { readonly status: string; readonly null_score: number | null }>>;
  },
>(rows: readonly Row[], shardDirs: readonly string[], outDir: string): Row[] {
  const perShard = shardDirs.map((dir) => readNullScores(dir));
  if (perShard.some((scores) => scores === undefined)) return [...rows];
  // A shard scored targets in other shards without knowing their status: keep the scores of scored rows only.
  const scored = new Set(rows.filter(takesNullScores).map((r) => pairKey(r.feature, r.sign)));
  const scores = perShard.flatMap((s) => s!).filter((s) => scored.has(pairKey(s.feature, s.sign)));
  writeNullScores(outDir, scores);
  return applyNullScores(rows, scores);
}

function pairKey(feature: string, sign: Sign): string {
  return `${feature}:${sign}`;
}
