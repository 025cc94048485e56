import {
  dataFlag,
  describerFlag,
  dryRunFlag,
  featureShardFlags,
  scorerFlag,
  simulatorFlag,
  stageFlags,
} from '../flags.js';
import { PipelineCommand } from '../pipeline-command.js';

export default class Run extends PipelineCommand {
  static override summary = 'Run the whole pipeline: exemplars, descriptions, scores.';
  static override description =
    'Stage 1 (exemplars), stage 2 (descriptions) and stage 3 (scores) in one command over the configured components, each resuming where a killed run stopped. With --shard i/N this process describes and scores a slice of the features; `expgen merge` combines the slices.';
  static override examples = [
    '<%= config.bin %> run',
    '<%= config.bin %> run --plugin sae --out runs/sae',
    '<%= config.bin %> run --config configs/distilled_llama.yaml --exemplars runs/llama-8b-exemplars --shard 0/16 --out runs/llama-8b/0',
  ];
  static override flags = {
    ...stageFlags,
    ...dataFlag,
    ...describerFlag,
    ...simulatorFlag,
    ...scorerFlag,
    ...featureShardFlags,
    ...dryRunFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Run);
    await this.runStages('run', flags, flags.exemplars ? ['describe', 'score'] : ['exemplars', 'describe', 'score']);
  }
}
