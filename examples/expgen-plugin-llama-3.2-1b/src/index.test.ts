// expgen's contract suite against this plugin, on the tiny random twin (its default: no model folder, no download).
import { contractSuite } from '@expgen/contract/testing';
import plugin from './index.js';

contractSuite(plugin, { options: { 'subject-model/llama-3.2-1b': { twin: { seed: 1 } } } });
