import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { ExpgenCommand } from '../base-command.js';
import { formatCost } from '../../cost/format-cost.js';
import { formatSummary } from '../../score/format-summary.js';
import { mergeRunOutputs } from '../../score/merge-runs.js';
import { plantedSummaryRow, plantedTallies } from '../../planted/index.js';
import { lockRunFolder } from '../../engine/run-lock.js';

export default class Merge extends ExpgenCommand {
  static override summary =
    'Combine the run folders of `expgen run --shard i/N` into one: results, candidates, per-feature detail.';
  static override examples = ['<%= config.bin %> merge runs/shard-0 runs/shard-1 --out runs/all'];
  static override strict = false;
  static override args = { dirs: Args.string({ required: true, description: 'Run folders, one per feature shard.' }) };
  static override flags = {
    out: Flags.string({ char: 'o', required: true, description: 'Folder for the merged run.', helpValue: 'DIR' }),
    json: Flags.boolean({ description: 'Print the summary as JSON.' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(Merge);
    const outDir = resolve(flags.out);
    const lock = lockRunFolder(outDir, {
      logger: this.logger(),
      interruptHint: 'run the same command again to finish the merge',
    });
    let merged: ReturnType<typeof mergeRunOutputs>;
    try {
      merged = mergeRunOutputs(
        (argv as string[]).map((d) => resolve(d)),
        outDir,
      );
    } finally {
      lock.release();
    }
    const { summary, cost, planted } = merged;
    if (flags.json)
      return this.printJson({
        out: outDir,
        summary,
        ...(planted ? { planted: plantedTallies(planted) } : {}),
        cost,
      });
    this.log(`merged ${argv.length} run folder(s) into ${outDir}`);
    this.log(formatSummary(summary, planted ? [plantedSummaryRow(planted)] : []));
    this.log(formatCost(cost, 'cost, all shards'));
  }
}
