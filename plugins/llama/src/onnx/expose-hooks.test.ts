import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExpgenError, reduceOnHost, type Provenance } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { openLlamaSubjectModel } from '../llama-subject-model.js';
import { int64Tensor, type HostTensor } from '../runtime/host-tensor.js';
import { InferenceClient } from '../runtime/inference-client.js';
import { analyzeExport, exposeHooks } from './expose-hooks.js';
import { ExternalDataWriter } from './external-data.js';
import { GraphBuilder, makeModel } from './graph-builder.js';
import {
  DataType,
  decodeModel,
  encodeModel,
  externalTensor,
  float,
  int,
  ints,
  MICROSOFT_DOMAIN,
} from './onnx-proto.js';
import { idTokenizer, tinyBuiltModel } from './test-models.js';

// A Llama-shaped network small enough to compute on the host: attention is stood in for by one matmul, because
// what is under test is where the hooks are found, not attention.
const V = 32;
const H = 8;
const I = 12;
const LAYERS = 2;
const EPS = 1e-5;
const TOKENS = [3, 1, 30, 7, 7, 12];

interface Weights {
  embed: Float32Array; // [V, H]
  layers: {
    norm1: Float32Array;
    attn: Float32Array;
    norm2: Float32Array;
    gate: Float32Array;
    up: Float32Array;
    down: Float32Array;
  }[]; // matmul layout [in, out]
  finalNorm: Float32Array;
  head: Float32Array; // [H, V]
}

function randomWeights(seed: number): Weights {
  const r = new Sfc32(seed);
  return {
    embed: r.normals(V * H, 1),
    layers: Array.from({ length: LAYERS }, () => ({
      norm1: r.normals(H, 0.1, 1),
      attn: r.normals(H * H, 1 / Math.sqrt(H)),
      norm2: r.normals(H, 0.1, 1),
      gate: r.normals(H * I, 1 / Math.sqrt(H)),
      up: r.normals(H * I, 1 / Math.sqrt(H)),
      down: r.normals(I * H, 1 / Math.sqrt(I)),
    })),
    finalNorm: r.normals(H, 0.1, 1),
    head: r.normals(H * V, 1 / Math.sqrt(H)),
  };
}

function transpose(m: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(m.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = m[i * cols + j]!;
  return out;
}

/** The expected hook values, computed on the host. */
function hostForward(w: Weights): Map<string, Float32Array> {
  const matmul = (x: Float32Array, m: Float32Array, n: number, k: number): Float32Array => {
    const rows = x.length / n;
    const out = new Float32Array(rows * k);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += x[r * n + i]! * m[i * k + j]!;
        out[r * k + j] = s;
      }
    return out;
  };
  const rms = (x: Float32Array, g: Float32Array): Float32Array => {
    const out = new Float32Array(x.length);
    for (let r = 0; r < x.length / H; r++) {
      let s = 0;
      for (let i = 0; i < H; i++) s += x[r * H + i]! ** 2;
      const scale = 1 / Math.sqrt(s / H + EPS);
      for (let i = 0; i < H; i++) out[r * H + i] = x[r * H + i]! * scale * g[i]!;
    }
    return out;
  };
  const hooks = new Map<string, Float32Array>();
  let x = new Float32Array(TOKENS.length * H);
  TOKENS.forEach((t, p) => {
    x.set(w.embed.subarray(t * H, (t + 1) * H), p * H);
  });
  w.layers.forEach((l, layer) => {
    const attn = matmul(rms(x, l.norm1), l.attn, H, H);
    x = x.map((v, i) => v + attn[i]!);
    const n = rms(x, l.norm2);
    const gate = matmul(n, l.gate, H, I);
    const up = matmul(n, l.up, H, I);
    const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
    hooks.set(`mlp/${layer}`, act);
    const down = matmul(act, l.down, I, H);
    x = x.map((v, i) => v + down[i]!);
    hooks.set(`resid/${layer}`, x);
  });
  hooks.set('logits', matmul(rms(x, w.finalNorm), w.head, H, V));
  return hooks;
}

type Style = 'genai' | 'optimum-scoped' | 'optimum-unscoped';

/** Writes model.onnx plus its external data file in the naming conventions of `style`. */
async function writeExport(folder: string, style: Style, w: Weights): Promise<string> {
  await mkdir(folder, { recursive: true });
  const dataFile = style === 'genai' ? 'model.onnx.data' : 'model.onnx_data';
  const writer = await ExternalDataWriter.create(folder, dataFile);
  const b = new GraphBuilder();
  let counter = 0;
  const weight = async (name: string, dims: number[], data: Float32Array): Promise<string> => {
    const offset = await writer.begin(data.byteLength);
    await writer.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return b.addInitializer(externalTensor(name, DataType.FLOAT, dims, dataFile, offset, data.byteLength));
  };
  const named = (scope: string) => (style === 'optimum-unscoped' ? undefined : scope);
  const node = (
    op: string,
    inputs: string[],
    name: string | undefined,
    attributes?: Record<string, ReturnType<typeof int>>,
    outputs = 1,
    domain?: string,
  ): string[] =>
    b.node(op, inputs, { outputs, name: name ?? `${op}_${counter++}`, attributes, ...(domain ? { domain } : {}) });
  /** A linear layer the way each exporter writes it; `hfName` is the Hugging Face weight name, `m` is [in, out]. */
  const linear = async (
    x: string,
    hfName: string,
    scope: string,
    m: Float32Array,
    n: number,
    k: number,
  ): Promise<string> => {
    if (style === 'genai')
      return node(
        'MatMul',
        [x, await weight(`${hfName.replace(/\.weight$/, '')}.MatMul.weight`, [n, k], m)],
        `${scope}/MatMul`,
      )[0]!;
    if (style === 'optimum-scoped')
      return node('MatMul', [x, await weight(`onnx::MatMul_${100 + counter++}`, [n, k], m)], `${scope}/MatMul`)[0]!;
    const hf = await weight(hfName, [k, n], transpose(m, n, k));
    return node('MatMul', [x, node('Transpose', [hf], undefined, { perm: ints([1, 0]) } as never)[0]!], undefined)[0]!;
  };
  const rmsNorm = async (x: string, scope: string, hfName: string, g: Float32Array): Promise<string> => {
    const gamma = await weight(hfName, [H], g);
    if (style === 'genai')
      return node('SimplifiedLayerNormalization', [x, gamma], `${scope}/LayerNorm`, {
        epsilon: float(EPS),
        axis: int(-1),
      } as never)[0]!;
    const mean = node(
      'ReduceMean',
      [node('Pow', [x, b.floatConstant(2)], named(`${scope}/Pow`))[0]!],
      named(`${scope}/ReduceMean`),
      { axes: ints([-1]), keepdims: int(1) } as never,
    )[0]!;
    const root = node(
      'Sqrt',
      [node('Add', [mean, b.floatConstant(EPS)], named(`${scope}/Add`))[0]!],
      named(`${scope}/Sqrt`),
    )[0]!;
    return node('Mul', [gamma, node('Div', [x, root], named(`${scope}/Div`))[0]!], named(`${scope}/Mul_1`))[0]!;
  };
  /** genai fuses each residual add into the next norm: SkipSimplifiedLayerNormalization(x, skip) -> (norm, _, _, sum). */
  const skipNorm = async (
    x: string,
    skip: string,
    scope: string,
    hfName: string,
    g: Float32Array,
    keepSum: boolean,
  ): Promise<[string, string]> => {
    const gamma = await weight(hfName, [H], g);
    const outputs = node(
      'SkipSimplifiedLayerNormalization',
      [x, skip, gamma],
      `${scope}/SkipLayerNorm`,
      { epsilon: float(EPS) } as never,
      keepSum ? 4 : 1,
      MICROSOFT_DOMAIN,
    );
    return [outputs[0]!, keepSum ? outputs[3]! : ''];
  };

  const ids = b.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const embedded = node(
    'Gather',
    [await weight('model.embed_tokens.weight', [V, H], w.embed), ids],
    named('/model/embed_tokens/Gather'),
  )[0]!;
  let residual = embedded;
  let normed =
    style === 'genai'
      ? await rmsNorm(
          embedded,
          '/model/layers.0/input_layernorm',
          'model.layers.0.input_layernorm.weight',
          w.layers[0]!.norm1,
        )
      : '';
  for (let layer = 0; layer < LAYERS; layer++) {
    const l = w.layers[layer]!;
    const p = `/model/layers.${layer}`;
    const hf = `model.layers.${layer}`;
    if (style !== 'genai')
      normed = await rmsNorm(residual, `${p}/input_layernorm`, `${hf}.input_layernorm.weight`, l.norm1);
    const attn = await linear(
      normed,
      `${hf}.self_attn.o_proj.weight`,
      `${p}/${style === 'genai' ? 'attn' : 'self_attn'}/o_proj`,
      l.attn,
      H,
      H,
    );
    let mlpIn: string;
    if (style === 'genai') {
      [mlpIn, residual] = await skipNorm(
        attn,
        residual,
        `${p}/post_attention_layernorm`,
        `${hf}.post_attention_layernorm.weight`,
        l.norm2,
        true,
      );
    } else {
      residual = node('Add', [residual, attn], named(`${p}/Add`))[0]!;
      mlpIn = await rmsNorm(
        residual,
        `${p}/post_attention_layernorm`,
        `${hf}.post_attention_layernorm.weight`,
        l.norm2,
      );
    }
    const gate = await linear(mlpIn, `${hf}.mlp.gate_proj.weight`, `${p}/mlp/gate_proj`, l.gate, H, I);
    const up = await linear(mlpIn, `${hf}.mlp.up_proj.weight`, `${p}/mlp/up_proj`, l.up, H, I);
    const silu = node(
      'Mul',
      [gate, node('Sigmoid', [gate], named(`${p}/mlp/act_fn/Sigmoid`))[0]!],
      named(`${p}/mlp/act_fn/Mul`),
    )[0]!;
    const act = node('Mul', [silu, up], named(`${p}/mlp/Mul`))[0]!;
    const down = await linear(act, `${hf}.mlp.down_proj.weight`, `${p}/mlp/down_proj`, l.down, I, H);
    if (style === 'genai') {
      const last = layer === LAYERS - 1;
      const next = last ? `/model/layers.${LAYERS}/final_norm_layernorm` : `/model/layers.${layer + 1}/input_layernorm`;
      // The final norm keeps only its normalized output, as genai writes it.
      [normed, residual] = await skipNorm(
        down,
        residual,
        next,
        last ? 'model.norm.weight' : `model.layers.${layer + 1}.input_layernorm.weight`,
        last ? w.finalNorm : w.layers[layer + 1]!.norm1,
        !last,
      );
    } else {
      residual = node('Add', [residual, down], named(`${p}/Add_1`))[0]!;
    }
  }
  if (style !== 'genai') normed = await rmsNorm(residual, '/model/norm', 'model.norm.weight', w.finalNorm);
  const logits = await linear(normed, 'lm_head.weight', '/lm_head', w.head, H, V);
  b.opTo('logits', 'Identity', [logits]);
  b.output('logits', DataType.FLOAT, ['batch', 'sequence', V]);
  await writer.close();
  const path = join(folder, 'model.onnx');
  await writeFile(path, encodeModel(makeModel(b.graph('export'), { microsoftOpset: style === 'genai' })));
  return path;
}

const expectError = async (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => {
    assert.ok(isExpgenError(error), `not an ExpgenError: ${String(error)}`);
    assert.match((error as Error).message, pattern);
    return true;
  });

describe('exposeHooks on existing exports', () => {
  let root: string;
  let client: InferenceClient;
  const weights = randomWeights(21);
  const expected = hostForward(weights);
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'expgen-exports-'));
    client = InferenceClient.start();
  });
  after(async () => {
    await client?.dispose();
    await rm(root, { recursive: true, force: true });
  });

  for (const style of ['genai', 'optimum-scoped', 'optimum-unscoped'] as const) {
    it(`finds and outputs the right tensors in a ${style} export`, async () => {
      const modelPath = await writeExport(join(root, style), style, weights);
      const exposed = await exposeHooks(modelPath);
      assert.deepEqual(
        exposed.hooks.map((h) => h.name),
        ['mlp/0', 'resid/0', 'mlp/1', 'resid/1'],
      );
      assert.deepEqual(
        exposed.hooks.map((h) => h.width),
        [I, H, I, H],
      );
      if (style !== 'optimum-unscoped') assert.equal(exposed.hooks[0]!.tensor, '/model/layers.0/mlp/Mul/output_0');
      // The original is untouched; the copy sits beside it and shares its weights file.
      assert.ok(exposed.path.endsWith('model.expgen-hooks.onnx'));
      assert.ok((await readFile(exposed.path)).length < 20_000);

      await client.open(style, exposed.path, { provider: 'cpu' });
      const outputs = await client.run(
        style,
        { input_ids: int64Tensor(TOKENS, [1, TOKENS.length]) },
        { fetch: ['logits', ...exposed.hooks.map((h) => h.output)] },
      );
      const close = (actual: HostTensor, want: Float32Array, what: string) => {
        assert.equal(actual.data.length, want.length, what);
        (actual.data as Float32Array).forEach((v, i) => {
          assert.ok(
            Math.abs(v - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)),
            `${style} ${what}[${i}]: ${v} vs ${want[i]}`,
          );
        });
      };
      for (const hook of exposed.hooks) close(outputs[hook.output]!, expected.get(hook.name)!, hook.name);
      close(outputs['logits']!, expected.get('logits')!, 'logits');
    });
  }

  it('names broken external data: a missing file, an absolute path, a path outside the folder, a truncated file', async () => {
    const source = await writeExport(join(root, 'broken-source'), 'optimum-scoped', weights);
    const bytes = await readFile(source);
    /** A copy of the export whose initializers all point at `location`. */
    const variant = async (name: string, location: string) => {
      const folder = join(root, name);
      await mkdir(folder, { recursive: true });
      const model = decodeModel(bytes);
      for (const tensor of model.graph!.initializer!)
        for (const entry of tensor.externalData ?? []) if (entry.key === 'location') entry.value = location;
      await writeFile(join(folder, 'model.onnx'), encodeModel(model));
      return join(folder, 'model.onnx');
    };
    await expectError(
      analyzeExport(await variant('missing', 'model.onnx_data')),
      /external data file "model\.onnx_data" .*is missing/,
    );
    await expectError(
      analyzeExport(await variant('absolute', '/tmp/x.onnx_data')),
      /absolute path "\/tmp\/x\.onnx_data"/,
    );
    await expectError(
      analyzeExport(await variant('outside', '../a.onnx_data')),
      /outside the model's folder \("\.\.\/a\.onnx_data"\)/,
    );
    const truncated = join(root, 'truncated');
    await mkdir(truncated, { recursive: true });
    await copyFile(source, join(truncated, 'model.onnx'));
    await copyFile(join(root, 'broken-source', 'model.onnx_data'), join(truncated, 'model.onnx_data'));
    await truncate(join(truncated, 'model.onnx_data'), 100);
    await expectError(
      analyzeExport(join(truncated, 'model.onnx')),
      /"model\.onnx_data" is 100 bytes but initializer .* needs bytes/,
    );
  });

  it('says so when a graph has no down_proj to find', async () => {
    const b = new GraphBuilder();
    const x = b.input('input_ids', DataType.INT64, [1, 2]);
    b.opTo('logits', 'Cast', [x], { to: int(DataType.FLOAT) });
    b.output('logits', DataType.FLOAT, [1, 2]);
    await mkdir(join(root, 'plain'), { recursive: true });
    await writeFile(join(root, 'plain', 'model.onnx'), encodeModel(makeModel(b.graph('plain'))));
    await expectError(analyzeExport(join(root, 'plain', 'model.onnx')), /found no down_proj matmul/);
  });
});

describe('openLlamaSubjectModel on an export', () => {
  it('runs a Llama export without an expgen manifest like the built model it came from', async () => {
    const provenance: Provenance = {
      kind: 'subject-model',
      component: 'llama',
      plugin: '@expgen/plugin-llama',
      pluginVersion: 'test',
    };
    const built = await tinyBuiltModel({ seed: 12, layers: 2, shards: 1 });
    const exported = join(built.modelDir, '..', 'export');
    await mkdir(exported);
    for (const file of ['model.onnx', 'model.onnx.data', 'config.json'])
      await copyFile(join(built.modelDir, file), join(exported, file));
    const original = await openLlamaSubjectModel(built.modelDir, {
      provider: 'cpu',
      provenance,
      tokenizer: idTokenizer(256),
    });
    const fromExport = await openLlamaSubjectModel(exported, {
      provider: 'cpu',
      provenance,
      tokenizer: idTokenizer(256),
    });
    try {
      assert.deepEqual(fromExport.hookPoints(), original.hookPoints());
      assert.match(fromExport.info.hashes['weights']!, /^[0-9a-f]{64}$/);
      const request = {
        tokens: Int32Array.from([5, 9, 200, 31, 7, 0, 1, 2, 3, 4]),
        batch: 2,
        seqLen: 5,
        lengths: Int32Array.of(5, 3),
        // A prefixed and an unprefixed row: the export's variant takes count_from as an input like the built one's.
        countFrom: Int32Array.of(1, 0),
        hooks: [
          { hook: 'mlp/1', reduce: 'full' as const },
          { hook: 'resid/0', reduce: 'extremes' as const },
          { hook: 'resid/0', reduce: 'full' as const },
        ],
        logits: 'last' as const,
      };
      const [a, b] = [await original.forward(request), await fromExport.forward(request)];
      for (const [x, y] of [
        [a.hooks[0]!.full!, b.hooks[0]!.full!],
        [a.hooks[1]!.max!, b.hooks[1]!.max!],
        [a.logits!, b.logits!],
      ] as const) {
        x.forEach((v, i) => {
          assert.ok(Object.is(v, y[i]) || Math.abs(v - y[i]!) < 1e-6, `${v} vs ${y[i]}`);
        });
      }
      const reference = reduceOnHost(
        b.hooks[2]!.full!,
        { batch: 2, seqLen: 5, width: b.hooks[2]!.width, lengths: request.lengths, countFrom: request.countFrom },
        { hook: 'resid/0', reduce: 'extremes' },
      );
      for (const [x, y] of [
        [b.hooks[1]!.max!, reference.max!],
        [b.hooks[1]!.min!, reference.min!],
      ] as const) {
        x.forEach((v, i) => {
          assert.ok(Math.abs(v - y[i]!) < 1e-6, `export extremes against the host reference: ${v} vs ${y[i]}`);
        });
      }
      // An export computes logits at every position only: the variant picks each row's last, then gathers logitIds.
      const ids = [7, 250, 0];
      const picked = await fromExport.forward({ ...request, hooks: [], logitIds: ids });
      assert.equal(picked.logits!.length, 2 * ids.length);
      for (let row = 0; row < 2; row++)
        ids.forEach((id, k) => {
          assert.ok(
            Math.abs(picked.logits![row * ids.length + k]! - a.logits![row * 256 + id]!) < 1e-6,
            `row ${row}, id ${id}`,
          );
        });
      const everywhere = await fromExport.forward({ ...request, hooks: [], logits: 'all', logitIds: ids });
      const full = await original.forward({ ...request, hooks: [], logits: 'all' });
      for (let at = 0; at < 10; at++)
        ids.forEach((id, k) => {
          assert.ok(
            Math.abs(everywhere.logits![at * ids.length + k]! - full.logits![at * 256 + id]!) < 1e-5,
            `position ${at}, id ${id}`,
          );
        });
      const prompts = [[1, 2, 3], [4]];
      assert.deepEqual(
        (await fromExport.generate({ prompts, maxNewTokens: 5, stopTokens: [] })).sequences,
        (await original.generate({ prompts, maxNewTokens: 5, stopTokens: [] })).sequences,
      );
    } finally {
      await original.dispose();
      await fromExport.dispose();
      await built.remove();
    }
  });
});
