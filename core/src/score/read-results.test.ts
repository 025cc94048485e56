import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { upgradeJournaledDescription, type JournaledDescription } from '../describe/describe-stage.js';
import { readDescribedLine } from '../describe/described-feature.js';
import { Journal } from '../engine/journal.js';
import { upgradeRunManifest } from '../engine/run-manifest.js';
import { manifestPath, readExemplarManifest, writeExemplarManifest } from '../exemplars/storage/index.js';
import { NULL_SCORES_FILE, readNullScores } from './null-pairing.js';
import { readResultRow, readResultRows } from './read-results.js';
import { NO_SELECTION_SCORE_REASON } from './result-states.js';

// Folders written before the output names became snake_case (format 1) are read by this version: a resumed run,
// `expgen merge` and `expgen report` over them see today's records.

const provenance = {
  kind: 'describer',
  component: 'baseline',
  plugin: 'p',
  pluginVersion: '0.1.0',
  settings: { a: 1 },
};
const legacyRow = {
  feature: 'sae:res/3/17',
  sign: 'negative',
  status: 'scored',
  reason: null,
  description: 'the token "x"',
  score: 0.5,
  ci: [0.4, 0.6],
  selectionScore: 0.7,
  candidates: 5,
  pearson: 0.5,
  rSquared: 0.25,
  absoluteDeviationExplained: 0.1,
  pooledScore: 0.6,
  nullScore: 0.01,
  describer: provenance,
  simulator: { ...provenance, kind: 'simulator', mode: 'named-tokens' },
  scorer: null,
};

describe('reading format-1 outputs', () => {
  it('a result row: snake_case fields, the key parts, and its status restated', () => {
    const row = readResultRow(legacyRow);
    assert.deepEqual(row, {
      feature: 'sae:res/3/17',
      space: 'sae:res',
      layer: 3,
      index: 17,
      sign: 'negative',
      status: 'scored',
      reason: null,
      description: 'the token "x"',
      score: 0.5,
      ci: [0.4, 0.6],
      selection_score: 0.7,
      candidates: 5,
      pearson: 0.5,
      r_squared: 0.25,
      absolute_deviation_explained: 0.1,
      pooled_score: 0.6,
      null_score: 0.01,
      describer: { kind: 'describer', component: 'baseline', plugin: 'p', plugin_version: '0.1.0', settings: { a: 1 } },
      simulator: {
        kind: 'simulator',
        component: 'baseline',
        plugin: 'p',
        plugin_version: '0.1.0',
        settings: { a: 1 },
        mode: 'named-tokens',
      },
      scorer: null,
      scores: {},
    });
    const untested = readResultRow({ ...legacyRow, score: null, ci: null, pearson: null });
    assert.equal(untested.status, 'no_test_score');
    assert.match(untested.reason!, /^the test score of the chosen description is undefined/);
    const unchosen = readResultRow({
      ...legacyRow,
      status: 'failed',
      reason: 'no candidate has a defined score on the valid split (constant predictions or activations)',
      description: null,
      score: null,
    });
    assert.deepEqual([unchosen.status, unchosen.reason], ['no_selection_score', NO_SELECTION_SCORE_REASON]);
    const failed = readResultRow({ ...legacyRow, status: 'failed', reason: 'every candidate failed (refusal)' });
    assert.deepEqual([failed.status, failed.reason], ['failed', 'every candidate failed (refusal)']);
    // Today's rows pass through as they are; one written before `scores` existed reports no scorer.
    assert.equal(readResultRow(row as unknown as Record<string, unknown>), row);
    const { scores: _, ...withoutScores } = row;
    assert.deepEqual(readResultRow(withoutScores as unknown as Record<string, unknown>), row);
  });

  it('a results file, refusing a line that is not a row', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-read-results-'));
    const path = join(dir, 'results.jsonl');
    writeFileSync(path, `${JSON.stringify(legacyRow)}\n\n`);
    assert.equal(readResultRows(path)[0]!.selection_score, 0.7);
    writeFileSync(path, `${JSON.stringify(legacyRow)}\n{"sign":"positive"}\n`);
    assert.throws(() => readResultRows(path), /results\.jsonl: line 2 is not a result row/);
  });

  it('a candidates line and a describe journal', () => {
    const legacy = {
      key: 'mlp/0/1:positive',
      feature: 'mlp/0/1',
      sign: 'positive',
      candidates: [{ description: 'd', seed: 0 }],
      failures: [],
      exemplarRanks: [2, 0, 1],
      threshold: 1.5,
      thresholdRule: 'least-extreme-quantile',
      describedBy: provenance,
      usage: { promptTokens: 10, completionTokens: 3, calls: 1, cachedCalls: 0 },
      status: 'described',
      reason: null,
      cost: { feature_signs: 1 },
    };
    const read = readDescribedLine<JournaledDescription>(legacy);
    assert.deepEqual(read.exemplar_ranks, [2, 0, 1]);
    assert.equal(read.threshold_rule, 'least-extreme-quantile');
    assert.equal(read.described_by?.plugin_version, '0.1.0');
    assert.deepEqual(read.usage, {
      calls: 1,
      prompt_tokens: 10,
      completion_tokens: 3,
      cached_prompt_tokens: null,
      cached_calls: 0,
    });
    assert.equal(read.key, 'mlp/0/1:positive', "a journal's key and cost are kept");
    assert.deepEqual(read.cost, { feature_signs: 1 });
    assert.ok(!('exemplarRanks' in read) && !('describedBy' in read));

    const dir = mkdtempSync(join(tmpdir(), 'expgen-read-journal-'));
    const journal = join(dir, 'journal.jsonl');
    writeFileSync(journal, `${JSON.stringify(legacy)}\n`);
    const entries = Journal.read<JournaledDescription>(journal, (e) => e.key, upgradeJournaledDescription);
    assert.deepEqual(entries.get('mlp/0/1:positive'), read);
  });

  it('null scores, an exemplar manifest and a run manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-read-manifests-'));
    mkdirSync(join(dir, 'score'));
    writeFileSync(
      join(dir, NULL_SCORES_FILE),
      `${JSON.stringify({ feature: 'mlp/0/0', sign: 'positive', descriptionOf: 'mlp/0/3', nullScore: 0.25 })}\n`,
    );
    assert.deepEqual(readNullScores(dir), [
      { feature: 'mlp/0/0', sign: 'positive', description_of: 'mlp/0/3', null_score: 0.25 },
    ]);

    mkdirSync(join(dir, 'exemplars'));
    const v1 = {
      format: 'expgen-exemplars-manifest/1',
      configHash: 'abc',
      shard: { index: 0, count: 1 },
      complete: true,
      parameters: {
        seqLen: 95,
        k: 100,
        randomCount: 20,
        randomSeed: '7',
        extremesKept: 10000,
        histogram: null,
        countedFrom: 30,
      },
      datasets: ['web'],
      splits: { train: { sequencesSeen: 3, tokensSeen: 285 } },
      layers: [{ space: 'mlp', layer: 12, features: 14336, selected: [4061] }],
      imported: { from: 'transluce-released', modelId: 'meta-llama/Llama-3.1-8B-Instruct' },
    };
    writeFileSync(manifestPath(dir), JSON.stringify(v1));
    const manifest = readExemplarManifest(dir);
    assert.equal(manifest.configHash, 'abc');
    assert.deepEqual(manifest.parameters, {
      seqLen: 95,
      k: 100,
      randomCount: 20,
      randomSeed: '7',
      extremesKept: 10000,
      histogram: null,
      histogramSample: 1,
      countedFrom: 30,
    });
    assert.deepEqual(manifest.splits, { train: { sequencesSeen: 3, tokensSeen: 285 } });
    assert.deepEqual(manifest.imported, { from: 'transluce-released', modelId: 'meta-llama/Llama-3.1-8B-Instruct' });
    // Written again, it is format 2 in snake_case, and reads back the same.
    writeExemplarManifest(dir, manifest);
    const v2 = JSON.parse(readFileSync(manifestPath(dir), 'utf8'));
    assert.equal(v2.format, 'expgen-exemplars-manifest/2');
    assert.equal(v2.config_hash, 'abc');
    assert.equal(v2.parameters.counted_from, 30);
    assert.deepEqual(v2.splits, { train: { sequences_seen: 3, tokens_seen: 285 } });
    assert.equal(v2.imported.model_id, 'meta-llama/Llama-3.1-8B-Instruct');
    assert.deepEqual(readExemplarManifest(dir), manifest);

    const run = upgradeRunManifest({
      format: 1,
      command: 'run',
      configHash: 'abc',
      config: { exemplars: { topK: 100 } },
      plugins: [],
      components: [provenance],
      subject: {
        architecture: 'LlamaForCausalLM',
        layers: 2,
        hiddenSize: 64,
        intermediateSize: 128,
        vocabSize: 128256,
        executionProvider: 'cpu',
        dtype: 'fp32',
        hashes: { onnxWeights: 'h' },
      },
      mergedFrom: ['a', 'b'],
    });
    assert.equal(run['format'], 2);
    assert.equal(run['config_hash'], 'abc');
    assert.deepEqual(run['config'], { exemplars: { topK: 100 } }, 'the config keeps its keys');
    assert.deepEqual(run['subject'], {
      architecture: 'LlamaForCausalLM',
      layers: 2,
      hidden_size: 64,
      intermediate_size: 128,
      vocab_size: 128256,
      execution_provider: 'cpu',
      dtype: 'fp32',
      hashes: { onnxWeights: 'h' },
    });
    assert.deepEqual(run['merged_from'], ['a', 'b']);
    assert.equal((run['components'] as { plugin_version: string }[])[0]!.plugin_version, '0.1.0');
  });
});
