import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError, type PlantedTruth, type Provenance } from '@expgen/contract';
import { SafetensorsStore } from '@expgen/plugin-kit';
import { openLlamaSubjectModel, type LlamaSubjectModel } from '../../llama-subject-model.js';
import { buildOnnxModel } from '../../onnx/build-model.js';
import { loadReferenceWeights, referenceForward } from '../../reference/reference-forward.js';
import { LlamaTokenizer } from '../../tokenizer/llama-tokenizer.js';
import { type LlamaConfig, ropeInverseFrequencies } from '../hf-config.js';
import { generateTinyLlama, PLANTED_TRUTH_FILE } from '../tiny-model.js';
import { PLANTED_CLASSES, TOKEN_CLASSES, classPattern, tokenName } from './planted-classes.js';
import { PREVIOUS_TOKEN_RANGE, previousTokenWeights } from './planted-weights.js';

const provenance: Provenance = { kind: 'subject-model', component: 'llama', plugin: 'test', pluginVersion: '0' };

/** Sentences with members of every class, including the contexts (after "the", line starts, after numbers). */
const TEXTS = [
  'The cat and the dog sat by the river on Monday morning.\nShe said it was 42 degrees, but we had bread and cheese.',
  'def area(r):\n    return 3 * r ** 2 + {x: [1, 2]}\nThe red fox is running to the sea, because it can swim!',
];

describe('the planted tiny model', () => {
  let root: string;
  let config: LlamaConfig;
  let truth: PlantedTruth;
  let subject: LlamaSubjectModel;
  let tokenizer: LlamaTokenizer;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'expgen-planted-'));
    config = await generateTinyLlama(join(root, 'hf'), { seed: 0, planted: true });
    await buildOnnxModel(join(root, 'hf'), join(root, 'onnx'), { dtype: 'fp32' });
    truth = JSON.parse(readFileSync(join(root, 'hf', PLANTED_TRUTH_FILE), 'utf8')) as PlantedTruth;
    tokenizer = await LlamaTokenizer.fromDirectory(join(root, 'onnx'));
    subject = await openLlamaSubjectModel(join(root, 'onnx'), { provider: 'cpu', provenance });
  });
  after(async () => {
    await subject?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  it('writes planted.json: every class with its rule, every feature-sign with its class, one in ten left random', () => {
    assert.equal(truth.format, 'expgen-planted-truth/1');
    assert.deepEqual(
      truth.classes.map((c) => c.id),
      PLANTED_CLASSES.map((c) => c.id),
    );
    const number = truth.classes.find((c) => c.id === 'number')!;
    assert.ok(number.kind === 'token' && number.members! > 1000 && number.examples!.includes('7'));
    assert.equal(truth.features.length, 2 * config.numLayers * config.intermediateSize);
    const random = truth.features.filter((f) => f.class === null).length / truth.features.length;
    assert.ok(random > 0.08 && random < 0.12, `random share ${random}`);
    // Every class is planted on both signs, about equally often.
    for (const c of PLANTED_CLASSES) {
      for (const sign of ['positive', 'negative'] as const) {
        const n = truth.features.filter((f) => f.class === c.id && f.sign === sign).length;
        assert.ok(n >= 10 && n <= 16, `${c.id} ${sign}: ${n}`);
      }
    }
    // The built folder carries it, and the subject reports it.
    assert.ok(existsSync(join(root, 'onnx', PLANTED_TRUTH_FILE)));
    assert.equal(subject.info.plantedTruth, join(root, 'onnx', PLANTED_TRUTH_FILE));
  });

  it('the previous-token head prefers offset 1 by the planted gap at every offset up to its range', () => {
    const { query, key, gap } = previousTokenWeights(config);
    const inv = ropeInverseFrequencies(config);
    const half = config.headDim / 2;
    // Score of a query at offset `offset` after the key: rotate the query by offset * θ per pair.
    const score = (offset: number) => {
      let dot = 0;
      for (let i = 0; i < half; i++) {
        const a = query[i]!;
        const b = query[i + half]!;
        const cos = Math.cos(offset * inv[i]!);
        const sin = Math.sin(offset * inv[i]!);
        dot += (a * cos - b * sin) * key[i]! + (b * cos + a * sin) * key[i + half]!;
      }
      return dot / Math.sqrt(config.headDim);
    };
    const best = score(1);
    for (let offset = 0; offset < PREVIOUS_TOKEN_RANGE; offset++) {
      if (offset !== 1) assert.ok(best - score(offset) >= gap - 1e-9, `offset ${offset}: ${best} vs ${score(offset)}`);
    }
  });

  it('each planted neuron fires on its classes, with its sign, and stays near 0 elsewhere (through ONNX)', async () => {
    const patterns = TOKEN_CLASSES.map(classPattern);
    const classesOf = (id: number): Set<string> => {
      const name = tokenizer.isSpecial(id) ? '' : tokenName(tokenizer.decode([id]));
      return new Set(TOKEN_CLASSES.filter((_, c) => name !== '' && patterns[c]!.test(name)).map((c) => c.id));
    };
    let checked = 0;
    for (const text of TEXTS) {
      const ids = [tokenizer.bosId!, ...tokenizer.encode(text)];
      const result = await subject.forward({
        tokens: Int32Array.from(ids),
        batch: 1,
        seqLen: ids.length,
        hooks: [0, 1].map((layer) => ({ hook: `mlp/${layer}`, reduce: 'full' as const })),
      });
      const classes = ids.map((id, t) => {
        const own = classesOf(id);
        const previous = t > 0 ? classesOf(ids[t - 1]!) : new Set<string>();
        for (const c of PLANTED_CLASSES) if (c.kind === 'context' && previous.has(c.previous)) own.add(c.id);
        return own;
      });
      for (const hook of result.hooks) {
        const layer = Number(hook.hook.split('/')[1]);
        for (let index = 0; index < config.intermediateSize; index++) {
          const feature = `mlp/${layer}/${index}`;
          const positive = truth.features.find((f) => f.feature === feature && f.sign === 'positive')!.class;
          const negative = truth.features.find((f) => f.feature === feature && f.sign === 'negative')!.class;
          if (positive === null || negative === null) continue;
          for (let t = 1; t < ids.length; t++) {
            const a = hook.full![t * hook.width + index]!;
            const inP = classes[t]!.has(positive);
            const inN = classes[t]!.has(negative);
            const where = `${feature} (+${positive} -${negative}) on ${JSON.stringify(tokenizer.decode([ids[t]!]))}`;
            if (inP && !inN) assert.ok(a > 2.5, `${where}: ${a}`);
            else if (inN && !inP) assert.ok(a < -2.5, `${where}: ${a}`);
            else if (!inP && !inN) assert.ok(Math.abs(a) < 1, `${where}: ${a}`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 5000, `${checked} activations checked`);
  });

  it('the ONNX graph agrees with the independent reference forward on every hook (fp32, relative 1e-4)', async () => {
    const store = await SafetensorsStore.open(join(root, 'hf'));
    const weights = await loadReferenceWeights(store, config);
    await store.close();
    const ids = [tokenizer.bosId!, ...tokenizer.encode(TEXTS[0]!)];
    const expected = referenceForward(config, weights, ids);
    const hooks = subject.hookPoints();
    const result = await subject.forward({
      tokens: Int32Array.from(ids),
      batch: 1,
      seqLen: ids.length,
      hooks: hooks.map((h) => ({ hook: h.name, reduce: 'full' as const })),
    });
    for (const h of result.hooks) {
      let maxError = 0;
      let maxValue = 0;
      ids.forEach((_, t) => {
        const reference = expected.hooks.get(h.hook)![t]!;
        for (let f = 0; f < h.width; f++) {
          maxError = Math.max(maxError, Math.abs(h.full![t * h.width + f]! - reference[f]!));
          maxValue = Math.max(maxValue, Math.abs(reference[f]!));
        }
      });
      assert.ok(maxError / maxValue < 1e-4, `${h.hook}: relative error ${maxError / maxValue}`);
    }
  });

  it('refuses shapes and vocabularies it cannot plant, in one line', async () => {
    await assert.rejects(
      generateTinyLlama(join(root, 'small'), { planted: true, hiddenSize: 16, numHeads: 2, numKvHeads: 1 }),
      (e: Error) => isExpgenError(e) && /hiddenSize 16 is too small for 18 planted classes/.test(e.message),
    );
    await assert.rejects(
      generateTinyLlama(join(root, 'vocab'), { planted: true, vocabSize: 256 }),
      (e: Error) => isExpgenError(e) && /planted features need the Llama-3 vocabulary/.test(e.message),
    );
  });
});
