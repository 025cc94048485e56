import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';

/**
 * The folder a `model` option names, resolved against the config's folder, for components that run their own
 * model (explainer, simulator): `key` is the option's config path, for the message.
 */
export function resolveModelOption(key: string, model: string, baseDir: string): string {
  const dir = resolve(baseDir, model);
  if (!existsSync(dir))
    throw new ExpgenError(
      `${key}: folder ${dir} does not exist; build one with "expgen model build <hf-checkpoint> --out ${dir}"`,
    );
  return dir;
}
