import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isExpgenError, PLANTED_TRUTH_FORMAT } from '@expgen/contract';
import type { DistributionRow } from '../exemplars/storage/index.js';
import { fakeTokenizer, memoryLogger } from '@expgen/contract/testing';
import { writePlantedComparison } from '../planted/index.js';
import { escapeHtml, jsonForScript, visibleText } from './escape.js';
import { histogramView } from './histogram-view.js';
import { CONTENT_SECURITY_POLICY } from './render-page.js';
import { groupTokens } from './token-groups.js';
import { blocks, HOSTILE, makeRun } from './report-fixtures.test-util.js';
import { SINGLE_FILE_MAX_FEATURES, writeReport, writeRunReport } from './write-report.js';

describe('report escaping', () => {
  it('escapeHtml escapes the five markup characters', () => {
    assert.equal(
      escapeHtml(`<a href="x" title='y'>&</a>`),
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;',
    );
  });

  it('jsonForScript leaves no character that can end a script block, and parses back to the data', () => {
    const data = { hostile: HOSTILE, nested: { '</script>': '<!--', sep: '\u2028\u2029' } };
    const text = jsonForScript(data);
    assert.doesNotMatch(text, /[<>&\u2028\u2029]/);
    assert.deepEqual(JSON.parse(text), data);
  });

  it('visibleText shows bidi controls, zero-width characters and controls as code points, and keeps ordinary text', () => {
    assert.equal(visibleText('a\u202Eb'), 'a⟨U+202E⟩b');
    assert.equal(visibleText('zero\u200Bwidth\uFEFF'), 'zero⟨U+200B⟩width⟨U+FEFF⟩');
    assert.equal(visibleText('\u2066x\u2069\u200F\u061C'), '⟨U+2066⟩x⟨U+2069⟩⟨U+200F⟩⟨U+061C⟩');
    assert.equal(visibleText('line\nnext\ttab\r\u2028\u0000\u007F'), 'line↵next⇥tab␍⟨U+2028⟩⟨U+0000⟩⟨U+007F⟩');
    assert.equal(visibleText('\uD800'), '⟨U+D800⟩', 'a lone surrogate');
    for (const plain of ['Hello, world', 'مرحبا', 'שלום', '日本語', 'goose 🪿', '<script>'])
      assert.equal(visibleText(plain), plain);
  });
});

describe('token groups', () => {
  const tok = fakeTokenizer();
  const texts = (ids: number[]) => groupTokens(ids, tok).map((g) => [g.text, g.count]);

  it('joins the byte tokens of a character split over several tokens', () => {
    assert.deepEqual(texts(tok.encode('a🪿b')), [
      ['a', 1],
      ['🪿', 4],
      ['b', 1],
    ]);
    assert.deepEqual(texts(tok.encode('é')), [['é', 2]]);
  });

  it('shows bytes that can never complete a character as U+FFFD, and control tokens by name', () => {
    const goose = tok.encode('🪿');
    assert.deepEqual(texts([0, ...goose.slice(0, 2), ...tok.encode('b')]), [
      ['<bos>', 1],
      ['\uFFFD', 2],
      ['b', 1],
    ]);
    assert.deepEqual(texts([...goose.slice(0, 3)]), [['\uFFFD', 3]], 'cut off at the end');
    assert.deepEqual(
      texts([0x80 + 3, ...tok.encode('x')]),
      [
        ['\uFFFD', 1],
        ['x', 1],
      ],
      'a stray continuation byte',
    );
  });

  it('makes reordering and invisible characters visible inside tokens', () => {
    assert.deepEqual(texts(tok.encode('\u202E')), [['⟨U+202E⟩', 3]]);
  });
});

describe('histograms', () => {
  const row = (over: Partial<DistributionRow>): DistributionRow => ({
    feature: 0,
    tokensSeen: 100,
    sequencesSeen: 4,
    maxExtremes: Float32Array.of(3, 2, 1, 0),
    minExtremes: Float32Array.of(-2, -1, 0, 0),
    histogram: {
      low: -4,
      high: 4,
      max: Float64Array.of(0, 0, 0, 0, 1, 1, 1, 1, 0, 1),
      min: Float64Array.of(1, 0, 1, 1, 2, 0, 0, 0, 0, 0),
    },
    positiveQuantiles: [],
    negativeQuantiles: [],
    ...over,
  });

  it('bins every per-sequence extreme when all were kept', () => {
    const h = histogramView(
      [
        { split: 'train', row: row({}) },
        { split: 'test', row: row({}) },
      ],
      'positive',
    )!;
    assert.equal(
      h.counts.reduce((a, b) => a + b, 0),
      8,
    );
    assert.deepEqual([h.low, h.high, h.below, h.above], [0, 3, 0, 0]);
    assert.match(h.label, /per-sequence maxima, 8 sequences \(train, test\)/);
  });

  it('falls back to the stored histogram, cropped to the bins that hold anything', () => {
    const h = histogramView([{ split: 'train', row: row({ sequencesSeen: 10 }) }], 'negative')!;
    // bins of width 1 over [-4, 4): min counts 0,1,1,2 in bins [-4,-3) .. [-1,0), 1 below -4.
    assert.deepEqual([h.low, h.high, h.counts, h.below, h.above], [-3, 0, [1, 1, 2], 1, 0]);
  });
});
function checkInert(html: string): void {
  // Every <script in the file is one of the report's own: the JSON blocks and the one script at the end.
  const scripts = [...html.matchAll(/<script\b/gi)].length;
  assert.equal(scripts, blocks(html).size + 1, 'no script element besides the data blocks and the page script');
  for (const forbidden of [
    '<img',
    '<textarea',
    '</textarea',
    '<svg',
    '<b ',
    '<b>',
    '<!--',
    '\u202E',
    '\u200B',
    '\u2066',
    '\u2028',
  ]) {
    assert.ok(!html.includes(forbidden), `the page holds ${JSON.stringify(forbidden)} raw`);
  }
  // The page script is the only script the policy allows.
  const script = /<script>([\s\S]*)<\/script>\s*<\/body>/.exec(html)![1]!;
  const hash = createHash('sha256').update(script, 'utf8').digest('base64');
  assert.ok(CONTENT_SECURITY_POLICY.includes(`'sha256-${hash}'`));
  assert.ok(html.includes('http-equiv="Content-Security-Policy"'));
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /connect-src 'none'/);
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
}

describe('writeReport', () => {
  const tokenizer = fakeTokenizer();

  it('writes one self-contained file whose data carries the hostile strings as text, never as markup', async () => {
    const dir = makeRun(3);
    const result = await writeReport({ runDir: dir, tokenizer });
    assert.equal(result.layout, 'single');
    assert.equal(result.path, join(dir, 'report.html'));
    assert.equal(result.histograms, false, 'the run folder has no exemplars');
    const html = readFileSync(result.path, 'utf8');
    checkInert(html);
    const data = blocks(html);
    const meta = data.get('expgen-meta') as {
      layout: string;
      index: {
        entries: {
          key: string;
          positive: { description: string; scores: [string, number][] };
          negative: { description: string | null; reason: number };
        }[];
        reasons: string[];
      };
    };
    assert.equal(meta.layout, 'single');
    const entries = meta.index.entries;
    assert.deepEqual(
      entries.map((e) => e.key),
      ['mlp/0/0', 'mlp/0/1', 'mlp/0/2'],
    );
    assert.equal(entries[0]!.positive.description, `${HOSTILE[0]} (positive)`);
    assert.equal(entries[1]!.negative.description, null);
    assert.equal(meta.index.reasons[entries[1]!.negative.reason], '<b>no</b> candidate');
    assert.deepEqual(entries[0]!.positive.scores, [
      ['correlation', 0.5],
      ['detection', 0.9],
    ]);
    // Exemplar text: display groups that join back to the visible form of the data.
    const strings = data.get('expgen-strings') as string[];
    const page = data.get('expgen-f0') as {
      signs: {
        report: { text: number[]; sizes: number[] | null; activations: number[] }[];
        reportPredictions: number[][];
        failures: { detail: string }[];
        thresholdRule: string;
        scores: { name: string; score: number; ci: number[]; nullScore: number; judgments: number; failures: number }[];
      }[];
    };
    const shown = page.signs[0]!.report.map((e) => e.text.map((i) => strings[i]).join(''));
    assert.deepEqual(
      shown,
      HOSTILE.map((h) => `<bos>${visibleText(h)}`),
    );
    const goose = page.signs[0]!.report[6]!;
    assert.ok(goose.sizes?.includes(4), 'the 4-byte emoji is one group of four tokens');
    assert.equal(
      goose.activations.length,
      goose.sizes!.reduce((a, b) => a + b, 0),
      'one activation per token',
    );
    assert.equal(page.signs[0]!.reportPredictions.length, HOSTILE.length);
    assert.equal(page.signs[0]!.failures[0]!.detail, '<img src=x onerror=alert(9)>');
    assert.equal(page.signs[0]!.thresholdRule, 'rule</script>');
    assert.deepEqual(page.signs[0]!.scores[1], {
      name: 'detection',
      status: 'scored',
      statusLabel: 'scored',
      reason: null,
      score: 0.9,
      ci: [0.8, 1],
      nullScore: 0.5,
      judgments: 18,
      failures: 2,
    });
  });

  it('writes a folder of linked, self-contained pages when asked or when the run is large', async () => {
    const dir = makeRun(3);
    const result = await writeReport({ runDir: dir, tokenizer, layout: 'folder' });
    assert.equal(result.layout, 'folder');
    assert.equal(result.path, join(dir, 'report', 'index.html'));
    assert.equal(result.files, 4);
    const index = readFileSync(result.path, 'utf8');
    checkInert(index);
    const meta = blocks(index).get('expgen-meta') as { layout: string; index: { entries: { href: string }[] } };
    assert.equal(meta.layout, 'index');
    assert.deepEqual(
      meta.index.entries.map((e) => e.href),
      [0, 1, 2].map((i) => `features/mlp/layer-00/${i}.html`),
    );
    const feature = readFileSync(join(dir, 'report', 'features', 'mlp', 'layer-00', '1.html'), 'utf8');
    checkInert(feature);
    const featureMeta = blocks(feature).get('expgen-meta') as {
      layout: string;
      nav: { index: string; prev: { href: string }; next: { href: string } };
    };
    assert.equal(featureMeta.layout, 'feature');
    assert.deepEqual(
      [featureMeta.nav.index, featureMeta.nav.prev.href, featureMeta.nav.next.href],
      ['../../../index.html', '0.html', '2.html'],
    );
    assert.ok(
      (blocks(feature).get('expgen-feature') as { strings: string[] }).strings.length > 0,
      'a feature page carries its own strings',
    );
    // Written again over the old one.
    const again = await writeReport({ runDir: dir, tokenizer, layout: 'folder' });
    assert.equal(again.files, 4);
  });

  it(`switches to a folder above ${SINGLE_FILE_MAX_FEATURES} features, and refuses an .html path for it`, async () => {
    const dir = makeRun(SINGLE_FILE_MAX_FEATURES + 1, { details: false });
    await assert.rejects(
      writeReport({ runDir: dir, tokenizer, out: join(dir, 'big.html') }),
      (e: Error) => isExpgenError(e) && /is a folder: pass --out DIR/.test(e.message),
    );
    const result = await writeReport({ runDir: dir, tokenizer });
    assert.equal(result.layout, 'folder');
    assert.equal(result.files, SINGLE_FILE_MAX_FEATURES + 2);
    assert.ok(existsSync(join(dir, 'report', 'features', 'mlp', 'layer-00', `${SINGLE_FILE_MAX_FEATURES}.html`)));
    assert.ok(result.largestFileBytes < 3e6, `largest file ${result.largestFileBytes} bytes`);
  });

  it('says what is missing when the folder holds no finished run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-report-empty-'));
    await assert.rejects(
      writeReport({ runDir: dir, tokenizer }),
      (e: Error) => isExpgenError(e) && /no finished run \(no results\.jsonl\)/.test(e.message),
    );
  });

  it('after a run, writes the report to its default place, and only warns when it cannot', async () => {
    const logger = memoryLogger();
    const dir = makeRun(2);
    assert.equal(await writeRunReport({ runDir: dir, tokenizer, logger }), join(dir, 'report.html'));
    const empty = mkdtempSync(join(tmpdir(), 'expgen-report-empty-'));
    assert.equal(await writeRunReport({ runDir: empty, tokenizer, logger }), null);
    assert.match(
      logger.lines.at(-1)!,
      /^warning: the HTML report was not written \(.*no results\.jsonl.*\); "expgen report .*" writes it$/,
    );
    assert.equal(
      await writeRunReport({ runDir: makeRun(3, { details: false }), tokenizer, logger, maxFeatures: 2 }),
      null,
    );
    assert.match(
      logger.lines.at(-1)!,
      /^3 features, more than 2: no HTML report written; "expgen report .*" writes one/,
    );
  });

  it('shows a candidate text sampled several times once, with its count, and marks planted classes', async () => {
    const dir = makeRun(2);
    // Four candidates, three with the same text; the chosen one is the third (a copy).
    const path = join(dir, 'features', 'mlp', 'layer-00', '0.positive.json');
    const detail = JSON.parse(readFileSync(path, 'utf8'));
    const [a, b] = detail.candidates;
    detail.candidates = [
      { ...a, seed: 0 },
      { ...b, seed: 1 },
      { ...a, seed: 2 },
      { ...a, seed: 3 },
    ];
    detail.chosen = 2;
    writeFileSync(path, JSON.stringify(detail));
    const truthFile = join(dir, 'planted.json');
    writeFileSync(
      truthFile,
      JSON.stringify({
        format: PLANTED_TRUTH_FORMAT,
        about: 'test',
        classes: [{ id: 'markup', kind: 'token', description: 'markup <b>', pattern: '<', keywords: ['script'] }],
        features: [
          { feature: 'mlp/0/0', sign: 'positive', class: 'markup' },
          { feature: 'mlp/0/0', sign: 'negative', class: null },
        ],
      }),
    );
    const rows = readFileSync(join(dir, 'results.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    writePlantedComparison({ plantedTruth: truthFile }, rows, dir);

    const html = readFileSync((await writeReport({ runDir: dir, tokenizer })).path, 'utf8');
    checkInert(html);
    const data = blocks(html);
    const page = data.get('expgen-f0') as {
      signs: {
        chosen: number;
        candidates: { description: string; count: number; seeds: number[]; selectionScore: number | null }[];
        selectionPredictions: unknown[];
        planted?: { class: string | null; recovered: boolean | null };
      }[];
    };
    const positive = page.signs[0]!;
    assert.deepEqual(
      positive.candidates.map((c) => [c.description, c.count, c.seeds]),
      [
        [a.description, 3, [0, 2, 3]],
        [b.description, 1, [1]],
      ],
    );
    assert.equal(positive.chosen, 0, 'the chosen candidate is the row of its text');
    assert.equal(positive.selectionPredictions.length, 2, 'one simulation per row');
    assert.deepEqual(positive.planted, { class: 'markup', recovered: true });
    assert.deepEqual(page.signs[1]!.planted, { class: null, recovered: null });
    const meta = data.get('expgen-meta') as {
      run: { planted: { summary: string; classes: Record<string, string> } };
      index: { entries: { positive: { planted?: unknown } }[] };
    };
    assert.match(meta.run.planted.summary, /^1 of 1 \(100%\): token classes 1\/1, contexts 0\/0; 1 left random$/);
    assert.equal(meta.run.planted.classes.markup, 'markup <b>');
    assert.deepEqual(meta.index.entries[0]!.positive.planted, { class: 'markup', recovered: true });
    assert.equal(meta.index.entries[1]!.positive.planted, undefined, 'features the truth does not list are unmarked');
  });
});
