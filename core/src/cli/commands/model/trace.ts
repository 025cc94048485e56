import { Args, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import { ExpgenCommand } from '../../base-command.js';
import { configFlags } from '../../flags.js';
import { traceSequence } from '../../../engine/trace-sequence.js';

export default class ModelTrace extends ExpgenCommand {
  static override summary = 'Run one sequence through the subject and show its hook activations and top logits.';
  static override examples = [
    '<%= config.bin %> model trace --text "The cat sat" --hooks mlp/0,resid/1',
    '<%= config.bin %> model trace ./llama-8b-onnx --tokens 128000,791,8415 --json',
  ];
  static override args = {
    model: Args.string({ required: false, description: 'Built model folder (default: the configured subject).' }),
  };
  static override flags = {
    ...configFlags,
    text: Flags.string({ description: 'Text to trace (tokenized with BOS).', exactlyOne: ['text', 'tokens'] }),
    tokens: Flags.string({ description: 'Comma-separated token ids.', exactlyOne: ['text', 'tokens'] }),
    hooks: Flags.string({ description: 'Comma-separated hook points (default: all).', helpValue: 'mlp/0,resid/2' }),
    provider: Flags.string({
      options: ['cpu', 'webgpu', 'cuda'],
      description: "Execution provider (default: the config's, cpu).",
    }),
    json: Flags.boolean({ description: 'Print {tokens, hooks, top} as JSON on standard output.' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(ModelTrace);
    const sets = [
      ...(args.model ? [`subject.options.model=${JSON.stringify(resolve(args.model))}`] : []),
      ...(flags.provider ? [`subject.options.provider=${flags.provider}`] : []),
    ];
    const { run } = await this.compose(flags, ['subject-model'], sets);
    try {
      const subject = run.components.subject!;
      const tokens =
        flags.tokens !== undefined
          ? parseTokenList(flags.tokens)
          : subject.tokenizer.encode(flags.text!, { addBos: true });
      const trace = await traceSequence(
        subject,
        tokens,
        flags.hooks
          ?.split(',')
          .map((h) => h.trim())
          .filter(Boolean),
      );
      if (flags.json) return this.printJson(trace);
      const tok = subject.tokenizer;
      this.log(
        `tokens (${trace.tokens.length}): ${trace.tokens.map((id) => `${id}:${JSON.stringify(tok.decode([id]))}`).join(' ')}`,
      );
      for (const [hook, rows] of Object.entries(trace.hooks)) {
        this.log(`${hook} (width ${rows[0]?.length ?? 0}): strongest per token`);
        rows.forEach((row, t) => {
          const top = row
            .map((v, i) => [i, v] as const)
            .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
            .slice(0, 3);
          this.log(
            `  ${String(t).padStart(3)} ${JSON.stringify(tok.decode([trace.tokens[t]!])).padEnd(16)} ${top.map(([i, v]) => `${i}:${v.toFixed(3)}`).join('  ')}`,
          );
        });
      }
      this.log(
        `top logits at the last position: ${trace.top.map(([id, l]) => `${JSON.stringify(tok.decode([id]))} ${l.toFixed(2)}`).join(', ')}`,
      );
    } finally {
      await run.dispose();
    }
  }
}

function parseTokenList(text: string): number[] {
  return text.split(',').map((part) => {
    const trimmed = part.trim();
    if (!/^\d+$/.test(trimmed))
      throw new ExpgenError(
        `--tokens "${text}": "${trimmed}" is not a token id (expected comma-separated non-negative integers)`,
      );
    return Number(trimmed);
  });
}
