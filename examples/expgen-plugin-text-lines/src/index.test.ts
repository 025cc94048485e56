import { fileURLToPath } from 'node:url';
import { contractSuite } from '@expgen/core/testing';
import plugin from './index.js';

contractSuite(plugin, {
  baseDir: fileURLToPath(new URL('../fixtures/', import.meta.url)),
  options: { 'dataset/text-lines': { path: 'sample.txt' } },
});
