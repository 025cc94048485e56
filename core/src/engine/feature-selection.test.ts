import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { fakeActivationSource, fakeSubjectModel } from '@expgen/contract/testing';
import { checkSelectionHeld, selectedIndices, selectFeatures } from './feature-selection.js';

const source = fakeActivationSource(fakeSubjectModel({ layers: 3, mlpWidth: 8 }));

describe('selectFeatures', () => {
  it('null selects every layer whole', () => {
    assert.deepEqual(
      [...selectFeatures(null, source)],
      [
        [0, 'all'],
        [1, 'all'],
        [2, 'all'],
      ],
    );
  });
  it('keys, layers and files combine, sorted and deduplicated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-features-'));
    writeFileSync(join(dir, 'list.txt'), '# neurons to look at\nmlp/2/7\nmlp/2/1 # again\n\nmlp/0/3,mlp/0/3\n');
    const selection = selectFeatures('mlp/2/5, mlp/1/*, @list.txt, mlp/1/4', source, dir);
    assert.deepEqual(
      [...selection],
      [
        [0, [3]],
        [1, 'all'],
        [2, [1, 5, 7]],
      ],
    );
    assert.deepEqual(selectedIndices(selection, 1, 4), [0, 1, 2, 3]);
    assert.deepEqual(selectedIndices(selection, 2, 8), [1, 5, 7]);
    assert.deepEqual(selectedIndices(selection, 5, 8), []);
  });
  for (const [spec, message] of [
    ['sae:x/0/1', /space "sae:x".*"mlp"/],
    ['mlp/9/1', /layer 9 is not read/],
    ['mlp/0/8', /does not exist: layer 0 has 8 features/],
    ['mlp/0', /not valid/],
    ['@/nonexistent/file', /cannot read/],
    [' , ', /selects no features/],
  ] as const) {
    it(`rejects "${spec}" with a clear message`, () => {
      assert.throws(
        () => selectFeatures(spec, source),
        (e: unknown) => isExpgenError(e) && message.test((e as Error).message),
      );
    });
  }
});

describe('checkSelectionHeld', () => {
  const held = [{ space: 'mlp', layer: 1 }];
  it('passes when a selected layer is held', () => {
    checkSelectionHeld(selectFeatures('mlp/1/*,mlp/2/3', source), held, '/runs/a');
  });
  it('refuses a selection of layers the exemplars do not hold, saying which are held and what to do', () => {
    assert.throws(
      () => checkSelectionHeld(selectFeatures('mlp/0/*,mlp/2/*', source), held, '/runs/a'),
      (error: Error) =>
        isExpgenError(error) &&
        error.message ===
          'the exemplars in /runs/a hold layer(s) 1, and the features selected are in layer(s) 0, 2 (activation.options.layers, features or --features): select features of the layers the exemplars hold, or run "expgen exemplars" for layer(s) 0, 2',
    );
  });
});
