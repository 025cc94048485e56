// Tiny models for tests and benchmarks: generated in the Hugging Face layout by the seeded generator and built by
// the same code path as a real checkpoint, so tests exercise the real loading code.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tokenizer } from '@expgen/contract';
import type { LlamaConfig } from '../hf/hf-config.js';
import { generateTinyLlama, type TinyLlamaOptions } from '../hf/tiny-model.js';
import { buildOnnxModel, type BuiltModelManifest } from './build-model.js';
import type { BuildDtype } from './llama-graph.js';

export interface TinyBuiltModel {
  readonly hfDir: string;
  readonly modelDir: string;
  readonly config: LlamaConfig;
  readonly manifest: BuiltModelManifest;
  remove(): Promise<void>;
}

/** Generates and builds a tiny model in a fresh temporary folder. */
export async function tinyBuiltModel(tiny: TinyLlamaOptions = {}, dtype: BuildDtype = 'fp32'): Promise<TinyBuiltModel> {
  const root = await mkdtemp(join(tmpdir(), 'expgen-llama-'));
  const hfDir = join(root, 'hf');
  const modelDir = join(root, 'onnx');
  const config = await generateTinyLlama(hfDir, { vocabSize: 256, ...tiny });
  const manifest = await buildOnnxModel(hfDir, modelDir, { dtype });
  return { hfDir, modelDir, config, manifest, remove: () => rm(root, { recursive: true, force: true }) };
}

/**
 * A tokenizer over `vocabSize` ids for models whose vocabulary is too small for a real tokenizer: text maps to
 * its UTF-8 bytes (modulo the vocabulary). Enough for tests that feed ids and need `eosIds`.
 */
export function idTokenizer(vocabSize: number, eosIds: readonly number[] = []): Tokenizer {
  const encode = (text: string): number[] => Array.from(new TextEncoder().encode(text), (b) => b % vocabSize);
  const render = (messages: readonly { role: string; content: string }[]): string =>
    messages.map((m) => `${m.role}: ${m.content}\n`).join('');
  return {
    vocabSize,
    bosId: null,
    eosIds,
    specialTokens: new Map(),
    fingerprint: `test-ids-${vocabSize}`,
    encode,
    encodeWithSpecialTokens: encode,
    encodeChat: (messages) => encode(render(messages)),
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids, (id) => id & 0xff)),
    tokenBytes: (id) => Uint8Array.of(id & 0xff),
    isSpecial: (id) => eosIds.includes(id),
    applyChatTemplate: render,
  };
}
