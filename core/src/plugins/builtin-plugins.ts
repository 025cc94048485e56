/**
 * Plugins that ship with expgen. They are ordinary packages loaded through the same door as third-party ones
 * (`loadPluginFrom`); this list only says where to find them.
 */
export const BUILTIN_PLUGINS = [
  '@expgen/plugin-llama',
  '@expgen/plugin-neurons',
  '@expgen/plugin-datasets',
  '@expgen/plugin-baseline',
  '@expgen/plugin-openai',
  '@expgen/plugin-sae',
  '@expgen/plugin-judges',
] as const;

/** npm keyword that marks a package as an expgen plugin whatever its name. */
export const PLUGIN_KEYWORD = 'expgen-plugin';

/** Package names found by convention: `expgen-plugin-*` and `@scope/expgen-plugin-*`. */
export const PLUGIN_NAME_PATTERN = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?expgen-plugin-[a-z0-9._~-]+$/;
