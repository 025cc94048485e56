import { featureShardFlags, scorerFlag, simulatorFlag, stageFlags } from '../flags.js';
import { PipelineCommand } from '../pipeline-command.js';

export default class Score extends PipelineCommand {
  static override summary = 'Stage 3: simulate and score candidate descriptions, keep the best on held-out data.';
  static override description =
    'For each feature and sign described in <out>/descriptions, simulates every candidate on the valid split, keeps the best, reports it on the test split with a 95% bootstrap interval, and scores a null baseline of shuffled descriptions. Writes <out>/results.{jsonl,arrow} and per-feature detail.';
  static override flags = { ...stageFlags, ...simulatorFlag, ...scorerFlag, ...featureShardFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Score);
    await this.runStages('score', flags, ['score']);
  }
}
