import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layerFromFolderName, subjectHookFor } from './hook-names.js';

describe('SAE hook names', () => {
  it('maps SAELens / TransformerLens, Hugging Face and expgen names to subject hooks', () => {
    assert.deepEqual(subjectHookFor('blocks.12.hook_resid_post'), { hook: 'resid/12', layer: 12 });
    assert.deepEqual(subjectHookFor('blocks.12.hook_resid_pre'), { hook: 'resid/11', layer: 12 });
    assert.deepEqual(subjectHookFor('blocks.3.mlp.hook_post'), { hook: 'mlp/3', layer: 3 });
    assert.deepEqual(subjectHookFor('model.layers.28'), { hook: 'resid/28', layer: 28 });
    assert.deepEqual(subjectHookFor('layers.8'), { hook: 'resid/8', layer: 8 });
    assert.deepEqual(subjectHookFor('resid/4'), { hook: 'resid/4', layer: 4 });
    assert.deepEqual(subjectHookFor('mlp/4'), { hook: 'mlp/4', layer: 4 });
  });

  it('says why hooks without a subject counterpart are not supported', () => {
    for (const name of [
      'blocks.12.hook_mlp_out',
      'blocks.12.hook_attn_out',
      'blocks.12.attn.hook_z',
      'blocks.12.hook_resid_mid',
      'blocks.0.hook_resid_pre',
    ]) {
      const mapped = subjectHookFor(name);
      assert.ok(mapped && 'unsupported' in mapped, name);
      assert.match(mapped.unsupported, /not a hook point of expgen subjects/);
    }
    assert.equal(subjectHookFor('something.else'), null);
  });

  it('finds the layer in folder names researchers use', () => {
    assert.equal(layerFromFolderName('layer-12'), 12);
    assert.equal(layerFromFolderName('layer_3'), 3);
    assert.equal(layerFromFolderName('layers.8'), 8);
    assert.equal(layerFromFolderName('blocks.20.hook_resid_post'), 20);
    assert.equal(layerFromFolderName('Llama3_1-8B-Base-L15R-8x'), 15);
    assert.equal(layerFromFolderName('L7R'), 7);
    assert.equal(layerFromFolderName('my-sae'), null);
  });
});
