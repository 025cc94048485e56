/**
 * A stand-in for the device side of stage 1 at the 8B's width, for benchmarking the host side alone: it answers
 * the collector's hook requests with what a GPU running the gated graph would return — the maxima and minima past
 * the extremes gate, the pairs past the top-k gate with 95 per-token values, the sampled rows dense — drawn from a
 * heavy-tailed distribution of per-sequence extremes, without ever materializing the values that do not pass.
 *
 * Per feature, the per-sequence maximum follows a Fréchet law μ + σ (-ln U)^(-1/α) (α in [2.5, 6], σ log-normal:
 * heavy right tails of different weights, as MLP neurons have), the minimum the mirror law with its own
 * parameters. For a gate t the chance a sequence passes is the survival S(t) = -expm1(-((t - μ)/σ)^-α); the rows
 * that pass are drawn by geometric skips (O(passes), not O(rows)), and their values from the law conditioned on
 * exceeding t. So the pass rates are exactly those the real thresholds imply: every pair while the lists fill,
 * about M / n of them for the kept extremes and k / n for the top-k lists after n sequences.
 *
 * `warmState` fast-forwards a run to n sequences: it offers the M most extreme of n draws per feature (order
 * statistics from the top) and the random sequences n would have selected, through the collector itself, so the
 * steady state starts with the thresholds a real run has after n sequences.
 */
import type { ForwardResult, HookRequest, HookResult } from '@expgen/contract';
import { gateDense, pairs, passingRows, shuffle } from './simulated-gates.js';
import { type CollectedRow, ExtremeBuffers, selectionHash } from '@expgen/core/internals';

/** A seeded uniform generator on (0, 1). */
export function uniforms(seed: number): () => number {
  let a = seed | 1;
  let b = 0x9e3779b9 ^ seed;
  return () => {
    let t = a;
    const s = b;
    a = s;
    t ^= t << 23;
    t ^= t >>> 17;
    t ^= s ^ (s >>> 26);
    b = t;
    return (((t + s) >>> 0) + 0.5) / 4294967296;
  };
}

/** Fréchet laws of one sign for every feature of a layer. */
class ExtremeLaw {
  readonly location: Float64Array;
  readonly scale: Float64Array;
  readonly shape: Float64Array;

  constructor(width: number, random: () => number, spread: number) {
    this.location = Float64Array.from({ length: width }, () => (random() - 0.5) * 0.2);
    this.scale = Float64Array.from({ length: width }, () => spread * Math.exp(0.5 * normal(random)));
    this.shape = Float64Array.from({ length: width }, () => 2.5 + 3.5 * random());
  }

  /** P(X > t). */
  survival(f: number, t: number): number {
    if (t === Number.POSITIVE_INFINITY) return 0;
    const z = (t - this.location[f]!) / this.scale[f]!;
    if (!(z > 0)) return 1;
    return -Math.expm1(-(z ** -this.shape[f]!));
  }

  /** A draw of X given X > t, where `survival` is P(X > t). */
  above(f: number, survival: number, random: () => number): number {
    const q = survival * random(); // 1 - u, with u uniform in (F(t), 1)
    return this.location[f]! + this.scale[f]! * (-Math.log1p(-q)) ** (-1 / this.shape[f]!);
  }

  /** A draw of X given X <= t (the pair passed the other sign's gate only). */
  below(f: number, survival: number, random: () => number): number {
    const u = (1 - survival) * random();
    return this.location[f]! + this.scale[f]! * (-Math.log(u)) ** (-1 / this.shape[f]!);
  }

  /** The i-th largest (0-based) of n draws, given the (i-1)-th's uniform `previous` (1 for i = 0): a top order statistic. */
  static nextOrderUniform(previous: number, n: number, i: number, random: () => number): number {
    return previous * random() ** (1 / (n - i));
  }

  quantile(f: number, u: number): number {
    return this.location[f]! + this.scale[f]! * (-Math.log(u)) ** (-1 / this.shape[f]!);
  }
}

function normal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(random())) * Math.cos(2 * Math.PI * random());
}

/** What one batch cost on the wire: bytes the gated graph returns, and what dense extremes would have added. */
export interface WireBytes {
  /** Bytes of the gated result (as the llama graph returns them: int32 index pairs). */
  gated: number;
  /** Bytes the same batch moved before the extremes were gated: dense [batch, width] max and min, int64 pairs. */
  dense: number;
}

export class SimulatedForward {
  private readonly maxLaws: ExtremeLaw[];
  private readonly minLaws: ExtremeLaw[];
  private readonly random: () => number;

  /** `seed` chooses the features' laws; `stream` the draws (the same laws, another stream of batches). */
  constructor(
    readonly layers: number,
    readonly width: number,
    readonly seqLen: number,
    seed: number,
    stream = seed + 1,
  ) {
    const random = uniforms(seed);
    this.maxLaws = Array.from({ length: layers }, () => new ExtremeLaw(width, random, 0.6));
    this.minLaws = Array.from({ length: layers }, () => new ExtremeLaw(width, random, 0.15));
    this.random = uniforms(stream);
  }

  /** The gated forward of `rows` rows for the collector's `hooks`, and its bytes. */
  forward(hooks: readonly HookRequest[], rows: number): { result: ForwardResult; bytes: WireBytes } {
    const bytes: WireBytes = { gated: 0, dense: 0 };
    const results = hooks.map((hook, layer) => this.layer(hook, layer, rows, bytes));
    return { result: { hooks: results }, bytes };
  }

  /** Full per-token values [rows, seqLen, width] for the random rows' second pass (their content does not matter). */
  full(hooks: readonly HookRequest[], rows: number): ForwardResult {
    const random = this.random;
    return {
      hooks: hooks.map((hook) => {
        const full = new Float32Array(rows * this.seqLen * this.width);
        for (let i = 0; i < full.length; i++) full[i] = random() - 0.5;
        return { hook: hook.hook, width: this.width, full };
      }),
    };
  }

  private layer(hook: HookRequest, layer: number, rows: number, bytes: WireBytes): HookResult {
    const { width, seqLen, random } = this;
    const maxLaw = this.maxLaws[layer]!;
    const minLaw = this.minLaws[layer]!;
    const top = hook.thresholds!.top;
    const bottom = hook.thresholds!.bottom;
    const extremeTop = hook.extremeThresholds!.top;
    const extremeBottom = hook.extremeThresholds!.bottom;
    const maxima = pairs(rows);
    const minima = pairs(rows);
    const gated = { rows: [] as number[], features: [] as number[], max: [] as number[], min: [] as number[] };
    const rowMax = new Map<number, number>();
    const rowMin = new Map<number, number>();
    for (let f = 0; f < width; f++) {
      rowMax.clear();
      rowMin.clear();
      const maxSurvival = maxLaw.survival(f, extremeTop[f]!);
      // The minimum's law is the maximum's mirrored: -min is Fréchet; min < b  <=>  -min > -b.
      const minSurvival = minLaw.survival(f, -extremeBottom[f]!);
      for (const row of passingRows(rows, maxSurvival, random)) {
        const value = Math.fround(maxLaw.above(f, maxSurvival, random));
        if (!(value > extremeTop[f]!)) continue; // rounded onto the gate: it would not have passed
        rowMax.set(row, value);
        maxima.add(row, f, value);
      }
      for (const row of passingRows(rows, minSurvival, random)) {
        const value = Math.fround(-minLaw.above(f, minSurvival, random));
        if (!(value < extremeBottom[f]!)) continue;
        rowMin.set(row, value);
        minima.add(row, f, value);
      }
      // Gated pairs: beyond the top-k gates, which are no looser than the extremes gates.
      const candidates = new Set<number>();
      for (const [row, value] of rowMax) if (value > top[f]!) candidates.add(row);
      for (const [row, value] of rowMin) if (value < bottom[f]!) candidates.add(row);
      for (const row of [...candidates].sort((a, b) => a - b)) {
        gated.rows.push(row);
        gated.features.push(f);
        gated.max.push(rowMax.get(row) ?? Math.fround(maxLaw.below(f, maxSurvival, random)));
        gated.min.push(rowMin.get(row) ?? Math.fround(-minLaw.below(f, minSurvival, random)));
      }
    }
    const pairCount = gated.rows.length;
    const values = new Float32Array(pairCount * seqLen);
    for (let i = 0; i < pairCount; i++) {
      const high = gated.max[i]!;
      const low = gated.min[i]!;
      for (let t = 0; t < seqLen; t++) values[i * seqLen + t] = low + (high - low) * random();
      const at = Math.floor(random() * seqLen);
      values[i * seqLen + at] = high;
      values[i * seqLen + ((at + 1 + Math.floor(random() * (seqLen - 1))) % seqLen)] = low;
    }
    const denseRows = hook.denseRows ?? new Int32Array(0);
    const dense = {
      rows: denseRows.slice(),
      max: new Float32Array(denseRows.length * width),
      min: new Float32Array(denseRows.length * width),
    };
    for (let i = 0; i < denseRows.length; i++) {
      for (let f = 0; f < width; f++) {
        dense.max[i * width + f] = maxLaw.quantile(f, random());
        dense.min[i * width + f] = -minLaw.quantile(f, random());
      }
    }
    const result: HookResult = {
      hook: hook.hook,
      width,
      gated: {
        rows: Int32Array.from(gated.rows),
        features: Int32Array.from(gated.features),
        values,
        max: Float32Array.from(gated.max),
        min: Float32Array.from(gated.min),
      },
      extremes: { maxima: maxima.done(), minima: minima.done() },
      dense,
    };
    // int32 (feature, row) pairs, values, pair extremes; sparse extremes at 8 bytes; the dense sample rows.
    bytes.gated +=
      pairCount * (8 + 4 * seqLen + 8) +
      8 * (result.extremes!.maxima.index.length + result.extremes!.minima.index.length) +
      8 * denseRows.length * width;
    // Before: dense [rows, width] max and min, and int64 (row, feature) pairs with their values.
    bytes.dense += 8 * rows * width + pairCount * (16 + 4 * seqLen);
    return result;
  }

  /**
   * Fast-forwards a fresh collector of one split to the state of a run that has seen `n` sequences: per feature and
   * sign, the `keep` most extreme of n draws (top order statistics), spread over `keep` warm-up rows, plus the
   * random sequences n sequences would have selected; offered through the collector with the gates applied to the
   * given values, as the device would. Returns the ids used (ascending; the stream continues past n).
   */
  async warmState(
    collector: {
      hooks(split: string, rows: readonly CollectedRow[]): HookRequest[];
      randomRows(split: string, rows: readonly CollectedRow[]): number[];
      randomHooks(split: string): HookRequest[];
      apply(
        split: string,
        rows: readonly CollectedRow[],
        result: ForwardResult,
        random?: { rows: readonly number[]; result: ForwardResult },
      ): Promise<void>;
    },
    split: string,
    options: { n: number; keep: number; randomCount: number; seed: number; batch: number },
  ): Promise<void> {
    const { n } = options;
    // Past the kept extremes' room (M + P), so that they have selected once and hold a threshold, as they do after
    // n sequences. Each feature then takes a random number (0 .. P) of further extremes: in a long run the features
    // are at every phase of their append-then-select cycle, and a warm-up that left them all at one phase would
    // make every feature select in the same few batches.
    const room = ExtremeBuffers.roomFor(options.keep);
    const spare = room - options.keep;
    const keep = room + spare;
    const { width, layers, random } = this;
    // The random sequences a run over ids 0..n-1 holds: the smallest selection hashes.
    const hashes = Array.from({ length: n }, (_, id) => ({ id, hash: selectionHash(options.seed, id) }));
    hashes.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
    const chosen = new Set(hashes.slice(0, options.randomCount).map((h) => h.id));
    const step = Math.max(1, Math.floor(n / (keep + options.randomCount + 1)));
    for (let id = 0; chosen.size < options.randomCount + keep; id += step) {
      if (id >= n) throw new Error(`warmState: n ${n} is too small for ${keep} kept extremes`);
      chosen.add(id);
    }
    const ids = [...chosen].sort((a, b) => a - b);
    // Values: per layer, feature and sign, the top order statistics, in a random order over the rows.
    const rowsTotal = ids.length;
    const max = Array.from({ length: layers }, () => new Float32Array(rowsTotal * width));
    const min = Array.from({ length: layers }, () => new Float32Array(rowsTotal * width));
    const order = Int32Array.from({ length: rowsTotal }, (_, i) => i);
    for (let layer = 0; layer < layers; layer++) {
      for (const [values, law, sign] of [
        [max[layer]!, this.maxLaws[layer]!, 1],
        [min[layer]!, this.minLaws[layer]!, -1],
      ] as const) {
        for (let f = 0; f < width; f++) {
          shuffle(order, random);
          // Rows past `offered` have no counted position for this feature (skipped, as the subject's -Infinity).
          const offered = room + Math.floor(random() * spare);
          let u = 1;
          for (let i = 0; i < rowsTotal; i++) {
            // The first `keep` rows take the top order statistics; the rest (random sequences) typical values.
            u = i < keep ? ExtremeLaw.nextOrderUniform(u, n, i, random) : random() * u;
            values[order[i]! * width + f] = i < offered ? Math.fround(sign * law.quantile(f, u)) : -sign * Infinity;
          }
        }
      }
    }
    for (let start = 0; start < rowsTotal; start += options.batch) {
      const end = Math.min(rowsTotal, start + options.batch);
      const rows = ids.slice(start, end).map((id) => benchRow(id, split, this.seqLen));
      const hooks = collector.hooks(split, rows);
      const results = hooks.map((hook, layer) =>
        gateDense(
          hook,
          max[layer]!.subarray(start * width, end * width),
          min[layer]!.subarray(start * width, end * width),
          end - start,
          width,
          this.seqLen,
          random,
        ),
      );
      const randomRows = collector.randomRows(split, rows);
      const full = randomRows.length
        ? { rows: randomRows, result: this.full(collector.randomHooks(split), randomRows.length) }
        : undefined;
      await collector.apply(split, rows, { hooks: results }, full);
    }
  }
}

/** A corpus row for the bench: its content only needs to be stored. */
export function benchRow(id: number, split: string, seqLen: number): CollectedRow {
  return {
    sequenceId: id,
    tokens: Int32Array.from({ length: seqLen }, (_, t) => (id * 31 + t) % 128000),
    length: seqLen,
    rankFrom: 0,
    datasetIndex: 0,
    documentId: `doc-${id}`,
    split,
    window: 0,
  };
}
