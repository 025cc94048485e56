// Every plugin in the repository runs the same contract suite third-party plugins use.
import { fileURLToPath } from 'node:url';
import { contractSuite } from '@expgen/contract/testing';
import baseline from '@expgen/plugin-baseline';
import datasets from '@expgen/plugin-datasets';
import llama from '@expgen/plugin-llama';
import neurons from '@expgen/plugin-neurons';
import textLines from 'expgen-plugin-text-lines';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

contractSuite(neurons);
contractSuite(baseline);
contractSuite(datasets, {
  baseDir: repoRoot,
  options: {
    'dataset/jsonl': { path: 'examples/corpus/demo.jsonl' },
    'dataset/parquet': { path: 'plugins/datasets/fixtures/fineweb-sample.parquet' },
    'dataset/arrow': {
      path: 'plugins/datasets/fixtures/lmsys-chat-sample.arrows',
      messagesColumn: 'conversation',
      idColumn: 'conversation_id',
    },
  },
});
contractSuite(textLines, {
  baseDir: repoRoot,
  options: { 'dataset/text-lines': { path: 'examples/expgen-plugin-text-lines/fixtures/sample.txt' } },
});
// The tiny seeded model, generated and built into the suite's temporary cache.
contractSuite(llama, {
  options: { 'subject-model/llama': { tiny: { seed: 3, layers: 2 } } },
  // The local describer and simulator run their own contract suite with a Llama subject and tiny options.
  skip: {
    'describer/distilled-llama': 'run in plugins/llama/src/components.contract.test.ts with tiny options',
    'simulator/finetuned': 'needs a Llama-3.1 subject; run in plugins/llama/src/components.contract.test.ts',
  },
});
