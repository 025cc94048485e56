import { ExpgenError } from '@expgen/contract';
import { int64Tensor, type Feed, type HostTensor, type HostTensorData } from './host-tensor.js';
import { gatherCacheRows } from './kv-rows.js';
import type { ModelSessions } from './model-sessions.js';

export interface PrefixForwardRequest {
  /** Prefixes, each run through the model once; its KV cache serves every row that starts with it. */
  readonly prefixes: readonly (readonly number[])[];
  /** A prefix (index into `prefixes`) followed by `tokens`; logits come back at the positions of `tokens` only. */
  readonly rows: readonly { readonly prefix: number; readonly tokens: readonly number[] }[];
  /** Vocabulary ids whose logits leave the graph, in this order (the gather runs in the graph). */
  readonly logitIds: readonly number[];
  /** Id written into padded positions; they are masked, so it never changes a logit. */
  readonly padId: number;
  /** Most rows (or prefixes) per pass. */
  readonly batchSize: number;
}

export interface PrefixForwardUsage {
  /** Prefix tokens through the model: each prefix once. */
  readonly prefixTokens: number;
  /** Row tokens through the model. */
  readonly rowTokens: number;
  /** Forward passes: the prefix passes and the row passes. */
  readonly passes: number;
}

export interface PrefixForwardResult {
  /** Per row, [tokens.length x logitIds.length] float32 logits. */
  readonly logits: readonly Float32Array[];
  readonly usage: PrefixForwardUsage;
}

/**
 * Logits at every token of many rows that share few prefixes, computing each prefix once: the prefixes go through
 * the model left-padded to one length (in passes of up to `batchSize`) and their KV cache comes back to the host;
 * each pass of rows is then fed, per row, a copy of its prefix's cache as the past, its tokens right-padded, a mask
 * that hides the padding of both, and positions that continue its prefix. That pass's graph reads the cache but
 * returns none of it, and only the `logitIds` logits leave it. The logits equal a forward pass over prefix + tokens,
 * up to float rounding (masked positions get exactly zero attention).
 */
export async function forwardWithPrefixes(
  sessions: ModelSessions,
  request: PrefixForwardRequest,
): Promise<PrefixForwardResult> {
  const { prefixes, rows, padId, batchSize } = request;
  const { model, client } = sessions;
  const vocab = model.config.vocabSize;
  const check = (id: number, where: string) => {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocab)
      throw new ExpgenError(`prefix forward: ${where} holds token id ${id}, outside the vocabulary (0..${vocab - 1})`);
  };
  prefixes.forEach((p, i) => {
    if (p.length === 0) throw new ExpgenError(`prefix forward: prefix ${i} is empty`);
    for (const id of p) check(id, `prefix ${i}`);
  });
  rows.forEach((row, r) => {
    if (!(row.prefix >= 0 && row.prefix < prefixes.length))
      throw new ExpgenError(`prefix forward: row ${r} names prefix ${row.prefix} of ${prefixes.length}`);
    if (row.tokens.length === 0) throw new ExpgenError(`prefix forward: row ${r} has no tokens`);
    for (const id of row.tokens) check(id, `row ${r}`);
  });
  check(padId, 'padId');
  const usage = { prefixTokens: 0, rowTokens: 0, passes: 0 };
  if (rows.length === 0) return { logits: [], usage };

  // Only prefixes some row reads are run.
  const used = [...new Set(rows.map((row) => row.prefix))].sort((a, b) => a - b);
  const slot = new Map(used.map((prefix, i) => [prefix, i]));
  const length = Math.max(...used.map((p) => prefixes[p]!.length));
  const padding = (p: number) => length - prefixes[p]!.length;
  const cache = await prefill(sessions, used, prefixes, length, padId, batchSize);
  usage.prefixTokens = used.reduce((n, p) => n + prefixes[p]!.length, 0);
  usage.passes += Math.ceil(used.length / batchSize);

  const ids = request.logitIds.length;
  const logits: Float32Array[] = [];
  const session = await sessions.acquire({ hooks: [], logits: 'all', logitIds: request.logitIds, kvCache: 'read' });
  try {
    for (let start = 0; start < rows.length; start += batchSize) {
      const batch = rows.slice(start, start + batchSize);
      const width = Math.max(...batch.map((row) => row.tokens.length));
      const tokens: number[] = [];
      const mask: number[] = [];
      const positions: number[] = [];
      for (const row of batch) {
        const fill = width - row.tokens.length;
        const own = prefixes[row.prefix]!.length;
        tokens.push(...row.tokens, ...new Array<number>(fill).fill(padId));
        mask.push(...new Array<number>(padding(row.prefix)).fill(0), ...new Array<number>(own).fill(1));
        mask.push(...row.tokens.map(() => 1), ...new Array<number>(fill).fill(0));
        positions.push(...row.tokens.map((_, t) => own + t), ...new Array<number>(fill).fill(0));
      }
      const feeds: Record<string, Feed> = {
        [model.base.inputIds]: int64Tensor(tokens, [batch.length, width]),
        [model.base.attentionMask]: int64Tensor(mask, [batch.length, length + width]),
        ...(model.positionIds ? { [model.positionIds]: int64Tensor(positions, [batch.length, width]) } : {}),
      };
      const source = batch.map((row) => slot.get(row.prefix)!);
      for (const pair of model.kvPairs) feeds[pair.past] = gatherCacheRows(cache.get(pair.past)!, source);
      const name = session.variant.logits!;
      const outputs = await client.run(session.variant.key, feeds, { fetch: [name] });
      usage.passes++;
      const data = outputs[name]!.data as Float32Array;
      if (data.length !== batch.length * width * ids)
        throw new ExpgenError(
          `prefix forward: the graph returned ${data.length} logits for ${batch.length} x ${width} positions x ${ids} ids`,
        );
      batch.forEach((row, r) => {
        logits.push(data.slice(r * width * ids, (r * width + row.tokens.length) * ids));
        usage.rowTokens += row.tokens.length;
      });
    }
  } finally {
    sessions.release(session);
  }
  return { logits, usage };
}

/** The KV cache of `used` prefixes, left-padded to `length`, one [prefixes, heads, length, headDim] tensor per input. */
async function prefill(
  sessions: ModelSessions,
  used: readonly number[],
  prefixes: readonly (readonly number[])[],
  length: number,
  padId: number,
  batchSize: number,
): Promise<Map<string, HostTensor>> {
  const { model, client } = sessions;
  const chunks = new Map<string, HostTensor[]>(model.kvPairs.map((pair) => [pair.past, []]));
  const session = await sessions.acquire({ hooks: [], logits: 'none', kvCache: true });
  try {
    for (let start = 0; start < used.length; start += batchSize) {
      const batch = used.slice(start, start + batchSize).map((p) => prefixes[p]!);
      const pad = (p: readonly number[]) => new Array<number>(length - p.length);
      const feeds: Record<string, Feed> = {
        [model.base.inputIds]: int64Tensor(
          batch.flatMap((p) => [...pad(p).fill(padId), ...p]),
          [batch.length, length],
        ),
        [model.base.attentionMask]: int64Tensor(
          batch.flatMap((p) => [...pad(p).fill(0), ...p.map(() => 1)]),
          [batch.length, length],
        ),
        ...(model.positionIds
          ? {
              [model.positionIds]: int64Tensor(
                batch.flatMap((p) => [...pad(p).fill(0), ...p.map((_, i) => i)]),
                [batch.length, length],
              ),
            }
          : {}),
        ...sessions.emptyCache(batch.length),
      };
      const outputs = await client.run(session.variant.key, feeds, { fetch: model.kvPairs.map((p) => p.present) });
      for (const pair of model.kvPairs) chunks.get(pair.past)!.push(outputs[pair.present]!);
    }
  } finally {
    sessions.release(session);
  }
  return new Map([...chunks].map(([name, parts]) => [name, stackRows(parts)]));
}

/** Tensors of equal trailing dims, concatenated along the first. */
function stackRows(parts: readonly HostTensor[]): HostTensor {
  if (parts.length === 1) return parts[0]!;
  const [first] = parts as [HostTensor];
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const data = new (first.data.constructor as new (length: number) => HostTensorData)(total);
  let at = 0;
  for (const part of parts) {
    data.set(part.data as never, at);
    at += part.data.length;
  }
  return { type: first.type, dims: [parts.reduce((n, p) => n + p.dims[0]!, 0), ...first.dims.slice(1)], data };
}
