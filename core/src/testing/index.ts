/** Kept for plugins written against earlier versions: the testing kit now lives in `@expgen/contract/testing`. */
export * from '@expgen/contract/testing';
