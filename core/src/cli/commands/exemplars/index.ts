import { Flags } from '@oclif/core';
import { dataFlag, stageFlags } from '../../flags.js';
import { PipelineCommand } from '../../pipeline-command.js';

export default class Exemplars extends PipelineCommand {
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
    ...dataFlag,
    shard: Flags.string({
      description:
        'Process shard i of N (i from 0): the sequences whose id is i modulo N; auto/N takes i from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX.',
      helpValue: 'i/N',
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Exemplars);
    await this.runStages('exemplars', flags, ['exemplars'], 'sequences');
  }
}
