import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';

/**
 * The files a dataset reads: `path` itself when it is a file, else the files directly inside the folder whose
 * names end in one of `extensions`, sorted by name (code-unit order, so the order never depends on the locale).
 * Shards such as FineWeb's `sample-10BT/000_00000.parquet ...` are named so that this order is theirs.
 *
 * Entries are stat'ed rather than judged by their directory entry, so symbolic links to files count: a Hugging
 * Face cache snapshot is a folder of links into its blob store. Hidden files (`.DS_Store`, `._x.parquet` from
 * macOS) are left out, and subfolders are not searched, so what is read is exactly what `ls path` shows.
 */
export async function resolveDatasetFiles(
  dataset: string,
  path: string,
  baseDir: string,
  format: { readonly name: string; readonly extensions: readonly string[] },
): Promise<{ readonly path: string; readonly files: readonly string[] }> {
  const absolute = resolve(baseDir, path);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(absolute);
  } catch {
    throw new ExpgenError(
      `dataset "${dataset}": ${absolute} does not exist: check the dataset's options.path (relative paths start at the config file's folder)`,
    );
  }
  if (!info.isDirectory()) return { path: absolute, files: [absolute] };
  const names = (await readdir(absolute))
    .filter((name) => !name.startsWith('.') && hasExtension(name, format.extensions))
    .sort();
  const files: string[] = [];
  for (const name of names) {
    const file = join(absolute, name);
    if ((await stat(file).catch(() => undefined))?.isFile()) files.push(file);
  }
  if (files.length === 0) {
    const wanted = format.extensions.map((e) => `*${e}`).join(', ');
    throw new ExpgenError(
      `dataset "${dataset}": folder ${absolute} holds no ${format.name} files (${wanted}; subfolders are not searched): point options.path at the folder that holds the shards, or at one file`,
    );
  }
  return { path: absolute, files };
}

function hasExtension(name: string, extensions: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return extensions.some((e) => lower.endsWith(e) && lower.length > e.length);
}
