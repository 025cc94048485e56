import { ExpgenCommand, stageFlags } from '../base-command.js';
import { stageNotAvailable } from '../not-available.js';

export default class Run extends ExpgenCommand {
  static override summary = 'Run the whole pipeline: exemplars, descriptions, scores.';
  static override flags = { ...stageFlags };

  async run(): Promise<void> {
    await this.parse(Run);
    stageNotAvailable('run', 'exemplars -> describe -> score');
  }
}
