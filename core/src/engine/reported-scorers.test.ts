import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/load-config.js';
import { compose, rejectsWith } from './composition-fixtures.test-util.js';

const created = (events: readonly string[]) => events.filter((e) => e.startsWith('create ')).map((e) => e.slice(7));

describe('the scorers a run reports', () => {
  it('creates each listed scorer once; the entry that is the selection scorer is that very component', async () => {
    const { journal, config, promise } = await compose({ stages: ['score'] }, [
      'scorers=[fake-scorer, {component: fake-judge, options: {level: 3}}, {component: fake-judge, name: judge_2}]',
    ]);
    const run = await promise;
    assert.deepEqual(
      config.reportedScorers().map((r) => [r.name, r.sameAsSelection]),
      [
        ['fake_scorer', true],
        ['fake_judge', false],
        ['judge_2', false],
      ],
    );
    const made = created(journal.events);
    assert.equal(made.filter((c) => c === 'fake-scorer').length, 1, 'the selection scorer once');
    assert.equal(made.filter((c) => c === 'fake-judge').length, 2, 'each judge entry its own component');
    assert.deepEqual(journal.options.get('fake-judge'), { level: 1 }, 'the last created is judge_2, with defaults');
    await run.dispose();
  });

  it('without scorers, the selection scorer alone is reported, under its component name in snake_case', async () => {
    const { config, promise } = await compose({ stages: ['score'] });
    assert.deepEqual(
      config.reportedScorers().map((r) => [r.name, r.sameAsSelection]),
      [['fake_scorer', true]],
    );
    await (await promise).dispose();
  });

  it('refuses a judge as the scorer best-of-k chooses with, saying where to list it', async () => {
    const { promise } = await compose({ stages: ['score'] }, ['scorer.component=fake-judge']);
    await rejectsWith(promise, (message) =>
      assert.match(
        message,
        /scorer\.component: "fake-judge" asks a judge model about sequences and cannot choose among candidates; choose with a scorer of simulations \(correlation\) and report "fake-judge" under scorers \(or --scorer fake-judge\)/,
      ),
    );
  });

  it('refuses two entries under one name, and a name that is not snake_case', async () => {
    await rejectsWith(
      compose({ stages: ['score'] }, ['scorers=[fake-judge, {component: fake-judge}]']).then((c) => c.promise),
      (message) =>
        assert.match(
          message,
          /scorers\[1\]: the name "fake_judge" is also scorers\[0\]'s: give one of them another name \(scorers\[1\]\.name\)/,
        ),
    );
    await rejectsWith(
      compose({ stages: ['score'] }, ['scorers=[fake-judge, {component: fake-judge, name: fake_judge}]']).then(
        (c) => c.promise,
      ),
      (message) => assert.match(message, /the name "fake_judge" is also scorers\[0\]'s/),
    );
    await rejectsWith(
      compose({ stages: ['score'] }, ['scorers=[{component: fake-judge, name: Strict-2}]']).then((c) => c.promise),
      (message) => assert.match(message, /scorers\[0\]\.name.*snake_case name/),
    );
  });

  it('--scorer picks entries by name, keeping their options and where they were set; others get defaults', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'expgen-scorers-'));
    const file = join(dir, 'expgen.config.yaml');
    writeFileSync(
      file,
      'scorers:\n  - fake-scorer\n  - component: fake-judge\n    name: strict\n    options: { level: 5 }\n',
    );
    const loaded = await loadConfig({
      configFile: file,
      search: false,
      scorers: ['strict', 'correlation', 'fake_scorer'],
    });
    assert.deepEqual(loaded.config.scorers, [
      { component: 'fake-judge', name: 'strict', options: { level: 5 } },
      { component: 'correlation' },
      { component: 'fake-scorer' },
    ]);
    assert.equal(loaded.baseDirOf(['scorers', 0, 'options']), dir, "the picked entry's options resolve from its file");
    assert.equal(loaded.sourceOf(['scorers', 0, 'options', 'level']), file);
    assert.equal(loaded.sourceOf(['scorers', 1, 'component']), '--scorer');
    await assert.rejects(
      loadConfig({ configFile: file, search: false, scorers: ['strict', 'strict'] }),
      /--scorer strict is given twice/,
    );
  });

  it('an unknown scorer is refused before anything is created, naming where it came from', async () => {
    const { journal, promise } = await compose({ stages: ['score'] }, ['scorers=[fake-scorer, fake-juge]']).catch(
      (error: unknown) => ({ journal: null, promise: Promise.reject(error) }),
    );
    await rejectsWith(promise, (message) => assert.match(message, /scorers\[1\]\.component/));
    assert.equal(journal, null, 'refused while the config was resolved');
  });
});
