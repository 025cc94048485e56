import assert from 'node:assert/strict';
import type { ActivationSource, LayerPlan } from '../activation-source.js';
import type { DatasetSource } from '../dataset-source.js';
import type { Describer } from '../describer.js';
import { formatFeatureKey, isValidSpace } from '../feature-key.js';
import { reduceOnHost } from '../host-reductions.js';
import type { ComponentContext, ComponentsByKind } from '../plugin.js';
import {
  isJudgeScorer,
  type JudgeRequest,
  type JudgeScorer,
  type JudgeSequence,
  type Judgment,
  type Scorer,
  type SimulationScorer,
  type TokenMoments,
} from '../scorer.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';
import type { Tokenizer } from '../tokenizer.js';
import { fakeSubjectModel } from './fake-subject-model.js';
import { fakeTokenizer } from './fake-tokenizer.js';
import { runGraphFragment } from './graph-interpreter.js';

/** Checks one created component against its kind's contract; throws an AssertionError on a violation. */
export async function checkComponent<K extends keyof ComponentsByKind>(
  kind: K,
  component: ComponentsByKind[K],
  context: ComponentContext,
): Promise<void> {
  switch (kind) {
    case 'dataset':
      return checkDataset(component as DatasetSource);
    case 'subject-model':
      return checkSubjectModel(component as SubjectModel);
    // The fragment runs on the context's subject when it runs graphs, else on the testing kit's interpreter.
    case 'activation-source':
      return checkActivationSource(
        component as ActivationSource,
        context.subject ?? fakeSubjectModel({ runsGraphFragments: true }),
      );
    // The subject only supplies a tokenizer for the inputs; describers and simulators may need no subject.
    case 'describer':
      return checkDescriber(component as Describer, context.subject?.tokenizer ?? fakeTokenizer());
    case 'simulator':
      return checkSimulator(component as Simulator, context.subject?.tokenizer ?? fakeTokenizer());
    case 'scorer': {
      const scorer = component as Scorer;
      return isJudgeScorer(scorer)
        ? checkJudgeScorer(scorer, context.subject?.tokenizer ?? fakeTokenizer())
        : checkScorer(scorer);
    }
  }
}

async function checkDataset(dataset: DatasetSource): Promise<void> {
  assert.match(dataset.name, /^[A-Za-z0-9._-]+$/, 'dataset name is a simple identifier');
  const read = async () => {
    const ids: string[] = [];
    for await (const doc of dataset.documents()) {
      assert.equal(typeof doc.id, 'string');
      assert.ok(
        (doc.text === undefined) !== (doc.messages === undefined),
        `document ${doc.id} has exactly one of text and messages`,
      );
      ids.push(doc.id);
      if (ids.length >= 50) break;
    }
    return ids;
  };
  const first = await read();
  assert.ok(first.length > 0, 'a dataset yields documents');
  assert.deepEqual(await read(), first, 'a second pass yields the same documents in the same order');
}

async function checkSubjectModel(subject: SubjectModel): Promise<void> {
  const hooks = subject.hookPoints();
  assert.ok(hooks.length > 0, 'a subject exposes hook points');
  assert.equal(new Set(hooks.map((h) => h.name)).size, hooks.length, 'hook names are unique');
  for (const h of hooks) assert.match(h.name, /^[a-z][a-z0-9_-]*\/\d+$/, `hook "${h.name}" is named <space>/<layer>`);
  const tok = subject.tokenizer;
  assert.equal(tok.decode(tok.encode('Hello, world')), 'Hello, world', 'tokenizer round-trips text');
  assert.equal(subject.info.vocabSize, tok.vocabSize, 'model and tokenizer agree on the vocabulary size');

  const rows = [tok.encode('The cat sat on the mat.', { addBos: true }), tok.encode('1 2 3', { addBos: true })];
  const seqLen = Math.max(...rows.map((r) => r.length));
  const tokens = new Int32Array(rows.length * seqLen);
  rows.forEach((r, b) => {
    tokens.set(r, b * seqLen);
  });
  const lengths = Int32Array.from(rows, (r) => r.length);
  const hook = hooks[0]!;
  const full = await subject.forward({
    tokens,
    batch: rows.length,
    seqLen,
    lengths,
    hooks: [{ hook: hook.name, reduce: 'full' }],
    logits: 'last',
  });
  const values = full.hooks[0]!.full!;
  assert.equal(values.length, rows.length * seqLen * hook.width, 'full values are [batch, seqLen, width]');
  assert.equal(full.logits?.length, rows.length * tok.vocabSize, "'last' logits are [batch, vocab]");
  // A different first counted position per row, as when one batch mixes rows with and without a chat header:
  // a subject that applies one row's value to every row, or ignores it, disagrees with the host reference.
  const countFrom = Int32Array.of(1, 2);
  const shape = { batch: rows.length, seqLen, width: hook.width, lengths, countFrom };
  const top = new Float32Array(hook.width);
  const bottom = new Float32Array(hook.width);
  const extremes = await subject.forward({
    tokens,
    batch: rows.length,
    seqLen,
    lengths,
    countFrom,
    hooks: [{ hook: hook.name, reduce: 'extremes' }],
  });
  const expected = reduceOnHost(values, shape, { hook: hook.name, reduce: 'extremes' });
  assertClose(extremes.hooks[0]!.max!, expected.max!, 'per-sequence max');
  assertClose(extremes.hooks[0]!.min!, expected.min!, 'per-sequence min');
  for (let f = 0; f < hook.width; f++) [top[f], bottom[f]] = [expected.max![f]! - 1e-6, expected.min![f]! + 1e-6];
  const gated = await subject.forward({
    tokens,
    batch: rows.length,
    seqLen,
    lengths,
    countFrom,
    hooks: [{ hook: hook.name, reduce: 'gated', thresholds: { top, bottom } }],
  });
  const expectedGated = reduceOnHost(values, shape, { hook: hook.name, reduce: 'gated', thresholds: { top, bottom } });
  assert.deepEqual([...gated.hooks[0]!.gated!.rows], [...expectedGated.gated!.rows], 'gated rows');
  assert.deepEqual([...gated.hooks[0]!.gated!.features], [...expectedGated.gated!.features], 'gated features');
  // Gated extremes: a subject either gates them as the reference does, or returns them dense (it predates them).
  const extremeThresholds = { top, bottom };
  const sparse = await subject.forward({
    tokens,
    batch: rows.length,
    seqLen,
    lengths,
    countFrom,
    hooks: [
      { hook: hook.name, reduce: 'gated', thresholds: { top, bottom }, extremeThresholds, denseRows: Int32Array.of(1) },
    ],
  });
  const returned = sparse.hooks[0]!;
  if (returned.extremes) {
    const expectedSparse = reduceOnHost(values, shape, {
      hook: hook.name,
      reduce: 'gated',
      thresholds: { top, bottom },
      extremeThresholds,
      denseRows: Int32Array.of(1),
    });
    for (const side of ['maxima', 'minima'] as const)
      assert.deepEqual([...returned.extremes[side].index], [...expectedSparse.extremes![side].index], `gated ${side}`);
    assert.deepEqual([...(returned.dense?.rows ?? [])], [1], 'the dense rows asked for');
  } else {
    assert.ok(returned.max && returned.min, 'a subject that does not gate extremes returns them dense');
  }

  const generated = await subject.generate({ prompts: [rows[0]!], maxNewTokens: 3, temperature: 0 });
  assert.equal(generated.sequences.length, 1);
  assert.ok(generated.sequences[0]!.tokens.length <= 3 && generated.sequences[0]!.tokens.length > 0);
  for (const id of generated.sequences[0]!.tokens)
    assert.ok(id >= 0 && id < tok.vocabSize, 'generated ids are in the vocabulary');
  const again = await subject.generate({ prompts: [rows[0]!], maxNewTokens: 3, temperature: 0 });
  assert.deepEqual(again.sequences[0]!.tokens, generated.sequences[0]!.tokens, 'greedy decoding is deterministic');
}

async function checkActivationSource(source: ActivationSource, subject: SubjectModel): Promise<void> {
  assert.ok(isValidSpace(source.space), `space "${source.space}" is valid`);
  const layers = source.layers();
  assert.ok(layers.length > 0, 'a source reads at least one layer');
  assert.deepEqual(
    [...layers],
    [...layers].sort((a, b) => a - b),
    'layers are ascending',
  );
  assert.ok(source.signs.length > 0);
  for (const layer of layers) {
    const plan = source.plan(layer);
    assert.equal(plan.layer, layer);
    assert.ok(plan.width > 0 && plan.hookWidth > 0);
    const values = Float32Array.from({ length: 3 * plan.hookWidth }, (_, i) => Math.sin(i));
    assert.equal(
      source.encode(layer, values, 3).length,
      3 * plan.width,
      'encode maps [rows, hookWidth] to [rows, width]',
    );
    if (plan.fragment) {
      assert.equal(plan.fragment.inputWidth, plan.hookWidth, 'fragment reads the hook width');
      assert.equal(plan.fragment.outputWidth, plan.width, 'fragment writes the feature width');
      await checkFragmentAgreesWithEncode(source, plan, subject);
    }
    formatFeatureKey({ space: source.space, layer, index: plan.width - 1 });
  }
  assert.throws(() => source.plan(Math.max(...layers) + 1000), 'planning a layer that does not exist fails');
}

/**
 * The fragment, run where graphs run (the subject's graph, or the testing kit's interpreter for a subject that runs
 * none), computes what the source's host `encode` computes from the same hook values: the two paths of one source
 * must never disagree, or a run's features would depend on the subject's engine. A handful of values may differ at
 * float32 boundaries (a TopK near-tie, a JumpReLU threshold): at most 1% of them.
 */
async function checkFragmentAgreesWithEncode(
  source: ActivationSource,
  plan: LayerPlan,
  subject: SubjectModel,
): Promise<void> {
  const fragment = plan.fragment!;
  const where = `layer ${plan.layer}: graph fragment "${fragment.name}" vs encode`;
  let hookValues: Float32Array;
  let fragmentValues: Float32Array;
  let rows: number;
  if (subject.runsGraphFragments && subject.hookPoints().some((h) => h.name === plan.hook)) {
    const tok = subject.tokenizer;
    const texts = ['The cat sat on the mat.', 'Numbers: 1 2 3, and words.'];
    const seqLen = Math.min(...texts.map((t) => tok.encode(t, { addBos: true }).length));
    const tokens = Int32Array.from(texts.flatMap((t) => tok.encode(t, { addBos: true }).slice(0, seqLen)));
    const request = { tokens, batch: texts.length, seqLen };
    rows = texts.length * seqLen;
    const raw = await subject.forward({ ...request, hooks: [{ hook: plan.hook, reduce: 'full' }] });
    const encoded = await subject.forward({ ...request, hooks: [{ hook: plan.hook, reduce: 'full', fragment }] });
    hookValues = raw.hooks[0]!.full!;
    fragmentValues = encoded.hooks[0]!.full!;
  } else {
    rows = 12;
    hookValues = Float32Array.from({ length: rows * plan.hookWidth }, (_, i) => 2 * Math.sin(0.7 * i + plan.layer));
    fragmentValues = runGraphFragment(fragment, hookValues, rows);
  }
  const expected = source.encode(plan.layer, hookValues, rows);
  assert.equal(fragmentValues.length, expected.length, `${where}: [rows, width] on both paths`);
  const mismatches: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [fragmentValues[i]!, expected[i]!];
    if (!(Math.abs(a - e) <= 1e-4 * Math.max(1, Math.abs(e))))
      mismatches.push(`row ${Math.floor(i / plan.width)} feature ${i % plan.width}: fragment ${a}, encode ${e}`);
  }
  assert.ok(
    mismatches.length <= expected.length / 100,
    `${where}: ${mismatches.length} of ${expected.length} values disagree, e.g. ${mismatches.slice(0, 3).join('; ')}`,
  );
}

async function checkDescriber(describer: Describer, tok: Tokenizer): Promise<void> {
  const texts = ['the cat sat on the mat', 'a cat and a dog', 'my cat is asleep'];
  const exemplars = texts.map((text, rank) => {
    const tokens = tok.encode(text);
    return { tokens, activations: tokens.map((id) => (tok.decode([id]).includes('cat') ? 5 : 0)), rank };
  });
  const result = await describer.describe({
    feature: { space: 'mlp', layer: 0, index: 0 },
    sign: 'positive',
    exemplars,
    threshold: 1,
    messages: [{ role: 'user', content: texts.join('\n') }],
    count: 3,
    seed: 10,
  });
  assert.equal(
    result.candidates.length + result.failures.length,
    3,
    'every requested candidate is either returned or reported as failed',
  );
  const seeds = [...result.candidates.map((c) => c.seed), ...result.failures.map((f) => f.seed)].sort((a, b) => a - b);
  assert.deepEqual(seeds, [10, 11, 12], 'candidate i has seed + i');
  for (const c of result.candidates) {
    assert.equal(typeof c.description, 'string');
    assert.ok(c.description.length > 0, 'no empty description is returned as a candidate');
    assert.equal(c.describedBy.kind, 'describer');
  }
}

async function checkSimulator(simulator: Simulator, tok: Tokenizer): Promise<void> {
  const sequences = [tok.encode('the cat sat'), tok.encode('numbers 1 2 3 4')];
  const result = await simulator.simulate({ descriptions: ['the token "cat"', 'digits'], sequences });
  assert.equal(result.predictions.length, 2, 'one prediction set per description');
  result.predictions.forEach((perSequence) => {
    assert.equal(perSequence.length, sequences.length);
    perSequence.forEach((p, s) => {
      assert.equal(p.length, sequences[s]!.length, 'one prediction per token');
      for (const v of p) assert.ok(Number.isFinite(v), 'predictions are finite');
    });
  });
  assert.equal(typeof result.mode, 'string');
  assert.equal(result.simulatedBy.kind, 'simulator');
}

async function checkScorer(scorer: SimulationScorer): Promise<void> {
  const actual = [Float32Array.of(0, 1, 2, 3), Float32Array.of(5, 0, 1)];
  const perfect = scorer.score({ predicted: actual, actual });
  assert.ok(perfect.value !== null && perfect.value > 0.99, 'predicting the truth scores near the top');
  const constant = scorer.score({ predicted: [Float32Array.of(1, 1, 1, 1), Float32Array.of(1, 1, 1)], actual });
  assert.equal(constant.value, null, 'a constant prediction has an undefined score: null, never 0 or NaN');
  assert.equal(perfect.scoredBy.kind, 'scorer');
  if (scorer.valueFromMoments) {
    // The engine resamples by the moments when this is offered: it must agree with score().
    const sets = [
      { predicted: [Float32Array.of(0, 2, 1, 5), Float32Array.of(3, 3, 0)], actual },
      { predicted: [Float32Array.of(9, 1, 4, 4), Float32Array.of(0, 7, 2)], actual },
      { predicted: [Float32Array.of(1, 1, 1, 1), Float32Array.of(1, 1, 1)], actual },
    ];
    for (const [i, set] of sets.entries()) {
      const byScore = scorer.score(set).value;
      const byMoments = scorer.valueFromMoments(tokenMoments(set.predicted, set.actual));
      assert.ok(
        byScore === byMoments || (byScore !== null && byMoments !== null && Math.abs(byScore - byMoments) < 1e-9),
        `valueFromMoments must equal score().value: set ${i} gives ${byMoments} and ${byScore}`,
      );
    }
  }
}

/**
 * A judge scorer: its statistic is a rate (1 for a judge that is always right, null for no judgments, never NaN),
 * and `judge` answers a small request with one judgment per sequence shown, each pointing at a sequence of the
 * request, with the truth and an answer or null (then a failure line says why).
 */
async function checkJudgeScorer(scorer: JudgeScorer, tokenizer: Tokenizer): Promise<void> {
  const right = (truth: boolean, i: number): Judgment => ({ list: 'top', index: i, group: 'g', truth, answer: truth });
  const wrong = (truth: boolean, i: number): Judgment => ({ ...right(truth, i), answer: !truth });
  assert.equal(scorer.valueOfJudgments([]), null, 'no judgments: an undefined value, null');
  const perfect = scorer.valueOfJudgments([right(true, 0), right(true, 1), right(false, 2), right(false, 3)]);
  assert.equal(perfect, 1, 'a judge that is always right scores 1');
  const worst = scorer.valueOfJudgments([wrong(true, 0), wrong(false, 1)]);
  assert.ok(worst === null || (worst >= 0 && worst < 1), `a judge that is always wrong scores below 1, got ${worst}`);
  const sequence = (text: string, activation: (t: number) => number, rank: number): JudgeSequence => {
    const tokens = tokenizer.encode(text);
    return { tokens, activations: Float32Array.from(tokens, (_, t) => activation(t)), countFrom: 0, rank };
  };
  const request: JudgeRequest = {
    feature: { space: 'mlp', layer: 0, index: 0 },
    sign: 'positive',
    description: 'the last word of a line',
    sequences: {
      top: [0, 1, 2, 3].map((r) => sequence(`the cat sat on mat number ${r}`, (t) => (t === 2 ? 5 - r : 0), r)),
      opposite: [0, 1].map((r) => sequence(`a dog ran far away ${r}`, (t) => (t === 1 ? -4 : 0), r)),
      random: [0, 1, 2, 3].map((r) => sequence(`plain words here and there ${r}`, () => 0, r)),
    },
    seed: 0,
    purpose: 'report',
  };
  const result = await scorer.judge(request);
  assert.equal(result.judgedBy.kind, 'scorer');
  assert.ok(result.judgments.length > 0, 'a judge shows the judge some sequences');
  for (const j of result.judgments) {
    const list = request.sequences[j.list];
    assert.ok(
      list !== undefined && Number.isInteger(j.index) && j.index >= 0 && j.index < list.length,
      'judgments point at sequences of the request',
    );
    assert.equal(typeof j.truth, 'boolean');
    assert.ok(j.answer === null || typeof j.answer === 'boolean', 'an answer is a boolean, or null for a failure');
    assert.equal(typeof j.group, 'string');
  }
  if (result.judgments.some((j) => j.answer === null))
    assert.ok(result.failures.length > 0, 'judgments without an answer come with a failure line saying why');
  const answered = result.judgments.filter((j) => j.answer !== null);
  const value = scorer.valueOfJudgments(answered);
  assert.ok(
    value === null || (Number.isFinite(value) && value >= 0 && value <= 1),
    'the value is a rate in [0, 1], or null',
  );
}

/** Pooled moments of a set, the plain two-pass way (the contract suite depends on nothing but the contract). */
function tokenMoments(predicted: readonly Float32Array[], actual: readonly Float32Array[]): TokenMoments {
  const xs = predicted.flatMap((p) => [...p]);
  const ys = actual.flatMap((a) => [...a]);
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  xs.forEach((x, i) => {
    sxx += (x - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
    sxy += (x - mx) * (ys[i]! - my);
  });
  return {
    tokens: n,
    meanPredicted: mx,
    meanActual: my,
    sxx,
    syy,
    sxy,
    constantPredicted: xs.every((x) => x === xs[0]),
    constantActual: ys.every((y) => y === ys[0]),
  };
}

export function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(a === e || Math.abs(a - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}
