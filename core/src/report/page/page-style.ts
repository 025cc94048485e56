/** The report page's inline style, the same in every file (its hash is in the page's Content-Security-Policy). */
export const PAGE_STYLE = String.raw`
:root { --fg: #1d1d1f; --muted: #6b6b70; --line: #dcdce0; --bg: #fff; --head: #f5f5f7; --link: #0a58ca; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 12px 0 8px; }
h3 { font-size: 16px; margin: 0 0 6px; }
h4 { font-size: 14px; margin: 14px 0 6px; }
a { color: var(--link); }
.muted, .reason { color: var(--muted); }
.run { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 0 0 12px; color: var(--muted); }
.run strong { color: var(--fg); font-weight: 600; }
.controls { display: flex; gap: 12px; align-items: center; margin: 8px 0; position: sticky; top: 0; background: var(--bg); padding: 6px 0; z-index: 2; }
#search { width: min(480px, 60vw); padding: 6px 8px; font: inherit; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; }
table.index { width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
table.index thead { position: sticky; top: 44px; z-index: 1; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.desc { max-width: 36em; }
th button { white-space: nowrap; font: inherit; font-weight: 600; border: 0; background: none; padding: 0; cursor: pointer; color: var(--fg); }
th button::after { content: " \2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \25B2"; color: var(--fg); }
th[aria-sort="descending"] button::after { content: " \25BC"; color: var(--fg); }
.status { font-style: italic; color: var(--muted); }
.states { margin: 0 0 12px; }
.states h2 { font-size: 14px; margin: 0 0 4px; }
.states .stats { font-size: 13px; }
.description, .desc, .cand-desc, .reason { unicode-bidi: isolate; overflow-wrap: anywhere; }
.description { font-size: 16px; margin: 4px 0 8px; }
.feature-nav { display: flex; gap: 16px; margin-bottom: 4px; }
section.sign { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin: 12px 0; }
.stats { display: grid; grid-template-columns: max-content auto; gap: 2px 14px; margin: 6px 0; }
.stats dt { color: var(--muted); }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; }
.top { display: flex; flex-wrap: wrap; gap: 8px 32px; align-items: flex-start; }
table.candidates tr.chosen td { font-weight: 600; }
table.candidates tr.viewing { background: #eef4ff; }
table.candidates tbody tr { cursor: pointer; }
.exemplar { margin: 6px 0 10px; }
.ex-meta { color: var(--muted); font-size: 12px; }
.ex-row { display: grid; grid-template-columns: 6.5em 1fr; align-items: baseline; }
.ex-label { color: var(--muted); font-size: 12px; }
.tokens { font: 13px/1.9 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere; }
.tok { unicode-bidi: isolate; border-radius: 2px; padding: 1px 0; }
.tok.prefix { color: #a0a0a6; }
.tok.joined { text-decoration: underline dotted #a0a0a6; }
.tok:hover { outline: 1px solid #555; }
.legend { display: inline-flex; gap: 6px; align-items: center; font-size: 12px; color: var(--muted); }
.swatch { display: inline-block; width: 90px; height: 10px; border: 1px solid var(--line); }
svg.hist { display: block; }
svg.hist text { font-size: 10px; fill: var(--muted); }
details > summary { cursor: pointer; margin: 10px 0 4px; font-weight: 600; }
#tooltip { position: fixed; pointer-events: none; background: #222; color: #fff; font: 12px/1.4 ui-monospace, monospace; padding: 6px 8px; border-radius: 4px; white-space: pre; z-index: 10; max-width: 60vw; overflow: hidden; unicode-bidi: isolate; }
.planted { display: inline-block; font-size: 11px; line-height: 1.3; padding: 0 5px; margin-right: 6px; border-radius: 8px; border: 1px solid var(--line); color: var(--muted); white-space: nowrap; }
.planted.recovered { border-color: #7bb77b; color: #22662a; background: #f0f8f0; }
.planted.missed { border-color: #d9a0a0; color: #8a2a2a; background: #fbf1f1; }
.planted-line { margin: 0 0 8px; }
td.count { color: var(--muted); }
svg.hist line.threshold { stroke-width: 1.2; }
svg.hist text.threshold-label { fill: var(--fg); }
[hidden] { display: none !important; }
`;
