// Weights of the planted demo model: a Llama whose MLP neurons respond to documented classes of tokens and
// contexts, by construction rather than by training. README.md beside this file explains the construction; the
// constants below are the numbers it refers to.
import { ExpgenError, PLANTED_TRUTH_FORMAT, type PlantedFeatureSign, type PlantedTruth } from '@expgen/contract';
import { Sfc32 } from '@expgen/plugin-kit';
import { type LlamaConfig, ropeInverseFrequencies } from '../hf-config.js';
import { llamaTensorNames, llamaTensorShape } from '../llama-tensors.js';
import { CONTEXT_CLASSES, PLANTED_CLASSES, TOKEN_CLASSES, classPattern, tokenName } from './planted-classes.js';

/** Residual-stream value of the constant dimension every token carries (what the previous-token head reads). */
const BIAS = 1;
/** Value a token's class dimension carries in its embedding (each embedding has RMS 1, so sum of squares = hidden). */
const INDICATOR = 4;
/** Value layer 0's previous-token head writes into a context dimension. */
const CONTEXT_VALUE = 4;
/** Attention-logit gap between the previous token and any other position: softmax puts >= 0.999 on it. */
const PREVIOUS_TOKEN_GAIN = 12;
/** Positions over which the previous-token head is checked to prefer offset 1 (longer sequences may alias). */
export const PREVIOUS_TOKEN_RANGE = 512;
/** Rotary frequency pairs the previous-token head uses (the fastest ones; slow ones cannot tell t-1 from t). */
const ROTARY_PAIRS = 4;
/** Share of neurons per layer left random. */
const RANDOM_SHARE = 0.1;
/** Std of the small weights that read and write the noise dimensions only. */
const NOISE_READ = 0.02;
const NOISE_WRITE = 0.01;
/** Fewest noise dimensions, so a token's embedding is not only its classes. */
const MIN_NOISE_DIMS = 8;

/** Where things live in the residual stream. */
interface Layout {
  readonly bias: number;
  /** Dimension of token class i. */
  readonly tokenClass: readonly number[];
  /** Dimension of context class i. */
  readonly contextClass: readonly number[];
  /** Every other dimension: per-token noise, and where layers write what they do not plant. */
  readonly noise: readonly number[];
}

export interface PlantedWeights {
  /** Every tensor of the checkpoint by Hugging Face name, row-major ([out, in] for linear layers). */
  readonly tensors: ReadonlyMap<string, Float32Array>;
  readonly truth: PlantedTruth;
}

/**
 * Builds the planted weights for `config` (the Llama-3.1 vocabulary) from `seed`. `nameOf(id)` is a token's
 * decoded text, null for special tokens. Needs a hidden size of at least 1 + classes + 8 noise dimensions and a
 * head dimension of at least 8; the previous-token head is query head 0 over kv head 0.
 */
export function plantedWeights(
  config: LlamaConfig,
  seed: number,
  nameOf: (id: number) => string | null,
): PlantedWeights {
  const layout = residualLayout(config);
  const random = new Sfc32(seed);
  const members = tokenClassMembers(config.vocabSize, nameOf);
  const { plan, features } = neuronPlan(config, random);
  const tensors = new Map<string, Float32Array>();
  for (const name of llamaTensorNames(config)) {
    const shape = llamaTensorShape(config, name);
    tensors.set(name, new Float32Array(shape.reduce((a, b) => a * b, 1)));
  }
  const tensor = (name: string) => tensors.get(name)!;

  fillEmbedding(tensor('model.embed_tokens.weight'), config, layout, members, random);
  for (let layer = 0; layer < config.numLayers; layer++) {
    const p = `model.layers.${layer}`;
    fillNorm(tensor(`${p}.input_layernorm.weight`), layout, random);
    fillNorm(tensor(`${p}.post_attention_layernorm.weight`), layout, random);
    fillAttention(config, layout, layer, random, {
      q: tensor(`${p}.self_attn.q_proj.weight`),
      k: tensor(`${p}.self_attn.k_proj.weight`),
      v: tensor(`${p}.self_attn.v_proj.weight`),
      o: tensor(`${p}.self_attn.o_proj.weight`),
    });
    fillMlp(config, layout, plan[layer]!, random, {
      gate: tensor(`${p}.mlp.gate_proj.weight`),
      up: tensor(`${p}.mlp.up_proj.weight`),
      down: tensor(`${p}.mlp.down_proj.weight`),
    });
  }
  tensor('model.norm.weight').set(random.normals(config.hiddenSize, 0.1, 1));
  if (!config.tieWordEmbeddings)
    tensor('lm_head.weight').set(
      random.normals(config.vocabSize * config.hiddenSize, 1 / Math.sqrt(config.hiddenSize)),
    );

  const truth: PlantedTruth = {
    format: PLANTED_TRUTH_FORMAT,
    about:
      "Planted by expgen's tiny-model generator (plugins/llama/src/hf/planted/README.md): token classes are residual-stream indicator dimensions set in the embedding, context classes are written by a previous-token attention head in layer 0, and each planted neuron reads its positive class through gate and up and its negative class with the sign of up flipped. Features with class null were left random.",
    classes: PLANTED_CLASSES.map((c) => {
      if (c.kind === 'context') return c;
      const index = TOKEN_CLASSES.indexOf(c);
      const ids = members[index]!;
      return {
        ...c,
        members: ids.length,
        examples: ids.slice(0, 12).map((id) => tokenName(nameOf(id)!)),
      };
    }),
    features,
  };
  return { tensors, truth };
}

function residualLayout(config: LlamaConfig): Layout {
  const needed = 1 + TOKEN_CLASSES.length + CONTEXT_CLASSES.length + MIN_NOISE_DIMS;
  if (config.hiddenSize < needed)
    throw new ExpgenError(
      `planted tiny model: hiddenSize ${config.hiddenSize} is too small for ${PLANTED_CLASSES.length} planted classes; use at least ${needed} (or subject.options.tiny.planted: false)`,
    );
  if (config.headDim < 2 * ROTARY_PAIRS || CONTEXT_CLASSES.length > config.headDim)
    throw new ExpgenError(
      `planted tiny model: head dimension ${config.headDim} is too small for the previous-token head; use hiddenSize / numHeads >= ${2 * ROTARY_PAIRS}`,
    );
  const tokenClass = TOKEN_CLASSES.map((_, i) => 1 + i);
  const contextClass = CONTEXT_CLASSES.map((_, i) => 1 + TOKEN_CLASSES.length + i);
  const first = 1 + TOKEN_CLASSES.length + CONTEXT_CLASSES.length;
  const noise = Array.from({ length: config.hiddenSize - first }, (_, i) => first + i);
  return { bias: 0, tokenClass, contextClass, noise };
}

/** Per token class, the ids of its members, in id order. */
function tokenClassMembers(vocabSize: number, nameOf: (id: number) => string | null): number[][] {
  const patterns = TOKEN_CLASSES.map(classPattern);
  const members: number[][] = TOKEN_CLASSES.map(() => []);
  for (let id = 0; id < vocabSize; id++) {
    const text = nameOf(id);
    if (text === null || text === '') continue;
    const name = tokenName(text);
    patterns.forEach((pattern, c) => {
      if (pattern.test(name)) members[c]!.push(id);
    });
  }
  return members;
}

/**
 * Each embedding row: BIAS on the bias dimension, INDICATOR on the dimension of every class the token belongs to,
 * and Gaussian noise on the noise dimensions scaled so the row's sum of squares is exactly `hidden` (RMS 1). Every
 * row has the same norm, so RMSNorm leaves the class values as they are and the bias constant across tokens.
 */
function fillEmbedding(
  embed: Float32Array,
  config: LlamaConfig,
  layout: Layout,
  members: readonly number[][],
  random: Sfc32,
): void {
  const hidden = config.hiddenSize;
  const classCount = new Uint8Array(config.vocabSize);
  members.forEach((ids, c) => {
    for (const id of ids) {
      embed[id * hidden + layout.tokenClass[c]!] = INDICATOR;
      classCount[id]!++;
    }
  });
  const floor = hidden / 8;
  for (let id = 0; id < config.vocabSize; id++) {
    const row = embed.subarray(id * hidden, (id + 1) * hidden);
    row[layout.bias] = BIAS;
    // A token in many classes keeps some noise energy: its indicators shrink instead.
    let indicatorEnergy = classCount[id]! * INDICATOR ** 2;
    if (hidden - BIAS ** 2 - indicatorEnergy < floor) {
      const shrink = Math.sqrt((hidden - BIAS ** 2 - floor) / indicatorEnergy);
      for (const d of layout.tokenClass) row[d]! *= shrink;
      indicatorEnergy = hidden - BIAS ** 2 - floor;
    }
    const noise = layout.noise.map(() => random.nextNormal());
    const norm = Math.sqrt(noise.reduce((a, x) => a + x * x, 0));
    const scale = Math.sqrt(hidden - BIAS ** 2 - indicatorEnergy) / norm;
    layout.noise.forEach((d, i) => {
      row[d] = noise[i]! * scale;
    });
  }
}

/** 1 on the planted dimensions (their values must arrive as built), 1 ± 0.1 on the noise dimensions. */
function fillNorm(weight: Float32Array, layout: Layout, random: Sfc32): void {
  weight.fill(1);
  for (const d of layout.noise) weight[d] = 1 + 0.1 * random.nextNormal();
}

/**
 * Layer 0, query head 0 over kv head 0 is the previous-token head: its query and key read only the bias
 * dimension, so they are the same vector at every position and rotary embeddings alone decide the score, which
 * is built to peak at offset 1 (see `previousTokenWeights`); its values read the token class each context class
 * follows, and o_proj writes CONTEXT_VALUE into the context dimensions. Every other head is random and writes
 * small weights into the noise dimensions only, so nothing disturbs the planted dimensions.
 */
function fillAttention(
  config: LlamaConfig,
  layout: Layout,
  layer: number,
  random: Sfc32,
  w: { q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array },
): void {
  const { hiddenSize: hidden, headDim, numHeads } = config;
  const standard = 1 / Math.sqrt(hidden);
  w.q.set(random.normals(w.q.length, standard));
  w.k.set(random.normals(w.k.length, standard));
  w.v.set(random.normals(w.v.length, standard));
  const planted = layer === 0;
  if (planted) {
    // Query head 0 and kv head 0 are rows [0, headDim) of q_proj and k_proj and v_proj.
    w.q.fill(0, 0, headDim * hidden);
    w.k.fill(0, 0, headDim * hidden);
    w.v.fill(0, 0, headDim * hidden);
    const { query, key } = previousTokenWeights(config);
    for (let d = 0; d < headDim; d++) {
      w.q[d * hidden + layout.bias] = query[d]! / BIAS;
      w.k[d * hidden + layout.bias] = key[d]! / BIAS;
    }
    CONTEXT_CLASSES.forEach((context, j) => {
      const source = TOKEN_CLASSES.findIndex((c) => c.id === context.previous);
      w.v[j * hidden + layout.tokenClass[source]!] = 1 / INDICATOR;
    });
  }
  // o_proj is [hidden, numHeads * headDim].
  const width = numHeads * headDim;
  for (const d of layout.noise) {
    for (let c = planted ? headDim : 0; c < width; c++) w.o[d * width + c] = NOISE_WRITE * random.nextNormal();
  }
  if (planted) {
    layout.contextClass.forEach((d, j) => {
      w.o[d * width + j] = CONTEXT_VALUE;
    });
  }
}

/**
 * Query and key of the previous-token head, per head dimension, in the rotate-half layout. For a rotary pair
 * (d, d + half) at frequency θ, a key (k, 0) and a query w·k'·(cos θ, -sin θ) give the score
 * w·k·k'·cos((t - s - 1)·θ): largest at offset t - s = 1. Summing the four fastest pairs with weights chosen to
 * make the gap to every other offset in [0, PREVIOUS_TOKEN_RANGE) as large as possible, and scaling so that gap
 * is PREVIOUS_TOKEN_GAIN after the 1/sqrt(headDim) of attention, leaves the previous token one softmax winner.
 */
export function previousTokenWeights(config: LlamaConfig): { query: Float64Array; key: Float64Array; gap: number } {
  const inv = ropeInverseFrequencies(config);
  const half = config.headDim / 2;
  const cosines = Array.from({ length: PREVIOUS_TOKEN_RANGE }, (_, offset) =>
    Array.from({ length: ROTARY_PAIRS }, (_, i) => 1 - Math.cos((offset - 1) * inv[i]!)),
  );
  const gapOf = (weights: readonly number[]) => {
    let gap = Number.POSITIVE_INFINITY;
    for (let offset = 0; offset < PREVIOUS_TOKEN_RANGE; offset++) {
      if (offset === 1) continue;
      let s = 0;
      for (let i = 0; i < ROTARY_PAIRS; i++) s += weights[i]! * cosines[offset]![i]!;
      if (s < gap) gap = s;
    }
    return gap;
  };
  // A coarse grid over the pair weights (the first fixed: only ratios matter), best gap per unit of weight.
  const steps = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5];
  let best = { weights: [1, 0, 0, 0], ratio: gapOf([1, 0, 0, 0]) };
  for (const b of steps)
    for (const c of steps)
      for (const d of steps) {
        const weights = [1, b, c, d];
        const ratio = gapOf(weights) / (1 + b + c + d);
        if (ratio > best.ratio) best = { weights, ratio };
      }
  const gap = gapOf(best.weights);
  if (!(gap > 1e-3))
    throw new ExpgenError(
      `planted tiny model: rotary frequencies of head dimension ${config.headDim} cannot single out the previous token`,
    );
  // score = (q . k) / sqrt(headDim); with unit key amplitude per pair and query amplitude `amplitude * w_i`, the
  // gap is amplitude^2 * gap / sqrt(headDim) when both carry `amplitude`.
  const amplitude = Math.sqrt((PREVIOUS_TOKEN_GAIN * Math.sqrt(config.headDim)) / gap);
  const query = new Float64Array(config.headDim);
  const key = new Float64Array(config.headDim);
  for (let i = 0; i < ROTARY_PAIRS; i++) {
    const theta = inv[i]!;
    key[i] = amplitude;
    query[i] = amplitude * best.weights[i]! * Math.cos(theta);
    query[i + half] = -amplitude * best.weights[i]! * Math.sin(theta);
  }
  return { query, key, gap: PREVIOUS_TOKEN_GAIN };
}

/** What one neuron is: planted with a class per sign, or random. */
type NeuronPlan =
  | { readonly kind: 'planted'; positive: number; negative: number; gate: number; up: number }
  | { readonly kind: 'random' };

/**
 * Which neuron reads what. In each layer RANDOM_SHARE of the neurons (chosen by the seed) stay random; the
 * others get a (positive, negative) pair of distinct classes. Pairs are dealt in rounds of one neuron per class,
 * so every class is planted about equally often on each sign, then shuffled over the planted slots.
 */
function neuronPlan(config: LlamaConfig, random: Sfc32): { plan: NeuronPlan[][]; features: PlantedFeatureSign[] } {
  const classes = PLANTED_CLASSES.length;
  const perLayer = config.intermediateSize;
  const randomCount = Math.max(1, Math.round(perLayer * RANDOM_SHARE));
  const plan: NeuronPlan[][] = [];
  const features: PlantedFeatureSign[] = [];
  let dealt = 0;
  for (let layer = 0; layer < config.numLayers; layer++) {
    const order = shuffle(
      Array.from({ length: perLayer }, (_, i) => i),
      random,
    );
    const randomSet = new Set(order.slice(0, randomCount));
    const pairs: [number, number][] = [];
    for (let k = 0; k < perLayer - randomCount; k++, dealt++) {
      const round = Math.floor(dealt / classes);
      const shift = 1 + ((round * 7) % (classes - 1));
      const positive = dealt % classes;
      pairs.push([positive, (positive + shift) % classes]);
    }
    shuffle(pairs, random);
    const layerPlan: NeuronPlan[] = [];
    for (let index = 0; index < perLayer; index++) {
      const feature = `mlp/${layer}/${index}`;
      if (randomSet.has(index)) {
        layerPlan.push({ kind: 'random' });
        features.push({ feature, sign: 'positive', class: null }, { feature, sign: 'negative', class: null });
        continue;
      }
      const [positive, negative] = pairs.pop()!;
      layerPlan.push({
        kind: 'planted',
        positive,
        negative,
        gate: 0.8 + 0.4 * random.nextFloat(),
        up: 0.5 + 0.3 * random.nextFloat(),
      });
      features.push(
        { feature, sign: 'positive', class: PLANTED_CLASSES[positive]!.id },
        { feature, sign: 'negative', class: PLANTED_CLASSES[negative]!.id },
      );
    }
    plan.push(layerPlan);
  }
  return { plan, features };
}

/**
 * A planted neuron j with classes P (positive) and N (negative) at dimensions p and n: gate_j = g (e_p + e_n),
 * up_j = u (e_p - e_n), plus small noise read from the noise dimensions. On a member of P the activation
 * silu(g x_p) * u x_p is +6 to +15; on a member of N it is the same with the sign flipped; elsewhere gate and up
 * are near 0, so the activation is too. Random neurons read every dimension with standard weights. down_proj
 * writes small weights into the noise dimensions only, so a later layer sees the planted dimensions intact.
 */
function fillMlp(
  config: LlamaConfig,
  layout: Layout,
  plan: readonly NeuronPlan[],
  random: Sfc32,
  w: { gate: Float32Array; up: Float32Array; down: Float32Array },
): void {
  const { hiddenSize: hidden, intermediateSize: inter } = config;
  const dimensionOf = (c: number) =>
    c < TOKEN_CLASSES.length ? layout.tokenClass[c]! : layout.contextClass[c - TOKEN_CLASSES.length]!;
  plan.forEach((neuron, j) => {
    const gate = w.gate.subarray(j * hidden, (j + 1) * hidden);
    const up = w.up.subarray(j * hidden, (j + 1) * hidden);
    if (neuron.kind === 'random') {
      gate.set(random.normals(hidden, 1 / Math.sqrt(hidden)));
      up.set(random.normals(hidden, 1 / Math.sqrt(hidden)));
      return;
    }
    for (const d of layout.noise) {
      gate[d] = NOISE_READ * random.nextNormal();
      up[d] = NOISE_READ * random.nextNormal();
    }
    const p = dimensionOf(neuron.positive);
    const n = dimensionOf(neuron.negative);
    gate[p] = neuron.gate;
    gate[n] = neuron.gate;
    up[p] = neuron.up;
    up[n] = -neuron.up;
  });
  // down_proj is [hidden, intermediate].
  for (const d of layout.noise) {
    for (let j = 0; j < inter; j++) w.down[d * inter + j] = NOISE_WRITE * random.nextNormal();
  }
}

function shuffle<T>(items: T[], random: Sfc32): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random.nextFloat() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
