// The cost of stamping every plugin call (engine/plugin-calls.ts): each component the container creates is seen
// through a proxy whose methods catch and stamp errors. Measured on the calls made most often per run — a
// tokenizer's decode of one token (prompts, reports), and a no-op method (the pure overhead) — against the same
// calls on the unwrapped component, in the same run.
//
//   node bench/run.mjs plugin-calls [--calls 2000000]
import { parseArgs } from 'node:util';
import type { SimulationScorer } from '@expgen/contract';
import { fakeProvenance, fakeSubjectModel } from '@expgen/contract/testing';
import { stampComponent } from '@expgen/core';
import { LlamaTokenizer } from '@expgen/plugin-llama';

const { values } = parseArgs({ options: { calls: { type: 'string' } } });
const calls = Number(values.calls ?? 2_000_000);

/** Nanoseconds per call of `run` over `calls` calls, best of three rounds (after one warm-up round). */
function nsPerCall(run: (i: number) => unknown): number {
  let best = Infinity;
  for (let round = 0; round < 4; round++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) run(i);
    const ns = Number(process.hrtime.bigint() - started) / calls;
    if (round > 0) best = Math.min(best, ns);
  }
  return best;
}

const who = { kind: 'subject-model', component: 'llama', plugin: '@expgen/plugin-llama' } as const;
const tokenizer = await LlamaTokenizer.llama31();
const subject = { ...fakeSubjectModel(), tokenizer };
const stamped = stampComponent(subject, who);
const ids = Array.from({ length: 4096 }, (_, i) => [1000 + ((i * 7919) % 100_000)]);

const scorer: SimulationScorer = {
  provenance: fakeProvenance('scorer'),
  score: () => ({ value: null, stats: {}, scoredBy: fakeProvenance('scorer') }),
};
const stampedScorer = stampComponent(scorer, { kind: 'scorer', component: 'noop', plugin: 'bench' });
const input = { predicted: [], actual: [] };

console.log(`plugin-call stamping, ${calls.toLocaleString('en')} calls per round, best of 3 (node ${process.version})`);
const direct = nsPerCall((i) => subject.tokenizer.decode(ids[i & 4095]!));
const throughProxy = nsPerCall((i) => stamped.tokenizer.decode(ids[i & 4095]!));
console.log(
  `  tokenizer.decode of one token: direct ${direct.toFixed(0)} ns, stamped ${throughProxy.toFixed(0)} ns (x${(throughProxy / direct).toFixed(2)})`,
);
const bare = nsPerCall(() => scorer.score(input));
const wrapped = nsPerCall(() => stampedScorer.score(input));
console.log(
  `  a no-op method: direct ${bare.toFixed(1)} ns, stamped ${wrapped.toFixed(1)} ns (+${(wrapped - bare).toFixed(1)} ns per call)`,
);
