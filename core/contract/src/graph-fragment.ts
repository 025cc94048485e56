/**
 * A small computation appended to the subject's graph at a hook point, so that it runs on the subject's
 * execution provider and the in-graph reductions see its output (an SAE encoder is one). Written in ONNX
 * operator vocabulary (opset 17) without tying the contract to an ONNX library; subjects that cannot run graphs
 * use the activation source's host `encode` instead.
 */
export interface GraphFragment {
  /** Prefix for node and initializer names, unique per fragment (e.g. `sae_res16k_l12`). */
  readonly name: string;
  /** Value name the hook's activations are bound to: float32 [rows, inputWidth]. */
  readonly input: string;
  /** Value name of the result: float32 [rows, outputWidth]. */
  readonly output: string;
  readonly inputWidth: number;
  readonly outputWidth: number;
  /** Constant tensors the nodes read, float32 unless `dataType` says otherwise. */
  readonly initializers: readonly GraphFragmentTensor[];
  /** Nodes in topological order. */
  readonly nodes: readonly GraphFragmentNode[];
}

export interface GraphFragmentTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | BigInt64Array;
}

export interface GraphFragmentNode {
  /** ONNX operator type, e.g. `MatMul`, `Add`, `Relu`, `TopK`. */
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: Readonly<Record<string, number | string | readonly number[]>>;
}
