// The encoder fragment run inside the real Llama subject's graph (ONNX Runtime, CPU) against the plain TypeScript
// reference on the same hook values: every architecture, with and without b_dec subtraction and each normalization;
// and the contract testing kit's interpreter on the same fragments.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { reduceOnHost, type SubjectModel } from '@expgen/contract';
import { runGraphFragment } from '@expgen/contract/testing';
import { openTinyLlamaSubject, sampleBatch, TINY_LLAMA } from './llama-subject.test-util.js';
import { loadSae } from './load-sae.js';
import type { SaeArchitecture } from './sae-config.js';
import { encodeSae, preActivations, type SaeEncoder } from './sae-encoder.js';
import { saeFragment } from './sae-fragment.js';
import { writeTinySae, type TinySaeLayout } from './tiny-sae.js';

const D_SAE = 96;
const HOOK = 'resid/1';

/**
 * Positions whose latent may legitimately differ between float32 in the graph and float64 on the host: a
 * pre-activation within `margin` of its JumpReLU threshold, or a TopK row whose k-th and (k+1)-th values nearly tie.
 */
function boundary(sae: SaeEncoder, x: Float32Array, rows: number, margin: number): Uint8Array {
  const pre = preActivations(sae, x, rows);
  const flags = new Uint8Array(rows * sae.dSae);
  for (let r = 0; r < rows; r++) {
    const row = pre.subarray(r * sae.dSae, (r + 1) * sae.dSae);
    if (row.some(Number.isNaN)) continue;
    if (sae.architecture === 'jumprelu') {
      row.forEach((p, j) => {
        if (Math.abs(p - sae.threshold![j]!) < margin) flags[r * sae.dSae + j] = 1;
      });
    } else if (sae.architecture === 'topk') {
      const sorted = [...row].sort((a, b) => b - a);
      if (sorted[sae.k! - 1]! - sorted[sae.k!]! < margin) flags.fill(1, r * sae.dSae, (r + 1) * sae.dSae);
    }
  }
  return flags;
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, skip?: Uint8Array): number {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let compared = 0;
  for (let i = 0; i < actual.length; i++) {
    if (skip?.[i]) continue;
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `${what}[${i}]: ${a}, expected NaN (padding)`);
      continue;
    }
    assert.ok(Math.abs(a - e) <= 1e-4 * Math.max(1, Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
    compared++;
  }
  return compared;
}

/** Per-feature thresholds halfway between the two largest row maxima (and smallest minima), far from any value. */
function clearThresholds(
  max: Float32Array,
  min: Float32Array,
  batch: number,
  width: number,
): { top: Float32Array; bottom: Float32Array } {
  const top = new Float32Array(width).fill(Infinity);
  const bottom = new Float32Array(width).fill(-Infinity);
  for (let f = 0; f < width; f++) {
    const maxima = Array.from({ length: batch }, (_, b) => max[b * width + f]!).sort((a, b) => b - a);
    const minima = Array.from({ length: batch }, (_, b) => min[b * width + f]!).sort((a, b) => a - b);
    if (maxima[0]! - maxima[1]! > 1e-2) top[f] = (maxima[0]! + maxima[1]!) / 2;
    if (minima[1]! - minima[0]! > 1e-2) bottom[f] = (minima[0]! + minima[1]!) / 2;
  }
  return { top, bottom };
}

describe('SAE encoder fragment in the Llama subject graph', () => {
  let dir: string;
  let subject: SubjectModel;
  let request: ReturnType<typeof sampleBatch>;
  let residValues: Float32Array;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'expgen-sae-fragment-'));
    subject = await openTinyLlamaSubject(join(dir, 'cache'));
    request = sampleBatch(subject);
    const result = await subject.forward({ ...request, hooks: [{ hook: HOOK, reduce: 'full' }] });
    residValues = result.hooks[0]!.full!;
  });
  after(async () => {
    await subject?.dispose?.();
    await rm(dir, { recursive: true, force: true });
  });

  const cases: {
    architecture: SaeArchitecture;
    normalizeActivations: NonNullable<TinySaeLayout['normalizeActivations']>;
    applyBDecToInput: boolean;
  }[] = [];
  for (const architecture of ['standard', 'jumprelu', 'topk'] as const) {
    cases.push({ architecture, normalizeActivations: 'constant_norm_rescale', applyBDecToInput: true });
    cases.push({ architecture, normalizeActivations: 'none', applyBDecToInput: false });
  }
  cases.push({ architecture: 'jumprelu', normalizeActivations: 'expected_average_only_in', applyBDecToInput: true });
  cases.push({ architecture: 'topk', normalizeActivations: 'layer_norm', applyBDecToInput: true });

  cases.forEach((c, n) => {
    it(`${c.architecture}, normalization ${c.normalizeActivations}, b_dec ${c.applyBDecToInput ? 'subtracted' : 'kept'}: full, extremes and gated agree with the host encoder`, async () => {
      const folder = join(dir, `sae-${n}`);
      // Without normalization, the tiny model's residual values are small: a larger factor keeps latents firing.
      await writeTinySae(folder, {
        seed: n,
        dSae: D_SAE,
        architecture: c.architecture,
        k: 6,
        dIn: TINY_LLAMA.hiddenSize,
        layer: 1,
        normalizeActivations: c.normalizeActivations,
        applyBDecToInput: c.applyBDecToInput,
        normScalingFactor: 3,
      });
      const { encoder } = await loadSae(folder);
      const fragment = saeFragment(encoder, `sae_test_${n}`);
      const { batch, seqLen, lengths, countFrom } = request;
      const rows = batch * seqLen;
      const expected = encodeSae(encoder, residValues, rows);
      const skip = boundary(encoder, residValues, rows, 1e-3);

      const full = await subject.forward({ ...request, hooks: [{ hook: HOOK, reduce: 'full', fragment }] });
      assert.equal(full.hooks[0]!.width, D_SAE);
      const compared = assertClose(full.hooks[0]!.full!, expected, 'full latents', skip);
      assert.ok(compared > rows * D_SAE * 0.5, `most positions are compared (${compared})`);
      const firing = expected.filter((v) => v > 0).length;
      assert.ok(firing > 0, 'some latents fire on real hook values');

      const shape = { batch, seqLen, width: D_SAE, lengths, countFrom };
      const hostExtremes = reduceOnHost(expected, shape, { hook: HOOK, reduce: 'extremes' });
      const thresholds = clearThresholds(hostExtremes.max!, hostExtremes.min!, batch, D_SAE);
      const reduced = await subject.forward({
        ...request,
        hooks: [
          { hook: HOOK, reduce: 'extremes', fragment },
          { hook: HOOK, reduce: 'gated', fragment, thresholds },
          // Stage 1's request: the extremes gated too (here at the same clear thresholds), one row dense.
          {
            hook: HOOK,
            reduce: 'gated',
            fragment,
            thresholds,
            extremeThresholds: thresholds,
            denseRows: Int32Array.of(1),
          },
        ],
      });
      assertClose(reduced.hooks[0]!.max!, hostExtremes.max!, 'max');
      assertClose(reduced.hooks[0]!.min!, hostExtremes.min!, 'min');
      const hostGated = reduceOnHost(expected, shape, { hook: HOOK, reduce: 'gated', thresholds }).gated!;
      const gated = reduced.hooks[1]!.gated!;
      assert.deepEqual([...gated.rows], [...hostGated.rows], 'gated rows');
      assert.deepEqual([...gated.features], [...hostGated.features], 'gated features');
      assert.ok(gated.rows.length > 0, 'some pairs pass the gate');
      assertClose(gated.values, hostGated.values, 'gated values');
      const host = reduceOnHost(expected, shape, {
        hook: HOOK,
        reduce: 'gated',
        thresholds,
        extremeThresholds: thresholds,
        denseRows: Int32Array.of(1),
      });
      const sparse = reduced.hooks[2]!;
      assert.equal(sparse.max, undefined, 'no dense extremes leave the graph');
      for (const side of ['maxima', 'minima'] as const) {
        assert.deepEqual([...sparse.extremes![side].index], [...host.extremes![side].index], `${side} that pass`);
        assertClose(sparse.extremes![side].values, host.extremes![side].values, `${side} values`);
      }
      assert.ok(sparse.extremes!.maxima.index.length > 0, 'some maxima pass the gate');
      assertClose(sparse.dense!.max, host.dense!.max, 'dense row max');

      // The contract testing kit's host interpreter runs the same fragment as ONNX Runtime does: it is what judges
      // third-party fragments when no subject that runs graphs is at hand. Padded positions (NaN) are left out.
      const onnx = full.hooks[0]!.full!;
      const interpreted = runGraphFragment(
        fragment,
        residValues.map((v) => (Number.isNaN(v) ? 0 : v)),
        rows,
      );
      const padded = new Uint8Array(rows * D_SAE);
      for (let r = 0; r < rows; r++) if (Number.isNaN(onnx[r * D_SAE]!)) padded.fill(1, r * D_SAE, (r + 1) * D_SAE);
      const checked = assertClose(
        interpreted,
        onnx,
        'interpreter vs ONNX Runtime',
        skip.map((v, i) => v | padded[i]!),
      );
      assert.ok(checked > rows * D_SAE * 0.5, `most positions are compared (${checked})`);
    });
  });
});
