import { fileURLToPath } from 'node:url';
import { contractSuite } from '@expgen/contract/testing';
import plugin from './index.js';

contractSuite(plugin, {
  baseDir: fileURLToPath(new URL('../fixtures/', import.meta.url)),
  options: { 'dataset/text-lines': { path: 'sample.txt' } },
});
