import { Args, Flags } from '@oclif/core';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ExpgenCommand } from '../../base-command.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import { MANIFEST_FILE, upgradeRunManifest } from '../../../engine/run-manifest.js';
import { checkShardsFinished } from '../../../engine/shard.js';
import { EXEMPLARS_DIR, manifestFileForm, mergeExemplarOutputs } from '../../../exemplars/storage/index.js';
import { lockRunFolder } from '../../../engine/run-lock.js';

export default class ExemplarsMerge extends ExpgenCommand {
  static override summary =
    'Combine the outputs of `expgen exemplars --shard i/N` into the files a single run would write.';
  static override examples = [
    '<%= config.bin %> exemplars merge runs/shard-0 runs/shard-1 runs/shard-2 --out runs/all',
  ];
  static override strict = false;
  static override args = {
    dirs: Args.string({ required: true, description: 'Shard output folders (each made with --shard i/N).' }),
  };
  static override flags = {
    out: Flags.string({ char: 'o', required: true, description: 'Folder for the merged output.', helpValue: 'DIR' }),
    json: Flags.boolean({ description: 'Print the merged manifest as JSON.' }),
  };

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(ExemplarsMerge);
    const dirs = (argv as string[]).map((d) => resolve(d));
    const outDir = resolve(flags.out);
    checkShardsFinished(dirs, join(EXEMPLARS_DIR, 'manifest.json'), 'expgen exemplars');
    const lock = lockRunFolder(outDir, {
      logger: this.logger(),
      interruptHint: 'nothing was merged; run the same command again',
    });
    let manifest: Awaited<ReturnType<typeof mergeExemplarOutputs>>;
    try {
      manifest = await mergeExemplarOutputs(dirs, outDir);
      // The run manifest (resolved config, plugins) is the same in every shard but for the shard itself.
      const first = join(dirs[0]!, MANIFEST_FILE);
      if (existsSync(first)) {
        const runManifest = JSON.parse(readFileSync(first, 'utf8')) as Record<string, unknown>;
        writeFileAtomic(
          join(outDir, MANIFEST_FILE),
          `${JSON.stringify({ ...upgradeRunManifest(runManifest), shard: { index: 0, count: 1 }, merged_from: dirs }, null, 2)}\n`,
        );
      }
    } finally {
      lock.release();
    }
    if (flags.json) return this.printJson(manifestFileForm(manifest));
    this.log(
      `merged ${dirs.length} shard(s) into ${join(outDir, 'exemplars')}: ${manifest.layers.length} layer(s), ${Object.entries(
        manifest.splits,
      )
        .map(([s, c]) => `${s} ${c.sequencesSeen} sequences`)
        .join(', ')}`,
    );
  }
}
