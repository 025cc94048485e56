import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fakeTokenizer } from '@expgen/contract/testing';
import type { CompletionLogprobs } from './chat-client.js';
import { SLOT, expectedBin, logprobPrompt, parseActivationList, readSlots, tokenText } from './simulation-prompt.js';

describe('simulation prompt', () => {
  it('puts each token on its own line with its slot, and knows where every slot is', () => {
    const { prompt, slots } = logprobPrompt('the word\n"cat"', ['The', ' cat']);
    assert.equal(slots.length, 2);
    for (const at of slots) assert.equal(prompt.slice(at, at + SLOT.length), SLOT);
    assert.ok(
      prompt.includes(
        'Feature description: the word "cat"\nActivations:\n<start>\nThe\tunknown\n cat\tunknown\n<end>\n',
      ),
    );
  });

  it('escapes separators and control-token spellings in token texts', () => {
    const tok = fakeTokenizer();
    assert.equal(tokenText(tok, tok.encode('\t')[0]!), '\\t');
    assert.equal(tokenText(tok, tok.encode('\n')[0]!), '\\n');
    assert.equal(
      tok
        .encode('<|')
        .map((id) => tokenText(tok, id))
        .join(''),
      '<|',
      'one byte at a time is harmless',
    );
    assert.ok(!tokenText({ ...tok, decode: () => '<|eot_id|>' }, 5).includes('<|'));
  });

  it('the expected bin renormalises over the bins found (hand computation)', () => {
    // p(0) = 0.2, p(4) = 0.2, a non-bin token 0.6: E = (0 x 0.2 + 4 x 0.2) / 0.4 = 2
    assert.ok(Math.abs(expectedBin({ '0': Math.log(0.2), ' 4': Math.log(0.2), foo: Math.log(0.6) })! - 2) < 1e-12);
    // "10" is one bin; "\t3" (a token that merged the tab) reads as 3: E = (10 x 0.5 + 3 x 0.25 + 0 x 0.25) / 1
    assert.ok(
      Math.abs(expectedBin({ '10': Math.log(0.5), '\t3': Math.log(0.25), '0': Math.log(0.25) })! - 5.75) < 1e-12,
    );
    assert.equal(expectedBin({ foo: -0.1, '11': -1, '-1': -1 }), null);
    assert.equal(expectedBin(null), null);
  });

  it('reads each slot at the token covering it, by text_offset or by token lengths', () => {
    const prompt = 'a\tunknown\nb\tunknown\n';
    const tokens = ['a', '\t', 'unknown', '\n', 'b', '\t', 'unknown', '\n'];
    const top: CompletionLogprobs['top_logprobs'] = [
      null,
      {},
      { '7': 0 },
      {},
      {},
      {},
      { '2': Math.log(0.5), '4': Math.log(0.5) },
      {},
    ];
    const slots = [2, 12];
    assert.equal(prompt.indexOf('unknown'), 2);
    assert.deepEqual(readSlots({ tokens, top_logprobs: top }, slots), { values: [7, 3], missing: 0 });
    // A tokenizer that merged "\tunknown": the slot falls inside that token, whose distribution is read.
    const merged: CompletionLogprobs = {
      tokens: ['a', '\tunknown', '\n', 'b', '\tunknown', '\n'],
      top_logprobs: [null, { '\t5': 0 }, {}, {}, { foo: 0 }, {}],
      text_offset: [0, 1, 9, 10, 11, 19],
    };
    assert.deepEqual(readSlots(merged, slots), { values: [5, 0], missing: 1 });
    assert.throws(() => readSlots({ tokens: ['0'], top_logprobs: [{ '0': 0 }] }, slots), /no prompt logprobs/);
    assert.throws(() => readSlots(null, slots), /no prompt logprobs/);
  });

  it('generate mode takes the last JSON list, exactly as long as the sequence, values 0..10', () => {
    assert.deepEqual(parseActivationList('Sure: [1, 2]\nFinal: [0, 10, 3.5]', 3), { ok: true, values: [0, 10, 3.5] });
    assert.equal(parseActivationList('[0, 1]', 3).ok, false);
    assert.equal(parseActivationList('[0, 11, 1]', 3).ok, false);
    assert.equal(parseActivationList('no list', 3).ok, false);
    assert.equal(parseActivationList('[0, "a", 1]', 3).ok, false);
  });
});
