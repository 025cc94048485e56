import { Args, Flags, type Interfaces } from '@oclif/core';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExpgenError } from '@expgen/contract';
import { MANIFEST_FILE } from '../../engine/run-manifest.js';
import { lockRunFolder } from '../../engine/run-lock.js';
import { SINGLE_FILE_MAX_FEATURES, writeReport, type ReportLayout } from '../../report/index.js';
import { ExpgenCommand } from '../base-command.js';
import { configFlags } from '../flags.js';

export default class Report extends ExpgenCommand {
  static override summary =
    'Write the HTML report of a finished run: features, descriptions, scores and shaded exemplars.';
  static override description = [
    'Writes a self-contained HTML report that works offline from file:// (no server, no network): an index of the features with their best description per sign, score and 95% interval, sortable and searchable; per feature every candidate with its scores, the activation histogram, and exemplars with each token shaded by its true activation beside the simulation of the chosen description.',
    `A run of more than ${SINGLE_FILE_MAX_FEATURES} features becomes a folder: index.html and one page per feature.`,
    "Token text comes from the subject's tokenizer: the subject recorded in the run's manifest is opened (its weights are not loaded); --config or --set subject... choose another.",
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> report out',
    '<%= config.bin %> report runs/llama-8b --out /tmp/llama-8b-report --layout folder',
  ];
  static override args = { run: Args.string({ required: true, description: 'Run folder (expgen run --out DIR).' }) };
  static override flags = {
    ...configFlags,
    out: Flags.string({
      char: 'o',
      description: `Report file (default <run>/report.html); for a folder report, the folder (default <run>/report).`,
      helpValue: 'FILE',
    }),
    layout: Flags.string({
      options: ['auto', 'single', 'folder'],
      default: 'auto',
      description: `One file, or a folder of pages (auto: a folder above ${SINGLE_FILE_MAX_FEATURES} features).`,
    }),
    exemplars: Flags.string({
      description:
        'Folder holding the stage 1 output (for the histograms) when it is not the run folder (runs made with --exemplars).',
      helpValue: 'DIR',
    }),
    json: Flags.boolean({ description: 'Print {path, layout, files, ...} as JSON on standard output.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Report);
    const runDir = resolve(args.run);
    if (!existsSync(join(runDir, 'results.jsonl'))) {
      throw new ExpgenError(
        `${runDir} holds no finished run (no results.jsonl): run "expgen run --out ${args.run}" first`,
      );
    }
    const manifest = readManifest(runDir);
    // Writing inside the run folder (the default) takes its lock, so no run rewrites the results being reported;
    // a report written elsewhere only reads files that runs replace atomically.
    const lock = isInside(resolve(flags.out ?? runDir), runDir)
      ? lockRunFolder(runDir, {
          logger: this.logger(),
          interruptHint: 'the previous report is left as it was; run the same command again',
        })
      : null;
    try {
      await this.writeReportOf(runDir, manifest, flags);
    } finally {
      lock?.release();
    }
  }

  private async writeReportOf(
    runDir: string,
    manifest: Record<string, unknown> | null,
    flags: Interfaces.InferredFlags<typeof Report.flags>,
  ): Promise<void> {
    const userChoosesSubject = Boolean(flags.config) || (flags.set ?? []).some((s) => /^\s*subject(\.|\s*=)/.test(s));
    const sets = userChoosesSubject ? [] : subjectFromManifest(manifest, runDir);
    const { run } = await this.compose(flags, ['subject-model'], sets);
    try {
      const subject = run.components.subject!;
      const recorded = (manifest?.subject as { hashes?: Record<string, string> } | undefined)?.hashes?.tokenizer;
      const found = subject.info.hashes.tokenizer;
      if (recorded && found && recorded !== found) {
        throw new ExpgenError(
          `the subject opened for the report has a different tokenizer (${found.slice(0, 12)}) from the one the run used (${recorded.slice(0, 12)}, ${join(runDir, MANIFEST_FILE)}): pass the run's model with --set subject.options.model=DIR`,
        );
      }
      const result = await writeReport({
        runDir,
        tokenizer: subject.tokenizer,
        ...(flags.out ? { out: flags.out } : {}),
        layout: flags.layout as ReportLayout,
        ...(flags.exemplars ? { exemplarsDir: flags.exemplars } : {}),
        logger: this.logger(),
      });
      if (flags.json) {
        const { largestFileBytes, ...rest } = result;
        return this.printJson({ ...rest, largest_file_bytes: largestFileBytes });
      }
      const size = `${(result.largestFileBytes / 1e6).toFixed(1)} MB`;
      this.log(
        result.layout === 'single'
          ? `report: ${result.path} (${result.features} features, ${size})`
          : `report: ${result.path} (${result.features} features, ${result.files} files in ${result.out}, largest ${size})`,
      );
      this.log(`open ${pathToFileURL(result.path).href}`);
    } finally {
      await run.dispose();
    }
  }
}

function isInside(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function readManifest(runDir: string): Record<string, unknown> | null {
  const path = join(runDir, MANIFEST_FILE);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ExpgenError(`${path}: not readable as JSON (${(error as Error).message})`);
  }
}

/**
 * `--set subject=...` from the run's manifest, so the report reads tokens with the run's own tokenizer. Only the
 * tokenizer is used: a GPU provider becomes cpu (no session is opened), and a relative model path is looked up
 * from the current folder and then the run folder.
 */
function subjectFromManifest(manifest: Record<string, unknown> | null, runDir: string): string[] {
  const section = (
    manifest?.config as { subject?: { component?: unknown; options?: Record<string, unknown> } } | undefined
  )?.subject;
  if (!section || typeof section.component !== 'string') return [];
  const options = { ...(section.options ?? {}) };
  if (options.provider === 'cuda' || options.provider === 'webgpu') options.provider = 'cpu';
  if (typeof options.model === 'string' && !isAbsolute(options.model)) {
    const candidates = [resolve(options.model), resolve(runDir, options.model)];
    options.model = candidates.find((p) => existsSync(p)) ?? candidates[0];
  }
  return [`subject=${JSON.stringify({ component: section.component, options })}`];
}
