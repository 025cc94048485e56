import assert from 'node:assert/strict';
import type { ActivationSource } from '../activation-source.js';
import type { DatasetSource, SourceDocument } from '../dataset-source.js';
import type { DescribeRequest, Describer } from '../describer.js';
import { isExpgenError } from '../errors.js';
import type { ComponentsByKind } from '../plugin.js';
import type { ComponentKind } from '../provenance.js';
import { isJudgeScorer, type Scorer } from '../scorer.js';
import type { Simulator } from '../simulator.js';
import type { SubjectModel } from '../subject-model.js';
import type { Tokenizer } from '../tokenizer.js';
import { runGraphFragment } from './graph-interpreter.js';

type Rows = readonly (readonly number[])[];

/** What a case of each kind gives the component, and what it must return. */
export interface CaseIO {
  'activation-source': {
    /** A layer and hook values, [rows][hookWidth]. */
    readonly input: { readonly layer: number; readonly hookValues: Rows };
    /** Feature values [rows][width]: what `encode` returns, and the layer's fragment (when it has one) too. */
    readonly expected: Rows;
  };
  dataset: {
    readonly input?: undefined;
    /** The first documents the dataset yields, in order, exactly. */
    readonly expected: readonly SourceDocument[];
  };
  'subject-model': {
    /** A text (encoded with BOS) and a hook point. */
    readonly input: { readonly text: string; readonly hook: string };
    /** The hook's values per token, [tokens][width]. */
    readonly expected: Rows;
  };
  describer: {
    readonly input: DescribeRequest;
    /** The descriptions returned, in seed order. */
    readonly expected: readonly string[];
  };
  simulator: {
    /** Descriptions, and texts the subject's tokenizer encodes (without BOS) into the sequences. */
    readonly input: { readonly descriptions: readonly string[]; readonly texts: readonly string[] };
    /** Predictions [description][sequence][token]. */
    readonly expected: readonly Rows[];
  };
  scorer: {
    readonly input: { readonly predicted: Rows; readonly actual: Rows };
    /** The score, or null for an undefined one. */
    readonly expected: number | null;
  };
}

/** A case the component must accept: created with `options`, it turns `input` into `expected`. */
export interface ValidCase<K extends ComponentKind = ComponentKind> {
  /** Shown in the test's name. */
  readonly name?: string;
  /** Raw options, as a config section would hold them (default: the fixtures' options for the component). */
  readonly options?: unknown;
  readonly input?: CaseIO[K]['input'];
  readonly expected?: CaseIO[K]['expected'];
  /** Largest relative difference of numbers from `expected` (default 1e-5). */
  readonly tolerance?: number;
}

/**
 * A case the component must refuse: its options are rejected by the schema or by `create`, or the call with
 * `input` throws. An error from `create` or a call must be an ExpgenError (one line the user can act on).
 */
export interface InvalidCase<K extends ComponentKind = ComponentKind> {
  readonly name?: string;
  readonly options?: unknown;
  readonly input?: CaseIO[K]['input'];
  /** The message, or a pattern it matches. */
  readonly error: string | RegExp;
}

/** A component's own cases, as ESLint's RuleTester takes valid and invalid code. */
export interface ComponentCases<K extends ComponentKind = ComponentKind> {
  readonly valid?: readonly ValidCase<K>[];
  readonly invalid?: readonly InvalidCase<K>[];
}

/** Cases per component, keyed `kind/name` (`'activation-source/relu-resid'`), typed by the kind in the key. */
export type ContractCases = { readonly [K in ComponentKind as `${K}/${string}`]?: ComponentCases<K> };

/** Runs a case's input through the component and returns its output in the shape `expected` has. */
export async function caseOutput(
  kind: ComponentKind,
  component: ComponentsByKind[ComponentKind],
  input: unknown,
  tokenizer: Tokenizer,
): Promise<unknown> {
  switch (kind) {
    case 'activation-source': {
      const { layer, hookValues } = input as CaseIO['activation-source']['input'];
      const source = component as ActivationSource;
      const rows = hookValues.length;
      const values = Float32Array.from(hookValues.flat());
      const plan = source.plan(layer);
      const encoded = toRows(source.encode(layer, values, rows), plan.width);
      if (!plan.fragment) return encoded;
      const graph = toRows(runGraphFragment(plan.fragment, values, rows), plan.width);
      return { encoded, graph };
    }
    case 'dataset': {
      const documents: SourceDocument[] = [];
      for await (const document of (component as DatasetSource).documents()) documents.push(document);
      return documents;
    }
    case 'subject-model': {
      const { text, hook } = input as CaseIO['subject-model']['input'];
      const subject = component as SubjectModel;
      const tokens = Int32Array.from(subject.tokenizer.encode(text, { addBos: true }));
      const result = await subject.forward({
        tokens,
        batch: 1,
        seqLen: tokens.length,
        hooks: [{ hook, reduce: 'full' }],
      });
      return toRows(result.hooks[0]!.full!, result.hooks[0]!.width);
    }
    case 'describer': {
      const result = await (component as Describer).describe(input as DescribeRequest);
      return [...result.candidates].sort((a, b) => a.seed - b.seed).map((c) => c.description);
    }
    case 'simulator': {
      const { descriptions, texts } = input as CaseIO['simulator']['input'];
      const sequences = texts.map((t) => tokenizer.encode(t));
      const result = await (component as Simulator).simulate({ descriptions, sequences });
      return result.predictions.map((perSequence) => perSequence.map((p) => [...p]));
    }
    case 'scorer': {
      const { predicted, actual } = input as CaseIO['scorer']['input'];
      const scorer = component as Scorer;
      if (isJudgeScorer(scorer))
        throw new Error(
          'scorer cases compare predictions with activations: a judge scorer is checked by the suite itself',
        );
      return scorer.score({
        predicted: predicted.map((p) => Float32Array.from(p)),
        actual: actual.map((a) => Float32Array.from(a)),
      }).value;
    }
  }
}

/** Compares a case's output with what it expected; numbers within `tolerance`, relative. */
export function assertCaseOutput(kind: ComponentKind, output: unknown, expected: unknown, tolerance: number): void {
  if (kind === 'activation-source' && output !== null && typeof output === 'object' && 'graph' in output) {
    const { encoded, graph } = output as { encoded: unknown; graph: unknown };
    assertMatches(encoded, expected, tolerance, 'encode');
    assertMatches(graph, expected, tolerance, 'the graph fragment');
    return;
  }
  if (kind === 'dataset') {
    const documents = output as SourceDocument[];
    const wanted = expected as readonly SourceDocument[];
    assert.deepEqual(documents.slice(0, wanted.length), wanted, 'the first documents');
    return;
  }
  assertMatches(output, expected, tolerance, kind);
}

function assertMatches(actual: unknown, expected: unknown, tolerance: number, what: string, path = ''): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    assert.ok(
      Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)),
      `${what}${path}: ${actual}, expected ${expected}`,
    );
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${what}${path}: expected a list`);
    assert.equal(actual.length, expected.length, `${what}${path}: length`);
    expected.forEach((e, i) => {
      assertMatches(actual[i], e, tolerance, what, `${path}[${i}]`);
    });
    return;
  }
  assert.deepEqual(actual, expected, `${what}${path}`);
}

/** Checks a refusal: the message matches, and an error past the schema is an ExpgenError on one line. */
export function assertRefusal(error: unknown, expected: string | RegExp, fromSchema: boolean): void {
  assert.ok(error instanceof Error, `expected an error matching ${String(expected)}, got ${String(error)}`);
  if (typeof expected === 'string') assert.equal(error.message, expected);
  else assert.match(error.message, expected);
  if (!fromSchema) {
    assert.ok(isExpgenError(error), `a refusal is an ExpgenError the user can act on, got ${error.name}`);
    assert.ok(!error.message.includes('\n'), 'on one line');
  }
}

function toRows(values: Float32Array, width: number): number[][] {
  return Array.from({ length: values.length / width }, (_, r) => [...values.subarray(r * width, (r + 1) * width)]);
}
