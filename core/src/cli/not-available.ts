import { NotAvailableError } from '@expgen/contract';

/** Stage commands whose engine a later release brings: they parse their flags, then say so and exit non-zero. */
export function stageNotAvailable(command: string, stage: string): never {
  throw new NotAvailableError(`"expgen ${command}" (${stage})`);
}
