import { fileURLToPath } from 'node:url';

/** The committed fixtures folder, `plugins/datasets/fixtures/` (from `dist/testing/` or `src/testing/` alike). */
export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));
