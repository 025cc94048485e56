import {
  formatFeatureKey,
  signedActivation,
  type JudgeList,
  type JudgeRequest,
  type JudgeSequence,
  type Sign,
} from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';

/**
 * Which sequences a judge is shown, and what is true of each: drawn from the feature's kept lists of the split
 * (the request), as a function of the seed, the feature and the sign only, so the null baseline (another feature's
 * description on the same data) shows the judge exactly the same sequences.
 */

/** One sequence to show: where it comes from, why it was drawn, the truth, and (fuzzing) the tokens to mark. */
export interface ShownSequence {
  readonly list: JudgeList;
  readonly index: number;
  readonly group: string;
  readonly truth: boolean;
  /** Per token, whether it is marked in the prompt (fuzzing); null: shown unmarked (detection). */
  readonly marks: readonly boolean[] | null;
  /**
   * For a mismarked sequence, the marks that would be right: a scorer leaves the sequence out when both render to
   * the same text (a wrong mark inside a character a firing token shares), since no judge could tell them apart.
   */
  readonly rightMarks?: readonly boolean[];
}

interface Candidate {
  readonly list: JudgeList;
  readonly index: number;
  readonly sequence: JudgeSequence;
  /** The strongest activation over its counted tokens, in the sign's direction. */
  readonly peak: number;
}

/** The strongest activation in the sign's direction over a sequence's counted tokens (−Infinity for none). */
export function peakOf(sequence: JudgeSequence, sign: Sign): number {
  let peak = Number.NEGATIVE_INFINITY;
  for (let t = Math.max(0, sequence.countFrom); t < sequence.activations.length; t++) {
    const a = signedActivation(sign, sequence.activations[t]!);
    if (a > peak) peak = a;
  }
  return peak;
}

/**
 * The activation a token must reach, in the sign's direction, to fire: `fraction` of the strongest among the
 * feature's kept top exemplars of the split. Null when none of them reaches the sign at all (nothing fires).
 */
export function fireThreshold(request: JudgeRequest, fraction: number): number | null {
  let strongest = 0;
  for (const s of request.sequences.top) strongest = Math.max(strongest, peakOf(s, request.sign));
  return strongest > 0 ? fraction * strongest : null;
}

/** Whether a sequence fires: one of its counted tokens reaches the threshold in the sign's direction. */
export function sequenceFires(sequence: JudgeSequence, sign: Sign, threshold: number | null): boolean {
  const peak = peakOf(sequence, sign);
  return threshold !== null && peak > 0 && peak >= threshold;
}

/** Whether each token fires (counted positions only; NaN never fires). */
export function firingTokens(sequence: JudgeSequence, sign: Sign, threshold: number | null): boolean[] {
  return Array.from(sequence.tokens, (_, t) => {
    if (threshold === null || t < sequence.countFrom) return false;
    const a = signedActivation(sign, sequence.activations[t]!);
    return a > 0 && a >= threshold;
  });
}

/** The draw's generator: a function of the task, the seed, the feature and the sign (never of the description). */
export function drawRandom(task: string, request: JudgeRequest): Sfc32 {
  return Sfc32.fromKey(
    `expgen/judge-draw/v1\ntask=${task}\nseed=${request.seed}\nfeature=${formatFeatureKey(request.feature)}\nsign=${request.sign}`,
  );
}

/** Every kept sequence, with its peak, split by whether it fires. */
function candidates(request: JudgeRequest, threshold: number | null): { fire: Candidate[]; quiet: Candidate[] } {
  const fire: Candidate[] = [];
  const quiet: Candidate[] = [];
  for (const list of ['top', 'opposite', 'random'] as const)
    request.sequences[list].forEach((sequence, index) => {
      const candidate = { list, index, sequence, peak: peakOf(sequence, request.sign) };
      // Whatever its list: a sequence of the other sign's list that also reaches the threshold fires too.
      if (threshold !== null && candidate.peak > 0 && candidate.peak >= threshold) fire.push(candidate);
      else quiet.push(candidate);
    });
  return { fire, quiet };
}

/**
 * The firing sequences (the sign's top exemplars and the other kept sequences that fire) ordered by peak, strongest
 * first, and cut into `quantiles` groups of nearly equal size (q1 the strongest); empty groups are left out.
 */
export function quantileGroups(
  fire: readonly Candidate[],
  quantiles: number,
): { label: string; members: Candidate[] }[] {
  const order: Record<JudgeList, number> = { top: 0, random: 1, opposite: 2 };
  const sorted = [...fire].sort((a, b) => b.peak - a.peak || order[a.list] - order[b.list] || a.index - b.index);
  const groups: { label: string; members: Candidate[] }[] = [];
  for (let g = 0; g < quantiles; g++) {
    const members = sorted.slice(
      Math.floor((g * sorted.length) / quantiles),
      Math.floor(((g + 1) * sorted.length) / quantiles),
    );
    if (members.length) groups.push({ label: `q${g + 1}`, members });
  }
  return groups;
}

/** `count` members drawn evenly across the groups (one from each in turn, at random within it), without repeats. */
export function drawAcross(
  groups: readonly { label: string; members: readonly Candidate[] }[],
  count: number,
  random: Sfc32,
): { candidate: Candidate; label: string }[] {
  const pools = groups.map((g) => ({ label: g.label, left: [...g.members] }));
  const out: { candidate: Candidate; label: string }[] = [];
  while (out.length < count && pools.some((p) => p.left.length > 0)) {
    for (const pool of pools) {
      if (out.length >= count || pool.left.length === 0) continue;
      const [candidate] = pool.left.splice(random.nextInt(pool.left.length), 1);
      out.push({ candidate: candidate!, label: pool.label });
    }
  }
  return out;
}

/** `count` of `items` at random, without repeats (a partial Fisher-Yates shuffle). */
export function drawSome<T>(items: readonly T[], count: number, random: Sfc32): T[] {
  const pool = [...items];
  const n = Math.min(count, pool.length);
  for (let i = 0; i < n; i++) {
    const j = i + random.nextInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, n);
}

/** A random order of `items` (Fisher-Yates). */
export function shuffled<T>(items: readonly T[], random: Sfc32): T[] {
  return drawSome(items, items.length, random);
}

export interface DetectionDraw {
  readonly activating: number;
  readonly nonActivating: number;
  readonly hardNegatives: number;
  readonly hardNegativeTokens: number;
  readonly activeFraction: number;
  readonly quantiles: number;
}

/**
 * Detection: `activating` firing sequences spread across the quantile groups (truth: fires); up to `hardNegatives`
 * sequences from any kept list that do not fire but contain one of the `hardNegativeTokens` tokens the feature
 * fires on most often; and `nonActivating` of the other random sequences that do not fire (truth: does not fire).
 * In a random order.
 */
export function drawDetection(request: JudgeRequest, draw: DetectionDraw): ShownSequence[] {
  const random = drawRandom('detection', request);
  const threshold = fireThreshold(request, draw.activeFraction);
  const { fire, quiet } = candidates(request, threshold);
  const activating = drawAcross(quantileGroups(fire, draw.quantiles), draw.activating, random).map(
    ({ candidate, label }) => ({ ...at(candidate), group: `activating_${label}`, truth: true, marks: null }),
  );
  // Hard negatives first: they are the rarer and the more telling, and a random sequence can be one.
  const tokens = frequentFiringTokens(fire, request.sign, threshold, draw.hardNegativeTokens);
  const hard = quiet.filter((c) => c.sequence.tokens.some((id, t) => t >= c.sequence.countFrom && tokens.has(id)));
  const hardNegatives = drawSome(hard, draw.hardNegatives, random).map((c) => ({
    ...at(c),
    group: 'hard_negative',
    truth: false,
    marks: null,
  }));
  const used = new Set(hardNegatives.map((s) => `${s.list}:${s.index}`));
  const randomQuiet = quiet.filter((c) => c.list === 'random' && !used.has(`${c.list}:${c.index}`));
  const nonActivating = drawSome(randomQuiet, draw.nonActivating, random).map((c) => ({
    ...at(c),
    group: 'non_activating',
    truth: false,
    marks: null,
  }));
  return shuffled([...activating, ...nonActivating, ...hardNegatives], random);
}

export interface FuzzingDraw {
  readonly activating: number;
  readonly mismarked: number;
  readonly activeFraction: number;
  readonly quantiles: number;
}

/**
 * Fuzzing: `activating` firing sequences spread across the quantile groups shown with their firing tokens marked
 * (truth: the marking is right), and `mismarked` firing sequences, drawn the same way, shown with as many tokens
 * marked, chosen at random among the tokens that do not fire (truth: the marking is wrong). A sequence whose every
 * counted token fires cannot be mismarked and is left out. In a random order.
 */
export function drawFuzzing(request: JudgeRequest, draw: FuzzingDraw): ShownSequence[] {
  const random = drawRandom('fuzzing', request);
  const threshold = fireThreshold(request, draw.activeFraction);
  const groups = quantileGroups(candidates(request, threshold).fire, draw.quantiles);
  const right = drawAcross(groups, draw.activating, random).map(({ candidate, label }) => ({
    ...at(candidate),
    group: `marked_right_${label}`,
    truth: true,
    marks: firingTokens(candidate.sequence, request.sign, threshold),
  }));
  const wrong: ShownSequence[] = [];
  for (const { candidate, label } of drawAcross(groups, draw.mismarked, random)) {
    const fires = firingTokens(candidate.sequence, request.sign, threshold);
    const quietTokens = fires.flatMap((f, t) => (!f && t >= candidate.sequence.countFrom ? [t] : []));
    if (quietTokens.length === 0) continue;
    const count = Math.max(1, fires.filter(Boolean).length);
    const chosen = new Set(drawSome(quietTokens, count, random));
    wrong.push({
      ...at(candidate),
      group: `mismarked_${label}`,
      truth: false,
      marks: fires.map((_, t) => chosen.has(t)),
      rightMarks: fires,
    });
  }
  return shuffled([...right, ...wrong], random);
}

/**
 * The token ids that fire most often over the firing sequences (ties to the smaller id): what a description most
 * likely names, so a sequence that holds one without firing is a hard negative.
 */
export function frequentFiringTokens(
  fire: readonly Candidate[],
  sign: Sign,
  threshold: number | null,
  count: number,
): Set<number> {
  const counts = new Map<number, number>();
  for (const c of fire)
    firingTokens(c.sequence, sign, threshold).forEach((on, t) => {
      if (on) counts.set(c.sequence.tokens[t]!, (counts.get(c.sequence.tokens[t]!) ?? 0) + 1);
    });
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return new Set(ranked.slice(0, count).map(([id]) => id));
}

function at(c: Candidate): { list: JudgeList; index: number } {
  return { list: c.list, index: c.index };
}
