/**
 * Which source the next sequence comes from, so that after every n sequences source i has drawn c_i sequences
 * with |c_i - n * r_i / R| < 1 (R = sum of ratios) — for every n, not only in the long run.
 *
 * Why not "largest deficit first" (pick the source furthest behind its quota, the smooth weighted round-robin of
 * nginx)? It keeps the sources ahead of their quota by < 1, but with five or more sources one can fall behind by
 * more than 1 (measured: 1.06 with seven random ratios). This scheduler is the single-processor Pfair rule
 * (Baruah et al. 1996) instead: source i's j-th sequence is *released* at slot floor((j - 1) R / r_i) and *due* by
 * slot ceil(j R / r_i) (its count must then be >= j); at each slot, among the released sources, take the one with
 * the earliest due slot. Weights sum to 1, so earliest-deadline-first meets every deadline, and
 * floor(n r_i / R) <= c_i <= ceil(n r_i / R) follows: strictly within 1 of the ideal.
 *
 * Exact: ratios are finite doubles, i.e. dyadic rationals, so they are scaled to integers (BigInt) and every
 * release and due slot is computed without rounding. Ties between equal due slots go to the lower source index.
 * The choice depends only on the ratios and the counts so far: deterministic, and the same in every shard.
 */
export class RatioScheduler {
  private readonly weights: readonly bigint[];
  private readonly total: bigint;
  private readonly drawn: number[];
  /** Slot at which each source's next sequence is released, and the slot by which it is due. */
  private readonly release: bigint[];
  private readonly due: bigint[];
  private slot = 0n;

  /** `ratios` must be finite and > 0 (checked by the caller, which can name the dataset). */
  constructor(ratios: readonly number[]) {
    if (ratios.length === 0) throw new Error('RatioScheduler: no sources');
    for (const r of ratios) {
      if (!(Number.isFinite(r) && r > 0)) throw new Error(`RatioScheduler: ratio ${String(r)} is not finite and > 0`);
    }
    this.weights = toCommonIntegers(ratios);
    this.total = this.weights.reduce((a, b) => a + b, 0n);
    this.drawn = ratios.map(() => 0);
    this.release = ratios.map(() => 0n);
    this.due = this.weights.map((w) => ceilDiv(this.total, w));
  }

  /** Sequences drawn so far from each source (a copy). */
  get counts(): readonly number[] {
    return this.drawn.slice();
  }

  /** Source of the next sequence; commits the choice. */
  next(): number {
    let best = -1;
    for (let i = 0; i < this.weights.length; i++) {
      if (this.release[i]! > this.slot) continue;
      if (best < 0 || this.due[i]! < this.due[best]!) best = i;
    }
    // Some source is always released: sum_i c_i = slot < slot + 1 = sum_i (slot + 1) r_i / R, so some c_i < (slot + 1) r_i / R,
    // i.e. floor(c_i R / r_i) <= slot.
    if (best < 0) throw new Error('RatioScheduler: no source released (unreachable)');
    const w = this.weights[best]!;
    const j = BigInt(++this.drawn[best]!);
    this.release[best] = (j * this.total) / w;
    this.due[best] = ceilDiv((j + 1n) * this.total, w);
    this.slot++;
    return best;
  }
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** Scales finite positive doubles by one power of two so that all become integers, exactly. */
function toCommonIntegers(values: readonly number[]): bigint[] {
  // Each double is m * 2^e exactly and doubling is exact (the value becomes an integer long before it could
  // overflow), so find each value's smallest k with v * 2^k an integer (k <= 1074), then align to the largest k.
  const parts = values.map((v) => {
    let k = 0;
    let x = v;
    while (!Number.isInteger(x)) {
      x *= 2;
      k++;
    }
    return { mantissa: BigInt(x), k };
  });
  const scale = Math.max(...parts.map((p) => p.k));
  return parts.map((p) => p.mantissa << BigInt(scale - p.k));
}
