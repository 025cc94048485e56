import { ExpgenError } from './errors.js';
import { type AnyComponentDeclaration, CONTRACT_VERSION, type ExpgenPlugin } from './plugin.js';
import { COMPONENT_KINDS } from './provenance.js';

/** Checks what TypeScript cannot check across a dynamic import: the plugin object a module exports. */
export function checkPluginShape(plugin: unknown, where: string): asserts plugin is ExpgenPlugin {
  const fail = (what: string): never => {
    throw new ExpgenError(`${where} is not a valid expgen plugin: ${what} (see CONTRIBUTING.md, "Writing a plugin")`);
  };
  if (!plugin || typeof plugin !== 'object') fail('its module has no default export with { meta, components }');
  const p = plugin as Partial<ExpgenPlugin>;
  if (!p.meta || typeof p.meta.name !== 'string' || typeof p.meta.version !== 'string')
    fail('meta.name and meta.version must be strings');
  if (p.meta!.apiVersion !== CONTRACT_VERSION)
    fail(
      `meta.apiVersion is ${JSON.stringify(p.meta!.apiVersion)}, but this expgen implements contract version ${CONTRACT_VERSION}: ` +
        `use a release of the plugin written for contract ${CONTRACT_VERSION}, or an expgen release that implements its version`,
    );
  if (!Array.isArray(p.components)) fail('components must be a list');
  const seen = new Set<string>();
  p.components!.forEach((c: Partial<AnyComponentDeclaration>, i) => {
    const at = `components[${i}]${typeof c?.name === 'string' ? ` ("${c.name}")` : ''}`;
    if (!c || typeof c !== 'object') fail(`${at} is not an object`);
    if (!COMPONENT_KINDS.includes(c.kind as never))
      fail(`${at}.kind is ${JSON.stringify(c.kind)}, expected one of ${COMPONENT_KINDS.join(', ')}`);
    // Dots for model versions in names (`llama-3.2-1b`); nothing parses a component name apart.
    if (typeof c.name !== 'string' || !/^[a-z][a-z0-9.-]*$/.test(c.name))
      fail(`${at}.name must be lowercase letters, digits, "-" and "."`);
    if (typeof c.create !== 'function') fail(`${at}.create must be an async function`);
    if (!c.options || typeof (c.options as { parse?: unknown }).parse !== 'function')
      fail(`${at}.options must be a schema (use s.object from @expgen/contract)`);
    const key = `${c.kind}/${c.name}`;
    if (seen.has(key)) fail(`${at} repeats the ${c.kind} "${c.name}"`);
    seen.add(key);
  });
}
