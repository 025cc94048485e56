import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import {
  defaultPromptTemplatePath,
  formatExemplarList,
  loadPromptTemplate,
  parsePromptTemplate,
  renderPromptTemplate,
} from './template.js';

const values = {
  exemplars: '1. a {{b}}',
  sign: 'positive',
  direction: 'most positive',
  count: '1',
  feature: 'mlp/0/1',
};

describe('prompt templates', () => {
  it('parses sections in order, drops comments, keeps other headings and doubled braces as text', () => {
    const template = parsePromptTemplate(
      '<!-- a note\nover lines -->\n\n## system\nBe brief.\n\n## User\n# Task\n## Examples\nMarks look like {{this}}.\n{exemplars}\nSign: {sign} <!-- inline -->\n',
      'mem.md',
    );
    assert.deepEqual(template.sections, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: '# Task\n## Examples\nMarks look like {{this}}.\n{exemplars}\nSign: {sign}' },
    ]);
  });
  it('fills placeholders in one pass: values are never read as placeholders', () => {
    const template = parsePromptTemplate('## user\n{count} {direction} {feature}: {exemplars} ({sign})', 'mem.md');
    const messages = renderPromptTemplate(template, { ...values, exemplars: 'text with {sign} and {count}' });
    assert.deepEqual(messages, [
      { role: 'user', content: '1 most positive mlp/0/1: text with {sign} and {count} (positive)' },
    ]);
  });
  it('formats the exemplars as a numbered list', () => {
    assert.equal(formatExemplarList(['a', 'b {{c}}']), '1. a\n2. b {{c}}');
  });
  const errors: [string, string, RegExp][] = [
    ['no user section', '## system\n{exemplars}', /has no "## user" section/],
    ['text before the first section', 'Hello\n## user\n{exemplars}', /line 1 is text before the first section heading/],
    ['no sections at all', '{exemplars}', /line 1 is text before the first section heading/],
    [
      'an unknown placeholder, with its line',
      '## system\nhi\n\n## user\n{exemplars}\nsee {examples}',
      /unknown placeholder \{examples\} on line 6 .*known placeholders: \{exemplars\}/,
    ],
    ['no {exemplars}', '## user\nDescribe {sign}.', /never shows the exemplars/],
    ['an empty section', '## system\n\n## user\n{exemplars}', /"## system" section on line 1 is empty/],
    [
      'ending with an assistant section',
      '## user\n{exemplars}\n## assistant\nSure.',
      /must end with a "## user" section/,
    ],
    ['an unclosed comment', '## user\n{exemplars}\n<!-- oops', /comment "<!--" on line 3 is never closed/],
  ];
  for (const [name, text, message] of errors) {
    it(`rejects ${name} with one line naming the file`, () => {
      assert.throws(
        () => parsePromptTemplate(text, '/tmp/t.md'),
        (e: unknown) => {
          const m = (e as Error).message;
          return (
            isExpgenError(e) && m.startsWith('prompt template /tmp/t.md: ') && message.test(m) && !m.includes('\n')
          );
        },
      );
    });
  }
  it('loads a file relative to the config folder, and names a missing one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-prompt-'));
    writeFileSync(join(dir, 'mine.md'), '## user\nShow: {exemplars}\n');
    const template = await loadPromptTemplate('mine.md', { baseDir: dir });
    assert.equal(template.source, join(dir, 'mine.md'));
    await assert.rejects(loadPromptTemplate('absent.md', { baseDir: dir }), (e: unknown) => {
      const m = (e as Error).message;
      return (
        isExpgenError(e) &&
        m.includes(join(dir, 'absent.md')) &&
        m.includes('describe.promptTemplate') &&
        m.includes('ENOENT')
      );
    });
  });
  it('null loads the shipped template, which fills every part of the task', async () => {
    const template = await loadPromptTemplate(null);
    assert.equal(template.source, defaultPromptTemplatePath());
    assert.deepEqual(
      template.sections.map((s) => s.role),
      ['system', 'user'],
    );
    const user = renderPromptTemplate(template, values)[1]!.content;
    for (const needed of [
      '{{like this}}',
      'positive',
      'negative',
      '[DESCRIPTION]: <one short description>',
      '1. a {{b}}',
    ])
      assert.ok(user.includes(needed), needed);
    assert.ok(user.trimEnd().endsWith('[DESCRIPTION]: <one short description>'));
  });
});
