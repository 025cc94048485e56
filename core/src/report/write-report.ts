import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { ExpgenError, parseFeatureKey, type Logger } from '@expgen/contract';
import { trackTemporary, writeFileAtomic } from '@expgen/plugin-kit';
import { layerFolderName, spaceFolderName } from '../exemplars/storage/index.js';
import type { ExemplarLibrary } from '../exemplars/exemplar-library.js';
import { openLibrary } from './histogram-view.js';
import { readRunForReport, type RunForReport } from './read-run.js';
import { featurePage, indexData, StringTable } from './report-data.js';
import type { FeaturePage } from './report-model.js';
import { featurePageHtml, indexPage, singlePage } from './render-page.js';
import type { ReportTokenizer } from './token-groups.js';

/** Runs with more features than this become a folder: an index and one page per feature. */
export const SINGLE_FILE_MAX_FEATURES = 500;

export type ReportLayout = 'auto' | 'single' | 'folder';

export interface ReportOptions {
  /** A finished run folder (results.jsonl, features/, descriptions/, exemplars/). */
  readonly runDir: string;
  /** The subject's tokenizer: token ids to text, joining tokens that split a character. */
  readonly tokenizer: ReportTokenizer;
  /** Single file: the .html path (default `<runDir>/report.html`). Folder: the folder (default `<runDir>/report`). */
  readonly out?: string;
  /** `auto` (default): one file up to SINGLE_FILE_MAX_FEATURES features, else a folder. */
  readonly layout?: ReportLayout;
  /** Where stage 1's exemplars are, for the activation histograms (default: the run folder). */
  readonly exemplarsDir?: string;
  readonly logger?: Logger;
}

export interface ReportResult {
  /** The file to open: the single file, or the folder's index.html. */
  readonly path: string;
  readonly layout: 'single' | 'folder';
  /** The folder (folder layout) or the file. */
  readonly out: string;
  readonly features: number;
  readonly files: number;
  readonly largestFileBytes: number;
  readonly histograms: boolean;
}

/** The report's default location inside a run folder. */
export function defaultReportPath(runDir: string, layout: 'single' | 'folder'): string {
  return layout === 'single' ? join(runDir, 'report.html') : join(runDir, 'report');
}

/** Which layout a run of `features` features gets. */
export function chooseLayout(features: number, layout: ReportLayout = 'auto'): 'single' | 'folder' {
  return layout === 'auto' ? (features > SINGLE_FILE_MAX_FEATURES ? 'folder' : 'single') : layout;
}

/**
 * Writes the HTML report of a finished run: self-contained files that work offline from `file://`. A small run
 * is one file (index and every feature inside, switched by the URL hash); a large one is a folder of files —
 * `index.html` and `features/<space>/layer-LL/<index>.html`, linked relatively — each self-contained and small.
 */
export async function writeReport(options: ReportOptions): Promise<ReportResult> {
  return writeReportOf(readRunForReport(resolve(options.runDir)), options);
}

async function writeReportOf(run: RunForReport, options: ReportOptions): Promise<ReportResult> {
  const runDir = run.dir;
  const layout = chooseLayout(run.features.length, options.layout);
  const out = resolve(options.out ?? defaultReportPath(runDir, layout));
  if (layout === 'folder' && /\.html?$/i.test(out)) {
    throw new ExpgenError(
      `--out ${options.out}: this run has ${run.features.length} features, more than ${SINGLE_FILE_MAX_FEATURES} for one file, so its report is a folder: pass --out DIR (or --layout single to force one file)`,
    );
  }
  const library = openLibrary(options.exemplarsDir ? resolve(options.exemplarsDir) : runDir, options.logger);
  try {
    return layout === 'single'
      ? await writeSingle(run, out, options, library)
      : await writeFolder(run, out, options, library);
  } finally {
    await library?.close();
  }
}

async function writeSingle(
  run: RunForReport,
  out: string,
  options: ReportOptions,
  library: ExemplarLibrary | null,
): Promise<ReportResult> {
  if (existsSync(out) && statSync(out).isDirectory())
    throw new ExpgenError(
      `--out ${out} is a folder: a single-file report needs a file path (e.g. ${join(out, 'report.html')})`,
    );
  const pages: FeaturePage[] = [];
  const strings = new StringTable();
  for (const feature of run.features) pages.push(await featurePage(run, feature, options.tokenizer, library, strings));
  const html = singlePage(
    run.info,
    indexData(run, () => null),
    pages,
    strings.values,
  );
  writeFileAtomic(out, html);
  return {
    path: out,
    layout: 'single',
    out,
    features: run.features.length,
    files: 1,
    largestFileBytes: Buffer.byteLength(html),
    histograms: library !== null,
  };
}

/** `features/<space>/layer-LL/<index>.html`, relative to the folder, with `/` separators. */
export function featurePagePath(key: string): string {
  const k = parseFeatureKey(key);
  return posix.join('features', spaceFolderName(k.space), layerFolderName(k.layer), `${k.index}.html`);
}

async function writeFolder(
  run: RunForReport,
  out: string,
  options: ReportOptions,
  library: ExemplarLibrary | null,
): Promise<ReportResult> {
  if (existsSync(out) && !isReportFolder(out)) {
    throw new ExpgenError(
      `--out ${out} exists and is not an expgen report folder (no index.html and features/ in it): name a new folder`,
    );
  }
  // Written beside the target and moved into place at the end: a killed run leaves the old report whole.
  const staging = `${out}.tmp-${process.pid}`;
  const forgetStaging = trackTemporary(staging); // an interrupt removes it
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  let largest = 0;
  let files = 0;
  const write = (relative: string, html: string) => {
    const path = join(staging, ...relative.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, html);
    largest = Math.max(largest, Buffer.byteLength(html));
    files++;
  };
  try {
    const paths = run.features.map((f) => featurePagePath(f.key));
    const relativeFrom = (from: string, to: string) => posix.relative(posix.dirname(from), to);
    let reported = Date.now();
    for (const [i, feature] of run.features.entries()) {
      const page = await featurePage(run, feature, options.tokenizer, library);
      const here = paths[i]!;
      const neighbour = (j: number) =>
        j >= 0 && j < run.features.length ? { key: run.features[j]!.key, href: relativeFrom(here, paths[j]!) } : null;
      write(
        here,
        featurePageHtml(run.info, page, {
          index: relativeFrom(here, 'index.html'),
          prev: neighbour(i - 1),
          next: neighbour(i + 1),
        }),
      );
      if (options.logger && Date.now() - reported > 5000) {
        reported = Date.now();
        options.logger.info(`report: ${i + 1}/${run.features.length} feature pages`);
      }
    }
    write(
      'index.html',
      indexPage(
        run.info,
        indexData(run, (key) => featurePagePath(key)),
      ),
    );
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    renameSync(staging, out);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  } finally {
    forgetStaging();
  }
  return {
    path: join(out, 'index.html'),
    layout: 'folder',
    out,
    features: run.features.length,
    files,
    largestFileBytes: largest,
    histograms: library !== null,
  };
}

function isReportFolder(dir: string): boolean {
  if (!statSync(dir).isDirectory()) return false;
  const entries = readdirSync(dir);
  return (
    entries.length === 0 ||
    (entries.includes('index.html') && entries.every((e) => e === 'index.html' || e === 'features'))
  );
}

/** `expgen run` writes the report of runs up to this many features by itself; larger ones ask for `expgen report`. */
export const RUN_REPORT_MAX_FEATURES = 10_000;

/**
 * For `expgen run`: writes the report of the run just finished into its default place and returns the path to
 * open, or null — with a warning, never an error — when it cannot be written: a run's results stand without it.
 * Runs of more than `maxFeatures` features (default RUN_REPORT_MAX_FEATURES) get no report here, only a line
 * saying how to write one: a folder of that many pages is better written on purpose.
 */
export async function writeRunReport(
  options: Pick<ReportOptions, 'runDir' | 'tokenizer' | 'exemplarsDir' | 'logger'> & { readonly maxFeatures?: number },
): Promise<string | null> {
  try {
    const run = readRunForReport(resolve(options.runDir));
    const max = options.maxFeatures ?? RUN_REPORT_MAX_FEATURES;
    if (run.features.length > max) {
      options.logger?.info(
        `${run.features.length} features, more than ${max}: no HTML report written; "expgen report ${options.runDir}" writes one (a folder of pages)`,
      );
      return null;
    }
    return (await writeReportOf(run, options)).path;
  } catch (error) {
    options.logger?.warn(
      `the HTML report was not written (${(error as Error).message}); "expgen report ${options.runDir}" writes it`,
    );
    return null;
  }
}
