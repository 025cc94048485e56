import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExpgenError, formatFeatureKey, type FeatureKey } from '@expgen/contract';
import type { FeatureSelection } from '../engine/feature-selection.js';
import {
  DistributionFileReader,
  ExemplarFileReader,
  FEATURES_PER_BATCH,
  distributionFilePath,
  exemplarFilePath,
  layerFeatures,
  manifestPath,
  readExemplarManifest,
  type DistributionRow,
  type ExemplarManifest,
  type ExemplarRow,
  type FeatureExemplars,
} from './storage/index.js';

/** A decoded batch's rows by feature, built once per batch: stages 2 and 3 ask for every feature of it. */
const byFeature = new WeakMap<readonly ExemplarRow[], Map<number, ExemplarRow[]>>();
function rowsOfFeature(rows: readonly ExemplarRow[], feature: number): ExemplarRow[] {
  let index = byFeature.get(rows);
  if (!index) {
    index = new Map();
    for (const row of rows) {
      const list = index.get(row.feature);
      if (list) list.push(row);
      else index.set(row.feature, [row]);
    }
    byFeature.set(rows, index);
  }
  return index.get(feature) ?? [];
}

/**
 * Read access to a finished stage 1 output for the later stages: which features it holds, and per feature and
 * split its exemplars and activation distribution. Files are opened on first use and one decoded record batch
 * (256 features) is kept per file, so walking features in order decodes each batch once.
 */
export class ExemplarLibrary {
  private readonly exemplarReaders = new Map<string, Promise<ExemplarFileReader>>();
  private readonly distributionReaders = new Map<string, Promise<DistributionFileReader>>();
  private readonly exemplarBatches = new Map<string, { index: number; rows: Promise<ExemplarRow[]> }>();
  private readonly distributionBatches = new Map<string, { index: number; rows: Promise<DistributionRow[]> }>();
  private decoded = 0;

  private constructor(
    readonly dir: string,
    readonly manifest: ExemplarManifest,
  ) {}

  /** Opens `<dir>/exemplars`; refuses an incomplete output (a stage 1 run that has not finished). */
  static open(dir: string): ExemplarLibrary {
    if (!existsSync(manifestPath(dir))) {
      throw new ExpgenError(
        `${join(dir, 'exemplars')} holds no finished exemplars: run "expgen exemplars --out ${dir}" first (or pass --exemplars DIR)`,
      );
    }
    const manifest = readExemplarManifest(dir);
    if (!manifest.complete)
      throw new ExpgenError(
        `${dir}: stage 1 has not finished there: run "expgen exemplars" again with the same --out to complete it`,
      );
    return new ExemplarLibrary(dir, manifest);
  }

  /**
   * Record batches read and decoded so far (exemplar and distribution files): the reading work of a stage, which
   * tests bound per feature (a stage that walks features in order decodes each batch once).
   */
  get batchesDecoded(): number {
    return this.decoded;
  }

  get splits(): string[] {
    return Object.keys(this.manifest.splits);
  }

  /** Every feature of the output, in the total order of feature keys, restricted to `selection` when given. */
  features(selection?: FeatureSelection): FeatureKey[] {
    const keys: FeatureKey[] = [];
    for (const entry of [...this.manifest.layers].sort((a, b) =>
      a.space < b.space ? -1 : a.space > b.space ? 1 : a.layer - b.layer,
    )) {
      const { space, layer } = entry;
      const chosen = selection?.get(layer);
      if (selection && chosen === undefined) continue;
      // The features the output holds (a run over a few features holds only those), within the selection.
      const held = layerFeatures(entry);
      const wanted = chosen === undefined || chosen === 'all' ? null : new Set(chosen);
      for (const index of held) if (!wanted || wanted.has(index)) keys.push({ space, layer, index });
    }
    return keys;
  }

  async exemplars(key: FeatureKey, split: string): Promise<FeatureExemplars> {
    const path = exemplarFilePath(this.dir, { space: key.space, layer: key.layer, split });
    const rows = await this.batch(this.exemplarReaders, this.exemplarBatches, path, key, () =>
      ExemplarFileReader.open(path),
    );
    const own = rowsOfFeature(rows, key.index);
    const bySign = (sign: string) => own.filter((r) => r.sign === sign).sort((a, b) => a.rank - b.rank);
    return { feature: key.index, positive: bySign('positive'), negative: bySign('negative'), random: bySign('random') };
  }

  async distribution(key: FeatureKey, split: string): Promise<DistributionRow | undefined> {
    const path = distributionFilePath(this.dir, { space: key.space, layer: key.layer, split });
    const rows = await this.batch(this.distributionReaders, this.distributionBatches, path, key, () =>
      DistributionFileReader.open(path),
    );
    return rows.find((r) => r.feature === key.index);
  }

  async close(): Promise<void> {
    for (const reader of [...this.exemplarReaders.values(), ...this.distributionReaders.values()])
      await (await reader).close();
    this.exemplarReaders.clear();
    this.distributionReaders.clear();
  }

  private async batch<R extends { batchRows(index: number): Promise<T[]>; readonly batches: number }, T>(
    readers: Map<string, Promise<R>>,
    cache: Map<string, { index: number; rows: Promise<T[]> }>,
    path: string,
    key: FeatureKey,
    open: () => Promise<R>,
  ): Promise<T[]> {
    let reader = readers.get(path);
    if (!reader) {
      // Checked once per file, when it is first opened (stage 3 asks for a batch several times per feature).
      if (!existsSync(path))
        throw new ExpgenError(`${path} is missing: ${formatFeatureKey(key)} has no stage 1 data for this split`);
      readers.set(path, (reader = open()));
    }
    const index = Math.floor(key.index / FEATURES_PER_BATCH);
    const cached = cache.get(path);
    if (cached && cached.index === index) return cached.rows;
    // Reads of one file are chained: the stages ask from several workers at once, and a reader reads one batch at a time.
    const previous = cached?.rows.catch(() => undefined) ?? Promise.resolve(undefined);
    this.decoded++;
    const rows = previous.then(async () => {
      const opened = await reader!;
      return index < opened.batches ? opened.batchRows(index) : [];
    });
    cache.set(path, { index, rows });
    return rows;
  }
}
