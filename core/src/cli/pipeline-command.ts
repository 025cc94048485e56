import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { datasetsFromFiles } from '../engine/data-files.js';
import { subjectRecord, writeManifest } from '../engine/run-manifest.js';
import { inFolder } from '../engine/file-system-errors.js';
import { watchInterrupts } from '../engine/interrupts.js';
import { lockRunFolder } from '../engine/run-lock.js';
import { formatShard, resolveShard } from '../engine/shard.js';
import {
  checkPipelineCanStart,
  runPipeline,
  type PipelineOptions,
  type PipelineResult,
  type StageName,
} from '../pipeline.js';
import { isExpgenError } from '@expgen/contract';
import { estimateRun, withDescriberEstimate } from '../cost/estimate-run.js';
import { formatEstimate } from '../cost/format-estimate.js';
import { formatCost } from '../cost/format-cost.js';
import type { DescribeEstimate } from '../describe/describe-stage.js';
import { manifestFileForm, manifestPath } from '../exemplars/storage/index.js';
import { formatSummary } from '../score/format-summary.js';
import { plantedSummaryRow, plantedTallies, writePlantedComparison, type PlantedComparison } from '../planted/index.js';
import { writeRunReport } from '../report/index.js';
import { ExpgenCommand } from './base-command.js';

type PipelineFlags = {
  config?: string;
  set?: string[];
  out: string;
  plugin?: string;
  describer?: string;
  simulator?: string;
  scorer?: string[];
  data?: string[];
  features?: string;
  json?: boolean;
  shard?: string;
  exemplars?: string;
  'dry-run'?: boolean;
};

/** Runs `stages` of the pipeline for a command: flags to config overrides, composition, the engine, the report. */
export abstract class PipelineCommand extends ExpgenCommand {
  /**
   * `shardOver`: what `--shard i/N` slices — the features (describe, score, run) or the corpus's sequences
   * (exemplars, whose shards `expgen exemplars merge` combines).
   */
  protected async runStages(
    command: string,
    flags: PipelineFlags,
    stages: StageName[],
    shardOver: 'features' | 'sequences' = 'features',
  ): Promise<PipelineResult> {
    const sets = [
      ...(flags.plugin ? [`activation.component=${flags.plugin}`] : []),
      ...(flags.describer ? [`describer.component=${flags.describer}`] : []),
      ...(flags.simulator ? [`simulator.component=${flags.simulator}`] : []),
      ...(flags.data?.length ? [`datasets=${JSON.stringify(datasetsFromFiles(flags.data, process.cwd()))}`] : []),
    ];
    const outDir = resolve(flags.out);
    if (flags['dry-run']) {
      await this.dryRun(flags, stages, sets, outDir);
      return { exemplarsDir: flags.exemplars ? resolve(flags.exemplars) : outDir };
    }
    const resolved = flags.shard ? resolveShard(flags.shard) : undefined;
    const shard = resolved?.shard;
    if (resolved?.indexFrom)
      this.logger().info(
        `--shard ${flags.shard}: shard ${formatShard(resolved.shard)}, the index from ${resolved.indexFrom}`,
      );
    // Watched before the models load: a SIGTERM then stops the run too (a pod's PID 1 ignores unhandled signals).
    const interrupts = watchInterrupts();
    // One process per run folder, taken before the models load so a second one is refused at once; a dry run
    // writes nothing and takes no lock.
    const lock = flags['dry-run'] ? null : lockRunFolder(outDir, { logger: this.logger() });
    try {
      const { config, run } = await this.compose(
        flags,
        { stages, progress: !flags.json, signal: interrupts.signal },
        sets,
      );
      try {
        const options: PipelineOptions = {
          run,
          config: config.config,
          outDir,
          stages,
          ...(flags.features !== undefined ? { features: flags.features } : {}),
          featuresBaseDir: flags.features !== undefined ? process.cwd() : config.baseDirOf(['features']),
          ...(flags.exemplars ? { exemplarsDir: resolve(flags.exemplars) } : {}),
          ...(shard ? { [shardOver === 'features' ? 'featureShard' : 'sequenceShard']: shard } : {}),
          dryRun: Boolean(flags['dry-run']),
          interrupts,
        };
        // Everything that can refuse the command is checked before the first write: a refused rerun leaves the
        // folder byte-identical, its manifest included.
        checkPipelineCanStart(options);
        if (!flags['dry-run'])
          writeManifest(outDir, {
            command,
            config,
            registry: config.registry,
            components: run.provenance,
            extra: { subject: subjectRecord(run.components.subject!.info), ...(shard ? { shard } : {}) },
          });
        const result = await runPipeline(options);
        const planted =
          result.rows && !flags['dry-run']
            ? writePlantedComparison(run.components.subject!.info, result.rows, outDir)
            : null;
        // A whole run ends with its report; feature shards get theirs after `expgen merge`.
        const reportPath =
          command === 'run' && result.summary && !flags.shard && !flags['dry-run']
            ? await writeRunReport({
                runDir: outDir,
                tokenizer: run.components.subject!.tokenizer,
                logger: this.logger(),
                ...(flags.exemplars ? { exemplarsDir: resolve(flags.exemplars) } : {}),
              })
            : null;
        this.report(outDir, result, Boolean(flags.json), reportPath, planted);
        return result;
      } finally {
        await run.dispose();
      }
    } catch (error) {
      throw inFolder(error, outDir);
    } finally {
      lock?.release();
      interrupts.dispose();
    }
  }

  /**
   * `--dry-run`: the whole configured run priced from the config alone (no model folder or dataset needed), with
   * stage 2 from the describer's own estimate when finished exemplars are there and the describer can price its
   * calls. Nothing is sent or written.
   */
  private async dryRun(flags: PipelineFlags, stages: StageName[], sets: string[], outDir: string): Promise<void> {
    const config = await this.resolveConfig(flags, sets);
    const exemplarsDir = flags.exemplars ? resolve(flags.exemplars) : outDir;
    const finished = existsSync(manifestPath(exemplarsDir));
    // A run over finished exemplars does not repeat stage 1.
    const priced = stages.filter((s) => !(s === 'exemplars' && finished));
    const featureShard = flags.shard ? resolveShard(flags.shard).shard : undefined;
    const featuresBaseDir = flags.features !== undefined ? process.cwd() : config.baseDirOf(['features']);
    let estimate = await estimateRun({
      config: config.config,
      stages: priced,
      features: flags.features ?? null,
      featuresBaseDir,
      subjectBaseDir: config.baseDirOf(['subject', 'options']),
      describeBaseDir: config.baseDirOf(['describe', 'promptTemplate']),
      ...(featureShard ? { featureShard } : {}),
      cores: availableParallelism(),
    });
    let described: DescribeEstimate | undefined;
    if (finished && priced.includes('describe')) {
      try {
        const { run } = await this.compose(flags, { stages: ['describe'], progress: false }, sets);
        try {
          described = (
            await runPipeline({
              run,
              config: config.config,
              outDir,
              stages: ['describe'],
              ...(flags.features !== undefined ? { features: flags.features } : {}),
              featuresBaseDir,
              ...(flags.exemplars ? { exemplarsDir } : {}),
              ...(featureShard ? { featureShard } : {}),
              dryRun: true,
            })
          ).estimate;
        } finally {
          await run.dispose();
        }
        if (described)
          estimate = withDescriberEstimate(
            estimate,
            described,
            `stage 2 from the describer's own estimate over the finished exemplars in ${exemplarsDir} (calls, cache hits, prompt tokens; completion tokens at most)`,
          );
      } catch (error) {
        if (!isExpgenError(error)) throw error;
        estimate = {
          ...estimate,
          assumed: [
            `stage 2 from the config: the describer's own estimate over ${exemplarsDir} was not available (${error.message})`,
            ...estimate.assumed,
          ],
        };
      }
    }
    if (flags.json) {
      this.printJson({ out: outDir, dry_run: true, ...estimate, ...(described ? { estimate: described } : {}) });
      return;
    }
    this.log(formatEstimate(estimate));
  }

  private report(
    outDir: string,
    result: PipelineResult,
    json: boolean,
    reportPath: string | null,
    planted: PlantedComparison | null,
  ): void {
    const stage1Only = result.exemplars && !result.described && !result.summary && !result.estimate;
    if (stage1Only && json) {
      const s = result.exemplars!;
      this.printJson({
        out: outDir,
        end: s.end,
        sequences: s.sequences,
        tokens: s.tokens,
        seconds: s.seconds,
        groups: s.groups,
        resumed: s.resumed,
        splits: manifestFileForm(s.manifest)['splits'],
      });
      return;
    }
    if (stage1Only) {
      const manifest = result.exemplars!.manifest;
      this.log(
        `exemplars written to ${resolve(outDir, 'exemplars')} (${manifest.layers.length} layer(s), splits ${Object.keys(manifest.splits).join(', ')})`,
      );
      return;
    }
    if (json) {
      this.printJson({
        out: outDir,
        summary: result.summary ?? null,
        described: result.described?.length ?? null,
        report: reportPath,
        ...(planted ? { planted: plantedTallies(planted) } : {}),
        ...(result.estimate ? { estimate: result.estimate } : {}),
        ...(result.cost ? { cost: result.cost } : {}),
      });
      return;
    }
    if (result.estimate) {
      const e = result.estimate;
      this.log(
        `dry run: ${e.feature_signs} feature-signs (${e.already_described} already described, ${e.skipped} skipped as never reached)`,
      );
      this.log(`  calls to send: ${e.calls} (${e.cached_calls} more answered by the cache)`);
      this.log(`  prompt tokens: about ${e.prompt_tokens}; completion tokens: at most ${e.max_completion_tokens}`);
      return;
    }
    if (result.summary) {
      this.log(
        `results: ${resolve(outDir, 'results.jsonl')} and results.arrow; per-feature detail under ${resolve(outDir, 'features')}`,
      );
      this.log(formatSummary(result.summary, planted ? [plantedSummaryRow(planted)] : []));
      if (result.cost) this.log(formatCost(result.cost, `cost (${resolve(outDir, 'cost.json')})`));
      if (reportPath) this.log(`report: ${reportPath}`);
    } else if (result.described) {
      this.log(`candidates: ${resolve(outDir, 'descriptions', 'candidates.jsonl')} and candidates.arrow`);
      if (result.cost) this.log(formatCost(result.cost, `cost (${resolve(outDir, 'cost.json')})`));
    }
  }
}
