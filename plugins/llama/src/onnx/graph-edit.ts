// Edits on a decoded GraphProto that leave the weights alone: rewire a value, drop what no output needs.
import type { GraphProto, NodeProto } from './onnx-proto.js';

/**
 * Removes the KV-cache inputs for passes that start from an empty cache: each `Concat(past, new)` is bypassed
 * (its readers read `new`), so no empty tensor has to be fed and no copy is made.
 */
export function removePastInputs(graph: GraphProto, pastInputs: ReadonlySet<string>): void {
  const nodes = graph.node ?? [];
  const kept: NodeProto[] = [];
  for (const node of nodes) {
    const inputs = node.input ?? [];
    if (node.opType === 'Concat' && inputs.length === 2 && pastInputs.has(inputs[0]!)) {
      const output = node.output![0]!;
      graph.output = (graph.output ?? []).filter((o) => o.name !== output);
      for (const other of nodes) {
        const otherInputs = other.input ?? [];
        for (let i = 0; i < otherInputs.length; i++) if (otherInputs[i] === output) otherInputs[i] = inputs[1]!;
      }
      continue;
    }
    kept.push(node);
  }
  graph.node = kept;
  graph.input = (graph.input ?? []).filter((input) => !pastInputs.has(input.name!));
  for (const node of graph.node) {
    if ((node.input ?? []).some((name) => pastInputs.has(name))) {
      throw new Error(
        `node ${node.name} still reads a KV-cache input after removing the cache; the graph is not laid out as expected`,
      );
    }
  }
}

/**
 * Keeps only the nodes the graph outputs depend on, and the inputs and initializers those nodes read. Nodes keep
 * their original order, so a topologically sorted graph stays sorted.
 */
export function pruneToOutputs(graph: GraphProto): void {
  const nodes = graph.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const output of node.output ?? []) if (output) producer.set(output, index);
  });
  const needed = new Set<number>();
  const usedValues = new Set<string>();
  const stack = (graph.output ?? []).map((o) => o.name!);
  while (stack.length > 0) {
    const value = stack.pop()!;
    if (usedValues.has(value)) continue;
    usedValues.add(value);
    const index = producer.get(value);
    if (index === undefined || needed.has(index)) continue;
    needed.add(index);
    for (const input of nodes[index]!.input ?? []) if (input) stack.push(input);
    for (const attribute of nodes[index]!.attribute ?? [])
      for (const name of subgraphReads(attribute)) stack.push(name);
  }
  graph.node = nodes.filter((_, index) => needed.has(index));
  graph.initializer = (graph.initializer ?? []).filter((tensor) => usedValues.has(tensor.name!));
  graph.input = (graph.input ?? []).filter((input) => usedValues.has(input.name!));
  graph.valueInfo = (graph.valueInfo ?? []).filter((info) => usedValues.has(info.name!));
}

/** Values a control-flow subgraph (If/Loop/Scan body) reads from the enclosing graph. */
function subgraphReads(attribute: NonNullable<NodeProto['attribute']>[number]): string[] {
  const graphs = [...(attribute.g ? [attribute.g] : []), ...(attribute.graphs ?? [])];
  const names: string[] = [];
  for (const sub of graphs) {
    const local = new Set<string>([
      ...(sub.input ?? []).map((i) => i.name!),
      ...(sub.initializer ?? []).map((t) => t.name!),
    ]);
    for (const node of sub.node ?? []) for (const output of node.output ?? []) local.add(output);
    for (const node of sub.node ?? []) {
      for (const input of node.input ?? []) if (input && !local.has(input)) names.push(input);
      for (const nested of node.attribute ?? []) names.push(...subgraphReads(nested).filter((n) => !local.has(n)));
    }
  }
  return names;
}

/** Every value name defined in the graph (inputs, initializers, node outputs). */
export function definedNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const input of graph.input ?? []) names.add(input.name!);
  for (const tensor of graph.initializer ?? []) names.add(tensor.name!);
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) if (output) names.add(output);
    if (node.name) names.add(node.name);
  }
  return names;
}
