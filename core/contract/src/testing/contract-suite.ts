import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ActivationSource } from '../activation-source.js';
import type { DatasetSource } from '../dataset-source.js';
import type { Describer } from '../describer.js';
import { formatFeatureKey, isValidSpace } from '../feature-key.js';
import type { AnyComponentDeclaration, ComponentContext, ComponentsByKind, ExpgenPlugin } from '../plugin.js';
import type { Provenance } from '../provenance.js';
import type { Scorer } from '../scorer.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';
import type { Tokenizer } from '../tokenizer.js';
import { memoryLogger } from '../memory-logger.js';
import { reduceOnHost } from '../host-reductions.js';
import { checkPluginShape } from '../plugin-shape.js';
import { fakeSubjectModel } from './fake-subject-model.js';
import { fakeTokenizer } from './fake-tokenizer.js';

export interface ContractFixtures {
  /** Raw options per component, keyed `kind/name` (default: undefined, so the schema's defaults apply). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Subject for components that need one (default: the fake subject model). */
  readonly subject?: () => Promise<SubjectModel> | SubjectModel;
  /** Base folder for relative paths in options (default: the current folder). */
  readonly baseDir?: string;
  /** Components to leave out, keyed `kind/name`, with the reason (shown as a skipped test). */
  readonly skip?: Readonly<Record<string, string>>;
}

/**
 * The contract every plugin honours, as node:test cases: register it from a plugin's own test file with
 * `contractSuite(plugin, fixtures)`, as ESLint's RuleTester is used. Built-in plugins run the same suite.
 */
export function contractSuite(plugin: ExpgenPlugin, fixtures: ContractFixtures = {}): void {
  describe(`expgen plugin contract: ${plugin.meta?.name ?? '(unnamed)'}`, () => {
    it('has a valid shape', () => {
      checkPluginShape(plugin, `plugin "${plugin.meta?.name}"`);
    });
    let subject: SubjectModel | undefined;
    const getSubject = async () => (subject ??= await (fixtures.subject ?? (() => fakeSubjectModel()))());
    after(async () => {
      await subject?.dispose?.();
    });
    for (const declaration of plugin.components ?? []) {
      const key = `${declaration.kind}/${declaration.name}`;
      const skip = fixtures.skip?.[key];
      it(`${key} honours the ${declaration.kind} contract`, { ...(skip ? { skip } : {}) }, async () => {
        const options = declaration.options.parse(fixtures.options?.[key], [key, 'options']);
        const context: ComponentContext = {
          provenance: {
            kind: declaration.kind,
            component: declaration.name,
            plugin: plugin.meta.name,
            pluginVersion: plugin.meta.version,
          },
          baseDir: fixtures.baseDir ?? process.cwd(),
          cacheDir: mkdtempSync(join(tmpdir(), 'expgen-contract-')),
          logger: memoryLogger(),
          ...(declaration.needs?.includes('subject-model') ? { subject: await getSubject() } : {}),
        };
        const component = await declaration.create(options, context);
        try {
          checkProvenance(component.provenance, declaration, plugin);
          await checkComponent(declaration.kind, component, context);
        } finally {
          if (declaration.kind !== 'subject-model' || component !== subject) await component.dispose?.();
          rmSync(context.cacheDir, { recursive: true, force: true });
        }
      });
    }
  });
}

function checkProvenance(
  provenance: Provenance | undefined,
  declaration: AnyComponentDeclaration,
  plugin: ExpgenPlugin,
): void {
  assert.ok(provenance, 'a component carries its provenance');
  assert.equal(provenance.kind, declaration.kind);
  assert.equal(provenance.component, declaration.name);
  assert.equal(provenance.plugin, plugin.meta.name);
  assert.equal(provenance.pluginVersion, plugin.meta.version);
}

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
    case 'activation-source':
      return checkActivationSource(component as ActivationSource);
    // The subject only supplies a tokenizer for the inputs; describers and simulators may need no subject.
    case 'describer':
      return checkDescriber(component as Describer, context.subject?.tokenizer ?? fakeTokenizer());
    case 'simulator':
      return checkSimulator(component as Simulator, context.subject?.tokenizer ?? fakeTokenizer());
    case 'scorer':
      return checkScorer(component as Scorer);
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

async function checkActivationSource(source: ActivationSource): Promise<void> {
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
    if (plan.fragment) {
      assert.equal(plan.fragment.inputWidth, plan.hookWidth, 'fragment reads the hook width');
      assert.equal(plan.fragment.outputWidth, plan.width, 'fragment writes the feature width');
    }
    const values = Float32Array.from({ length: 3 * plan.hookWidth }, (_, i) => Math.sin(i));
    assert.equal(
      source.encode(layer, values, 3).length,
      3 * plan.width,
      'encode maps [rows, hookWidth] to [rows, width]',
    );
    formatFeatureKey({ space: source.space, layer, index: plan.width - 1 });
  }
  assert.throws(() => source.plan(Math.max(...layers) + 1000), 'planning a layer that does not exist fails');
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

async function checkScorer(scorer: Scorer): Promise<void> {
  const actual = [Float32Array.of(0, 1, 2, 3), Float32Array.of(5, 0, 1)];
  const perfect = scorer.score({ predicted: actual, actual });
  assert.ok(perfect.value !== null && perfect.value > 0.99, 'predicting the truth scores near the top');
  const constant = scorer.score({ predicted: [Float32Array.of(1, 1, 1, 1), Float32Array.of(1, 1, 1)], actual });
  assert.equal(constant.value, null, 'a constant prediction has an undefined score: null, never 0 or NaN');
  assert.equal(perfect.scoredBy.kind, 'scorer');
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(a === e || Math.abs(a - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  }
}
