/** Helpers for this package's tests: create a component the way the composition root does, read it whole. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { memoryLogger } from '@expgen/contract/testing';
import type { DatasetSource, SourceDocument } from '@expgen/contract';
import plugin from '../index.js';
import { FIXTURES } from './fixtures-path.js';

export { FIXTURES };

export async function createDataset(
  component: 'jsonl' | 'parquet' | 'arrow',
  options: Record<string, unknown>,
  baseDir = FIXTURES,
) {
  const declaration = plugin.components.find((c) => c.kind === 'dataset' && c.name === component)!;
  const logger = memoryLogger();
  const dataset = (await declaration.create(declaration.options.parse(options, [component]), {
    provenance: { kind: 'dataset', component, plugin: plugin.meta.name, pluginVersion: plugin.meta.version },
    baseDir,
    cacheDir: tmpdir(),
    logger,
  })) as DatasetSource;
  return { dataset, logger };
}

export async function readAll(
  dataset: DatasetSource,
  options: { signal?: AbortSignal } = {},
): Promise<SourceDocument[]> {
  const documents: SourceDocument[] = [];
  for await (const document of dataset.documents(options)) documents.push(document);
  return documents;
}

/** Reads a dataset made with `options`, or returns the error message it fails with (at creation or while reading). */
export async function errorOf(
  component: 'jsonl' | 'parquet' | 'arrow',
  options: Record<string, unknown>,
  baseDir = FIXTURES,
): Promise<string> {
  try {
    const { dataset } = await createDataset(component, options, baseDir);
    await readAll(dataset);
  } catch (error) {
    if ((error as Error).name !== 'ExpgenError') throw error;
    return (error as Error).message;
  }
  throw new Error('expected an ExpgenError, but the dataset read without one');
}

/** A temporary folder removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'expgen-datasets-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
