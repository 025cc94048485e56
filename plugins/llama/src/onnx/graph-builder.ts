import {
  DataType,
  DEFAULT_OPSET,
  inlineTensor,
  IR_VERSION,
  makeAttribute,
  MICROSOFT_DOMAIN,
  valueInfo,
  type AttributeValue,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

export interface NodeOptions {
  /** Number of outputs to name automatically, or the output names themselves. */
  readonly outputs?: number | readonly string[];
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly domain?: string;
  /** Base of the node's name within the current scope (default: the op type). */
  readonly name?: string;
}

/**
 * Appends nodes to a graph under hierarchical scopes (`layers.3/attn/...`), naming every node and value after its
 * scope so that a graph viewer or an error message points at the layer it came from. Small constants are
 * deduplicated and stored inline; large weights are added by the caller as external initializers.
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly usedNames = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly constants = new Map<string, string>();

  /** `namePrefix` keeps names unique when nodes are appended to an existing graph (e.g. `hooks/`). */
  constructor(
    private readonly namePrefix = '',
    existingNames: Iterable<string> = [],
  ) {
    for (const name of existingNames) this.usedNames.add(name);
  }

  scoped<T>(scope: string, build: () => T): T {
    this.scopes.push(scope);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  /** A name not used yet in this graph, under the current scope. */
  uniqueName(base: string): string {
    const stem = `${this.namePrefix}${[...this.scopes, base].join('/')}`;
    let name = stem;
    for (let n = 1; this.usedNames.has(name); n++) name = `${stem}_${n}`;
    this.usedNames.add(name);
    return name;
  }

  /** Reserves a name chosen by the caller (graph inputs/outputs, hook values); two claims of one name are a bug. */
  claim(name: string): string {
    if (this.usedNames.has(name)) throw new Error(`graph name "${name}" is used twice`);
    this.usedNames.add(name);
    return name;
  }

  node(op: string, inputs: readonly string[], options: NodeOptions = {}): string[] {
    const nodeName = this.uniqueName(options.name ?? op);
    const outputSpec = options.outputs ?? 1;
    const outputs =
      typeof outputSpec === 'number'
        ? Array.from({ length: outputSpec }, (_, i) => this.claimOutput(`${nodeName}/output_${i}`))
        : [...outputSpec];
    const node: NodeProto = { opType: op, name: nodeName, input: [...inputs], output: outputs };
    if (options.domain) node.domain = options.domain;
    if (options.attributes)
      node.attribute = Object.entries(options.attributes).map(([name, value]) => makeAttribute(name, value));
    this.nodes.push(node);
    return outputs;
  }

  /** A single-output node; returns the output's name. */
  op(
    op: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeValue>>,
    name?: string,
  ): string {
    return this.node(op, inputs, { attributes, name })[0]!;
  }

  /** Like `op`, writing its output to a name chosen by the caller (graph outputs, hook points). */
  opTo(
    output: string,
    op: string,
    inputs: readonly string[],
    attributes?: Readonly<Record<string, AttributeValue>>,
  ): string {
    this.claim(output);
    this.node(op, inputs, { attributes, outputs: [output] });
    return output;
  }

  private claimOutput(name: string): string {
    this.usedNames.add(name);
    return name;
  }

  floatConstant(values: number | readonly number[], dims?: readonly number[]): string {
    const list = typeof values === 'number' ? [values] : values;
    return this.constant(
      DataType.FLOAT,
      dims ?? (typeof values === 'number' ? [] : [list.length]),
      Float32Array.from(list),
    );
  }

  int64Constant(values: number | readonly number[], dims?: readonly number[]): string {
    const list = typeof values === 'number' ? [values] : values;
    return this.constant(
      DataType.INT64,
      dims ?? (typeof values === 'number' ? [] : [list.length]),
      BigInt64Array.from(list.map((v) => BigInt(v))),
    );
  }

  private constant(dataType: number, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    const key = `${dataType}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>, String).join(',')}`;
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const kind = dataType === DataType.FLOAT ? 'f32' : 'i64';
    const name = this.uniqueNameUnscoped(
      `const/${kind}/${dims.length === 0 ? 'scalar' : dims.join('x')}/${Array.from(
        data as ArrayLike<number | bigint>,
        String,
      )
        .slice(0, 4)
        .join('_')}`,
    );
    this.initializers.push(inlineTensor(name, dataType, dims, data));
    this.constants.set(key, name);
    return name;
  }

  private uniqueNameUnscoped(base: string): string {
    const stem = `${this.namePrefix}${base}`;
    let name = stem;
    for (let n = 1; this.usedNames.has(name); n++) name = `${stem}_${n}`;
    this.usedNames.add(name);
    return name;
  }

  addInitializer(tensor: TensorProto): string {
    this.claim(tensor.name!);
    this.initializers.push(tensor);
    return tensor.name!;
  }

  input(name: string, elemType: number, dims: readonly (number | string)[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares an existing value as a graph output. */
  output(name: string, elemType: number, dims: readonly (number | string)[] | null): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  graph(name: string): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs };
  }
}

export function makeModel(
  graph: GraphProto,
  options: { producer?: string; microsoftOpset?: boolean; docString?: string } = {},
): ModelProto {
  const opsetImport = [{ domain: '', version: DEFAULT_OPSET }];
  if (options.microsoftOpset) opsetImport.push({ domain: MICROSOFT_DOMAIN, version: 1 });
  return {
    irVersion: IR_VERSION,
    producerName: options.producer ?? '@expgen/plugin-llama',
    opsetImport,
    graph,
    ...(options.docString ? { docString: options.docString } : {}),
  };
}
