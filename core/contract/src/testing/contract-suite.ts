import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { memoryLogger } from '../memory-logger.js';
import type { AnyComponentDeclaration, ComponentContext, ComponentsByKind, ExpgenPlugin } from '../plugin.js';
import { checkPluginShape } from '../plugin-shape.js';
import type { ComponentKind, Provenance } from '../provenance.js';
import { SchemaError } from '../schema.js';
import type { SubjectModel } from '../subject-model.js';
import { checkComponent } from './component-checks.js';
import {
  assertCaseOutput,
  assertRefusal,
  caseOutput,
  type ComponentCases,
  type ContractCases,
  type InvalidCase,
  type ValidCase,
} from './contract-cases.js';
import { fakeSubjectModel } from './fake-subject-model.js';
import { fakeTokenizer } from './fake-tokenizer.js';

export { checkComponent } from './component-checks.js';

export interface ContractFixtures {
  /** Raw options per component, keyed `kind/name` (default: undefined, so the schema's defaults apply). */
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * Subject for components that need one, and where activation sources' graph fragments run (default: the fake
   * subject model, which runs fragments on the testing kit's interpreter).
   */
  readonly subject?: () => Promise<SubjectModel> | SubjectModel;
  /** Base folder for relative paths in options (default: the current folder). */
  readonly baseDir?: string;
  /** Components to leave out, keyed `kind/name`, with the reason (shown as a skipped test). */
  readonly skip?: Readonly<Record<string, string>>;
  /** Cases of your own per component, valid and invalid, as ESLint's RuleTester takes them (see ContractCases). */
  readonly cases?: ContractCases;
}

/**
 * The contract every plugin honours, as node:test cases: register it from a plugin's own test file with
 * `contractSuite(plugin, fixtures)`, as ESLint's RuleTester is used. Built-in plugins run the same suite. Each
 * component is created with the fixtures' options and checked against its kind's contract; then each of the
 * author's cases is a test of its own.
 */
export function contractSuite(plugin: ExpgenPlugin, fixtures: ContractFixtures = {}): void {
  describe(`expgen plugin contract: ${plugin.meta?.name ?? '(unnamed)'}`, () => {
    it('has a valid shape', () => {
      checkPluginShape(plugin, `plugin "${plugin.meta?.name}"`);
    });
    let subject: SubjectModel | undefined;
    const getSubject = async () =>
      (subject ??= await (fixtures.subject ?? (() => fakeSubjectModel({ runsGraphFragments: true })))());
    after(async () => {
      await subject?.dispose?.();
    });
    const cases = (fixtures.cases ?? {}) as Readonly<Record<string, ComponentCases>>;
    for (const key of Object.keys(cases)) {
      if (!plugin.components?.some((c) => `${c.kind}/${c.name}` === key))
        it(`cases for ${key}`, () =>
          assert.fail(`the plugin has no component ${key}: check the key of fixtures.cases`));
    }
    for (const declaration of plugin.components ?? []) {
      const key = `${declaration.kind}/${declaration.name}`;
      const skip = fixtures.skip?.[key];
      const only = skip ? { skip } : {};
      /** Creates the component from raw options, runs `use` on it, and releases it. */
      const withComponent = async (
        raw: unknown,
        use: (component: ComponentsByKind[ComponentKind], context: ComponentContext) => Promise<void>,
      ) => {
        const options = declaration.options.parse(raw, [key, 'options']);
        const context = await contextFor(declaration, plugin, fixtures, getSubject);
        try {
          const component = await declaration.create(options, context);
          try {
            await use(component, context);
          } finally {
            if (component !== subject) await component.dispose?.();
          }
        } finally {
          rmSync(context.cacheDir, { recursive: true, force: true });
        }
      };
      it(`${key} honours the ${declaration.kind} contract`, only, async () => {
        await withComponent(fixtures.options?.[key], async (component, context) => {
          checkProvenance(component.provenance, declaration, plugin);
          await checkComponent(declaration.kind, component, context);
        });
      });
      const own = cases[key];
      own?.valid?.forEach((c: ValidCase, i) => {
        it(`${key} valid: ${c.name ?? `case ${i + 1}`}`, only, async () => {
          await withComponent(c.options ?? fixtures.options?.[key], async (component, context) => {
            await checkComponent(declaration.kind, component, context);
            if (c.input === undefined && c.expected === undefined) return;
            const tokenizer = context.subject?.tokenizer ?? fakeTokenizer();
            const output = await caseOutput(declaration.kind, component, c.input, tokenizer);
            assertCaseOutput(declaration.kind, output, c.expected, c.tolerance ?? 1e-5);
          });
        });
      });
      own?.invalid?.forEach((c: InvalidCase, i) => {
        it(`${key} invalid: ${c.name ?? `case ${i + 1}`}`, only, async () => {
          let refused: { error: unknown; fromSchema: boolean } | undefined;
          try {
            await withComponent(c.options ?? fixtures.options?.[key], async (component, context) => {
              if (c.input === undefined) return;
              const tokenizer = context.subject?.tokenizer ?? fakeTokenizer();
              await caseOutput(declaration.kind, component, c.input, tokenizer);
            });
          } catch (error) {
            refused = { error, fromSchema: error instanceof SchemaError };
          }
          assert.ok(refused, `expected the component to refuse this case with ${String(c.error)}; it accepted it`);
          assertRefusal(refused.error, c.error, refused.fromSchema);
        });
      });
    }
  });
}

async function contextFor(
  declaration: AnyComponentDeclaration,
  plugin: ExpgenPlugin,
  fixtures: ContractFixtures,
  getSubject: () => Promise<SubjectModel>,
): Promise<ComponentContext> {
  // Activation sources get the suite's subject even without declaring it: their fragments run on it.
  const subject =
    declaration.needs?.includes('subject-model') || declaration.kind === 'activation-source'
      ? await getSubject()
      : undefined;
  return {
    provenance: {
      kind: declaration.kind,
      component: declaration.name,
      plugin: plugin.meta.name,
      pluginVersion: plugin.meta.version,
    },
    baseDir: fixtures.baseDir ?? process.cwd(),
    cacheDir: mkdtempSync(join(tmpdir(), 'expgen-contract-')),
    logger: memoryLogger(),
    ...(subject ? { subject } : {}),
  };
}

function checkProvenance(
  provenance: Provenance | undefined,
  declaration: AnyComponentDeclaration,
  plugin: ExpgenPlugin,
): void {
  assert.ok(provenance, 'a component carries its provenance');
  assert.equal(provenance.kind, declaration.kind);
  assert.equal(provenance.component, declaration.name);
  assert.equal(provenance.plugin, plugin.meta.name);
  assert.equal(provenance.pluginVersion, plugin.meta.version);
}
