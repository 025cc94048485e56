import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { assertOneLineError, repoRoot, runCli, tempDir } from './helpers/run-cli.js';

/**
 * `expgen report` as a user reads it: runs on the embedded default (demo corpus, and a hostile corpus of markup,
 * bidi overrides and zero-width characters), reports written by the CLI, opened from file:// in Debian's headless
 * Chromium driven by playwright-core. No test downloads a browser; without /usr/bin/chromium they are skipped.
 */
// The functions handed to page.evaluate run in the browser; these name its globals for the compiler (no DOM lib here).
declare const document: {
  querySelectorAll(selector: string): { length: number };
  scripts: ArrayLike<{ type: string; text: string }>;
  body: object & { innerText: string };
};
declare const location: { hash: string };
declare function getComputedStyle(element: object): { backgroundColor: string; direction: string };

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (Debian package "chromium"): the report's browser tests need it and never download one`;
const outputDir = join(repoRoot, 'test-output');
const HOSTILE_CORPUS = join(repoRoot, 'test', 'fixtures', 'hostile-corpus.jsonl');

/** What a page did besides rendering: console errors, uncaught exceptions, requests off file://, dialogs. */
interface Opened {
  page: Page;
  problems: string[];
  requests: string[];
  /** Requests the browser refused under the Content-Security-Policy (playwright's error text `csp`). */
  blocked: string[];
  dialogs: string[];
}

describe('expgen report in headless Chromium', { skip }, () => {
  const dir = tempDir('expgen-report-browser-');
  const small = ['--set', 'exemplars.sequences=200', '--set', 'activation.options.layers=[1]'];
  const demoRun = join(dir, 'demo');
  const hostileRun = join(dir, 'hostile');
  let demoReport = '';
  let repeatedKey = '';
  let hostileReport = '';
  let profile = '';
  let context: BrowserContext | undefined;

  before(async () => {
    const demo = await runCli(['run', '--out', demoRun, ...small]);
    assert.equal(demo.code, 0, demo.stderr);
    repeatedKey = repeatACandidate(demoRun);
    const [report, hostile] = await Promise.all([
      runCli(['report', demoRun]),
      runCli(['run', '--out', hostileRun, '--data', HOSTILE_CORPUS, ...small]),
    ]);
    assert.equal(report.code, 0, report.stderr);
    assert.equal(hostile.code, 0, hostile.stderr);
    demoReport = reportPath(report.stdout);
    const hostileReported = await runCli(['report', hostileRun]);
    assert.equal(hostileReported.code, 0, hostileReported.stderr);
    hostileReport = reportPath(hostileReported.stdout);
    mkdirSync(outputDir, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'expgen-chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 900 },
    });
  });

  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(path: string, hash = ''): Promise<Opened> {
    const page = await context!.newPage();
    const opened: Opened = { page, problems: [], requests: [], blocked: [], dialogs: [] };
    page.on('console', (m) => {
      if (m.type() === 'error') opened.problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => opened.problems.push(`uncaught: ${e.message}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file://')) opened.requests.push(r.url());
    });
    page.on('requestfailed', (r) => {
      if (/^(csp|net::ERR_BLOCKED_BY_CSP)$/.test(r.failure()?.errorText ?? '')) opened.blocked.push(r.url());
    });
    page.on('dialog', (d) => {
      opened.dialogs.push(`${d.type()}: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(pathToFileURL(path).href + hash);
    await page.waitForSelector('#app > *');
    return opened;
  }

  function assertQuiet(opened: Opened): void {
    assert.deepEqual(opened.problems, [], 'no console errors or exceptions');
    assert.deepEqual(opened.requests, [], 'no requests off file://');
    assert.deepEqual(opened.dialogs, [], 'no dialog (alert) fired');
  }

  it('the index lists every feature with its best description per sign, score and interval', async () => {
    const opened = await open(demoReport);
    const { page } = opened;
    try {
      assert.match(await page.title(), /^expgen report: demo$/);
      assert.equal(await page.locator('#index tbody tr').count(), 128, 'layer 1 of the tiny model: 128 features');
      assert.equal(await page.textContent('#count'), '128 features');
      const scored = page.locator('#index tbody tr').filter({ hasText: /\[-?\d\.\d{3}, -?\d\.\d{3}\]/ });
      assert.ok((await scored.count()) > 30, 'most features show a score and its interval');
      assert.match((await page.textContent('.run'))!, /mean score, test split: -?\d\.\d{3} \[.*\] over \d+ rows/);
      // Every result status is explained under the summary, with its count; a sign without a score names its status
      // in the score cell (the reason on hover) rather than a bare dash.
      const legend = page.locator('#states dt');
      assert.deepEqual(
        (await legend.allTextContents()).map((t) => t.replace(/ \(\d+\)$/, '')),
        ['scored', 'no test score', 'no selection score', 'failed', 'skipped'],
      );
      for (const text of await page.locator('#states dd').allTextContents()) assert.ok(text.length > 30, text);
      const unscored = page.locator('#index tbody td.num span.status[data-status]');
      assert.ok((await unscored.count()) > 0, 'the demo has signs without a test score');
      for (const label of (await unscored.allTextContents()).slice(0, 20))
        assert.ok(['no test score', 'no selection score', 'failed', 'skipped'].includes(label), label);
      assert.match(
        (await unscored.first().getAttribute('title'))!,
        /^(no test score|no selection score|failed|skipped): \S/,
      );
      await page.screenshot({ path: join(outputDir, 'report-index.png') });
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it('sorts by score and filters rows by description text', async () => {
    const opened = await open(demoReport);
    const { page } = opened;
    try {
      const scores = async () =>
        (await page.locator('#index tbody tr:not([hidden]) td:nth-child(3)').allTextContents()).map((t) =>
          /^-?\d/.test(t) ? Number(t) : null,
        );
      await page.click('button[data-sort="positive"]');
      assert.equal(await page.getAttribute('#index th:has(button[data-sort="positive"])', 'aria-sort'), 'descending');
      const descending = await scores();
      const numbers = descending.filter((s) => s !== null) as number[];
      assert.ok(numbers.length > 10);
      assert.deepEqual(
        numbers,
        [...numbers].sort((a, b) => b - a),
        'highest score first',
      );
      assert.ok(
        descending.indexOf(null) === -1 || descending.slice(descending.indexOf(null)).every((s) => s === null),
        'features without a score last',
      );
      await page.click('button[data-sort="positive"]');
      const ascending = (await scores()).filter((s) => s !== null) as number[];
      assert.deepEqual(
        ascending,
        [...ascending].sort((a, b) => a - b),
      );

      // A word from a description: only rows whose descriptions hold it stay.
      const description = (await page
        .locator('#index tbody tr td.desc')
        .filter({ hasText: /"[A-Za-z]{4,}"/ })
        .first()
        .textContent())!;
      const word = /"([A-Za-z]{4,})"/.exec(description)![1]!;
      await page.fill('#search', word);
      const shown = page.locator('#index tbody tr:not([hidden])');
      const count = await shown.count();
      assert.ok(count > 0 && count < 128, `${count} rows for "${word}"`);
      for (const text of await shown.allTextContents())
        assert.ok(text.toLowerCase().includes(word.toLowerCase()), `${text} holds "${word}"`);
      assert.equal(await page.textContent('#count'), `${count} of 128 features`);
      await page.fill('#search', 'no-description-says-this');
      assert.equal(await shown.count(), 0);
      await page.fill('#search', '');
      assert.equal(await shown.count(), 128);
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it('a feature page shows every candidate and exemplars shaded by true and simulated activation, with values on hover', async () => {
    const opened = await open(demoReport);
    const { page } = opened;
    try {
      await page.click('button[data-sort="positive"]');
      await page.locator('#index tbody tr td:first-child a').first().click();
      await page.waitForSelector('#feature-view section.sign');
      assert.match(page.url(), /#feature=mlp%2F1%2F\d+$/);
      const section = page.locator('section.sign-positive');
      assert.match((await section.locator('h3').textContent())!, /Positive sign · scored/);
      assert.ok((await section.locator('table.candidates tbody tr').count()) >= 1);
      assert.ok((await section.locator('svg.hist rect').count()) > 3, 'the activation histogram');
      const report = section.locator('.exemplars.report .exemplar');
      assert.ok((await report.count()) >= 5, 'test-split exemplars');

      // Shading: the strongest token is coloured, an inactive one is not, on the true and on the simulated side. The
      // true scale is shared by the test-split and valid-split exemplars (so they compare), so its strongest token
      // may be in either box; the simulated scale is the test-split box's own.
      for (const kind of ['true', 'simulated']) {
        const box = kind === 'true' ? '.exemplars' : '.exemplars.report';
        const colours = await section.locator(`${box} .tokens[data-kind="${kind}"] .tok`).evaluateAll((tokens) =>
          tokens.map((t) => ({
            level: Number(t.getAttribute('data-level')),
            background: getComputedStyle(t).backgroundColor,
          })),
        );
        const strongest = colours.reduce((a, b) => (b.level > a.level ? b : a));
        const inactive = colours.find((c) => c.level === 0)!;
        assert.equal(strongest.level, 1, `${kind}: the strongest token sets the scale`);
        assert.notEqual(
          strongest.background,
          inactive.background,
          `${kind}: shading differs between high and low tokens`,
        );
        assert.match(strongest.background, /^rgba\(234, 120, 0, 0\.85\)$/);
        assert.match(inactive.background, /^rgba\(0, 0, 0, 0\)$/);
      }
      const levels = await section
        .locator('.exemplars.report .tokens[data-kind="true"] .tok')
        .evaluateAll((tokens) => tokens.map((t) => t.getAttribute('data-level')!));
      const top = levels.reduce((a, b) => (Number(b) > Number(a) ? b : a));
      const strongest = section
        .locator(`.exemplars.report .tokens[data-kind="true"] .tok[data-level="${top}"]`)
        .first();
      const title = (await strongest.getAttribute('title'))!;
      assert.match(title, /^text: ".+"\ntrue -?\d/m);
      assert.match(title, /simulated \d/);
      await strongest.hover();
      assert.equal(await page.isVisible('#tooltip'), true);
      assert.equal(await page.textContent('#tooltip'), title);

      // Another candidate's simulation of the valid-split exemplars.
      const candidates = section.locator('table.candidates tbody tr');
      if ((await candidates.count()) > 1) {
        await candidates.nth(1).click();
        assert.match((await section.locator('details.selection summary').textContent())!, /simulation of candidate #2/);
        assert.equal(await section.locator('details.selection').getAttribute('open'), '');
      }
      await section.screenshot({ path: join(outputDir, 'report-feature.png') });
      await page.click('text=← all features');
      await page.waitForSelector('#index', { state: 'visible' });
      assert.equal(await page.isVisible('#feature-view'), false);
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it('marks each feature with its planted class, and the summary says how many the descriptions recovered', async () => {
    const opened = await open(demoReport);
    const { page } = opened;
    try {
      assert.match((await page.textContent('.run'))!, /planted truth: feature-signs recovered: \d+ of \d+ \(\d+%\)/);
      const tags = page.locator('#index tbody td.desc .planted');
      assert.equal(await tags.count(), 256, 'every feature-sign of layer 1 is planted or random');
      assert.ok((await page.locator('#index td.desc .planted.recovered').count()) > 128, 'most are recovered');
      assert.ok((await page.locator('#index td.desc .planted.random').count()) > 0, 'some were left random');
      assert.match(
        (await tags.first().getAttribute('title'))!,
        /^(planted: .+|left random when the model was built: no planted class)$/,
      );
      await page.fill('#search', 'planted:number');
      const shown = page.locator('#index tbody tr:not([hidden])');
      assert.ok((await shown.count()) > 0);
      for (const text of await shown.locator('td.desc .planted').allTextContents()) assert.ok(text.length > 0);
      assert.equal(await shown.filter({ hasText: /number/ }).count(), await shown.count());
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it('draws the histogram with round ticks and the marking threshold, and shows a repeated candidate once with its count', async () => {
    const opened = await open(demoReport);
    const { page } = opened;
    try {
      await page.evaluate((key) => (location.hash = `#feature=${encodeURIComponent(key)}`), repeatedKey);
      await page.waitForSelector(`#feature-view h2:text-is("Feature ${repeatedKey}")`);
      const section = page.locator('section.sign-positive');
      assert.match((await section.locator('.planted-line').textContent())!, /^Planted truth: /);
      const ticks = (await section.locator('svg.hist text.tick-label').allTextContents()).map(Number);
      assert.ok(ticks.length >= 3 && ticks.length <= 8, `ticks ${ticks}`);
      const steps = ticks.slice(1).map((t, i) => Number((t - ticks[i]!).toPrecision(6)));
      assert.ok(
        steps.every((d) => d === steps[0]) &&
          /^[125]$/.test(String(steps[0]! / 10 ** Math.floor(Math.log10(steps[0]!)))),
        `ticks at a round step: ${ticks}`,
      );
      const threshold = await section.locator('svg.hist line.threshold').count();
      const note = await section.locator('.threshold-note').count();
      assert.equal(threshold + note, 1, 'the marking threshold is drawn, or said to lie outside the range');
      if (threshold)
        assert.match((await section.locator('svg.hist text.threshold-label').textContent())!, /^threshold -?\d/);

      const rows = section.locator('table.candidates tbody tr');
      const counts = await section.locator('table.candidates tbody td.count').allTextContents();
      assert.ok(counts.includes('\u00D73'), `one row sampled three times: ${counts}`);
      assert.equal(await rows.count(), counts.length, 'the sampled column is shown');
      const descriptions = await section.locator('table.candidates tbody td.cand-desc').allTextContents();
      assert.equal(new Set(descriptions).size, descriptions.length, 'each text once');
      assert.match(
        (await section.locator('td.count', { hasText: '\u00D73' }).getAttribute('title'))!,
        /^sampled 3 times: seeds \d+, \d+, \d+$/,
      );
      assert.match(
        (await section.locator('h4', { hasText: 'Candidates' }).textContent())!,
        /Candidates \(\d+, \d+ distinct\)/,
      );
      await section.screenshot({ path: join(outputDir, 'report-planted-feature.png') });
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it('renders hostile exemplar text (markup, bidi overrides, zero-width characters) as inert, visible text', async () => {
    const needles = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '</textarea><textarea>',
      '</script><script>',
      '<!--<script>',
      '<svg onload=alert(3)>',
      '⟨U+202E⟩',
      '⟨U+200B⟩',
      '{{handlebars}}',
      '🪿',
    ];
    const features = exemplarTexts(readFileSync(hostileReport, 'utf8'));
    const opened = await open(hostileReport);
    const { page } = opened;
    try {
      let shot = false;
      for (const needle of needles) {
        const feature = features.find((f) => f.texts.some((t) => t.includes(needle)));
        assert.ok(feature, `some feature's exemplars hold ${needle}`);
        await page.evaluate((key) => (location.hash = `#feature=${encodeURIComponent(key)}`), feature.key);
        await page.waitForSelector(`#feature-view h2:text-is("Feature ${feature.key}")`);
        const text = (await page.textContent('#feature-view'))!;
        assert.ok(text.includes(needle), `the page shows ${needle} as text`);
        const dom = await page.evaluate(() => ({
          injected: document.querySelectorAll(
            'img, textarea, iframe, b, a[href^="javascript"], #app style, svg:not(.hist)',
          ).length,
          handlers: document.querySelectorAll('[onerror], [onload], [onmouseover], [onfocus]').length,
          scripts: Array.from(document.scripts)
            .filter((s) => s.type !== 'application/json')
            .map((s) => s.text),
          // biome-ignore lint/performance/useDomNodeTextContent: what a reader sees, rendered, is what is checked
          invisible: /[\u202A-\u202E\u2066-\u2069\u200B-\u200F\uFEFF]/.test(document.body.innerText),
          direction: getComputedStyle(document.body).direction,
        }));
        assert.equal(dom.injected, 0, 'no element from the data');
        assert.equal(dom.handlers, 0, 'no event handler attribute');
        assert.equal(dom.scripts.length, 1, 'the page script is the only script');
        assert.ok(!dom.scripts[0]!.includes('alert('), 'and it is not from the data');
        assert.equal(dom.invisible, false, 'no bidi override or zero-width character reaches the page');
        assert.equal(dom.direction, 'ltr');
        if (!shot && needle === '<script>alert(1)</script>') {
          const token = page.locator('.exemplar', { hasText: needle }).first();
          await token.scrollIntoViewIfNeeded();
          await page.screenshot({ path: join(outputDir, 'report-hostile.png') });
          shot = true;
        }
      }
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });

  it("the page's Content-Security-Policy stops scripts and requests even from markup that got into the file", async () => {
    const tampered = join(dir, 'tampered.html');
    const injected =
      '<script>alert(1)</script><img src=x onerror="alert(2)"><img src="https://example.com/pixel.png"><iframe src="https://example.com/"></iframe>';
    writeFileSync(
      tampered,
      readFileSync(demoReport, 'utf8').replace('<main id="app"></main>', `<main id="app"></main>${injected}`),
    );
    const opened = await open(tampered);
    try {
      assert.equal(await opened.page.locator('#index tbody tr').count(), 128, 'the report itself still works');
      assert.deepEqual(opened.dialogs, [], 'no injected script ran');
      // Chromium reports the attempt, then fails it before it leaves the browser.
      assert.deepEqual(
        opened.requests.filter((r) => !opened.blocked.includes(r)),
        [],
        `nothing was fetched (blocked: ${opened.blocked.join(', ')})`,
      );
      assert.ok(opened.blocked.includes('https://example.com/pixel.png'));
      assert.equal(await opened.page.evaluate(() => document.querySelectorAll('iframe').length), 1);
      assert.ok(
        opened.problems.some((p) => /Framing 'https:\/\/example\.com\/' violates/.test(p)),
        'the frame is refused',
      );
      assert.ok(
        opened.problems.some((p) => /Content Security Policy/.test(p)),
        `the browser reports the blocked script:\n${opened.problems.join('\n')}`,
      );
    } finally {
      await opened.page.close();
    }
  });

  it('a folder report: an index and one self-contained page per feature, linked relatively', async () => {
    const out = join(dir, 'folder-report');
    const result = await runCli(['report', hostileRun, '--layout', 'folder', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const index = reportPath(result.stdout);
    assert.equal(index, join(out, 'index.html'));
    const opened = await open(index);
    const { page } = opened;
    try {
      assert.equal(await page.locator('#index tbody tr').count(), 128);
      await page.locator('#index tbody tr td:first-child a').nth(5).click();
      await page.waitForSelector('section.sign');
      assert.ok(page.url().endsWith('/folder-report/features/mlp/layer-01/5.html'), page.url());
      assert.ok((await page.locator('.exemplars.report .tok').count()) > 0);
      await page.click('text=mlp/1/6 ›');
      await page.waitForURL(/\/6\.html$/);
      await page.click('text=← all features');
      await page.waitForURL(/\/folder-report\/index\.html$/);
      assert.equal(await page.locator('#index tbody tr').count(), 128);
      assertQuiet(opened);
    } finally {
      await page.close();
    }
  });
});

describe('expgen report on the command line', () => {
  it('refuses a folder without a finished run in one line', async () => {
    const empty = tempDir('expgen-report-empty-');
    assert.match(assertOneLineError(await runCli(['report', empty])), /holds no finished run \(no results\.jsonl\)/);
  });
});

/**
 * Makes one feature's first candidate appear three times (as a describer sampling the same text would), in the run
 * folder before the report is written; returns the feature's key.
 */
function repeatACandidate(runDir: string): string {
  const folder = join(runDir, 'features', 'mlp', 'layer-01');
  for (let index = 0; index < 128; index++) {
    const path = join(folder, `${index}.positive.json`);
    if (!existsSync(path)) continue;
    const detail = JSON.parse(readFileSync(path, 'utf8')) as { chosen: number | null; candidates: { seed: number }[] };
    if (detail.chosen === null || detail.candidates.length < 2) continue;
    const [first, ...rest] = detail.candidates;
    detail.candidates = [first!, ...rest, { ...first!, seed: 101 }, { ...first!, seed: 102 }];
    writeFileSync(path, JSON.stringify(detail));
    return `mlp/1/${index}`;
  }
  throw new Error(`no feature with a chosen candidate in ${folder}`);
}

function reportPath(stdout: string): string {
  const match = /^report: (.+?\.html)(?: \(|$)/m.exec(stdout);
  assert.ok(match, `"report: PATH" on standard output:\n${stdout}`);
  return match[1]!;
}

/** Per feature of a single-file report, the text of every exemplar, read back from the page's data blocks. */
function exemplarTexts(html: string): { key: string; texts: string[] }[] {
  const blocks = new Map<string, unknown>();
  for (const m of html.matchAll(/<script type="application\/json" id="([a-z0-9-]+)">([^<]*)<\/script>/g))
    blocks.set(m[1]!, JSON.parse(m[2]!));
  const strings = blocks.get('expgen-strings') as string[];
  const meta = blocks.get('expgen-meta') as { index: { entries: { key: string }[] } };
  return meta.index.entries.map((entry, i) => {
    const page = blocks.get(`expgen-f${i}`) as { signs: { report: { text: number[] }[] }[] };
    return {
      key: entry.key,
      texts: page.signs.flatMap((s) => s.report.map((e) => e.text.map((id) => strings[id]).join(''))),
    };
  });
}
