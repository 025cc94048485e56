import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareFeatureKeys, ExpgenError, parseFeatureKey } from '@expgen/contract';
import type { ExpgenConfig } from '../config/config-schema.js';
import { readDescribedLine, type DescribedFeature } from '../describe/described-feature.js';
import { writeCandidates } from '../describe/describe-stage.js';
import { writeFileAtomic } from '@expgen/plugin-kit';
import { upgradeRunManifest } from '../engine/run-manifest.js';
import { checkShardsFinished } from '../engine/shard.js';
import { differingKeys, withoutShard } from '../engine/stage-config.js';
import { mergeNullScores } from './null-pairing.js';
import {
  addCost,
  readStageCost,
  writeStageCost,
  zeroCost,
  type CostedStage,
  type RunCost,
} from '../cost/stage-cost.js';
import { readPlantedComparison, writePlantedComparison, type PlantedComparison } from '../planted/index.js';
import { readResultRows } from './read-results.js';
import { summarize, writeResults, type ResultRow, type RunSummary } from './results.js';

/**
 * Combines the outputs of `expgen run --shard i/N` (each a slice of the features) into one run folder: results,
 * candidates and per-feature detail. Shards must come from the same config and together hold every slice once.
 */
export function mergeRunOutputs(
  inputDirs: readonly string[],
  outDir: string,
): { rows: ResultRow[]; summary: RunSummary; cost: RunCost; planted: PlantedComparison | null } {
  if (inputDirs.length === 0) throw new ExpgenError('merge: give at least one run folder');
  checkShardsFinished(inputDirs, 'results.jsonl', 'expgen run');
  const shards = inputDirs.map((dir) => {
    const stage = join(dir, 'stages', 'score.json');
    const manifestFile = join(dir, 'expgen-manifest.json');
    if (![join(dir, 'results.jsonl'), stage, manifestFile].every((f) => existsSync(f)))
      throw new ExpgenError(
        `${dir} holds no finished run (results.jsonl, expgen-manifest.json): finish "expgen run" there first`,
      );
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      shard?: { index: number; count: number };
      config: ExpgenConfig;
    } & Record<string, unknown>;
    return {
      dir,
      stage: JSON.parse(readFileSync(stage, 'utf8')) as unknown,
      shard: manifest.shard ?? { index: 0, count: 1 },
      config: manifest.config,
      manifest,
    };
  });
  for (const s of shards.slice(1)) {
    const differences = differingKeys(withoutShard(shards[0]!.stage), withoutShard(s.stage));
    if (differences.length)
      throw new ExpgenError(
        `${s.dir} was made with a different config than ${shards[0]!.dir} (${differences.slice(0, 4).join(', ')} differ): merge only shards of one run`,
      );
  }
  const count = shards[0]!.shard.count;
  const seen = new Set<number>();
  for (const s of shards) {
    if (s.shard.count !== count)
      throw new ExpgenError(
        `${s.dir} is shard ${s.shard.index}/${s.shard.count}, the others are of ${count}: merge shards of one split`,
      );
    if (seen.has(s.shard.index))
      throw new ExpgenError(`${s.dir} is shard ${s.shard.index}/${count} again: give each shard once`);
    seen.add(s.shard.index);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length)
    throw new ExpgenError(`merge: shard(s) ${missing.map((i) => `${i}/${count}`).join(', ')} are missing`);
  if (existsSync(join(outDir, 'results.jsonl')))
    throw new ExpgenError(`${outDir} already holds results: merge into a new folder`);

  const readLines = <T>(path: string): T[] =>
    existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as T)
      : [];
  const shardRows = shards.flatMap((s) => readResultRows(join(s.dir, 'results.jsonl')));
  // Candidates lines of either spelling (a shard written before the names became snake_case).
  const described = shards.flatMap((s) =>
    readLines<Record<string, unknown>>(join(s.dir, 'descriptions', 'candidates.jsonl')).map((line) =>
      readDescribedLine<DescribedFeature & { key?: string }>(line),
    ),
  );
  const keys = new Set<string>();
  for (const row of shardRows) {
    const key = `${row.feature}:${row.sign}`;
    if (keys.has(key)) throw new ExpgenError(`merge: ${key} appears in two shards: the folders overlap`);
    keys.add(key);
  }
  mkdirSync(outDir, { recursive: true });
  for (const s of shards)
    if (existsSync(join(s.dir, 'features')))
      cpSync(join(s.dir, 'features'), join(outDir, 'features'), { recursive: true });
  // In the order of one unsharded run (feature key, then sign), so the files and the summary's intervals are its.
  writeCandidates(outDir, described.sort(byFeatureThenSign));
  // Each shard scored its descriptions on their null-baseline targets, wherever those live: put them together.
  const rows = mergeNullScores(shardRows, inputDirs, outDir).sort(byFeatureThenSign);
  writeResults(outDir, rows);
  const summary = summarize(rows, shards[0]!.config.score);
  writeFileAtomic(
    join(outDir, 'expgen-manifest.json'),
    `${JSON.stringify({ ...upgradeRunManifest(shards[0]!.manifest), command: 'merge', shard: { index: 0, count: 1 }, merged_from: [...inputDirs] }, null, 2)}\n`,
  );
  writeFileAtomic(join(outDir, 'stages', 'score.json'), `${JSON.stringify(withoutShard(shards[0]!.stage), null, 2)}\n`);
  // Each shard's stages counted their own feature-signs and spending: the merged run's cost is their sum.
  const sumOver = (stage: CostedStage) =>
    shards.reduce((total, s) => addCost(total, readStageCost(s.dir, stage)), zeroCost());
  writeStageCost(outDir, 'describe', sumOver('describe'));
  const cost = writeStageCost(outDir, 'score', sumOver('score'));
  // A subject with a planted truth: each shard compared its own slice; the merged run compares all of it.
  const shardComparison = readPlantedComparison(shards[0]!.dir);
  const planted =
    shardComparison && existsSync(shardComparison.truth_file)
      ? writePlantedComparison({ plantedTruth: shardComparison.truth_file }, rows, outDir)
      : null;
  return { rows, summary, cost, planted };
}

function byFeatureThenSign(a: { feature: string; sign: string }, b: { feature: string; sign: string }): number {
  const byKey = compareFeatureKeys(parseFeatureKey(a.feature), parseFeatureKey(b.feature));
  return byKey || (a.sign === b.sign ? 0 : a.sign === 'positive' ? -1 : 1);
}
