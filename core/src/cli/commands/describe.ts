import { describerFlag, dryRunFlag, featureShardFlags, stageFlags } from '../flags.js';
import { PipelineCommand } from '../pipeline-command.js';

export default class Describe extends PipelineCommand {
  static override summary = 'Stage 2: sample candidate descriptions per feature and sign from marked exemplars.';
  static override description =
    "Reads the train split of finished stage 1 output, renders an explainer prompt per feature and sign and writes the describer's candidates to <out>/descriptions (JSON Lines and Arrow). Resumes per feature; the describer's durable cache means a rerun repeats no model call.";
  static override examples = [
    '<%= config.bin %> describe --out runs/demo',
    '<%= config.bin %> describe --out runs/demo --describer openai-compatible --set describer.options.baseUrl=http://localhost:8000/v1',
  ];
  static override flags = { ...stageFlags, ...describerFlag, ...featureShardFlags, ...dryRunFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Describe);
    await this.runStages('describe', flags, ['describe']);
  }
}
