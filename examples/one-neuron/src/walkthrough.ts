/**
 * One neuron, step by step: the expgen library API (not the CLI) taking one feature through all three stages and
 * printing what each produced, the way you would explore a single neuron in a notebook.
 *
 *   npx tsc -b && node examples/one-neuron/dist/walkthrough.js [feature] [--out DIR]
 *
 * Runs on the embedded default (configs/demo.yaml): the tiny seeded Llama, the demo corpus, the baseline describer,
 * simulator and correlation scorer. Logs go to stderr, the walkthrough to stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ExemplarLibrary,
  PluginRegistry,
  TAIL_FRACTIONS,
  resolveConfig,
  buildDescribePrompt,
  composeRun,
  loadConfig,
  loadPromptTemplate,
  renderMarkedText,
  runPipeline,
  selectFeatures,
  stderrLogger,
  type ComposedRun,
} from '@expgen/core';
import { formatFeatureKey, parseFeatureKey, signedActivation, type FeatureKey, type Sign } from '@expgen/contract';
import { scoredSequence } from '@expgen/plugin-kit';

// Small formatting helpers: signed activations, scores (null = undefined, never 0), and section headers.
const act = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
const num = (x: number | null | undefined, digits = 3) => (x === null || x === undefined ? '—' : x.toFixed(digits));
const section = (n: number, title: string) => console.log(`\n## ${n}. ${title}\n`);
// Sampled candidates often repeat: each distinct description with the seeds that produced it.
const bySeed = (candidates: readonly { description: string; seed: number }[]) => {
  const groups = new Map<string, number[]>();
  for (const c of candidates) groups.set(c.description, [...(groups.get(c.description) ?? []), c.seed]);
  return groups;
};
// The distribution files hold tail quantiles at these fractions of all tokens, in this order.

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string' } }, allowPositionals: true });
  if (positionals.length > 1) throw new Error(`expected at most one feature key, got ${positionals.join(' ')}`);
  const requested = positionals[0];
  const asked = requested === undefined ? undefined : parseFeatureKey(requested); // e.g. mlp/1/65
  const outDir = values.out ? resolve(values.out) : mkdtempSync(join(tmpdir(), 'expgen-one-neuron-'));
  const logger = stderrLogger();

  // ---- 1. Config, plugins, components ------------------------------------------------------------------------
  // The embedded default (no config file is searched for), the plugins installed beside expgen, and every component
  // the three stages use, created by their plugins' factories.
  section(1, 'Components');
  let run: ComposedRun | undefined;
  let library: ExemplarLibrary | undefined;
  try {
    const loaded = await loadConfig({ search: false });
    const registry = await PluginRegistry.discover({ cwd: process.cwd() });
    // Every component section checked against its plugin and its options parsed, once: this copy travels the run.
    const resolved = resolveConfig(loaded, registry);
    // The container creates what the three stages need (and what those need), and binds the stages to them.
    run = await composeRun({
      config: resolved,
      logger,
      stages: ['exemplars', 'describe', 'score'],
      progress: false,
    });
    const { subject, activation, datasets, describer, simulator, scorer } = run.components;
    const stages = run.stages;
    if (!subject || !activation || !datasets || !describer || !simulator || !scorer)
      throw new Error('the run lacks a component');
    if (!stages.describe || !stages.score) throw new Error('the run lacks a stage');
    const { info, tokenizer } = subject;
    console.log(`config: the embedded default, ${loaded.defaultFile}`);
    console.log(
      `subject: ${info.architecture}, ${info.layers} layers, hidden ${info.hiddenSize}, MLP ${info.intermediateSize}, vocabulary ${info.vocabSize}, ${info.dtype} on ${info.executionProvider}`,
    );
    for (const p of run.provenance)
      console.log(`  ${p.kind.padEnd(18)} ${p.component.padEnd(12)} from ${p.plugin} ${p.pluginVersion}`);

    // ---- 2. Stage 1 over one layer, then pick the feature -----------------------------------------------------
    // Stage 1 streams the corpus once and keeps every feature of the layer. The layer is recorded as the config's
    // `features`, so a later run into the same --out folder with another layer is refused instead of mixed up.
    section(2, 'Stage 1 and the feature');
    if (requested !== undefined) selectFeatures(requested, activation); // checks space, layer and index
    const layer = asked?.layer ?? activation.layers().at(-1)!;
    // Plugin options as their plugins parsed them, as `expgen run` records them, so both can share a run folder.
    const config = { ...resolved.config, features: `${activation.space}/${layer}/*` };
    await runPipeline({ run, config, outDir, stages: ['exemplars'], featuresBaseDir: process.cwd() });
    library = ExemplarLibrary.open(outDir);
    let key: FeatureKey = asked ?? { space: activation.space, layer, index: 0 };
    if (!asked) {
      // No feature given: the one whose strongest train exemplar activates most.
      let best = -Infinity;
      for (const k of library.features()) {
        const top = (await library.exemplars(k, 'train')).positive[0]?.activation ?? -Infinity;
        if (top > best) [best, key] = [top, k];
      }
    }
    const feature = formatFeatureKey(key);
    console.log(
      `stage 1 output: ${join(outDir, 'exemplars')} (${library.features().length} features of layer ${layer}, splits ${library.splits.join('/')})`,
    );
    console.log(`feature: ${feature}${asked ? ' (given)' : ' (strongest top activation in the layer)'}`);

    // ---- 3. Exemplars -------------------------------------------------------------------------------------------
    // Top and bottom exemplars of the train split, tokens at or beyond half the extreme activation marked {{...}},
    // and the tail of the activation distribution over every train token.
    section(3, `Exemplars of ${feature} (train split)`);
    const train = await library.exemplars(key, 'train');
    for (const sign of ['positive', 'negative'] as const) {
      const rows = train[sign].slice(0, 5);
      console.log(sign === 'positive' ? 'top 5:' : 'bottom 5:');
      if (rows.length === 0) console.log('  (none)');
      const threshold = (rows[0]?.activation ?? 0) / 2;
      for (const row of rows) {
        const { text } = renderMarkedText(row.tokens, row.activations, {
          tokenizer,
          sign,
          threshold,
          countFrom: row.countFrom,
        });
        console.log(`  ${act(row.activation).padStart(7)}  ${text}`);
      }
    }
    const distribution = await library.distribution(key, 'train');
    if (distribution) {
      console.log(
        `tail quantiles over ${distribution.tokensSeen ?? '?'} tokens (— where the kept extremes do not reach):`,
      );
      distribution.positiveQuantiles.forEach((q, i) => {
        console.log(
          `  q${TAIL_FRACTIONS[i]?.toExponential() ?? i}: top ${q === null ? '—' : act(q)}, bottom ${distribution.negativeQuantiles[i] == null ? '—' : act(distribution.negativeQuantiles[i]!)}`,
        );
      });
    }

    // ---- 4. Stage 2: descriptions -------------------------------------------------------------------------------
    // The prompt the describer gets (rebuilt here to look at; the stage builds the same one), then the stage itself:
    // `describe.candidates` descriptions per sign, or the reasons each candidate failed.
    section(4, 'Stage 2: descriptions');
    const baseDir = resolved.baseDirOf(['describe', 'promptTemplate']);
    const template = await loadPromptTemplate(config.describe.promptTemplate, { baseDir });
    const quantiles = distribution ?? { positiveQuantiles: [], negativeQuantiles: [] };
    for (const sign of activation.signs) {
      const prompt = buildDescribePrompt({
        feature: key,
        sign,
        rows: [...train.positive, ...train.negative],
        quantiles,
        tokenizer,
        settings: config.describe,
        template,
      });
      if (prompt.kind === 'skipped') {
        console.log(`${sign} prompt: skipped (${prompt.detail})`);
        continue;
      }
      console.log(
        `${sign} prompt: ${prompt.messages.length} messages, ${prompt.renderedExemplars.length} excerpts, tokens marked at ${act(prompt.threshold)} (rule ${prompt.thresholdChoice.rule}):`,
      );
      // Its opening lines, then excerpts as the describer sees them (numbered, escaped), those with marks first:
      // the threshold comes from the distribution's tail, so weaker excerpts may show no mark at all.
      const lines = prompt.messages
        .at(-1)!
        .content.split('\n')
        .filter((l) => l.trim());
      const excerpts = lines.filter((l) => prompt.renderedExemplars.some((e) => l.includes(e)));
      const shown = [...excerpts.filter((l) => l.includes('{{')), ...excerpts.filter((l) => !l.includes('{{'))].slice(
        0,
        3,
      );
      for (const line of [...lines.slice(0, 2), '…', ...shown]) console.log(`  | ${line}`);
    }
    const described = await stages.describe.run({ library, features: [key], signs: activation.signs, outDir });
    for (const d of described) {
      console.log(`${d.sign}: ${d.status}${d.reason ? ` (${d.reason})` : ''}`);
      for (const [description, seeds] of bySeed(d.candidates))
        console.log(`  candidate (seeds ${seeds.join(', ')}): ${description}`);
      for (const f of d.failures) console.log(`  failure   [seed ${f.seed}] ${f.reason}: ${f.detail ?? ''}`);
    }

    // ---- 5. Stage 3: scores -------------------------------------------------------------------------------------
    // What the stage does inside, by hand: simulate every candidate on the valid split (top exemplars of the sign
    // plus random sequences) and score it against the true activations. Then the stage itself, which keeps the best
    // candidate and reports it on the test split, never used to choose it, with a bootstrap interval.
    section(5, 'Stage 3: scores');
    for (const d of described.filter((x) => x.candidates.length > 0)) {
      const valid = await library.exemplars(key, 'valid');
      const rows = [
        ...valid[d.sign].slice(0, config.score.selection.top),
        ...valid.random.slice(0, config.score.selection.random),
      ];
      const descriptions = [...bySeed(d.candidates).keys()]; // each distinct candidate once
      const simulated = await simulator.simulate({ descriptions, sequences: rows.map((r) => [...r.tokens]) });
      console.log(`${d.sign}, valid split (${rows.length} sequences, simulator mode ${simulated.mode}):`);
      descriptions.forEach((description, i) => {
        const set = rows.map((r, s) =>
          scoredSequence(d.sign, { activations: r.activations, countFrom: r.countFrom }, simulated.predictions[i]![s]!),
        );
        const { value } = scorer.score({
          predicted: set.map((x) => Float32Array.from(x.predicted)),
          actual: set.map((x) => Float32Array.from(x.actual)),
        });
        console.log(`  score ${num(value).padStart(6)}  ${description}`);
      });
    }
    const { rows: results } = await stages.score.run({ library, described, outDir });
    // A row's status says what happened: `scored`, or why there is no score (`no_test_score`: chosen, but constant
    // on the test split; `no_selection_score`, `failed`, `skipped`), with the reason beside it.
    for (const r of results) {
      if (r.description === null) {
        console.log(`${r.sign}: ${r.status} (${r.reason})`);
        continue;
      }
      console.log(
        `${r.sign}: chose ${r.description} (valid ${num(r.selection_score)}, out of ${r.candidates} candidates)`,
      );
      if (r.status !== 'scored') console.log(`  ${r.status}: ${r.reason}`);
      else
        console.log(
          `  test score ${num(r.score)}, 95% CI [${num(r.ci?.[0])}, ${num(r.ci?.[1])}], R² ${num(r.r_squared)}, Pearson ${num(r.pearson)}`,
        );
    }

    // The best-scored description on the test split's strongest exemplar, token by token: the true activation next
    // to the simulator's prediction (a 0..10 scale: the correlation, not the scale, is what is scored).
    const best = results
      .filter((r) => r.status === 'scored')
      .sort((a, b) => (b.score ?? -Infinity) - (a.score ?? -Infinity))[0];
    if (best) {
      const sign: Sign = best.sign;
      const exemplar = (await library.exemplars(key, 'test'))[sign][0]!;
      const { predictions } = await simulator.simulate({
        descriptions: [best.description!],
        sequences: [[...exemplar.tokens]],
      });
      // The tokens around the exemplar's extreme activation (the whole sequence is scored).
      let peak = exemplar.countFrom;
      for (let t = peak; t < exemplar.activations.length; t++)
        if (signedActivation(sign, exemplar.activations[t]!) > signedActivation(sign, exemplar.activations[peak]!))
          peak = t;
      const from = Math.max(exemplar.countFrom, peak - 10);
      console.log(
        `\nstrongest ${sign} test exemplar (activation ${act(exemplar.activation)}, tokens ${from}..${Math.min(exemplar.tokens.length, peak + 6) - 1}) under: ${best.description}`,
      );
      console.log(`  ${'token'.padEnd(18)} | ${'true'.padStart(7)} | simulated`);
      for (let t = from; t < Math.min(exemplar.tokens.length, peak + 6); t++) {
        const token = JSON.stringify(tokenizer.decode([exemplar.tokens[t]!]));
        console.log(
          `  ${(token.length > 18 ? `${token.slice(0, 17)}…` : token).padEnd(18)} | ${act(exemplar.activations[t]!).padStart(7)} | ${predictions[0]![0]![t]!.toFixed(2).padStart(9)}`,
        );
      }
    }
  } finally {
    // ---- 6. Dispose -------------------------------------------------------------------------------------------
    // Components release their resources (ONNX sessions, worker threads) in reverse creation order.
    await library?.close();
    await run?.dispose();
    if (!values.out) rmSync(outDir, { recursive: true, force: true });
  }
  section(6, 'Disposed');
  console.log(
    `released ${run.provenance.length} components${values.out ? `; outputs kept in ${outDir}` : '; the temporary folder is removed (pass --out DIR to keep it)'}`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`one-neuron: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}\n`);
  process.exitCode = 1;
});
