/**
 * Where an SAE's hook (as SAELens / TransformerLens, Llama Scope or sparsify name it) is in an expgen subject.
 * Subjects expose `resid/<L>` (the residual stream after decoder layer L) and `mlp/<L>` (the input of down_proj);
 * any other point an SAE may have been trained on has no counterpart, and saying so beats reading the wrong values.
 */
export type SubjectHook =
  | { readonly hook: string; readonly layer: number }
  | { readonly unsupported: string; readonly layer: number | null };

const RULES: readonly { pattern: RegExp; map: (layer: number) => SubjectHook }[] = [
  // expgen's own names.
  { pattern: /^resid\/(\d+)$/, map: (l) => ({ hook: `resid/${l}`, layer: l }) },
  { pattern: /^mlp\/(\d+)$/, map: (l) => ({ hook: `mlp/${l}`, layer: l }) },
  // TransformerLens: the residual stream after block L, and before it (= after block L-1).
  { pattern: /^blocks\.(\d+)\.hook_resid_post$/, map: (l) => ({ hook: `resid/${l}`, layer: l }) },
  {
    pattern: /^blocks\.(\d+)\.hook_resid_pre$/,
    map: (l) =>
      l > 0
        ? { hook: `resid/${l - 1}`, layer: l }
        : { unsupported: 'the embeddings (blocks.0.hook_resid_pre) are not a hook point of expgen subjects', layer: l },
  },
  // TransformerLens: the MLP's hidden activation, i.e. the input of the output projection (down_proj).
  { pattern: /^blocks\.(\d+)\.mlp\.hook_post$/, map: (l) => ({ hook: `mlp/${l}`, layer: l }) },
  // Hugging Face module outputs (sparsify, newer SAELens metadata): the output of decoder layer L.
  { pattern: /^(?:model\.)?layers\.(\d+)$/, map: (l) => ({ hook: `resid/${l}`, layer: l }) },
];

const UNSUPPORTED: readonly { pattern: RegExp; what: string }[] = [
  { pattern: /^blocks\.(\d+)\.hook_mlp_out$/, what: "the MLP's output (hook_mlp_out)" },
  { pattern: /^blocks\.(\d+)\.hook_attn_out$/, what: 'the attention output (hook_attn_out)' },
  { pattern: /^blocks\.(\d+)\.attn\.hook_z$/, what: 'per-head attention values (attn.hook_z)' },
  {
    pattern: /^blocks\.(\d+)\.hook_resid_mid$/,
    what: 'the residual stream between attention and MLP (hook_resid_mid)',
  },
  { pattern: /^blocks\.(\d+)\.ln\d?\.hook_normalized$/, what: 'normalized layer inputs (hook_normalized)' },
];

/** Maps a hook name to the subject's hook point, or says why there is none. Null when the name is not recognised. */
export function subjectHookFor(name: string): SubjectHook | null {
  for (const rule of RULES) {
    const match = rule.pattern.exec(name);
    if (match) return rule.map(Number(match[1]));
  }
  for (const rule of UNSUPPORTED) {
    const match = rule.pattern.exec(name);
    if (match) {
      return {
        unsupported: `${rule.what} is not a hook point of expgen subjects, which expose the residual stream after each layer (resid/<L>, blocks.<L>.hook_resid_post) and the MLP's hidden activation (mlp/<L>, blocks.<L>.mlp.hook_post)`,
        layer: Number(match[1]),
      };
    }
  }
  return null;
}

/** The layer a folder name mentions: `layer-12`, `layer_12`, `layers.12`, Llama Scope's `...-L12R-8x`, `blocks.12...`. */
export function layerFromFolderName(name: string): number | null {
  const match =
    /(?:^|[^A-Za-z])(?:layers?|blocks)[-_.]?(\d+)/i.exec(name) ??
    /(?:^|[^A-Za-z0-9])L(\d+)[A-Z]*(?:[-_.]|$)/.exec(name);
  return match ? Number(match[1]) : null;
}
