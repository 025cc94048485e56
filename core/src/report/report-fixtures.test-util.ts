import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeTokenizer } from '@expgen/contract/testing';

// Run folders as stage 3 leaves them, for the report's tests (report.test.ts, report-states.test.ts).

/** Strings from the web that must come out of the report as inert, visible text. */
export const HOSTILE = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '</textarea><textarea>',
  '</script><!--<script>alert(2)//-->',
  '"><b onmouseover=alert(3)>&amp;</b>',
  'file\u202Egnp.exe zero\u200Bwidth \u2066iso\u2069 line\u2028break',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a hostile string the report must show verbatim
  'goose 🪿 {{marker}} \'quotes\' "double" `tick` ${x}',
];

/** snake_case keys in camelCase, deeply: how expgen spelled its files before format 2. */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelKeys);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), camelKeys(v)]),
  );
}

/**
 * A run folder as stage 3 leaves it, with hostile text everywhere a string can be. Feature 1's negative sign
 * failed; feature 2's positive sign has a chosen description without a test score. `legacy`: the files as expgen
 * wrote them before format 2 (camelCase keys, no feature-key parts, `scored` for a row without a test score).
 */
export function makeRun(features: number, options: { details?: boolean; legacy?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'expgen-report-unit-'));
  const spell = (value: Record<string, unknown>) => JSON.stringify(options.legacy ? camelKeys(value) : value);
  const tok = fakeTokenizer();
  const rows: string[] = [];
  const described: string[] = [];
  for (let f = 0; f < features; f++) {
    for (const sign of ['positive', 'negative'] as const) {
      const description = `${HOSTILE[f % HOSTILE.length]} (${sign})`;
      const failed = f === 1 && sign === 'negative';
      const noTestScore = f === 2 && sign === 'positive';
      const status = failed ? 'failed' : noTestScore && !options.legacy ? 'no_test_score' : 'scored';
      const withScore = !failed && !noTestScore;
      rows.push(
        spell({
          feature: `mlp/0/${f}`,
          ...(options.legacy ? {} : { space: 'mlp', layer: 0, index: f }),
          sign,
          status,
          reason: failed ? '<b>no</b> candidate' : noTestScore && !options.legacy ? 'constant <i>on test</i>' : null,
          description: failed ? null : description,
          score: withScore ? 0.5 - f / 1000 : null,
          ci: withScore ? [0.4, 0.6] : null,
          selection_score: 0.6,
          candidates: 2,
          pearson: withScore ? 0.5 : null,
          r_squared: withScore ? 0.25 : null,
          absolute_deviation_explained: 0.1,
          pooled_score: 0.55,
          null_score: withScore ? 0.01 : null,
          describer: null,
          simulator: null,
          scorer: null,
          // Two scorers: the selection scorer's entry says what the row says; the judge scores the description
          // without a test score too, and every judgment of feature 0's negative sign failed.
          ...(options.legacy
            ? {}
            : {
                scores: {
                  correlation: {
                    status,
                    reason: failed ? '<b>no</b> candidate' : noTestScore ? 'constant <i>on test</i>' : null,
                    score: withScore ? 0.5 - f / 1000 : null,
                    ci: withScore ? [0.4, 0.6] : null,
                    null_score: withScore ? 0.01 : null,
                    judgments: withScore ? 13 : 0,
                    failures: 0,
                  },
                  detection: failed
                    ? {
                        status,
                        reason: '<b>no</b> candidate',
                        score: null,
                        ci: null,
                        null_score: null,
                        judgments: 0,
                        failures: 0,
                      }
                    : f === 0 && sign === 'negative'
                      ? {
                          status: 'failed',
                          reason: 'every one of the 20 judgment(s) of the scorer "detection" failed: <i>unreadable</i>',
                          score: null,
                          ci: null,
                          null_score: null,
                          judgments: 0,
                          failures: 20,
                        }
                      : {
                          status: 'scored',
                          reason: null,
                          score: 0.9,
                          ci: [0.8, 1],
                          null_score: 0.5,
                          judgments: 18,
                          failures: 2,
                        },
                },
              }),
        }),
      );
      described.push(
        spell({
          feature: `mlp/0/${f}`,
          sign,
          candidates: [],
          failures: [{ seed: 9, reason: 'malformed', detail: '<img src=x onerror=alert(9)>' }],
          threshold: 1.5,
          threshold_rule: 'rule</script>',
        }),
      );
      if (options.details === false) continue;
      const exemplar = (text: string, split: string) => {
        const tokens = [0, ...tok.encode(text)];
        return {
          split,
          stratum: 'top',
          sign,
          rank: 0,
          sequence: 7,
          dataset: 'web<script>',
          document: 'doc</script>\u202E',
          count_from: 1,
          tokens,
          activations: tokens.map((_, i) => (sign === 'positive' ? 1 : -1) * (i % 4)),
        };
      };
      const report = HOSTILE.map((h) => exemplar(h, 'test'));
      const selection = HOSTILE.slice(0, 3).map((h) => exemplar(h, 'valid'));
      const predictions = (set: { tokens: number[] }[]) => set.map((e) => e.tokens.map((_, i) => i % 3));
      const detail = {
        ...(options.legacy ? {} : { format: 'expgen-feature-detail/2', expgen_version: '0.0.0' }),
        feature: `mlp/0/${f}`,
        sign,
        chosen: 0,
        selection,
        report,
        candidates: [
          {
            description,
            seed: 0,
            selection_score: 0.6,
            selection_predictions: predictions(selection),
            report_predictions: predictions(report),
          },
          {
            description: '</textarea>second',
            seed: 1,
            selection_score: null,
            selection_predictions: predictions(selection),
            report_predictions: null,
          },
        ],
      };
      const path = join(dir, 'features', 'mlp', 'layer-00', `${f}.${sign}.json`);
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, spell(detail));
    }
  }
  writeFileSync(join(dir, 'results.jsonl'), `${rows.join('\n')}\n`);
  mkdirSync(join(dir, 'descriptions'));
  writeFileSync(join(dir, 'descriptions', 'candidates.jsonl'), `${described.join('\n')}\n`);
  return dir;
}

/** The JSON blocks of a page, parsed, by id. */
export function blocks(html: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const m of html.matchAll(/<script type="application\/json" id="([a-z0-9-]+)">([^<]*)<\/script>/g))
    out.set(m[1]!, JSON.parse(m[2]!));
  return out;
}
