import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError, reduceOnHost, type GraphFragment, type HookResult, type Provenance } from '@expgen/contract';
import { openLlamaSubjectModel } from '../llama-subject-model.js';
import { Sfc32 } from '@expgen/plugin-kit';
import { decodeModel } from './onnx-proto.js';
import { idTokenizer, tinyBuiltModel, type TinyBuiltModel } from './test-models.js';

const provenance: Provenance = {
  kind: 'subject-model',
  component: 'llama',
  plugin: '@expgen/plugin-llama',
  pluginVersion: 'test',
};
type Subject = Awaited<ReturnType<typeof openLlamaSubjectModel>>;

const BATCH = 4;
const SEQ = 10;
const LENGTHS = Int32Array.from([10, 7, 3, 1]);

function batchTokens(seed: number): Int32Array {
  const random = new Sfc32(seed);
  return Int32Array.from({ length: BATCH * SEQ }, () => Math.floor(random.nextFloat() * 256));
}

/** Extremes over each row's real positions from its countFrom on, by the host reference (`reduceOnHost`). */
function hostExtremes(full: Float32Array, width: number, countFrom: Int32Array) {
  const { max, min } = reduceOnHost(
    full,
    { batch: BATCH, seqLen: SEQ, width, lengths: LENGTHS, countFrom },
    { hook: 'host', reduce: 'extremes' },
  );
  return { max: max!, min: min! };
}

/** Whether any of `row`'s values differ between two [batch, width] arrays: the prefix changed something there. */
function rowDiffers(a: Float32Array, b: Float32Array, width: number, row: number): boolean {
  for (let f = 0; f < width; f++) if (!Object.is(a[row * width + f], b[row * width + f])) return true;
  return false;
}

/** A small SAE-like encoder: relu(x W + b), W [in, out]. */
function encoderFragment(
  inputWidth: number,
  outputWidth: number,
  seed: number,
): { fragment: GraphFragment; encode: (x: Float32Array, rows: number) => Float32Array } {
  const random = new Sfc32(seed);
  const weight = random.normals(inputWidth * outputWidth, 1 / Math.sqrt(inputWidth));
  const bias = random.normals(outputWidth, 0.1);
  const fragment: GraphFragment = {
    name: 'test_encoder',
    input: 'x',
    output: 'latents',
    inputWidth,
    outputWidth,
    initializers: [
      { name: 'W', dims: [inputWidth, outputWidth], data: weight },
      { name: 'b', dims: [outputWidth], data: bias },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['pre0'] },
      { op: 'Add', inputs: ['pre0', 'b'], outputs: ['pre'] },
      { op: 'Relu', inputs: ['pre'], outputs: ['latents'] },
    ],
  };
  const encode = (x: Float32Array, rows: number): Float32Array => {
    const out = new Float32Array(rows * outputWidth);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outputWidth; o++) {
        let sum = bias[o]!;
        for (let i = 0; i < inputWidth; i++) sum += x[r * inputWidth + i]! * weight[i * outputWidth + o]!;
        out[r * outputWidth + o] = Math.max(0, sum);
      }
    }
    return out;
  };
  return { fragment, encode };
}

function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e))
      assert.ok(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)), `${what}[${i}]: ${a} vs ${e}`);
    else assert.ok(Math.abs(a - e) <= tolerance * (1 + Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}

describe('hook reductions in the graph', () => {
  let built: TinyBuiltModel;
  let subject: Subject;
  let tokens: Int32Array;
  let full: Map<string, HookResult>;
  before(async () => {
    built = await tinyBuiltModel({ seed: 4, layers: 2, shards: 1 });
    subject = await openLlamaSubjectModel(built.modelDir, {
      provider: 'cpu',
      provenance,
      tokenizer: idTokenizer(256),
      maxOpenSessions: 3,
    });
    tokens = batchTokens(11);
    const result = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: subject.hookPoints().map((h) => ({ hook: h.name, reduce: 'full' as const })),
    });
    full = new Map(result.hooks.map((h) => [h.hook, h]));
  });
  after(async () => {
    await subject?.dispose();
    await built?.remove();
  });

  it("extremes equal the host reduction of full values, over real positions from each row's countFrom on", async () => {
    // Rows with and without a prefix in one batch; row 3 has one token, before its countFrom.
    const countFrom = Int32Array.of(2, 0, 1, 2);
    const result = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      countFrom,
      hooks: [
        { hook: 'mlp/1', reduce: 'extremes' },
        { hook: 'resid/0', reduce: 'extremes' },
      ],
    });
    const [mlp, resid] = result.hooks as [HookResult, HookResult];
    const expectedMlp = hostExtremes(full.get('mlp/1')!.full!, 128, countFrom);
    assertClose(mlp.max!, expectedMlp.max, 1e-6, 'mlp/1 max');
    assertClose(mlp.min!, expectedMlp.min, 1e-6, 'mlp/1 min');
    // The prefix matters in these rows, so a graph that ignored countFrom (or used one row's for all) would fail.
    const fromZero = hostExtremes(full.get('mlp/1')!.full!, 128, new Int32Array(BATCH));
    for (const row of [0, 2])
      assert.ok(
        rowDiffers(expectedMlp.max, fromZero.max, 128, row) || rowDiffers(expectedMlp.min, fromZero.min, 128, row),
        `row ${row}'s prefix changes its extremes`,
      );
    // Row 3 has one token, before its countFrom: nothing counts, so the extremes stay at -inf / +inf.
    assert.equal(mlp.max![3 * 128], -Infinity);
    assert.equal(mlp.min![3 * 128], Infinity);
    const expectedResid = hostExtremes(full.get('resid/0')!.full!, 64, countFrom);
    assertClose(resid.max!, expectedResid.max, 1e-6, 'resid/0 max');
    assertClose(resid.min!, expectedResid.min, 1e-6, 'resid/0 min');
    assert.equal(mlp.full, undefined);
    assert.equal(mlp.gated, undefined);

    // Without countFrom every real position counts, in the same variant.
    const unprefixed = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [
        { hook: 'mlp/1', reduce: 'extremes' },
        { hook: 'resid/0', reduce: 'extremes' },
      ],
    });
    assertClose(unprefixed.hooks[0]!.max!, fromZero.max, 1e-6, 'mlp/1 max from 0');
    assertClose(unprefixed.hooks[0]!.min!, fromZero.min, 1e-6, 'mlp/1 min from 0');
  });

  it('gated returns the per-token values of exactly the pairs past their thresholds', async () => {
    const width = 128;
    const fullValues = full.get('mlp/0')!.full!;
    // Rows with prefixes of different lengths (0, 2) and an unprefixed row (1) in one batch; row 3's only token
    // is its prefix, so it has no counted position and no pair.
    const countFrom = Int32Array.of(1, 0, 2, 1);
    const { max, min } = hostExtremes(fullValues, width, countFrom);
    const random = new Sfc32(5);
    const top = new Float32Array(width);
    const bottom = new Float32Array(width);
    for (let f = 0; f < width; f++) {
      // Thresholds between the rows' extremes, plus features that can never pass (±Infinity).
      top[f] = f % 17 === 0 ? Infinity : max[f]! - 0.5 + random.nextFloat();
      bottom[f] = f % 13 === 0 ? -Infinity : min[f]! - 0.5 + random.nextFloat();
    }
    const result = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      countFrom,
      hooks: [{ hook: 'mlp/0', reduce: 'gated', thresholds: { top, bottom } }],
    });
    const gated = result.hooks[0]!;
    assertClose(gated.max!, max, 1e-6, 'max');
    assertClose(gated.min!, min, 1e-6, 'min');
    const expected: string[] = [];
    // Feature-major: the host fills per-feature lists in this order without a sort.
    for (let f = 0; f < width; f++)
      for (let row = 0; row < BATCH; row++)
        if (max[row * width + f]! > top[f]! || min[row * width + f]! < bottom[f]!) expected.push(`${row}/${f}`);
    const actual = Array.from(gated.gated!.rows, (row, i) => `${row}/${gated.gated!.features[i]}`);
    assert.deepEqual(actual, expected);
    const reference = reduceOnHost(
      fullValues,
      { batch: BATCH, seqLen: SEQ, width, lengths: LENGTHS, countFrom },
      { hook: 'mlp/0', reduce: 'gated', thresholds: { top, bottom } },
    );
    assert.deepEqual(
      actual,
      Array.from(reference.gated!.rows, (row, i) => `${row}/${reference.gated!.features[i]}`),
      'the same pairs as the host reference',
    );
    assertClose(gated.gated!.values, reference.gated!.values, 1e-6, 'gated values against the host reference');
    assertClose(gated.gated!.max!, reference.gated!.max!, 1e-6, "each pair's max");
    assertClose(gated.gated!.min!, reference.gated!.min!, 1e-6, "each pair's min");
    assert.ok(
      expected.length > 10 && expected.length < (BATCH * width) / 2,
      `a useful mix of pairs (${expected.length})`,
    );
    // The prefix changes which pairs pass, so this checks that each row's countFrom reached the graph.
    const fromZero = reduceOnHost(
      fullValues,
      { batch: BATCH, seqLen: SEQ, width, lengths: LENGTHS },
      { hook: 'mlp/0', reduce: 'gated', thresholds: { top, bottom } },
    );
    assert.notDeepEqual(
      Array.from(fromZero.gated!.rows, (row, i) => `${row}/${fromZero.gated!.features[i]}`),
      expected,
      'countFrom changes the selection',
    );
    actual.forEach((_, i) => {
      const row = gated.gated!.rows[i]!;
      const f = gated.gated!.features[i]!;
      const values = gated.gated!.values.subarray(i * SEQ, (i + 1) * SEQ);
      for (let s = 0; s < SEQ; s++) {
        const want = s < LENGTHS[row]! ? fullValues[(row * SEQ + s) * width + f]! : NaN;
        assertClose(values.subarray(s, s + 1), Float32Array.of(want), 1e-6, `pair ${row}/${f} position ${s}`);
      }
    });

    // Thresholds that nothing passes extract nothing (strict comparisons).
    const none = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      countFrom,
      hooks: [
        {
          hook: 'mlp/0',
          reduce: 'gated',
          thresholds: { top: new Float32Array(width).fill(Infinity), bottom: new Float32Array(width).fill(-Infinity) },
        },
      ],
    });
    assert.equal(none.hooks[0]!.gated!.rows.length, 0);
    assert.equal(none.hooks[0]!.gated!.values.length, 0);
  });

  it('gated extremes leave only the maxima and minima past their thresholds, and the dense rows asked for', async () => {
    const width = 128;
    const fullValues = full.get('mlp/1')!.full!;
    const countFrom = Int32Array.of(1, 0, 2, 1);
    const { max, min } = hostExtremes(fullValues, width, countFrom);
    const random = new Sfc32(8);
    const gate = () => ({ top: new Float32Array(width), bottom: new Float32Array(width) });
    const thresholds = gate();
    const extremeThresholds = gate();
    for (let f = 0; f < width; f++) {
      // Extremes gates looser than the top-k gates, as the host sends them; some features pass nothing.
      extremeThresholds.top[f] = f % 11 === 0 ? Infinity : max[f]! - 0.5 + random.nextFloat();
      extremeThresholds.bottom[f] = f % 7 === 0 ? -Infinity : min[f]! - 0.5 + random.nextFloat();
      thresholds.top[f] = Math.max(extremeThresholds.top[f]!, max[width + f]! - 0.2);
      thresholds.bottom[f] = Math.min(extremeThresholds.bottom[f]!, min[width + f]! + 0.2);
    }
    const request = {
      hook: 'mlp/1',
      reduce: 'gated' as const,
      thresholds,
      extremeThresholds,
      denseRows: Int32Array.of(0, 2),
    };
    const result = (
      await subject.forward({ tokens, batch: BATCH, seqLen: SEQ, lengths: LENGTHS, countFrom, hooks: [request] })
    ).hooks[0]!;
    const reference = reduceOnHost(
      fullValues,
      { batch: BATCH, seqLen: SEQ, width, lengths: LENGTHS, countFrom },
      request,
    );
    assert.equal(result.max, undefined, 'no dense extremes leave the graph');
    const pairs = (p: { rows: Int32Array; features: Int32Array }) =>
      Array.from(p.rows, (row, i) => `${p.features[i]}/${row}`);
    for (const side of ['maxima', 'minima'] as const) {
      const got = result.extremes![side];
      const want = reference.extremes![side];
      assert.deepEqual([...got.index], [...want.index], `${side}: the same pairs as the host reference, feature-major`);
      assertClose(got.values, want.values, 1e-6, `${side} values`);
      assert.ok(got.index.length > 10 && got.index.length < BATCH * width * 0.75, `${side}: a useful mix`);
    }
    assert.deepEqual(pairs(result.gated!), pairs(reference.gated!), 'gated pairs');
    assertClose(result.gated!.values, reference.gated!.values, 1e-6, 'gated values');
    assert.deepEqual([...result.dense!.rows], [0, 2]);
    assertClose(result.dense!.max, reference.dense!.max, 1e-6, 'dense max rows');
    assertClose(result.dense!.min, reference.dense!.min, 1e-6, 'dense min rows');

    // Nothing passes the closed gates, and no dense row is asked for: nothing but empty lists leaves.
    const closed = { top: new Float32Array(width).fill(Infinity), bottom: new Float32Array(width).fill(-Infinity) };
    const none = (
      await subject.forward({
        tokens,
        batch: BATCH,
        seqLen: SEQ,
        lengths: LENGTHS,
        countFrom,
        hooks: [{ hook: 'mlp/1', reduce: 'gated', thresholds: closed, extremeThresholds: closed }],
      })
    ).hooks[0]!;
    assert.equal(none.extremes!.maxima.index.length + none.extremes!.minima.index.length, 0);
    assert.equal(none.gated!.rows.length, 0);
    assert.equal(none.dense!.max.length, 0);
  });

  it('runs a graph fragment between the hook and the reductions', async () => {
    const { fragment, encode } = encoderFragment(64, 48, 6);
    const result = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [
        { hook: 'resid/1', fragment, reduce: 'full' },
        { hook: 'resid/1', fragment, reduce: 'extremes' },
      ],
    });
    const [encodedFull, encodedExtremes] = result.hooks as [HookResult, HookResult];
    assert.equal(encodedFull.width, 48);
    const hostEncoded = encode(
      full.get('resid/1')!.full!.map((v) => (Number.isNaN(v) ? 0 : v)),
      BATCH * SEQ,
    );
    for (let row = 0; row < BATCH; row++) {
      for (let s = LENGTHS[row]!; s < SEQ; s++) hostEncoded.fill(NaN, (row * SEQ + s) * 48, (row * SEQ + s + 1) * 48);
    }
    assertClose(encodedFull.full!, hostEncoded, 1e-5, 'encoded');
    const { max, min } = hostExtremes(hostEncoded, 48, new Int32Array(BATCH));
    assertClose(encodedExtremes.max!, max, 1e-5, 'encoded max');
    assertClose(encodedExtremes.min!, min, 1e-5, 'encoded min');
  });

  it("returns last-position logits equal to the full logits at each row's last real token", async () => {
    const all = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [],
      logits: 'all',
    });
    const last = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [],
      logits: 'last',
    });
    assert.equal(last.logits!.length, BATCH * 256);
    for (let row = 0; row < BATCH; row++) {
      const position = LENGTHS[row]! - 1;
      assertClose(
        last.logits!.subarray(row * 256, (row + 1) * 256),
        all.logits!.subarray((row * SEQ + position) * 256, (row * SEQ + position + 1) * 256),
        1e-5,
        `row ${row}`,
      );
    }
    assert.equal(last.hooks.length, 0);
  });

  it('returns only the logitIds columns, equal to slicing the full logits, for every position and for the last', async () => {
    const ids = [200, 3, 17, 3, 255];
    const all = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [],
      logits: 'all',
    });
    const variantsBefore = new Set(await readdir(built.modelDir));
    const selected = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [],
      logits: 'all',
      logitIds: ids,
    });
    // At every position only the selected rows of lm_head are multiplied: no [batch, seq, vocab] product at all.
    const added = (await readdir(built.modelDir)).filter((f) => !variantsBefore.has(f) && f.endsWith('.onnx'));
    assert.equal(added.length, 1);
    const graph = decodeModel(await readFile(join(built.modelDir, added[0]!))).graph!;
    const headReads = graph.node!.filter((n) => n.input!.includes('lm_head.weight'));
    assert.deepEqual(
      headReads.map((n) => n.opType),
      ['Gather'],
      'lm_head is only read through a Gather of the selected rows',
    );
    assert.equal(selected.logits!.length, BATCH * SEQ * ids.length);
    for (let row = 0; row < BATCH; row++) {
      for (let position = 0; position < LENGTHS[row]!; position++) {
        const at = row * SEQ + position;
        assertClose(
          selected.logits!.subarray(at * ids.length, (at + 1) * ids.length),
          Float32Array.from(ids, (id) => all.logits![at * 256 + id]!),
          1e-5,
          `row ${row}, position ${position}`,
        );
      }
    }
    const last = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      hooks: [],
      logits: 'last',
      logitIds: ids,
    });
    assert.equal(last.logits!.length, BATCH * ids.length);
    for (let row = 0; row < BATCH; row++) {
      const at = row * SEQ + LENGTHS[row]! - 1;
      assertClose(
        last.logits!.subarray(row * ids.length, (row + 1) * ids.length),
        Float32Array.from(ids, (id) => all.logits![at * 256 + id]!),
        1e-5,
        `last of row ${row}`,
      );
    }
    // The id list is part of the graph: another list is another variant, the same list reuses its file.
    const names = async () => (await readdir(built.modelDir)).filter((f) => f.startsWith('model.variant-')).sort();
    const before = await names();
    await subject.forward({ tokens, batch: BATCH, seqLen: SEQ, hooks: [], logits: 'all', logitIds: ids });
    assert.deepEqual(await names(), before);
    await subject.forward({ tokens, batch: BATCH, seqLen: SEQ, hooks: [], logits: 'all', logitIds: [4, 5] });
    assert.equal((await names()).length, before.length + 1);
    const fails = (logitIds: number[], logits: 'none' | 'all', pattern: RegExp) =>
      assert.rejects(
        subject.forward({ tokens, batch: BATCH, seqLen: SEQ, hooks: [], logits, logitIds }),
        (error: unknown) => isExpgenError(error) && pattern.test((error as Error).message),
      );
    await fails([256], 'all', /logitIds holds 256, outside the model's vocabulary \(0\.\.255\)/);
    await fails([], 'all', /logitIds is empty/);
    await fails([1], 'none', /ask for logits "last" or "all"/);
  });

  it('caches one variant file per request shape beside the model, whatever the threshold and countFrom values', async () => {
    const variantsBefore = (await readdir(built.modelDir)).filter((f) => f.startsWith('model.variant-'));
    const thresholds = (v: number) => ({ top: new Float32Array(128).fill(v), bottom: new Float32Array(128).fill(-v) });
    await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      countFrom: Int32Array.of(1, 1, 1, 1),
      hooks: [{ hook: 'mlp/0', reduce: 'gated', thresholds: thresholds(1) }],
    });
    await subject.forward({
      tokens: tokens.subarray(0, 10),
      batch: 2,
      seqLen: 5,
      countFrom: Int32Array.of(0, 3),
      hooks: [{ hook: 'mlp/0', reduce: 'gated', thresholds: thresholds(2) }],
    });
    await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      hooks: [{ hook: 'mlp/0', reduce: 'gated', thresholds: thresholds(3) }],
    });
    // A variant where no hook reduces has no input for countFrom, and full values keep the prefix.
    const unreduced = await subject.forward({
      tokens,
      batch: BATCH,
      seqLen: SEQ,
      lengths: LENGTHS,
      countFrom: Int32Array.of(1, 2, 3, 4),
      hooks: subject.hookPoints().map((h) => ({ hook: h.name, reduce: 'full' as const })),
    });
    unreduced.hooks.forEach((h) => {
      assertClose(h.full!, full.get(h.hook)!.full!, 0, `${h.hook} full values`);
    });
    const variantsAfter = (await readdir(built.modelDir)).filter((f) => f.startsWith('model.variant-'));
    assert.deepEqual(
      variantsAfter,
      variantsBefore,
      'no new variant for new thresholds, countFrom values or batch shapes',
    );
    for (const file of variantsAfter)
      assert.ok((await stat(`${built.modelDir}/${file}`)).size < 200_000, `${file} must refer to the shared weights`);
  });

  it('refuses unknown hooks, mismatched fragments and missing thresholds with the name at fault', async () => {
    const fails = async (request: Parameters<Subject['forward']>[0], pattern: RegExp) =>
      assert.rejects(
        subject.forward(request),
        (error: unknown) => isExpgenError(error) && pattern.test((error as Error).message),
      );
    await fails(
      { tokens, batch: BATCH, seqLen: SEQ, hooks: [{ hook: 'mlp/7', reduce: 'full' }] },
      /hook point "mlp\/7" does not exist/,
    );
    await fails(
      {
        tokens,
        batch: BATCH,
        seqLen: SEQ,
        hooks: [{ hook: 'mlp/0', reduce: 'full', fragment: encoderFragment(64, 8, 1).fragment }],
      },
      /fragment "test_encoder" reads 64 values per token but hook "mlp\/0" has 128/,
    );
    await fails({ tokens, batch: BATCH, seqLen: SEQ, hooks: [{ hook: 'mlp/0', reduce: 'gated' }] }, /needs thresholds/);
    await fails(
      { tokens: Int32Array.of(1, 2, 300), batch: 1, seqLen: 3, hooks: [] },
      /token id 300 at row 0, position 2/,
    );
    await fails(
      { tokens, batch: BATCH, seqLen: SEQ, lengths: Int32Array.of(1, 2, 11, 0), hooks: [] },
      /length 11 of row 2/,
    );
    await fails(
      {
        tokens,
        batch: BATCH,
        seqLen: SEQ,
        countFrom: Int32Array.of(1, 1),
        hooks: [{ hook: 'mlp/0', reduce: 'extremes' }],
      },
      /2 countFrom values given for batch 4/,
    );
    await fails(
      {
        tokens,
        batch: BATCH,
        seqLen: SEQ,
        countFrom: Int32Array.of(0, 0, -1, 0),
        hooks: [{ hook: 'mlp/0', reduce: 'extremes' }],
      },
      /countFrom -1 of row 2 must be a non-negative integer/,
    );
  });
});
