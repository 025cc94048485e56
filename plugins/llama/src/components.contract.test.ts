// The explainer and simulator components against the contract every plugin honours, on tiny seeded models, with a
// tiny Llama subject: the fine-tuned simulator refuses the suite's default fake subject, whose tokenizer is not
// Llama 3's. The subject component's own run is in test/plugins-contract.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { memoryLogger, contractSuite } from '@expgen/contract/testing';
import llama from './index.js';
import { openLlamaSubjectModel } from './llama-subject-model.js';
import { resolveModelFolder } from './model-folder.js';

const TINY = { seed: 5, layers: 1, hiddenSize: 16, intermediateSize: 32, numHeads: 2, numKvHeads: 1 };
const cacheDir = await mkdtemp(join(tmpdir(), 'expgen-llama-contract-'));
after(() => rm(cacheDir, { recursive: true, force: true }));

contractSuite(llama, {
  options: {
    'describer/distilled-llama': { tiny: TINY, maxTokens: 6, maxRetries: 1 },
    'simulator/finetuned': { tiny: TINY },
  },
  subject: async () => {
    const dir = await resolveModelFolder(
      { model: null, tiny: TINY },
      { baseDir: process.cwd(), cacheDir, logger: memoryLogger() },
    );
    return openLlamaSubjectModel(dir, {
      provider: 'cpu',
      provenance: {
        kind: 'subject-model',
        component: 'llama',
        plugin: llama.meta.name,
        pluginVersion: llama.meta.version,
      },
    });
  },
  skip: { 'subject-model/llama': 'run with its default options in test/plugins-contract.test.ts' },
});
