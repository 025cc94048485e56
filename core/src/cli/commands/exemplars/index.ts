import { ExpgenCommand, stageFlags } from '../../base-command.js';
import { stageNotAvailable } from '../../not-available.js';

export default class Exemplars extends ExpgenCommand {
  static override summary = 'Stage 1: stream a corpus through the subject and keep top/bottom exemplars per feature.';
  static override flags = { ...stageFlags };

  async run(): Promise<void> {
    await this.parse(Exemplars);
    stageNotAvailable('exemplars', 'stage 1, exemplars');
  }
}
