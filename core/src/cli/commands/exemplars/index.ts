import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { ExpgenCommand, stageFlags } from '../../base-command.js';
import { datasetsFromFiles } from '../../../engine/data-files.js';
import { selectFeatures } from '../../../engine/feature-selection.js';
import { resolveAllComponents } from '../../../engine/resolve-components.js';
import { writeManifest } from '../../../engine/run-manifest.js';
import { claimStageOutput, stageConfigHash } from '../../../engine/stage-config.js';
import { runExemplarStage } from '../../../exemplars/exemplar-stage.js';
import { parseShard } from '../../../exemplars/corpus/index.js';

export default class Exemplars extends ExpgenCommand {
  static override summary = 'Stage 1: stream a corpus through the subject and keep top/bottom exemplars per feature.';
  static override description =
    'Reads every requested layer in one pass per layer group, keeps per feature and split the top-k and bottom-k sequences with per-token activations, the random sequences and the tail of the activation distribution, and writes Arrow IPC files under <out>/exemplars. Killed runs resume from their last checkpoint when started again with the same command.';
  static override examples = [
    '<%= config.bin %> exemplars --out runs/demo',
    '<%= config.bin %> exemplars --data corpus.jsonl --features mlp/0/* --out runs/one-layer',
    '<%= config.bin %> exemplars --config configs/distilled_llama.yaml --shard 3/8 --out runs/llama-8b/shard-3',
  ];
  static override flags = {
    ...stageFlags,
    out: Flags.string({ char: 'o', description: 'Output folder.', helpValue: 'DIR', default: 'out' }),
    shard: Flags.string({ description: 'Process shard i of N (i from 0): the sequences whose id is i modulo N.', helpValue: 'i/N' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Exemplars);
    const sets = [
      ...(flags.plugin ? [`activation.component=${flags.plugin}`] : []),
      ...(flags.data?.length ? [`datasets=${JSON.stringify(datasetsFromFiles(flags.data, process.cwd()))}`] : []),
    ];
    const shard = flags.shard ? parseShard(flags.shard) : undefined;
    const outDir = resolve(flags.out);
    const { loaded, registry, run } = await this.compose(flags, ['subject-model', 'activation-source', 'dataset'], sets);
    try {
      const { config } = resolveAllComponents(loaded, registry);
      const { subject, activation, datasets } = run.components;
      const featureSpec = flags.features ?? config.features;
      const selection = selectFeatures(featureSpec, activation!, flags.features ? process.cwd() : loaded.baseDirOf(['features']));
      claimStageOutput(outDir, config, 'exemplars');
      const manifestEntry = { command: 'exemplars', loaded: { ...loaded, config }, registry, components: run.provenance, extra: { subject: subject!.info, shard: shard ?? { index: 0, count: 1 } } };
      writeManifest(outDir, manifestEntry);
      const summary = await runExemplarStage({
        subject: subject!,
        activation: activation!,
        datasets: datasets!.map((source, i) => ({ source, ratio: config.datasets[i]!.ratio, ...(config.datasets[i]!.name ? { name: config.datasets[i]!.name! } : {}) })),
        settings: config.exemplars,
        selection,
        outDir,
        configHash: stageConfigHash(config, 'exemplars'),
        ...(shard ? { shard } : {}),
        logger: this.logger(),
        progress: !flags.json,
      });
      if (flags.json) {
        return this.printJson({ out: outDir, end: summary.end, sequences: summary.sequences, tokens: summary.tokens, seconds: summary.seconds, groups: summary.groups, resumed: summary.resumed, splits: summary.manifest.splits });
      }
      this.log(`exemplars written to ${resolve(outDir, 'exemplars')} (${summary.manifest.layers.length} layer(s), splits ${Object.keys(summary.manifest.splits).join(', ')})`);
    } finally {
      await run.dispose();
    }
  }
}
