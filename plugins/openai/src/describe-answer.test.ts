import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDescriptionAnswer } from './describe-answer.js';

describe('parseDescriptionAnswer', () => {
  it('takes the text after the LAST marker, to the end of that line, trimmed', () => {
    assert.deepEqual(
      parseDescriptionAnswer(
        'Thinking... [DESCRIPTION]: draft\nBetter:\n[DESCRIPTION]:   the word "cat"  \nextra line',
      ),
      { ok: true, description: 'the word "cat"' },
    );
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]: plural nouns'), { ok: true, description: 'plural nouns' });
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]: a\r\nb'), { ok: true, description: 'a' });
  });

  it('a description cut by the token limit is malformed, a complete one before the cut is kept', () => {
    assert.equal(
      (parseDescriptionAnswer('[DESCRIPTION]: the word ca', null, 'length') as { reason: string }).reason,
      'malformed',
    );
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]: the word cat\nand then', null, 'length'), {
      ok: true,
      description: 'the word cat',
    });
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]: the word cat', null, 'stop'), {
      ok: true,
      description: 'the word cat',
    });
  });

  it('blank answers and blank descriptions are empty', () => {
    assert.equal(parseDescriptionAnswer('').ok, false);
    assert.equal((parseDescriptionAnswer('  \n ') as { reason: string }).reason, 'empty');
    assert.equal((parseDescriptionAnswer(null) as { reason: string }).reason, 'empty');
    assert.equal((parseDescriptionAnswer('[DESCRIPTION]:   \n  ') as { reason: string }).reason, 'empty');
    // A model that breaks the line after the colon still gave a description (the shared parser's rule).
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]:   \nthe cat'), { ok: true, description: 'the cat' });
  });

  it('an answer without the marker is malformed, or a refusal when it opens like one', () => {
    assert.equal((parseDescriptionAnswer('The feature fires on cats.') as { reason: string }).reason, 'malformed');
    assert.equal(
      (parseDescriptionAnswer("I'm sorry, but I can't help with that.") as { reason: string }).reason,
      'refusal',
    );
    assert.equal(
      (parseDescriptionAnswer('As an AI language model, I cannot...') as { reason: string }).reason,
      'refusal',
    );
    assert.equal(
      (parseDescriptionAnswer('ok', 'I refuse') as { reason: string }).reason,
      'refusal',
      'a structured refusal wins',
    );
  });

  it('a description that opens like a refusal is a refusal, but one that quotes apologies is a description', () => {
    assert.equal(
      (parseDescriptionAnswer('[DESCRIPTION]: I cannot determine a pattern') as { reason: string }).reason,
      'refusal',
    );
    assert.deepEqual(parseDescriptionAnswer('[DESCRIPTION]: apologies such as "I\'m sorry"'), {
      ok: true,
      description: 'apologies such as "I\'m sorry"',
    });
  });
});
