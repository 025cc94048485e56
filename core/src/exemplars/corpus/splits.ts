import { createHash } from 'node:crypto';
import { ExpgenError } from '@expgen/contract';

/** The splits a document can belong to, in the fixed order their shares are laid out on [0, 1). */
export const SPLIT_NAMES = ['train', 'valid', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** Relative shares of documents per split (`exemplars.splits`); a missing split has share 0. */
export type SplitShares = Readonly<Partial<Record<SplitName, number>>>;

/**
 * Checked shares: `bounds[k]` is the cumulative fraction of splits 0..k, so split k owns [bounds[k-1], bounds[k]).
 * The last bound is exactly 1, so rounding can never leave a hash value without a split.
 */
export interface SplitAssignment {
  readonly shares: Readonly<Record<SplitName, number>>;
  readonly bounds: readonly number[];
}

const TWO_POW_21 = 2 ** 21;
const TWO_POW_53 = 2 ** 53;

/**
 * Checks `exemplars.splits`: known names only, finite non-negative shares, a positive total. Shares of 0 are
 * allowed (that split simply never occurs).
 */
export function splitAssignment(shares: Readonly<Record<string, number>>, key = 'exemplars.splits'): SplitAssignment {
  for (const name of Object.keys(shares)) {
    if (!(SPLIT_NAMES as readonly string[]).includes(name)) {
      throw new ExpgenError(`${key}.${name}: unknown split "${name}"; the splits are ${SPLIT_NAMES.join(', ')}`);
    }
  }
  const checked = {} as Record<SplitName, number>;
  let total = 0;
  for (const name of SPLIT_NAMES) {
    const share = shares[name] ?? 0;
    if (typeof share !== 'number' || !Number.isFinite(share) || share < 0) {
      throw new ExpgenError(`${key}.${name}: a split's share must be a finite number >= 0, got ${String(share)}`);
    }
    checked[name] = share;
    total += share;
  }
  if (!(total > 0)) throw new ExpgenError(`${key}: at least one split needs a share > 0`);
  const bounds: number[] = [];
  let cumulative = 0;
  for (const name of SPLIT_NAMES) {
    cumulative += checked[name];
    bounds.push(cumulative / total);
  }
  // `cumulative` repeats the additions that made `total` in the same order, so from the last split with a positive
  // share on the bound is exactly total / total = 1: every hash value in [0, 1) has a split, and a split with
  // share 0 owns an empty interval.
  return { shares: checked, bounds };
}

/**
 * The split hash of a document: the first 53 bits of sha256(`${seed}\0${documentId}` as UTF-8), as a fraction in
 * [0, 1). It depends on nothing but the seed and the id — never on the document's position, its dataset or the
 * shard — so a document lands in the same split wherever and whenever it is read, and the same document appearing
 * in two sources (or twice in one) never straddles splits. sha256 because it is in every language's standard
 * library: a Python notebook can recompute a split exactly.
 */
export function splitFraction(seed: number, documentId: string): number {
  const digest = createHash('sha256').update(`${seed}\0${documentId}`, 'utf8').digest();
  return (digest.readUInt32BE(0) * TWO_POW_21 + (digest.readUInt32BE(4) >>> 11)) / TWO_POW_53;
}

/** The split of a document: the split whose share interval contains its split hash. */
export function documentSplit(assignment: SplitAssignment, seed: number, documentId: string): SplitName {
  const u = splitFraction(seed, documentId);
  for (let k = 0; k < SPLIT_NAMES.length; k++) if (u < assignment.bounds[k]!) return SPLIT_NAMES[k]!;
  // Unreachable: the last bound is 1 and u < 1.
  return SPLIT_NAMES[SPLIT_NAMES.length - 1]!;
}
