import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDescription, type ParsedDescription } from './parse-description.js';

const ok = (description: string): ParsedDescription => ({ ok: true, description });

describe('parseDescription', () => {
  const cases: [string, string, ParsedDescription | 'empty' | 'malformed' | 'refusal'][] = [
    ['a plain answer', '[DESCRIPTION]: the word "cat"', ok('the word "cat"')],
    [
      'reasoning first, spaces trimmed',
      'The marks fall on numbers.\n[DESCRIPTION]:   years in dates  \n',
      ok('years in dates'),
    ],
    [
      'the last of several markers wins',
      'Format: [DESCRIPTION]: <text>\n[DESCRIPTION]: first try\n[DESCRIPTION]: final answer',
      ok('final answer'),
    ],
    ['two markers on one line', '[DESCRIPTION]: a [DESCRIPTION]: b', ok('b')],
    [
      'only the marker line is taken',
      '[DESCRIPTION]: closing brackets\nmore text the model added',
      ok('closing brackets'),
    ],
    [
      'the next line when the marker line is blank',
      'thinking\n[DESCRIPTION]:\n\n  "the" after numbers \n',
      ok('"the" after numbers'),
    ],
    ['case and spacing of the marker are tolerated', '[Description] : code comments', ok('code comments')],
    ['text is kept verbatim', '[DESCRIPTION]: «Python» {{def}} keywords: ok?', ok('«Python» {{def}} keywords: ok?')],
    ['CRLF line ends', 'x\r\n[DESCRIPTION]: dates\r\nmore', ok('dates')],
    ['a blank answer', '  \n ', 'empty'],
    ['nothing after the marker', 'thinking...\n[DESCRIPTION]:   \n \n', 'empty'],
    ['no marker', 'The feature fires on dates.', 'malformed'],
    ['a marker without colon', '[DESCRIPTION] dates', 'malformed'],
    ['a refusal: I cannot', 'I cannot help with describing this.', 'refusal'],
    ["a refusal: I'm sorry", "I’m sorry, but I can't do that.", 'refusal'],
    ['a refusal: As an AI', 'As an AI language model, I do not analyse neurons.', 'refusal'],
    ['a refusal: I am unable', 'I am unable to determine a pattern.', 'refusal'],
    ['a marker beats refusal wording', "I'm sorry, it is hard. [DESCRIPTION]: numbers", ok('numbers')],
  ];
  for (const [name, answer, expected] of cases) {
    it(name, () => {
      const parsed = parseDescription(answer);
      if (typeof expected === 'string') {
        assert.equal(parsed.ok, false);
        if (!parsed.ok) {
          assert.equal(parsed.reason, expected);
          assert.ok(parsed.detail.length > 0 && !parsed.detail.includes('\n'), parsed.detail);
        }
      } else {
        assert.deepEqual(parsed, expected);
      }
    });
  }
});
