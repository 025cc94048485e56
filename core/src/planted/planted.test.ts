import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError, PLANTED_TRUTH_FORMAT, type PlantedTruth } from '@expgen/contract';
import { comparePlantedTruth, type DescribedRow } from './compare-descriptions.js';
import {
  PLANTED_COMPARISON_FILE,
  plantedSummaryRow,
  readPlantedComparison,
  writePlantedComparison,
} from './planted-comparison-file.js';
import { readPlantedTruth } from './read-planted-truth.js';

const truth: PlantedTruth = {
  format: PLANTED_TRUTH_FORMAT,
  about: 'test',
  classes: [
    {
      id: 'number',
      kind: 'token',
      description: 'numbers',
      pattern: '^[0-9]+$',
      keywords: ['number', 'numbers', 'digit'],
    },
    { id: 'the', kind: 'token', description: 'the word the', pattern: '^the$', flags: 'i', keywords: [] },
    { id: 'ing', kind: 'token', description: '-ing words', pattern: '^[a-z]+ing$', keywords: ['-ing'] },
    { id: 'after-the', kind: 'context', description: 'after the', previous: 'the', keywords: ['after the article'] },
  ],
  features: [
    { feature: 'mlp/0/0', sign: 'positive', class: 'number' },
    { feature: 'mlp/0/0', sign: 'negative', class: 'after-the' },
    { feature: 'mlp/0/1', sign: 'positive', class: 'the' },
    { feature: 'mlp/0/1', sign: 'negative', class: null },
    { feature: 'mlp/0/2', sign: 'positive', class: 'ing' },
    { feature: 'mlp/0/9', sign: 'positive', class: 'number' },
  ],
};

function verdict(classId: string, description: string): boolean {
  const row: DescribedRow = { feature: 'mlp/0/0', sign: 'positive', status: 'scored', description };
  const t: PlantedTruth = { ...truth, features: [{ feature: 'mlp/0/0', sign: 'positive', class: classId }] };
  return comparePlantedTruth(t, [row]).verdicts[0]!.recovered === true;
}

describe('comparing descriptions with the planted truth', () => {
  it('token classes: more than half of the quoted token names are members', () => {
    assert.equal(verdict('number', 'the tokens "1", "20" and "cat"'), true);
    assert.equal(verdict('number', 'the tokens "cat", "dog" and "1"'), false);
    assert.equal(verdict('number', 'the tokens "1" and "cat"'), false, 'half is not more than half');
    assert.equal(verdict('the', 'the token "The"'), true, 'the pattern flags apply');
    assert.equal(verdict('number', 'the token " 7"'), true, 'names are trimmed as token names are');
    // Quoted names after "after" describe the previous token, not the feature's own tokens.
    assert.equal(verdict('the', 'the tokens after "the"'), false);
  });

  it('context classes: "after" outside quotes, then a member of the class the tokens follow', () => {
    assert.equal(verdict('after-the', 'the tokens after "the"'), true);
    assert.equal(verdict('after-the', 'nouns following "The" or "a"'), true);
    assert.equal(verdict('after-the', 'the tokens "the"'), false);
    assert.equal(verdict('after-the', 'the tokens "after" and "the"'), false, 'a quoted "after" is a token name');
    assert.equal(verdict('after-the', 'the tokens after "a"'), false);
  });

  it('keywords count as whole words or phrases outside quotes, as prose names a class', () => {
    assert.equal(verdict('number', 'numbers in tables and receipts'), true);
    assert.equal(verdict('number', 'Digit runs'), true);
    assert.equal(verdict('number', 'the token "number"'), false, 'a quoted word is a token name, not prose');
    assert.equal(verdict('number', 'renumbered lists'), false, 'not inside another word');
    assert.equal(verdict('ing', 'words ending in -ing'), true);
    assert.equal(verdict('after-the', 'the noun after the article'), true);
  });

  it('tallies planted feature-signs of the run only, random ones apart, unscored ones as not recovered', () => {
    const rows: DescribedRow[] = [
      { feature: 'mlp/0/0', sign: 'positive', status: 'scored', description: 'the tokens "1" and "2"' },
      { feature: 'mlp/0/0', sign: 'negative', status: 'scored', description: 'the tokens after "the"' },
      { feature: 'mlp/0/1', sign: 'positive', status: 'failed', description: null },
      { feature: 'mlp/0/1', sign: 'negative', status: 'scored', description: 'the token "x"' },
      { feature: 'mlp/0/2', sign: 'positive', status: 'scored', description: 'the token "cat"' },
      { feature: 'mlp/5/5', sign: 'positive', status: 'scored', description: 'the token "9"' },
    ];
    const c = comparePlantedTruth(truth, rows);
    assert.deepEqual(c.all, { planted: 4, recovered: 2 });
    assert.deepEqual(c.token, { planted: 3, recovered: 1 });
    assert.deepEqual(c.context, { planted: 1, recovered: 1 });
    assert.equal(c.random, 1);
    assert.equal(c.verdicts.find((v) => v.feature === 'mlp/0/1' && v.sign === 'positive')!.recovered, null);
    assert.deepEqual(c.verdicts[0]!.evidence, ['1', '2']);
    assert.deepEqual(plantedSummaryRow(c), [
      'planted truth: feature-signs recovered',
      '2 of 4 (50%): token classes 1/3, contexts 1/1; 1 left random',
    ]);
  });

  it('writes the comparison into the run folder when the subject has a truth, and nothing otherwise', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-planted-'));
    const file = join(dir, 'planted.json');
    writeFileSync(file, JSON.stringify(truth));
    const rows: DescribedRow[] = [{ feature: 'mlp/0/0', sign: 'positive', status: 'scored', description: 'numbers' }];
    assert.equal(writePlantedComparison({}, rows, dir), null);
    assert.equal(readPlantedComparison(dir), null);
    const record = writePlantedComparison({ plantedTruth: file }, rows, dir)!;
    assert.equal(record.all.recovered, 1);
    assert.deepEqual(readPlantedComparison(dir), JSON.parse(readFileSync(join(dir, PLANTED_COMPARISON_FILE), 'utf8')));
    assert.equal(readPlantedComparison(dir)!.truth_file, file);
  });

  it('refuses a broken truth file in one line naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-planted-'));
    const cases: [unknown, RegExp][] = [
      [{ ...truth, format: 'other' }, /format is "other"/],
      [{ ...truth, features: [{ feature: 'mlp/0/0', sign: 'positive', class: 'nope' }] }, /unknown class "nope"/],
      [{ ...truth, classes: [{ ...truth.classes[0], pattern: '(' }] }, /pattern does not compile/],
      [{ ...truth, classes: [truth.classes[3]] }, /follows "the", which is not a token class/],
    ];
    cases.forEach(([content, message], i) => {
      const file = join(dir, `t${i}.json`);
      writeFileSync(file, JSON.stringify(content));
      assert.throws(
        () => readPlantedTruth(file),
        (e: Error) =>
          isExpgenError(e) && message.test(e.message) && e.message.startsWith(file) && !e.message.includes('\n'),
      );
    });
    writeFileSync(join(dir, 'bad.json'), '{');
    assert.throws(() => readPlantedTruth(join(dir, 'bad.json')), /not a readable planted-truth file/);
  });
});
