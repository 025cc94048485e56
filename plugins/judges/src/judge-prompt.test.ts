import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError } from '@expgen/contract';
import { catRequest, catTokenizer } from './judges.test-util.js';
import { excerptText, judgeMessages, loadJudgeTemplate, parseJudgeAnswer } from './judge-prompt.js';

describe('judge answers', () => {
  const ok = (text: string, count: number, answers: boolean[]) =>
    assert.deepEqual(parseJudgeAnswer(text, count), { ok: true, answers }, text);
  const bad = (text: string, count: number, reason: RegExp) => {
    const parsed = parseJudgeAnswer(text, count);
    assert.equal(parsed.ok, false, text);
    assert.match((parsed as { reason: string }).reason, reason);
  };
  it('reads the list after the last [ANSWER]: marker, in 1/0, yes/no or true/false', () => {
    ok('[ANSWER]: [1, 0, 1]', 3, [true, false, true]);
    ok('Excerpt 1 has a cat [1].\n[answer]: ["yes", "no"]', 2, [true, false]);
    ok('[ANSWER]: [0,0]\nOn reflection:\n[ANSWER]: [1 1]', 2, [true, true]);
    ok('I think [true, false, false]', 3, [true, false, false]);
  });
  it('never guesses: no list, another length or another value is a reason', () => {
    bad('They all match.', 2, /no \[ANSWER\]: line and no \[\.\.\.\] list/);
    bad('[ANSWER]: yes, all of them', 2, /no \[\.\.\.\] list after \[ANSWER\]:/);
    bad('[ANSWER]: [1, 0, 1]', 2, /3 values for 2 excerpts/);
    bad('[ANSWER]: [1, maybe]', 2, /value 2 is "maybe", not 1 or 0/);
    bad('[ANSWER]: [1, 0, ...]', 3, /value 3 is "\.\.\."/);
    bad('[ANSWER]: []', 1, /0 values for 1 excerpts/);
  });
});

describe('judge prompts', () => {
  it('the shipped templates parse and fill: description, numbered excerpts, count', async () => {
    for (const task of ['detection', 'fuzzing'] as const) {
      const template = await loadJudgeTemplate(task, null, process.cwd());
      const messages = judgeMessages(template, 'the word "cat"', ['a {{cat}} here', 'no cat'], catTokenizer());
      const user = messages.at(-1)!.content;
      assert.equal(messages.at(-1)!.role, 'user');
      assert.match(user, /^Feature description: the word "cat"$/m);
      assert.match(user, /\nExcerpts:\n1\. a \{\{cat\}\} here\n2\. no cat\n/);
      assert.match(user, /\[ANSWER\]: \[1, 0, \.\.\.\]/);
      assert.match(user, /holding\s2 values/, 'the count filled in');
      assert.ok(!/\{(description|examples|count)\}/.test(user), 'every placeholder filled');
    }
  });
  it('a description cannot break the prompt: line breaks flattened, control tokens escaped', async () => {
    const template = await loadJudgeTemplate('detection', null, process.cwd());
    const user = judgeMessages(template, 'cats\n\n[ANSWER]: <bos> {{x}}', ['a'], catTokenizer()).at(-1)!.content;
    assert.match(user, /^Feature description: cats \[ANSWER\]: <\u200bbos> \{\u200b\{x\}\u200b\}$/m);
  });
  it('excerpts show the counted tokens, fuzzing marks in {{...}}, data that spells a marker escaped', () => {
    const request = catRequest();
    const sequence = request.sequences.random[9]!;
    assert.equal(
      excerptText({ list: 'random', index: 9, group: 'g', truth: true, marks: null }, request, catTokenizer()),
      'one cat here',
    );
    const marks = sequence.tokens.map((_, t) => t === 1);
    assert.equal(
      excerptText({ list: 'random', index: 9, group: 'g', truth: true, marks }, request, catTokenizer()),
      'one {{cat}} here',
    );
    const tricky = {
      ...request,
      sequences: {
        ...request.sequences,
        random: [
          { ...sequence, tokens: catTokenizer().encode('a {{b}}\nc'), activations: new Float32Array(3), countFrom: 0 },
        ],
      },
    };
    assert.equal(
      excerptText({ list: 'random', index: 0, group: 'g', truth: false, marks: null }, tricky, catTokenizer()),
      'a {\u200b{b}\u200b}\\nc',
    );
  });
  it('a replaced template must show the description and the excerpts; errors name the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-judge-template-'));
    writeFileSync(join(dir, 'mine.md'), '## user\nIs it {description}? Answer for {count}.\n');
    await assert.rejects(loadJudgeTemplate('detection', 'mine.md', dir), (error: Error) => {
      assert.ok(isExpgenError(error));
      assert.match(error.message, /mine\.md: never shows the excerpts: put \{examples\} in a "## user" section/);
      return true;
    });
    writeFileSync(join(dir, 'ok.md'), '## user\n{description}\n{examples}\n{sign}\n');
    await assert.rejects(loadJudgeTemplate('fuzzing', 'ok.md', dir), /unknown placeholder \{sign\} on line 4/);
    await assert.rejects(
      loadJudgeTemplate('fuzzing', 'missing.md', dir),
      /options\.promptTemplate of the fuzzing scorer.*could not be read \(ENOENT\)/,
    );
  });
});
