import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { ExpgenCommand } from '../../base-command.js';
import { configFlags } from '../../flags.js';
import { resolveCacheDir } from '../../../engine/cache-dir.js';
import { stderrLogger } from '../../../engine/logger.js';
import { writeManifest } from '../../../engine/run-manifest.js';

export default class ModelBuild extends ExpgenCommand {
  static override summary =
    "Build the configured subject model's runnable form (for Llama: ONNX) from a Hugging Face folder.";
  static override examples = [
    '<%= config.bin %> model build ./Llama-3.1-8B-Instruct --out ./llama-8b-onnx --dtype fp16',
  ];
  static override args = {
    source: Args.string({
      required: true,
      description: 'Hugging Face model folder (config.json, *.safetensors, tokenizer.json).',
    }),
  };
  static override flags = {
    ...configFlags,
    out: Flags.string({
      char: 'o',
      required: true,
      description: 'Folder to write the built model to.',
      helpValue: 'DIR',
    }),
    dtype: Flags.string({ options: ['fp32', 'fp16'], default: 'fp32', description: 'Numeric type of the weights.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ModelBuild);
    const loaded = await this.loadConfigFrom(flags);
    const registry = await this.discoverPlugins(loaded);
    const section = loaded.config.subject;
    const { plugin, declaration } = registry.find(
      'subject-model',
      section.component,
      section.plugin,
      `${loaded.sourceOf(['subject', 'component'])}: subject.component`,
    );
    if (!declaration.build) {
      throw new ExpgenError(
        `subject model "${declaration.name}" from plugin "${plugin.meta.name}" has nothing to build: it loads its models as they are`,
      );
    }
    const out = resolve(flags.out);
    const logger = stderrLogger();
    const result = await declaration.build(
      resolve(args.source),
      out,
      { dtype: flags.dtype },
      {
        baseDir: process.cwd(),
        cacheDir: resolveCacheDir(loaded.config.cacheDir, loaded.baseDirOf(['cacheDir'])),
        logger,
      },
    );
    writeManifest(result.out, {
      command: 'model build',
      config: loaded,
      registry,
      components: [
        {
          kind: 'subject-model',
          component: declaration.name,
          plugin: plugin.meta.name,
          pluginVersion: plugin.meta.version,
          settings: { dtype: flags.dtype },
        },
      ],
    });
    this.log(result.summary);
  }
}
