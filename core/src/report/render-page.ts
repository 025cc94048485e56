import { createHash } from 'node:crypto';
import { escapeHtml, jsonForScript, visibleText } from './escape.js';
import { PAGE_SCRIPT, PAGE_STYLE } from './page-assets.js';
import type { FeaturePage, IndexData, RunInfo } from './report-model.js';

/** What the page script reads from `#expgen-meta`. */
export type PageMeta =
  | { readonly layout: 'single'; readonly run: RunInfo; readonly index: IndexData }
  | { readonly layout: 'index'; readonly run: RunInfo; readonly index: IndexData }
  | { readonly layout: 'feature'; readonly run: RunInfo; readonly nav: FeatureNav };

export interface FeatureNav {
  /** Relative hrefs from the feature page. */
  readonly index: string;
  readonly prev: { readonly key: string; readonly href: string } | null;
  readonly next: { readonly key: string; readonly href: string } | null;
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The policy of every page: nothing is fetched or sent (no network, no side files, no forms, no frames), and the
 * only script and style that run are the report's own inline ones, allowed by hash — so even markup that slipped
 * into the page could not run a script. `data:` images cover the empty favicon.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src ${sha256(PAGE_SCRIPT)}`,
  `style-src ${sha256(PAGE_STYLE)}`,
  'img-src data:',
  "connect-src 'none'",
  "font-src 'none'",
  "media-src 'none'",
  "object-src 'none'",
  "frame-src 'none'",
  "worker-src 'none'",
  "manifest-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * One self-contained HTML file: the policy, the style, the data as JSON blocks (`<` and friends escaped, so no
 * data can end its block) and the script that renders it. `blocks` are extra JSON blocks by element id.
 */
export function renderPage(
  title: string,
  meta: PageMeta,
  blocks: readonly { id: string; value: unknown }[] = [],
): string {
  const data = [{ id: 'expgen-meta', value: meta }, ...blocks]
    .map(({ id, value }) => {
      if (!/^[a-z][a-z0-9-]*$/.test(id))
        throw new Error(`report: data block id ${JSON.stringify(id)} is not a plain id`);
      return `<script type="application/json" id="${id}">${jsonForScript(value)}</script>`;
    })
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(CONTENT_SECURITY_POLICY)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="expgen report">
<title>${escapeHtml(visibleText(title))}</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<noscript>This report draws its tables with the small script inside this file; it loads nothing else. Enable JavaScript to read it.</noscript>
<main id="app"></main>
${data}
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

export function singlePage(
  run: RunInfo,
  index: IndexData,
  pages: readonly FeaturePage[],
  strings: readonly string[],
): string {
  return renderPage(`expgen report: ${run.name}`, { layout: 'single', run, index }, [
    { id: 'expgen-strings', value: strings },
    ...pages.map((page, i) => ({ id: `expgen-f${i}`, value: page })),
  ]);
}

export function indexPage(run: RunInfo, index: IndexData): string {
  return renderPage(`expgen report: ${run.name}`, { layout: 'index', run, index });
}

export function featurePageHtml(run: RunInfo, page: FeaturePage, nav: FeatureNav): string {
  return renderPage(`${page.key} — expgen report: ${run.name}`, { layout: 'feature', run, nav }, [
    { id: 'expgen-feature', value: page },
  ]);
}
