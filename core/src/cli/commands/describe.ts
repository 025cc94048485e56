import { ExpgenCommand, stageFlags } from '../base-command.js';
import { stageNotAvailable } from '../not-available.js';

export default class Describe extends ExpgenCommand {
  static override summary = 'Stage 2: sample candidate descriptions per feature and sign from marked exemplars.';
  static override flags = { ...stageFlags };

  async run(): Promise<void> {
    await this.parse(Describe);
    stageNotAvailable('describe', 'stage 2, descriptions');
  }
}
