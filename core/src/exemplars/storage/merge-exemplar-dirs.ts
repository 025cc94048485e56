import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { canonicalJson, trackTemporary } from '@expgen/plugin-kit';
import { SequenceStore } from '../state/sequence-store.js';
import { EXEMPLARS_DIR, describeKey } from './layout.js';
import { manifestEntries, readExemplarManifest, writeExemplarManifest, type ExemplarManifest } from './manifest.js';
import { SplitCountsCollector, buildManifest, writeLayerSplitFiles, type ExemplarOutputInfo } from './state-files.js';
import { loadLayerSplitState } from './state-loading.js';

/**
 * Combines the outputs of the N shards of one run (each a folder with `exemplars/manifest.json` and its Arrow
 * files) into `outDir`, whose files are byte-identical to those a single run over the union of the shards'
 * sequences writes: every state is loaded back and combined with the states' exact `merge` (top-k lists are a
 * function of the set of sequences, random selections of the set of ids, extremes and histograms are multisets),
 * and the files are written from the merged states by the same writer.
 *
 * Refuses, with one line naming the folder, when: a folder has no manifest, a shard is incomplete, config hashes
 * or parameters differ, two folders are the same shard or hold the same sequence (shards overlap), a shard of
 * the N is missing, or `outDir` already holds exemplars. Works one (space, layer, split) at a time, so memory is
 * about two copies of one layer's state. All or nothing: the files appear in `outDir` only once all are written.
 */
export async function mergeExemplarOutputs(inputDirs: readonly string[], outDir: string): Promise<ExemplarManifest> {
  if (inputDirs.length === 0) throw new ExpgenError('merge: give at least one shard folder');
  const shards = inputDirs.map((dir) => ({ dir, manifest: readExemplarManifest(dir) }));
  checkCompatible(shards);
  const ordered = checkCoverage(shards);
  checkOutDir(outDir, inputDirs);

  // Everything is written to a staging folder beside outDir and moved into place at the end, so a merge that
  // fails half-way (an overlap found in the tenth layer) leaves outDir as it was, with no stray .arrow files.
  const stage = join(dirname(resolve(outDir)), `.${basename(resolve(outDir))}.merging-${process.pid}`);
  const forgetStage = trackTemporary(stage); // an interrupt removes it
  rmSync(stage, { recursive: true, force: true });
  try {
    const manifest = await mergeInto(stage, ordered);
    mkdirSync(outDir, { recursive: true });
    const target = join(outDir, EXEMPLARS_DIR);
    if (existsSync(target)) rmdirSync(target); // empty: checked above
    renameSync(join(stage, EXEMPLARS_DIR), target);
    return manifest;
  } finally {
    rmSync(stage, { recursive: true, force: true });
    forgetStage();
  }
}

async function mergeInto(outDir: string, ordered: readonly Shard[]): Promise<ExemplarManifest> {
  const first = ordered[0]!.manifest;
  const info: ExemplarOutputInfo = {
    configHash: first.configHash,
    parameters: first.parameters,
    datasets: first.datasets,
  };
  const collector = new SplitCountsCollector();
  for (const key of manifestEntries(first)) {
    const sequences = new SequenceStore({ seqLen: first.parameters.seqLen });
    const merged = await loadLayerSplitState(ordered[0]!.dir, ordered[0]!.manifest, key, sequences);
    for (const shard of ordered.slice(1)) {
      const theirs = new SequenceStore({ seqLen: first.parameters.seqLen });
      const other = await loadLayerSplitState(shard.dir, shard.manifest, key, theirs);
      try {
        merged.topK.merge(other.topK);
        if (merged.random && other.random) merged.random.merge(other.random);
        merged.distribution.merge(other.distribution);
      } catch (error) {
        throw new ExpgenError(
          `merge: ${shard.dir} overlaps an earlier shard in ${describeKey(key)} (${(error as Error).message})`,
          { cause: error },
        );
      }
      sequences.fillFrom(theirs);
    }
    const missing = sequences.missing();
    if (missing.length > 0)
      throw new Error(
        `merge: ${describeKey(key)}: no shard has the tokens of sequence ${missing[0]} (and ${missing.length - 1} more)`,
      );
    writeLayerSplitFiles(outDir, merged, sequences, info);
    collector.add(key, merged.distribution);
  }

  // The merged counts come from the merged files; they must equal the sums of what the shards' manifests say.
  const splits = collector.result();
  for (const [split, counts] of Object.entries(splits)) {
    let sequences = 0;
    let tokens = 0;
    for (const shard of ordered) {
      sequences += shard.manifest.splits[split]!.sequencesSeen ?? Number.NaN;
      tokens += shard.manifest.splits[split]!.tokensSeen ?? Number.NaN;
    }
    if (sequences !== counts.sequencesSeen || tokens !== counts.tokensSeen) {
      throw new ExpgenError(
        `merge: the shards' manifests add up to ${sequences} sequences / ${tokens} tokens for split "${split}", their files to ${counts.sequencesSeen} / ${counts.tokensSeen}: a shard folder was changed after its run`,
      );
    }
  }
  const manifest = buildManifest(info, { shard: { index: 0, count: 1 }, complete: true, splits, layers: first.layers });
  writeExemplarManifest(outDir, manifest);
  return manifest;
}

type Shard = { dir: string; manifest: ExemplarManifest };

function checkCompatible(shards: readonly Shard[]): void {
  const [first] = shards;
  for (const shard of shards) {
    const { dir, manifest } = shard;
    if (manifest.imported)
      throw new ExpgenError(`merge: ${dir} was imported from a released dump; only expgen shard outputs can be merged`);
    if (!manifest.complete)
      throw new ExpgenError(
        `merge: ${dir} is an incomplete shard (its manifest says complete: false); let its run finish or resume it before merging`,
      );
    if (shard === first) continue;
    const other = first!.manifest;
    if (manifest.configHash !== other.configHash) {
      throw new ExpgenError(
        `merge: ${dir} was made with config ${manifest.configHash.slice(0, 12)}, ${first!.dir} with ${other.configHash.slice(0, 12)}; only shards of one run can be merged`,
      );
    }
    if (manifest.shard.count !== other.shard.count) {
      throw new ExpgenError(
        `merge: ${dir} is shard ${manifest.shard.index + 1} of ${manifest.shard.count}, ${first!.dir} one of ${other.shard.count}; only shards of one run can be merged`,
      );
    }
    for (const [what, mine, theirs] of [
      ['parameters', manifest.parameters, other.parameters],
      ['datasets', manifest.datasets, other.datasets],
      ['layers', manifest.layers, other.layers],
      ['splits', Object.keys(manifest.splits).sort(), Object.keys(other.splits).sort()],
    ] as const) {
      if (canonicalJson(mine) !== canonicalJson(theirs))
        throw new ExpgenError(
          `merge: ${dir} has other ${what} than ${first!.dir} (${canonicalJson(mine)} vs ${canonicalJson(theirs)}) although their config hashes agree`,
        );
    }
  }
}

/** Checks that the folders are exactly shards 0 .. N-1, once each; returns them in shard order. */
function checkCoverage(shards: readonly Shard[]): Shard[] {
  const count = shards[0]!.manifest.shard.count;
  const byIndex = new Map<number, Shard>();
  const sameFolder = new Map<string, string>();
  for (const shard of shards) {
    const real = resolve(shard.dir);
    const before = sameFolder.get(real);
    if (before !== undefined) throw new ExpgenError(`merge: ${shard.dir} is given twice (also as ${before})`);
    sameFolder.set(real, shard.dir);
    const { index } = shard.manifest.shard;
    const taken = byIndex.get(index);
    if (taken)
      throw new ExpgenError(
        `merge: ${shard.dir} and ${taken.dir} are both shard ${index + 1} of ${count}: shards overlap`,
      );
    byIndex.set(index, shard);
  }
  const missing: number[] = [];
  for (let index = 0; index < count; index++) if (!byIndex.has(index)) missing.push(index + 1);
  if (missing.length > 0) {
    throw new ExpgenError(
      `merge: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${count} ${missing.length > 1 ? 'are' : 'is'} missing (given: ${shards.map((s) => `${s.dir} = ${s.manifest.shard.index + 1}`).join(', ')})`,
    );
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, shard]) => shard);
}

function checkOutDir(outDir: string, inputDirs: readonly string[]): void {
  const out = resolve(outDir);
  const input = inputDirs.find((dir) => resolve(dir) === out);
  if (input !== undefined)
    throw new ExpgenError(`merge: the output folder ${outDir} is also a shard folder; write the merge to a new folder`);
  const exemplars = resolve(outDir, EXEMPLARS_DIR);
  if (existsSync(exemplars) && readdirSync(exemplars).length > 0) {
    throw new ExpgenError(
      `merge: ${outDir} already holds exemplars (${EXEMPLARS_DIR}/ is not empty); write the merge to a new folder or remove them`,
    );
  }
}
