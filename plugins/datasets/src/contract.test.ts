// The contract suite every expgen plugin runs, on each dataset component with the committed fixtures.
import { contractSuite } from '@expgen/contract/testing';
import plugin from './index.js';
import { FIXTURES } from './testing/fixtures-path.js';

contractSuite(plugin, {
  baseDir: FIXTURES,
  options: {
    'dataset/jsonl': { path: 'lmsys-chat-sample.jsonl', messagesField: 'conversation', idField: 'conversation_id' },
    'dataset/parquet': { path: 'fineweb-sample.parquet' },
    'dataset/arrow': { path: 'lmsys-chat-sample.arrows', messagesColumn: 'conversation', idColumn: 'conversation_id' },
  },
});
