import { ExpgenCommand, stageFlags } from '../base-command.js';
import { stageNotAvailable } from '../not-available.js';

export default class Score extends ExpgenCommand {
  static override summary = 'Stage 3: simulate and score candidate descriptions, keep the best on held-out data.';
  static override flags = { ...stageFlags };

  async run(): Promise<void> {
    await this.parse(Score);
    stageNotAvailable('score', 'stage 3, scoring');
  }
}
