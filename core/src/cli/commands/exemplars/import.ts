import { Args, Flags } from '@oclif/core';
import { join, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { ExpgenCommand } from '../../base-command.js';
import { importReleasedExemplars } from '../../../exemplars/released/index.js';
import { lockRunFolder } from '../../../engine/run-lock.js';
import { manifestFileForm } from '../../../exemplars/storage/index.js';

export default class ExemplarsImport extends ExpgenCommand {
  static override summary =
    "Convert the exemplar folders Transluce released for Llama-3.1-8B-Instruct into expgen's stage 1 files.";
  static override description =
    'Reads the released layout (exemplar_config.json, {split}/layer{L}/*.npy, read slice by slice, never whole) and writes <out>/exemplars as `expgen exemplars` would, so stages 2 and 3 can start from the download instead of re-running stage 1.';
  static override examples = [
    '<%= config.bin %> exemplars import ./llama-3.1-8b-exemplars --out runs/llama-8b --layers 12,13',
  ];
  static override args = {
    released: Args.string({ required: true, description: 'Folder of the released exemplars.' }),
  };
  static override flags = {
    out: Flags.string({ char: 'o', required: true, description: 'Output folder.', helpValue: 'DIR' }),
    layers: Flags.string({
      description: 'Comma-separated layers to import (default: every layer).',
      helpValue: '0,1,...',
    }),
    json: Flags.boolean({ description: 'Print the written manifest as JSON.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ExemplarsImport);
    const layers = flags.layers?.split(',').map((part) => {
      const trimmed = part.trim();
      if (!/^\d+$/.test(trimmed))
        throw new ExpgenError(`--layers "${flags.layers}": "${trimmed}" is not a layer number`);
      return Number(trimmed);
    });
    const outDir = resolve(flags.out);
    const lock = lockRunFolder(outDir, {
      logger: this.logger(),
      interruptHint: 'nothing was imported; run the same command again',
    });
    let manifest: ReturnType<typeof importReleasedExemplars>;
    try {
      manifest = importReleasedExemplars(resolve(args.released), outDir, layers);
    } finally {
      lock.release();
    }
    if (flags.json) return this.printJson(manifestFileForm(manifest));
    this.log(`imported ${manifest.layers.length} layer(s) into ${join(outDir, 'exemplars')}`);
  }
}
