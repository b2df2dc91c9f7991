/**
 * A small typed builder for ONNX graphs. Values are referred to by name (string); `op` appends a
 * node and returns its output name(s). Numbers in attributes are ints when integral, floats
 * otherwise; wrap with `float(x)` to force a float attribute (e.g. alpha = 1.0).
 */
import {
  type AttrValue, type DType, type Dim, type Graph, type Node, type Tensor, type ValueInfo,
  emptyGraph,
} from './ir.js';

export type AttrInput = number | string | number[] | string[] | Tensor | AttrValue;

export function float(value: number): AttrValue {
  return { type: 'float', value };
}

export function floats(value: number[]): AttrValue {
  return { type: 'floats', value };
}

function isAttrValue(v: unknown): v is AttrValue {
  return typeof v === 'object' && v !== null && 'type' in v && 'value' in v && !('dims' in v);
}

export function toAttr(v: AttrInput): AttrValue {
  if (isAttrValue(v)) return v;
  if (typeof v === 'number') return Number.isInteger(v) ? { type: 'int', value: v } : { type: 'float', value: v };
  if (typeof v === 'string') return { type: 'string', value: v };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return { type: 'strings', value: v as string[] };
    const nums = v as number[];
    return nums.every(Number.isInteger) ? { type: 'ints', value: nums } : { type: 'floats', value: nums };
  }
  return { type: 'tensor', value: v as Tensor };
}

export interface OpOptions {
  domain?: string;
  /** Node name; defaults to a fresh name in the current scope. */
  name?: string;
  /** Output names (or count of fresh outputs). Default: one fresh output. */
  outputs?: string[] | number;
}

export interface BuilderOptions {
  /** Called with each node the builder appends, after it is in the graph. */
  onNode?: (node: Node) => void;
}

/** One past the largest `_N` suffix among a graph's names, so fresh names cannot collide. */
function nextFreeCounter(g: Graph): number {
  let max = -1;
  const see = (name: string) => {
    const m = /_(\d+)$/.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  };
  for (const n of g.nodes) {
    see(n.name);
    n.outputs.forEach(see);
  }
  for (const name of g.initializers.keys()) see(name);
  return max + 1;
}

export class GraphBuilder {
  readonly graph: Graph;
  private counter = 0;
  private scopes: string[] = [];
  private constCache = new Map<string, string>();

  /**
   * A builder for a new graph, or one that appends to an existing graph (which it then owns).
   * `onNode` sees every node right after it is appended (autodiff infers its shapes there).
   */
  constructor(nameOrGraph: string | Graph = 'main', private readonly opts: BuilderOptions = {}) {
    this.graph = typeof nameOrGraph === 'string' ? emptyGraph(nameOrGraph) : nameOrGraph;
    if (typeof nameOrGraph !== 'string') this.counter = nextFreeCounter(nameOrGraph);
  }

  /** A name unique in this graph, prefixed with the current scope. */
  fresh(base: string): string {
    const scope = this.scopes.length ? this.scopes.join('/') + '/' : '';
    return `${scope}${base}_${this.counter++}`;
  }

  /** Run `fn` with `name` pushed on the naming scope (names become `a/b/op_N`). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  input(name: string, dtype: DType, shape: Dim[] | null): string {
    this.graph.inputs.push({ name, dtype, shape });
    return name;
  }

  /**
   * Declare `value` a graph output named `name`. When the names differ the value is renamed where
   * a node of this graph produces it (no copy); otherwise an Identity is added.
   */
  output(value: string, name: string = value, dtype: DType = 'float32', shape: Dim[] | null = null): string {
    if (value !== name) {
      const g = this.graph;
      const producer = g.nodes.find((n) => n.outputs.includes(value));
      const renamable = producer && !g.outputs.some((o) => o.name === value) && !g.inputs.some((i) => i.name === value) && !g.initializers.has(value);
      if (renamable) {
        for (const n of g.nodes) {
          n.outputs = n.outputs.map((o) => (o === value ? name : o));
          n.inputs = n.inputs.map((i) => (i === value ? name : i));
        }
      } else {
        this.op('Identity', [value], {}, { outputs: [name] });
      }
    }
    this.graph.outputs.push({ name, dtype, shape });
    return name;
  }

  initializer(name: string, tensor: Tensor): string {
    this.graph.initializers.set(name, tensor);
    return name;
  }

  /** An initializer holding a constant; identical constants are shared. */
  constant(t: Tensor): string {
    const key = `${t.dtype}|${t.dims.join(',')}|${Array.from(t.data as ArrayLike<number | bigint>, String).join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    let name = `const_${this.counter++}`;
    while (this.graph.initializers.has(name)) name = `const_${this.counter++}`;
    this.graph.initializers.set(name, t);
    this.constCache.set(key, name);
    return name;
  }

  /** int64 constant; a number gives a scalar, an array a 1-D tensor. */
  int64(v: number | number[]): string {
    const arr = Array.isArray(v) ? v : [v];
    return this.constant({ dtype: 'int64', dims: Array.isArray(v) ? [arr.length] : [], data: BigInt64Array.from(arr.map(BigInt)) });
  }

  /** float32 constant; a number gives a scalar, an array a 1-D tensor. */
  float32(v: number | number[]): string {
    const arr = Array.isArray(v) ? v : [v];
    return this.constant({ dtype: 'float32', dims: Array.isArray(v) ? [arr.length] : [], data: Float32Array.from(arr) });
  }

  /** Append a node with one output; returns the output name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrInput> = {}, opts: OpOptions = {}): string {
    return this.node(op, inputs, attrs, opts)[0]!;
  }

  /** Append a node; returns all output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrInput> = {}, opts: OpOptions = {}): string[] {
    const base = op.replace(/[^A-Za-z0-9]/g, '');
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(base));
    const converted: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) converted[k] = toAttr(v);
    const node: Node = {
      op, domain: opts.domain ?? '', name: opts.name ?? this.fresh(`${base}_node`), inputs, outputs, attrs: converted,
    };
    this.graph.nodes.push(node);
    this.opts.onNode?.(node);
    return outputs;
  }

  valueInfo(v: ValueInfo): void {
    this.graph.valueInfo.push(v);
  }
}
