// The sae source's costs, measured and computed:
//  1. host encode throughput (the plain-TypeScript reference, used by subjects that cannot run graph fragments):
//     tokens/s with 4 rows per pass over W_enc vs 1, measured in the same run;
//  2. memory per layer at 16k / 65k / 131k latents: exemplar state from `layerStateBytes` (the stage's own formula),
//     the encoder weights, and the in-graph intermediates of one batch.
//
//   node plugins/sae/dist/bench/sae-encode-bench.js [--d-in 512] [--d-sae 16384] [--rows 64] [--architecture jumprelu]
//        [--batch 64] [--seq 95] [--k 100] [--random 20] [--keep 10000] [--bins 64] [--splits 3] [--hidden 4096]
import { parseArgs } from 'node:util';
import { layerStateBytes } from '@expgen/core';
import type { SaeArchitecture } from '@expgen/plugin-sae';
import { encodeSae, type SaeEncoder } from '@expgen/plugin-sae';
import { Sfc32 } from '@expgen/plugin-kit';

const { values } = parseArgs({
  options: {
    'd-in': { type: 'string' },
    'd-sae': { type: 'string' },
    rows: { type: 'string' },
    architecture: { type: 'string' },
    batch: { type: 'string' },
    seq: { type: 'string' },
    k: { type: 'string' },
    random: { type: 'string' },
    keep: { type: 'string' },
    bins: { type: 'string' },
    splits: { type: 'string' },
    hidden: { type: 'string' },
  },
});
const number = (key: keyof typeof values, fallback: number) =>
  values[key] === undefined ? fallback : Number(values[key]);
const dIn = number('d-in', 512);
const dSae = number('d-sae', 16384);
const rows = number('rows', 64);
const architecture = (values.architecture ?? 'jumprelu') as SaeArchitecture;

function randomEncoder(): SaeEncoder {
  const random = new Sfc32(1);
  return {
    dIn,
    dSae,
    architecture,
    k: architecture === 'topk' ? 64 : null,
    applyBDecToInput: true,
    normalization: { kind: 'constant_norm_rescale' },
    wEncT: random.normals(dSae * dIn, 1 / Math.sqrt(dIn)),
    bEnc: random.normals(dSae, 0.1),
    bDec: random.normals(dIn, 0.1),
    threshold: architecture === 'jumprelu' ? Float32Array.from({ length: dSae }, () => 0.5 + random.nextFloat()) : null,
  };
}

function tokensPerSecond(sae: SaeEncoder, x: Float32Array, blockRows: number): number {
  encodeSae(sae, x.subarray(0, Math.min(rows, 2) * dIn), Math.min(rows, 2), { blockRows }); // warm-up, excluded
  const start = process.hrtime.bigint();
  encodeSae(sae, x, rows, { blockRows });
  return rows / (Number(process.hrtime.bigint() - start) / 1e9);
}

const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

const sae = randomEncoder();
const x = new Sfc32(2).normals(rows * dIn, 1);
const blocked = tokensPerSecond(sae, x, 4);
const single = tokensPerSecond(sae, x, 1);
console.log(`host encode (plain TypeScript reference), ${architecture} ${dIn} -> ${dSae}, ${rows} tokens:`);
console.log(
  `  4 rows per pass over W_enc: ${blocked.toFixed(1)} tokens/s (${((blocked * dIn * dSae * 2) / 1e9).toFixed(2)} GFLOP/s)`,
);
console.log(`  1 row per pass:             ${single.toFixed(1)} tokens/s`);
console.log(`  ratio blocked / single:     ${(blocked / single).toFixed(2)}x`);
const hidden = number('hidden', 4096);
console.log(
  `  at Llama-3.1-8B width (${hidden} -> 131072) that is about ${((blocked * dIn * dSae) / (hidden * 131072)).toFixed(2)} tokens/s: the host path is a reference, not a production path`,
);

const settings = {
  topK: number('k', 100),
  seqLen: number('seq', 95),
  randomPerFeature: number('random', 20),
  extremesKept: number('keep', 10000),
  histogramBins: number('bins', 64),
};
const splits = number('splits', 3);
const batch = number('batch', 64);
console.log(
  `\nmemory per layer (exemplars: topK ${settings.topK}, seqLen ${settings.seqLen}, random ${settings.randomPerFeature}, extremesKept ${settings.extremesKept}, ${splits} splits; encoder at d_in ${hidden}; graph at batch ${batch} x ${settings.seqLen}):`,
);
console.log(
  `  ${'features'.padStart(9)}  ${'exemplar state'.padStart(14)}  ${'per feature'.padStart(11)}  ${'W_enc fp32'.padStart(10)}  ${'one [rows, F] fp32'.padStart(18)}`,
);
for (const width of [14336, 16384, 65536, 131072]) {
  const state = layerStateBytes(width, settings, splits);
  const weights = 4 * hidden * width;
  const intermediate = 4 * batch * settings.seqLen * width;
  console.log(
    `  ${String(width).padStart(9)}  ${gb(state).padStart(14)}  ${`${(state / width / 1e6).toFixed(3)} MB`.padStart(11)}  ${gb(weights).padStart(10)}  ${gb(intermediate).padStart(18)}`,
  );
}
const lean = { ...settings, extremesKept: 1000 };
console.log(
  `  with extremesKept 1000: ${gb(layerStateBytes(65536, lean, splits))} at 65536, ${gb(layerStateBytes(131072, lean, splits))} at 131072`,
);
console.log(
  '  (14336: one Llama-3.1-8B MLP layer, for comparison; exemplar state is host memory, W_enc is held on the host and copied to the device, intermediates are device memory)',
);
