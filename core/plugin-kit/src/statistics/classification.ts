/**
 * Statistics of yes/no judgments against the truth: a judge scorer's (detection, fuzzing) counts of true and
 * false positives and negatives, and the rates made of them. Every rate is null where its denominator is 0 (a
 * class never shown, a judge that never said yes), never NaN.
 */
export interface BinaryCounts {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly trueNegatives: number;
  readonly falseNegatives: number;
}

export interface BinaryStatistics extends BinaryCounts {
  /** Share of answers that are right. */
  readonly accuracy: number | null;
  /** The mean of recall and specificity: 0.5 for a judge that guesses, whatever the share of positives. */
  readonly balancedAccuracy: number | null;
  /** Of the sequences the judge said yes to, the share that are positive. */
  readonly precision: number | null;
  /** Of the positive sequences, the share the judge said yes to (the true positive rate). */
  readonly recall: number | null;
  /** Of the negative sequences, the share the judge said no to (the true negative rate). */
  readonly specificity: number | null;
  /** Harmonic mean of precision and recall. */
  readonly f1: number | null;
}

/** Counts of `(truth, answer)` pairs. */
export function binaryCounts(pairs: Iterable<{ readonly truth: boolean; readonly answer: boolean }>): BinaryCounts {
  let truePositives = 0;
  let falsePositives = 0;
  let trueNegatives = 0;
  let falseNegatives = 0;
  for (const { truth, answer } of pairs) {
    if (truth && answer) truePositives++;
    else if (truth) falseNegatives++;
    else if (answer) falsePositives++;
    else trueNegatives++;
  }
  return { truePositives, falsePositives, trueNegatives, falseNegatives };
}

const rate = (part: number, whole: number) => (whole === 0 ? null : part / whole);

export function binaryStatistics(counts: BinaryCounts): BinaryStatistics {
  const { truePositives: tp, falsePositives: fp, trueNegatives: tn, falseNegatives: fn } = counts;
  const recall = rate(tp, tp + fn);
  const specificity = rate(tn, tn + fp);
  const precision = rate(tp, tp + fp);
  return {
    ...counts,
    accuracy: rate(tp + tn, tp + tn + fp + fn),
    balancedAccuracy: recall === null || specificity === null ? null : (recall + specificity) / 2,
    precision,
    recall,
    specificity,
    f1: rate(2 * tp, 2 * tp + fp + fn),
  };
}
