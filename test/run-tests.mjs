// Runs every compiled test file of the workspace with node's test runner. Node 20's `--test` takes no globs,
// so the list is gathered here; pass paths (or substrings of them) to run a subset.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const roots = [
  'core/contract/dist',
  'core/plugin-kit/dist',
  'core/dist',
  'test/dist',
  ...['plugins', 'examples'].flatMap((d) =>
    readdirSync(join(root, d), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => `${d}/${e.name}/dist`),
  ),
];

function collect(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) collect(p, out);
    else if (e.name.endsWith('.test.js')) out.push(relative(root, p));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((r) => collect(join(root, r), []))
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Tests make their folders with mkdtemp under the system's temporary directory (models, run folders, caches: a
// full run writes several GB). They all go under one folder of this run, removed at the end, so repeated runs do
// not fill the disk; EXPGEN_KEEP_TEST_TMP=1 keeps it to look at a failure.
const testTmp = mkdtempSync(join(tmpdir(), 'expgen-tests-'));
// As open as /tmp itself: a test runs expgen as another user (nobody) in a folder of its own under it.
chmodSync(testTmp, 0o1777);
const removeTestTmp = () => {
  if (process.env.EXPGEN_KEEP_TEST_TMP === '1') console.error(`test files kept in ${testTmp}`);
  else rmSync(testTmp, { recursive: true, force: true });
};
const runner = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TMPDIR: testTmp },
});
// A signal stops the test runner first (Ctrl-C reaches it anyway, being in the same process group), then the
// folder goes once it has exited.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => runner.kill(signal));
runner.on('exit', (code, signal) => {
  removeTestTmp();
  process.exit(code ?? (signal === 'SIGINT' ? 130 : 1));
});
