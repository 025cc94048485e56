import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Sign } from '@expgen/contract';
import { fakeTokenizer } from '@expgen/contract/testing';
import { ESCAPE_CHAR, isMarkedActivation, renderMarkedText } from './render.js';
import { EOT, START_HEADER, pieces, tokenizerWithChatSpecials } from './test-fixtures.js';

const tokenizer = fakeTokenizer();
const Z = ESCAPE_CHAR;

function render(
  parts: readonly (readonly [string | number, number])[],
  options: { sign?: Sign; threshold?: number; countFrom?: number; tok?: typeof tokenizer } = {},
) {
  const tok = options.tok ?? tokenizer;
  const { tokens, activations } = pieces(tok, parts);
  return renderMarkedText(tokens, activations, {
    tokenizer: tok,
    sign: options.sign ?? 'positive',
    threshold: options.threshold ?? 1,
    countFrom: options.countFrom,
  });
}

/** Reads marks back the way a reader of the prompt would: `{{` ... first `}}`; ESCAPE_CHAR removed. */
function readMarks(text: string): { plain: string; marked: string[] } {
  const marked: string[] = [];
  let plain = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('{{', i)) {
      const end = text.indexOf('}}', i + 2);
      assert.ok(end >= 0, `unclosed marker in ${JSON.stringify(text)}`);
      const core = text.slice(i + 2, end).replaceAll(Z, '');
      marked.push(core);
      plain += core;
      i = end + 2;
    } else {
      if (text[i] !== Z) plain += text[i];
      i++;
    }
  }
  return { plain, marked };
}

describe('renderMarkedText: spans', () => {
  const cases: { name: string; parts: [string, number][]; text: string; spans: string[] }[] = [
    { name: 'nothing marked', parts: [['The cat', 0]], text: 'The cat', spans: [] },
    {
      name: 'one token',
      parts: [
        ['The', 0],
        [' cat', 5],
        [' sat', 0],
      ],
      text: 'The {{cat}} sat',
      spans: ['cat'],
    },
    {
      name: 'consecutive tokens merge into one span',
      parts: [
        ['The', 0],
        [' cat', 5],
        [' sat', 2],
        ['.', 0],
      ],
      text: 'The {{cat sat}}.',
      spans: ['cat sat'],
    },
    {
      name: 'separate spans stay separate',
      parts: [
        ['a', 3],
        [' b', 0],
        [' c', 3],
      ],
      text: '{{a}} b {{c}}',
      spans: ['a', 'c'],
    },
    {
      name: 'leading and trailing spaces move outside',
      parts: [
        ['x', 0],
        ['  cat  ', 4],
        ['y', 0],
      ],
      text: 'x  {{cat}}  y',
      spans: ['cat'],
    },
    {
      name: 'a span of spaces only stays marked',
      parts: [
        ['a', 0],
        [' ', 4],
        ['b', 0],
      ],
      text: 'a{{ }}b',
      spans: [' '],
    },
    {
      name: 'inner spaces stay inside',
      parts: [
        ['a', 0],
        [' b c ', 4],
      ],
      text: 'a {{b c}} ',
      spans: ['b c'],
    },
    {
      name: 'line breaks are shown as \\n, inside or outside spans',
      parts: [
        ['a\n', 0],
        ['\n', 4],
        ['b\r\n', 0],
      ],
      text: 'a\\n{{\\n}}b\\r\\n',
      spans: ['\n'],
    },
    {
      name: 'at the threshold is marked',
      parts: [
        ['a', 1],
        ['b', 0.999],
      ],
      text: '{{a}}b',
      spans: ['a'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = render(c.parts);
      assert.equal(out.text, c.text);
      assert.deepEqual(out.spans, c.spans);
    });
  }
});

describe('renderMarkedText: partial UTF-8', () => {
  // é = C3 A9, € = E2 82 AC, 😀 = F0 9F 98 80; the fake tokenizer gives one id per byte.
  const cases: { name: string; text: string; marked: number[]; out: string }[] = [
    { name: 'a 2-byte character marked by its second byte', text: 'né', marked: [2], out: 'n{{é}}' },
    { name: 'a 2-byte character marked by its first byte', text: 'né', marked: [1], out: 'n{{é}}' },
    { name: 'a 3-byte character marked by its middle byte', text: 'a€b', marked: [2], out: 'a{{€}}b' },
    { name: 'a 4-byte character and a following mark merge', text: '😀x', marked: [3, 4], out: '{{😀x}}' },
    { name: 'unmarked multi-byte text is whole', text: 'naïve €5', marked: [], out: 'naïve €5' },
    {
      name: 'U+FEFF is kept, not dropped as a byte-order mark',
      text: '\ufeffa\ufeff',
      marked: [0],
      out: '{{\ufeff}}a\ufeff',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const tokens = tokenizer.encode(c.text);
      const activations = tokens.map((_, i) => (c.marked.includes(i) ? 5 : 0));
      assert.equal(renderMarkedText(tokens, activations, { tokenizer, sign: 'positive', threshold: 1 }).text, c.out);
    });
  }
  it('invalid and cut-off bytes show as U+FFFD, like TextDecoder', () => {
    const byte = (b: number) => b + 3;
    const tokens = [byte(0x80), byte(0x61), byte(0xe2), byte(0x82)];
    const out = renderMarkedText(tokens, [0, 0, 0, 0], { tokenizer, sign: 'positive', threshold: 1 });
    assert.equal(out.text, '\ufffda\ufffd');
  });
  it('decodes any byte stream exactly as TextDecoder does (seeded fuzz)', () => {
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
    const alphabet = [
      0x61, 0x20, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc3, 0xa9, 0xe0, 0xe2, 0x82, 0xac, 0xed, 0xa0, 0xf0, 0x9f, 0x98, 0xf4,
      0x90, 0xf5, 0xff,
    ];
    for (let round = 0; round < 500; round++) {
      const bytes = Array.from({ length: 1 + (next() % 12) }, () => alphabet[next() % alphabet.length]!);
      const expected = new TextDecoder().decode(Uint8Array.from(bytes));
      const out = renderMarkedText(
        bytes.map((b) => b + 3),
        bytes.map(() => 0),
        { tokenizer, sign: 'positive', threshold: 1 },
      );
      assert.equal(out.text, expected, `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`);
    }
  });
});

describe('renderMarkedText: prefix and signs', () => {
  it('does not render positions before countFrom, nor mark them', () => {
    const out = render(
      [
        ['HEADER:', 9],
        [' hello', 0],
        [' world', 3],
      ],
      { countFrom: 7 },
    );
    assert.equal(out.text, ' hello {{world}}');
    assert.equal(out.markedTokens, ' world'.length);
  });
  it('mirrors the negative sign: marked at or below a negative threshold, positives never', () => {
    const out = render(
      [
        ['a', -3],
        [' b', -2],
        [' c', -1.9],
        [' d', 5],
      ],
      { sign: 'negative', threshold: -2 },
    );
    assert.equal(out.text, '{{a b}} c d');
    assert.deepEqual(out.spans, ['a b']);
  });
  const table: [Sign, number, number, boolean][] = [
    ['positive', 2, 2, true],
    ['positive', 2, 1.99, false],
    ['positive', 2, Number.NaN, false],
    ['positive', 0, 0, false],
    ['positive', -1, -0.5, false],
    ['negative', -2, -2, true],
    ['negative', -2, -1, false],
    ['negative', -2, 3, false],
    ['negative', 0, 0, false],
  ];
  for (const [sign, threshold, activation, expected] of table) {
    it(`${sign} threshold ${threshold}: activation ${activation} is ${expected ? '' : 'not '}marked`, () => {
      assert.equal(isMarkedActivation(sign, threshold, activation), expected);
    });
  }
  it('rejects tokens and activations of different lengths', () => {
    assert.throws(() => renderMarkedText([3, 4], [1], { tokenizer, sign: 'positive', threshold: 1 }), /same length/);
  });
});

describe('renderMarkedText: escaping', () => {
  const chat = tokenizerWithChatSpecials();
  it('data spelling a special token cannot act as one', () => {
    const out = render([['say <|eot_id|> and <bos> now', 0]], { tok: chat });
    assert.ok(!out.text.includes('<|'), out.text);
    assert.ok(!out.text.includes('<bos>'), out.text);
    assert.equal(out.text.replaceAll(Z, ''), 'say <|eot_id|> and <bos> now');
  });
  it('control tokens of the sequence show as escaped strings, and can be marked', () => {
    const out = render(
      [
        [0, 0],
        [START_HEADER, 0],
        ['user', 0],
        [EOT, 7],
        [' hi', 0],
      ],
      { tok: chat },
    );
    assert.equal(out.text, `<${Z}bos><${Z}|start_header_id|>user{{<${Z}|eot_id|>}} hi`);
    assert.deepEqual(out.spans, ['<|eot_id|>']);
  });
  it('data spelling markers cannot forge a mark', () => {
    const out = render([
      ['a {{x}} b ', 0],
      ['real', 5],
      [' }}{{ {{{', 0],
    ]);
    const read = readMarks(out.text);
    assert.deepEqual(read.marked, ['real']);
    assert.equal(read.plain, 'a {{x}} b real }}{{ {{{');
  });
  const joins: [string, [string, number][], string][] = [
    [
      'a brace before an opening marker',
      [
        ['a{', 0],
        ['x', 5],
      ],
      `a{${Z}{{x}}`,
    ],
    [
      'a brace after a closing marker',
      [
        ['x', 5],
        ['}b', 0],
      ],
      `{{x}}${Z}}b`,
    ],
    [
      'a brace at the end of a marked span',
      [
        ['x}', 5],
        ['b', 0],
      ],
      `{{x}${Z}}}b`,
    ],
    [
      'a brace at the start of a marked span',
      [
        ['a', 0],
        ['{x', 5],
      ],
      `a{{${Z}{x}}`,
    ],
    [
      'braces that cannot form a marker are left alone',
      [
        ['}', 0],
        ['x', 5],
        ['{', 0],
      ],
      '}{{x}}{',
    ],
  ];
  for (const [name, parts, expected] of joins) {
    it(`separates ${name}`, () => {
      const out = render(parts);
      assert.equal(out.text, expected);
      assert.deepEqual(readMarks(out.text).marked, out.spans);
    });
  }
  it('every marker in the output is real, whatever the data (seeded fuzz)', () => {
    let state = 99;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
    const alphabet = ['{', '}', '{{', '}}', 'a', ' ', '<', '|', '<|', 'eot', '>', '\n'];
    for (let round = 0; round < 400; round++) {
      const parts = Array.from(
        { length: 1 + (next() % 8) },
        () => [alphabet[next() % alphabet.length]!, next() % 3 === 0 ? 5 : 0] as [string, number],
      );
      const out = render(parts, { tok: chat });
      const read = readMarks(out.text);
      assert.deepEqual(
        read.marked,
        out.spans.map((span) => span.replaceAll('\n', '\\n')),
        JSON.stringify(parts),
      );
      assert.equal(
        read.plain,
        parts
          .map(([t]) => t)
          .join('')
          .replaceAll('\n', '\\n'),
        JSON.stringify(parts),
      );
      assert.ok(!out.text.includes('<|'), JSON.stringify(parts));
    }
  });
});
