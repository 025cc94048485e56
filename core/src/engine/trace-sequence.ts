import { ExpgenError, type SubjectModel } from '@expgen/contract';

/** What `expgen model trace --json` prints; the shape is a stable interface. */
export interface Trace {
  readonly tokens: number[];
  /** Hook name -> per-token values ([tokens][width]). */
  readonly hooks: Record<string, number[][]>;
  /** The ten highest logits at the last position, as [token id, logit], highest first. */
  readonly top: [number, number][];
}

/** Runs one sequence through the subject and returns every requested hook's per-token values. */
export async function traceSequence(
  subject: SubjectModel,
  tokens: readonly number[],
  hooks?: readonly string[],
): Promise<Trace> {
  if (tokens.length === 0) throw new ExpgenError('nothing to trace: the text encodes to no tokens');
  const available = subject.hookPoints();
  const names = hooks?.length ? [...hooks] : available.map((h) => h.name);
  for (const name of names) {
    if (!available.some((h) => h.name === name)) {
      throw new ExpgenError(
        `hook "${name}" does not exist in this model: choose from ${summarizeHooks(available.map((h) => h.name))}`,
      );
    }
  }
  const vocab = subject.info.vocabSize;
  for (const id of tokens) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new ExpgenError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
  }
  const result = await subject.forward({
    tokens: Int32Array.from(tokens),
    batch: 1,
    seqLen: tokens.length,
    hooks: names.map((hook) => ({ hook, reduce: 'full' as const })),
    logits: 'last',
  });
  const out: Record<string, number[][]> = {};
  for (const hook of result.hooks) {
    const full = hook.full!;
    out[hook.hook] = Array.from({ length: tokens.length }, (_, t) =>
      Array.from(full.subarray(t * hook.width, (t + 1) * hook.width)),
    );
  }
  const logits = result.logits!;
  const top = Array.from(logits.keys())
    .sort((a, b) => logits[b]! - logits[a]! || a - b)
    .slice(0, 10)
    .map((id) => [id, logits[id]!] as [number, number]);
  return { tokens: [...tokens], hooks: out, top };
}

function summarizeHooks(names: string[]): string {
  return names.length > 8 ? `${names.slice(0, 4).join(', ')}, ..., ${names.slice(-2).join(', ')}` : names.join(', ');
}
