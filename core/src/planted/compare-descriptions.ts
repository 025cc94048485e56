import type { PlantedClass, PlantedTokenClass, PlantedTruth, Sign } from '@expgen/contract';

/** What the comparison needs of a result row. */
export interface DescribedRow {
  readonly feature: string;
  readonly sign: Sign;
  /** A result row's status: `scored` and `no_test_score` rows have a chosen description. */
  readonly status: string;
  readonly description: string | null;
}

/** One feature-sign of the run set against the truth. */
export interface PlantedVerdict {
  readonly feature: string;
  readonly sign: Sign;
  /** The planted class; null: the feature was left random on purpose. */
  readonly class: string | null;
  /** Null for random features and for rows without a chosen description. */
  readonly recovered: boolean | null;
  /** Why it counts as recovered: the quoted class members or the keyword the description uses. */
  readonly evidence: readonly string[];
}

export interface PlantedTally {
  /** Planted feature-signs in the run. */
  readonly planted: number;
  readonly recovered: number;
}

export interface PlantedComparison {
  /** Every planted feature-sign of the run, whatever its kind. */
  readonly all: PlantedTally;
  readonly token: PlantedTally;
  readonly context: PlantedTally;
  /** Feature-signs of the run left random on purpose. */
  readonly random: number;
  readonly verdicts: readonly PlantedVerdict[];
}

/** Words that say a description is about the token after another one. */
const CONTEXT_WORDS = /\b(after|following|follows|followed|preceded)\b/i;

/**
 * Compares chosen descriptions with the planted truth. A planted feature-sign is *recovered* when its chosen
 * description (a scored row's) names the class in one of two ways:
 *
 * - **Quoted tokens.** For a token class, more than half of the token names the description quotes (before any
 *   "after") are members of the class, by the class's pattern over token names. For a context class ("the token
 *   after X"), the description says after / following / preceded outside quotes, and a token name it quotes after
 *   that word is a member of the class the planted tokens follow.
 * - **Words.** Outside quotes it uses one of the class's keywords ("number", "punctuation", "start of a line"),
 *   as a whole word or phrase, case-insensitively: the way an explainer writing prose names a class.
 *
 * Feature-signs of the truth absent from `rows` are not counted (a run may select some features); random ones
 * are counted apart.
 */
export function comparePlantedTruth(truth: PlantedTruth, rows: readonly DescribedRow[]): PlantedComparison {
  const classes = new Map(truth.classes.map((c) => [c.id, c]));
  const truthOf = new Map(truth.features.map((f) => [`${f.feature}|${f.sign}`, f.class]));
  const verdicts: PlantedVerdict[] = [];
  for (const row of rows) {
    const key = `${row.feature}|${row.sign}`;
    if (!truthOf.has(key)) continue;
    const classId = truthOf.get(key)!;
    if (classId === null) {
      verdicts.push({ feature: row.feature, sign: row.sign, class: null, recovered: null, evidence: [] });
      continue;
    }
    // A chosen description, whether or not it has a test score (`no_test_score` rows have one too).
    const description = row.status === 'scored' || row.status === 'no_test_score' ? row.description : null;
    const evidence = description === null ? null : namesClass(description, classes.get(classId)!, classes);
    verdicts.push({
      feature: row.feature,
      sign: row.sign,
      class: classId,
      recovered: evidence === null ? null : evidence.length > 0,
      evidence: evidence ?? [],
    });
  }
  const tally = (kind?: PlantedClass['kind']): PlantedTally => {
    const chosen = verdicts.filter(
      (v) => v.class !== null && (kind === undefined || classes.get(v.class)!.kind === kind),
    );
    return { planted: chosen.length, recovered: chosen.filter((v) => v.recovered === true).length };
  };
  return {
    all: tally(),
    token: tally('token'),
    context: tally('context'),
    random: verdicts.filter((v) => v.class === null).length,
    verdicts,
  };
}

/** The evidence that `description` names `planted` (empty: it does not). */
export function namesClass(
  description: string,
  planted: PlantedClass,
  classes: ReadonlyMap<string, PlantedClass>,
): string[] {
  const { before, after, prose } = splitDescription(description);
  const keyword = planted.keywords.find((k) => keywordPattern(k).test(prose));
  if (keyword !== undefined) return [keyword];
  if (planted.kind === 'token') {
    const members = before.filter((name) => isMember(planted, name));
    return before.length > 0 && members.length * 2 > before.length ? members : [];
  }
  if (!CONTEXT_WORDS.test(prose)) return [];
  const previous = classes.get(planted.previous) as PlantedTokenClass;
  return after.filter((name) => isMember(previous, name));
}

/** Quoted token names before and after the first context word outside quotes, and the text outside quotes. */
function splitDescription(description: string): { before: string[]; after: string[]; prose: string } {
  const quoted = /"((?:[^"\\]|\\.)*)"/g;
  const prose = description.replace(quoted, (q) => ' '.repeat(q.length));
  const cut = prose.search(CONTEXT_WORDS);
  const before: string[] = [];
  const after: string[] = [];
  for (const match of description.matchAll(quoted)) {
    let name: string;
    try {
      name = JSON.parse(`"${match[1]}"`) as string;
    } catch {
      name = match[1]!;
    }
    name = name.trim() || name;
    if (name === '') continue;
    (cut >= 0 && match.index! > cut ? after : before).push(name);
  }
  return { before, after, prose };
}

function isMember(tokenClass: PlantedTokenClass, name: string): boolean {
  return new RegExp(tokenClass.pattern, tokenClass.flags ?? '').test(name);
}

function keywordPattern(keyword: string): RegExp {
  const escaped = keyword.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
  return new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'iu');
}
