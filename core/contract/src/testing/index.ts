/** Testing kit for plugin authors and expgen's own tests: fakes of every interface and the contract suite. */
export { contractSuite, checkComponent, type ContractFixtures } from './contract-suite.js';
export type { CaseIO, ComponentCases, ContractCases, InvalidCase, ValidCase } from './contract-cases.js';
export { fakeSubjectModel, type FakeSubjectOptions } from './fake-subject-model.js';
export { fakeTokenizer } from './fake-tokenizer.js';
export { fakeActivationSource, fakeDataset, fakeDescriber, fakeSimulator, fakeProvenance } from './fake-components.js';
export { runGraphFragment, INTERPRETED_OPS } from './graph-interpreter.js';
export { memoryLogger } from '../memory-logger.js';
