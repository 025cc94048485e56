// The contract every plugin honours, on the tiny SAE the plugin generates when `path` is null: with the suite's fake
// subject (host encode only), and with the real tiny Llama subject whose hooks the generated SAE is sized for.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { contractSuite } from '@expgen/contract/testing';
import plugin from './index.js';
import { openTinyLlamaSubject } from './llama-subject.test-util.js';

const cacheDir = await mkdtemp(join(tmpdir(), 'expgen-sae-contract-'));
after(() => rm(cacheDir, { recursive: true, force: true }));

contractSuite(plugin, {
  options: { 'activation-source/sae': { tiny: { seed: 1, dSae: 16, architecture: 'topk', k: 2 } } },
});
contractSuite(plugin, { subject: () => openTinyLlamaSubject(cacheDir) });
