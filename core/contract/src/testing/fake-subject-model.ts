import { ExpgenError } from '../errors.js';
import type { Provenance } from '../provenance.js';
import type {
  ForwardRequest,
  ForwardResult,
  GenerationRequest,
  GenerationResult,
  HookPoint,
  SubjectModel,
} from '../subject-model.js';
import { reduceOnHost } from '../host-reductions.js';
import { fakeTokenizer } from './fake-tokenizer.js';
import { runGraphFragment } from './graph-interpreter.js';

export interface FakeSubjectOptions {
  layers?: number;
  mlpWidth?: number;
  residWidth?: number;
  provenance?: Provenance;
  /**
   * Run activation sources' graph fragments (with the testing kit's host interpreter) as a subject that runs
   * graphs does; default false, so callers exercise the host `encode` path.
   */
  runsGraphFragments?: boolean;
}

/**
 * A deterministic stand-in for a language model: the value of feature f at `mlp/L` for a token is a fixed
 * function of (L, f, the token, the previous token), so tests know exactly what every hook holds. Reductions
 * are the host reference (`reduceOnHost`); logits favour the byte after the last one. Graph fragments run on the
 * testing kit's interpreter when `runsGraphFragments` is set.
 */
export function fakeSubjectModel(
  options: FakeSubjectOptions = {},
): SubjectModel & { activation(hook: string, feature: number, token: number, previous: number): number } {
  const layers = options.layers ?? 2;
  const mlpWidth = options.mlpWidth ?? 8;
  const residWidth = options.residWidth ?? 4;
  const runsGraphFragments = options.runsGraphFragments ?? false;
  const tokenizer = fakeTokenizer();
  const provenance: Provenance = options.provenance ?? {
    kind: 'subject-model',
    component: 'fake',
    plugin: '@expgen/core/testing',
    pluginVersion: '0',
  };
  const hooks: HookPoint[] = [];
  for (let l = 0; l < layers; l++)
    hooks.push({ name: `mlp/${l}`, width: mlpWidth }, { name: `resid/${l}`, width: residWidth });
  const widthOf = new Map(hooks.map((h) => [h.name, h.width]));
  const activation = (hook: string, feature: number, token: number, previous: number) => {
    const layer = Number(hook.split('/')[1]);
    const seed =
      (hook.startsWith('mlp') ? 1 : 2) * 7919 +
      layer * 104729 +
      feature * 1299709 +
      token * 15485863 +
      previous * 32452843;
    return Math.sin(seed % 100003) * (1 + (feature % 3));
  };
  const logitsFor = (last: number) =>
    Float32Array.from({ length: tokenizer.vocabSize }, (_, id) =>
      id === (last + 1) % tokenizer.vocabSize ? 5 : Math.cos(id * 0.37 + last),
    );
  let disposed = false;

  const forward = async (request: ForwardRequest): Promise<ForwardResult> => {
    if (disposed) throw new ExpgenError('the fake subject model was disposed');
    const { batch, seqLen, tokens } = request;
    const lengths = request.lengths ?? new Int32Array(batch).fill(seqLen);
    const results = request.hooks.map((h) => {
      const width = widthOf.get(h.hook);
      if (width === undefined) throw new ExpgenError(`hook "${h.hook}" does not exist in the fake subject`);
      if (h.fragment && !runsGraphFragments)
        throw new ExpgenError(
          'this fake subject does not run graph fragments (fakeSubjectModel({ runsGraphFragments: true }) does)',
        );
      const values = new Float32Array(batch * seqLen * width);
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < seqLen; t++) {
          const token = tokens[b * seqLen + t]!;
          const previous = t > 0 ? tokens[b * seqLen + t - 1]! : -1;
          for (let f = 0; f < width; f++) values[(b * seqLen + t) * width + f] = activation(h.hook, f, token, previous);
        }
      }
      const full = h.fragment ? runGraphFragment(h.fragment, values, batch * seqLen) : values;
      const features = h.fragment ? h.fragment.outputWidth : width;
      return reduceOnHost(full, { batch, seqLen, width: features, lengths, countFrom: request.countFrom }, h);
    });
    const ids = request.logitIds;
    if (ids !== undefined) {
      if ((request.logits ?? 'none') === 'none') throw new ExpgenError('logitIds needs logits "last" or "all"');
      if (ids.length === 0) throw new ExpgenError('logitIds is empty');
      for (const id of ids)
        if (!Number.isSafeInteger(id) || id < 0 || id >= tokenizer.vocabSize)
          throw new ExpgenError(`logitIds holds ${id}, outside the vocabulary`);
    }
    // One position's logits, gathered to `logitIds` on the host when asked.
    const select = (all: Float32Array) => (ids === undefined ? all : Float32Array.from(ids, (id) => all[id]!));
    const width = ids?.length ?? tokenizer.vocabSize;
    let logits: Float32Array | undefined;
    if (request.logits === 'last') {
      logits = new Float32Array(batch * width);
      for (let b = 0; b < batch; b++) logits.set(select(logitsFor(tokens[b * seqLen + lengths[b]! - 1]!)), b * width);
    } else if (request.logits === 'all') {
      logits = new Float32Array(batch * seqLen * width);
      for (let i = 0; i < batch * seqLen; i++) logits.set(select(logitsFor(tokens[i]!)), i * width);
    }
    return { hooks: results, ...(logits ? { logits } : {}) };
  };

  const generate = async (request: GenerationRequest): Promise<GenerationResult> => {
    const stops = new Set(request.stopTokens ?? tokenizer.eosIds);
    // Sampling is a fixed hash of (seed, step, previous token): deterministic per seed, different across seeds.
    const sampled = (step: number, last: number) =>
      (Math.imul((request.seed ?? 0) + 1, 2654435761) ^ Math.imul(step + 1, 40503) ^ Math.imul(last, 9973)) >>> 0;
    const sequences = request.prompts.map((prompt) => {
      const out: number[] = [];
      let last = prompt.at(-1) ?? 0;
      for (let i = 0; i < request.maxNewTokens; i++) {
        const logits = logitsFor(last);
        let next = 0;
        if (!request.temperature) {
          for (let id = 1; id < logits.length; id++) if (logits[id]! > logits[next]!) next = id;
        } else {
          next = sampled(i, last) % logits.length;
        }
        out.push(next);
        if (stops.has(next)) return { tokens: out, finishReason: 'stop' as const };
        last = next;
      }
      return { tokens: out, finishReason: 'length' as const };
    });
    return { sequences, generatedBy: provenance };
  };

  return {
    provenance,
    info: {
      architecture: 'fake',
      layers,
      hiddenSize: residWidth,
      intermediateSize: mlpWidth,
      vocabSize: tokenizer.vocabSize,
      executionProvider: 'host',
      dtype: 'fp32',
      hashes: {},
    },
    tokenizer,
    runsGraphFragments,
    hookPoints: () => hooks,
    forward,
    generate,
    activation,
    dispose: () => {
      disposed = true;
    },
  };
}
