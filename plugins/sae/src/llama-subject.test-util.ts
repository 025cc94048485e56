// Tests only: the real Llama subject (the tiny seeded model, built to ONNX) through the llama plugin's public
// declaration, as the composition root creates it. The sae plugin itself never imports the llama plugin.
import { memoryLogger } from '@expgen/contract/testing';
import type { ComponentContext, SubjectModel } from '@expgen/contract';
import llama from '@expgen/plugin-llama';

export const TINY_LLAMA = { seed: 4, layers: 2, hiddenSize: 32, intermediateSize: 64, numHeads: 2, numKvHeads: 1 };

export async function openTinyLlamaSubject(cacheDir: string): Promise<SubjectModel> {
  const declaration = llama.components.find((c) => c.kind === 'subject-model' && c.name === 'llama')!;
  const options = declaration.options.parse({ model: null, tiny: TINY_LLAMA, provider: 'cpu' }, ['subject', 'options']);
  const context: ComponentContext = {
    provenance: {
      kind: 'subject-model',
      component: 'llama',
      plugin: llama.meta.name,
      pluginVersion: llama.meta.version,
    },
    baseDir: process.cwd(),
    cacheDir,
    logger: memoryLogger(),
  };
  return (await declaration.create(options, context)) as SubjectModel;
}

/** A batch of real token ids with rows of different lengths (right-padded) and different first counted positions. */
export function sampleBatch(subject: SubjectModel): {
  tokens: Int32Array;
  batch: number;
  seqLen: number;
  lengths: Int32Array;
  countFrom: Int32Array;
} {
  const texts = ['The cat sat on the mat and looked at the dog.', 'Sparse autoencoders find features.', '1 2 3 4'];
  const rows = texts.map((text) => subject.tokenizer.encode(text, { addBos: true }));
  const seqLen = Math.max(...rows.map((r) => r.length));
  const tokens = new Int32Array(rows.length * seqLen);
  rows.forEach((row, b) => {
    tokens.set(row, b * seqLen);
  });
  return {
    tokens,
    batch: rows.length,
    seqLen,
    lengths: Int32Array.from(rows, (r) => r.length),
    countFrom: Int32Array.of(1, 3, 0),
  };
}
