import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeSubjectModel } from './fake-subject-model.js';

describe('fakeSubjectModel logitIds', () => {
  const subject = fakeSubjectModel();
  const vocab = subject.tokenizer.vocabSize;
  const tokens = Int32Array.of(5, 6, 7, 8, 9, 10);
  const ids = [200, 3, 17, 3];

  it("'all' with logitIds equals the full logits sliced to those ids, in their order", async () => {
    const full = (await subject.forward({ tokens, batch: 2, seqLen: 3, hooks: [], logits: 'all' })).logits!;
    const selected = (await subject.forward({ tokens, batch: 2, seqLen: 3, hooks: [], logits: 'all', logitIds: ids }))
      .logits!;
    assert.equal(selected.length, 2 * 3 * ids.length);
    for (let p = 0; p < 6; p++)
      ids.forEach((id, k) => {
        assert.equal(selected[p * ids.length + k], full[p * vocab + id]);
      });
  });

  it("'last' with logitIds equals the last logits sliced to those ids", async () => {
    const lengths = Int32Array.of(2, 3);
    const full = (await subject.forward({ tokens, batch: 2, seqLen: 3, lengths, hooks: [], logits: 'last' })).logits!;
    const selected = (
      await subject.forward({ tokens, batch: 2, seqLen: 3, lengths, hooks: [], logits: 'last', logitIds: ids })
    ).logits!;
    assert.equal(selected.length, 2 * ids.length);
    for (let b = 0; b < 2; b++)
      ids.forEach((id, k) => {
        assert.equal(selected[b * ids.length + k], full[b * vocab + id]);
      });
  });

  it('refuses ids outside the vocabulary and logitIds without logits', async () => {
    await assert.rejects(
      subject.forward({ tokens, batch: 2, seqLen: 3, hooks: [], logits: 'all', logitIds: [vocab] }),
      /outside the vocabulary/,
    );
    await assert.rejects(subject.forward({ tokens, batch: 2, seqLen: 3, hooks: [], logitIds: [1] }), /needs logits/);
  });
});
