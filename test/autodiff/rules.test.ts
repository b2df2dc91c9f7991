// Every registered gradient rule against float64 central finite differences.
//
// Each case builds a small float64 graph y = f(inputs) (or several outputs y_k), and the scalar
// loss L = Σ_k ReduceSum(y_k ⊙ R_k) with fixed random R_k shaped like y_k, so every output element
// contributes. Analytic gradients come from `addGradients`; numeric ones from running the forward
// graph with each input element perturbed by ±h (h = 1e-6): (L(x+h) − L(x−h)) / 2h.
//
// Error measure (per differentiated input): the max-norm relative error
//   max_i |analytic_i − numeric_i| / max(max_i |numeric_i|, 1e-3)
// must be ≤ 1e-6. It bounds every element's error relative to the gradient tensor's scale (an
// element-wise relative error would be dominated by float64 round-off in the difference quotient
// for elements near zero; the 1e-3 floor guards gradients that are all ~0).
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { addGradients } from '../../src/autodiff/gradient.js';
import { registeredOps } from '../../src/autodiff/registry.js';
import { GraphBuilder, float } from '../../src/onnx/builder.js';
import { type Dim, type Graph, type Model, numel } from '../../src/onnx/ir.js';
import { inferShapes } from '../../src/onnx/shapes.js';
import { createSession } from '../../src/runtime/session.js';
import { Rng } from '../../src/util/rng.js';

const OPSET = 17; // graphs/decoder.ts
/** Sizes of the symbolic dimensions the symbolic-shape cases declare. */
const SYMBOLS: Record<string, number> = { batch: 2, seq: 3 };
const H = 1e-6;
const TOL = 1e-6;
const FLOOR = 1e-3;

/** How an input is drawn: N(0,1); positive (uniform [0.5, 2]); nonzero (±uniform [0.3, 2]). */
type Gen = 'normal' | 'positive' | 'nonzero';
/** An input: its data shape, how it is drawn, and optionally the shape the graph declares (symbolic dims). */
type InputSpec = [name: string, shape: number[], gen?: Gen, declared?: Dim[]];

interface Case {
  name: string;
  inputs: InputSpec[];
  /** Appends the forward graph; returns the output(s) the loss is taken over. */
  build: (b: GraphBuilder) => string | string[];
  /** Inputs to differentiate (default: all float inputs). */
  wrt?: string[];
  /** int64 graph inputs (not differentiated): name, declared shape, data shape, values. */
  intInputs?: Array<[name: string, declared: Dim[], shape: number[], values: number[]]>;
  /**
   * A gap outside the rule (e.g. shape inference): the case must currently fail with this error,
   * and fails loudly once the gap is closed, so the flag gets removed and the rule gets checked.
   */
  knownGap?: RegExp;
}

// ------------------------------------------------------------------ helpers for building cases

function sample(rng: Rng, n: number, gen: Gen = 'normal'): Float64Array {
  const out = new Float64Array(n);
  if (gen === 'normal') rng.fillNormal(out);
  else {
    for (let i = 0; i < n; i++) {
      const u = gen === 'positive' ? 0.5 + 1.5 * rng.uniform() : 0.3 + 1.7 * rng.uniform();
      out[i] = gen === 'nonzero' && rng.uniform() < 0.5 ? -u : u;
    }
  }
  return out;
}

/** A float64 constant (random normal unless `values` given; the same for every build of a case). */
function f64(b: GraphBuilder, dims: number[], values?: number[]): string {
  const data = values ? Float64Array.from(values) : sample(new Rng(1000 + 31 * b.graph.nodes.length + numel(dims)), numel(dims));
  return b.constant({ dtype: 'float64', dims, data });
}

function i64(b: GraphBuilder, dims: number[], values: number[]): string {
  return b.constant({ dtype: 'int64', dims, data: BigInt64Array.from(values.map(BigInt)) });
}

function bool(b: GraphBuilder, dims: number[], values: boolean[]): string {
  return b.constant({ dtype: 'bool', dims, data: Uint8Array.from(values.map(Number)) });
}

const un = (op: string, gen?: Gen, shape = [3, 4], attrs = {}): Case => ({
  name: `${op} ${JSON.stringify(shape)}${gen ? ` (${gen})` : ''}`,
  inputs: [['x', shape, gen]],
  build: (b) => b.op(op, ['x'], attrs),
});

const bin = (op: string, sa: number[], sb: number[], ga?: Gen, gb?: Gen): Case => ({
  name: `${op} ${JSON.stringify(sa)}×${JSON.stringify(sb)}`,
  inputs: [['a', sa, ga], ['b', sb, gb]],
  build: (b) => b.op(op, ['a', 'b']),
});

// ------------------------------------------------------------------ the cases

const gemmCases: Case[] = [];
for (const transA of [0, 1]) {
  for (const transB of [0, 1]) {
    const [M, K, N] = [3, 4, 5];
    gemmCases.push({
      name: `Gemm transA=${transA} transB=${transB} alpha=1.5 beta=0.5 C:[${N}]`,
      inputs: [['A', transA ? [K, M] : [M, K]], ['B', transB ? [N, K] : [K, N]], ['C', [N]]],
      build: (b) => b.op('Gemm', ['A', 'B', 'C'], { transA, transB, alpha: float(1.5), beta: float(0.5) }),
    });
  }
}
gemmCases.push(
  { name: 'Gemm defaults, no C', inputs: [['A', [3, 4]], ['B', [4, 5]]], build: (b) => b.op('Gemm', ['A', 'B']) },
  {
    // the weight gradient of x·Wᵀ transposes x when in < out (cases above) and g otherwise (here)
    name: 'Gemm transB=1 in > out alpha=0.5, no C',
    inputs: [['A', [3, 6]], ['B', [2, 6]]],
    build: (b) => b.op('Gemm', ['A', 'B'], { transB: 1, alpha: float(0.5) }),
  },
  {
    name: 'Gemm transB=1 alpha=-0.7 beta=2 C:[3,1]',
    inputs: [['A', [3, 4]], ['B', [5, 4]], ['C', [3, 1]]],
    build: (b) => b.op('Gemm', ['A', 'B', 'C'], { transB: 1, alpha: float(-0.7), beta: float(2) }),
  },
  {
    name: 'Gemm C:[3,5] beta=1, only A and C differentiated',
    inputs: [['A', [3, 4]], ['B', [4, 5]], ['C', [3, 5]]],
    wrt: ['A', 'C'],
    build: (b) => b.op('Gemm', ['A', 'B', 'C']),
  },
  {
    name: 'Gemm scalar C beta=0.25',
    inputs: [['A', [4, 3]], ['B', [4, 5]], ['C', []]],
    build: (b) => b.op('Gemm', ['A', 'B', 'C'], { transA: 1, beta: float(0.25) }),
  },
);

const reduceCases: Case[] = [];
for (const op of ['ReduceMean', 'ReduceSum', 'ReduceSumSquare', 'ReduceLogSumExp']) {
  for (const keepdims of [0, 1]) {
    for (const axes of [[1], [0, 2], [-1], null]) {
      reduceCases.push({
        name: `${op} axes=${JSON.stringify(axes)} keepdims=${keepdims}`,
        inputs: [['x', [2, 3, 4]]],
        build: (b) => {
          if (!axes) return b.op(op, ['x'], { keepdims });
          // opset 17: ReduceSum takes axes as an input, the others as an attribute
          return op === 'ReduceSum' ? b.op(op, ['x', b.int64(axes)], { keepdims }) : b.op(op, ['x'], { axes, keepdims });
        },
      });
    }
  }
}

const CASES: Case[] = [
  // element-wise unary
  un('Identity'),
  un('Neg'),
  un('Sqrt', 'positive'),
  un('Reciprocal', 'nonzero'),
  un('Sigmoid'),
  un('Exp'),
  un('Log', 'positive'),
  un('Tanh'),
  un('Relu', 'nonzero', [2, 3, 4]),
  un('Cast', undefined, [3, 4], { to: 11 }),

  // onnxruntime fused kernels the decoder uses (graphs/layers.ts)
  {
    name: 'SimplifiedLayerNormalization (RMSNorm) [3,5]',
    inputs: [['x', [3, 5]], ['g', [5]]],
    build: (b) => b.node('SimplifiedLayerNormalization', ['x', 'g'], { axis: -1, epsilon: float(1e-5), stash_type: 1 }, { outputs: 2 })[0]!,
  },
  {
    name: 'SimplifiedLayerNormalization (RMSNorm) [2,3,4], eps 0.1',
    inputs: [['x', [2, 3, 4]], ['g', [4]]],
    build: (b) => b.node('SimplifiedLayerNormalization', ['x', 'g'], { axis: -1, epsilon: float(0.1), stash_type: 1 }, { outputs: 2 })[0]!,
  },

  // broadcasting binary
  bin('Add', [3, 4], [4]),
  bin('Add', [3, 1], [1, 4]),
  bin('Sub', [3, 4], [4]),
  bin('Sub', [3, 1], [2, 3, 4]),
  bin('Mul', [3, 4], [4]),
  bin('Mul', [3, 4], [3, 1]),
  bin('Mul', [2, 3, 4], [4]),
  bin('Mul', [3, 4], []),
  bin('Div', [3, 4], [4], undefined, 'nonzero'),
  bin('Div', [3, 1], [2, 3, 4], undefined, 'nonzero'),
  bin('Pow', [3, 4], [4], 'positive'),
  bin('Pow', [3, 4], [], 'positive'),
  {
    name: 'Mul x·x (gradient contributions accumulate)',
    inputs: [['x', [3, 4]]],
    build: (b) => b.op('Mul', ['x', 'x']),
  },
  {
    name: 'Pow with a constant float exponent',
    inputs: [['x', [3, 4], 'positive']],
    build: (b) => b.op('Pow', ['x', f64(b, [], [2.5])]),
  },
  {
    name: 'Sum of 3 inputs [3,4]+[4]+[3,1]',
    inputs: [['a', [3, 4]], ['b', [4]], ['c', [3, 1]]],
    build: (b) => b.op('Sum', ['a', 'b', 'c']),
  },
  {
    name: 'Sum of 3 inputs [2,1,4]+[3,1]+[]',
    inputs: [['a', [2, 1, 4]], ['b', [3, 1]], ['c', []]],
    build: (b) => b.op('Sum', ['a', 'b', 'c']),
  },
  {
    name: 'Where bool cond [3,4], a [3,4], b [4]',
    inputs: [['a', [3, 4]], ['b', [4]]],
    build: (b) => b.op('Where', [bool(b, [3, 4], [1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1].map(Boolean)), 'a', 'b']),
  },
  {
    name: 'Where broadcasting cond [2,3,4], a [3,1], b []',
    inputs: [['a', [3, 1]], ['b', []]],
    build: (b) => b.op('Where', [bool(b, [2, 3, 4], Array.from({ length: 24 }, (_, i) => (i * 7) % 3 === 0)), 'a', 'b']),
  },

  // matrix products
  bin('MatMul', [3, 4], [4, 5]),
  bin('MatMul', [2, 3, 4, 5], [2, 3, 5, 2]),
  bin('MatMul', [2, 3, 4, 5], [5, 2]),
  bin('MatMul', [2, 1, 4, 5], [3, 5, 2]),
  ...gemmCases,

  // data movement
  {
    name: 'Reshape [2,3,4]→[6,4]',
    inputs: [['x', [2, 3, 4]]],
    build: (b) => b.op('Reshape', ['x', b.int64([6, 4])]),
  },
  {
    name: 'Reshape [2,3,4]→[0,-1]',
    inputs: [['x', [2, 3, 4]]],
    build: (b) => b.op('Reshape', ['x', b.int64([0, -1])]),
  },
  {
    name: 'Transpose perm [1,2,0]',
    inputs: [['x', [2, 3, 4]]],
    build: (b) => b.op('Transpose', ['x'], { perm: [1, 2, 0] }),
  },
  {
    name: 'Transpose default perm (reverse)',
    inputs: [['x', [2, 3, 4]]],
    build: (b) => b.op('Transpose', ['x']),
  },
  {
    name: 'Squeeze axes [1]',
    inputs: [['x', [3, 1, 4]]],
    build: (b) => b.op('Squeeze', ['x', b.int64([1])]),
  },
  {
    name: 'Unsqueeze axes [0,2]',
    inputs: [['x', [3, 4]]],
    build: (b) => b.op('Unsqueeze', ['x', b.int64([0, 2])]),
  },
  {
    name: 'Flatten axis 2',
    inputs: [['x', [2, 3, 4]]],
    build: (b) => b.op('Flatten', ['x'], { axis: 2 }),
  },
  {
    name: 'Expand [3,1]→[2,3,4]',
    inputs: [['x', [3, 1]]],
    build: (b) => b.op('Expand', ['x', b.int64([2, 3, 4])]),
  },
  {
    name: 'Expand [4]→[3,1] (result [3,4])',
    inputs: [['x', [4]]],
    build: (b) => b.op('Expand', ['x', b.int64([3, 1])]),
  },
  {
    name: 'Split axis 1 [2,3], both outputs used',
    inputs: [['x', [2, 5, 3]]],
    build: (b) => b.node('Split', ['x', b.int64([2, 3])], { axis: 1 }, { outputs: 2 }),
  },
  {
    name: 'Split axis -1 [1,2], second output unused',
    inputs: [['x', [2, 3]]],
    build: (b) => b.node('Split', ['x', b.int64([1, 2])], { axis: -1 }, { outputs: 2 })[0]!,
  },
  {
    name: 'Split axis 0 [1,1,2], first output unused',
    inputs: [['x', [4, 3]]],
    build: (b) => b.node('Split', ['x', b.int64([1, 1, 2])], { axis: 0 }, { outputs: 3 }).slice(1),
  },
  {
    name: 'Concat axis 1 of [2,3],[2,1],[2,4]',
    inputs: [['a', [2, 3]], ['b', [2, 1]], ['c', [2, 4]]],
    build: (b) => b.op('Concat', ['a', 'b', 'c'], { axis: 1 }),
  },
  {
    name: 'Concat axis -3 of [1,2,3],[2,2,3] with a constant',
    inputs: [['a', [1, 2, 3]], ['b', [2, 2, 3]]],
    build: (b) => b.op('Concat', ['a', f64(b, [1, 2, 3]), 'b'], { axis: -3 }),
  },

  // reductions
  ...reduceCases,

  // softmax family
  { name: 'Softmax last axis', inputs: [['x', [2, 3, 4]]], build: (b) => b.op('Softmax', ['x'], { axis: -1 }) },
  { name: 'Softmax axis 1', inputs: [['x', [2, 3, 4]]], build: (b) => b.op('Softmax', ['x'], { axis: 1 }) },
  { name: 'Softmax default axis', inputs: [['x', [3, 4]]], build: (b) => b.op('Softmax', ['x']) },
  { name: 'LogSoftmax last axis', inputs: [['x', [2, 3, 4]]], build: (b) => b.op('LogSoftmax', ['x'], { axis: -1 }) },
  { name: 'LogSoftmax axis 1', inputs: [['x', [2, 3, 4]]], build: (b) => b.op('LogSoftmax', ['x'], { axis: 1 }) },

  // gathers (repeated indices: the scatter must accumulate)
  {
    name: 'Gather axis 0 [5,3] with repeated indices [[0,2],[2,4],[2,0]]',
    inputs: [['x', [5, 3]]],
    build: (b) => b.op('Gather', ['x', i64(b, [3, 2], [0, 2, 2, 4, 2, 0])], { axis: 0 }),
  },
  {
    name: 'Gather axis 0 [4,2,3] with 1-D repeated indices [3,3,1,3]',
    inputs: [['x', [4, 2, 3]]],
    build: (b) => b.op('Gather', ['x', i64(b, [4], [3, 3, 1, 3])]),
  },
  {
    name: 'Gather axis 0 with a scalar index',
    inputs: [['x', [4, 3]]],
    build: (b) => b.op('Gather', ['x', i64(b, [], [2])]),
  },
  {
    name: 'Gather axis 0 with negative indices [-1,4,0,-5]',
    inputs: [['x', [5, 3]]],
    build: (b) => b.op('Gather', ['x', i64(b, [4], [-1, 4, 0, -5])]),
  },
  {
    name: 'GatherElements axis 1 with repeated indices',
    inputs: [['x', [3, 4]]],
    build: (b) => b.op('GatherElements', ['x', i64(b, [3, 5], [0, 0, 3, 1, 0, 2, 2, 2, 3, 1, 1, 0, 3, 3, 3])], { axis: 1 }),
  },
  {
    name: 'GatherElements axis 0 with repeated and negative indices',
    inputs: [['x', [3, 4]]],
    build: (b) => b.op('GatherElements', ['x', i64(b, [2, 4], [0, 2, -1, 1, 0, 0, 2, -3])], { axis: 0 }),
  },

  // cross-entropy: the loss node outputs log_prob too (its gradient uses it); ignored rows get none
  ...(['none', 'mean', 'sum'] as const).map((reduction) => ({
    name: `SoftmaxCrossEntropyLoss reduction ${reduction} with ignore_index`,
    inputs: [['x', [5, 4]]] as InputSpec[],
    build: (b: GraphBuilder) => b.node('SoftmaxCrossEntropyLoss', ['x', i64(b, [5], [2, -100, 0, 3, 2])], { reduction, ignore_index: -100 }, { outputs: 2 })[0]!,
  })),
  {
    name: 'SoftmaxCrossEntropyLoss mean without ignore_index',
    inputs: [['x', [3, 6]]],
    build: (b) => b.node('SoftmaxCrossEntropyLoss', ['x', i64(b, [3], [5, 0, 5])], {}, { outputs: 2 })[0]!,
  },

  // symbolic shapes: sumTo, zerosLike and the reshapes read shapes at run time (Shape nodes)
  {
    name: 'symbolic: Mul [batch,4]×[4] and [batch,1]',
    inputs: [['a', [2, 4], 'normal', ['batch', 4]], ['b', [4]], ['c', [2, 1], 'normal', ['batch', 1]]],
    build: (b) => b.op('Mul', [b.op('Mul', ['a', 'b']), 'c']),
  },
  {
    name: 'symbolic: Add [batch,seq,4]+[seq,1], Reshape [0,-1]',
    inputs: [['a', [2, 3, 4], 'normal', ['batch', 'seq', 4]], ['b', [3, 1], 'normal', ['seq', 1]]],
    build: (b) => b.op('Reshape', [b.op('Add', ['a', 'b']), b.int64([0, -1])]),
  },
  {
    name: 'symbolic: Expand [batch,1,4]→[batch,seq,4] via Shape',
    inputs: [['x', [2, 1, 4], 'normal', ['batch', 1, 4]], ['z', [2, 3, 4], 'normal', ['batch', 'seq', 4]]],
    build: (b) => b.op('Mul', [b.op('Expand', ['x', b.op('Shape', ['z'])]), 'z']),
  },
  {
    name: 'symbolic: MatMul [batch,seq,4]×[4,5], Softmax, ReduceMean over the static axis',
    inputs: [['a', [2, 3, 4], 'normal', ['batch', 'seq', 4]], ['w', [4, 5]]],
    build: (b) => b.op('ReduceMean', [b.op('Softmax', [b.op('MatMul', ['a', 'w'])], { axis: -1 })], { axes: [-1], keepdims: 0 }),
  },
  {
    name: 'symbolic: Split [batch,5] axis 1, one output unused; Concat; Transpose; Unsqueeze/Squeeze',
    inputs: [['x', [2, 5], 'normal', ['batch', 5]], ['y', [2, 2], 'normal', ['batch', 2]]],
    build: (b) => {
      const [, second] = b.node('Split', ['x', b.int64([2, 3])], { axis: 1 }, { outputs: 2 }) as [string, string];
      const cat = b.op('Concat', [second, 'y'], { axis: 1 });
      const t = b.op('Transpose', [b.op('Unsqueeze', [cat, b.int64([0])])], { perm: [0, 2, 1] });
      return b.op('Squeeze', [t, b.int64([0])]);
    },
  },
  {
    name: 'symbolic: Gather rows of [5,3] by [batch,seq] ids, ReduceSum over batch',
    inputs: [['emb', [5, 3]]],
    intInputs: [['ids', ['batch', 'seq'], [2, 3], [4, 1, 4, 0, 4, 1]]],
    build: (b) => b.op('ReduceSum', [b.op('Gather', ['emb', 'ids']), b.int64([0])], { keepdims: 0 }),
  },

  // non-differentiable side paths: Shape, Greater, Cast of ints/bools need no rules
  {
    name: 'Shape→Reshape, Cast(Shape), Cast(Greater) on the loss path',
    inputs: [['x', [2, 6], 'nonzero'], ['z', [3, 4]]],
    build: (b) => {
      const shaped = b.op('Reshape', ['x', b.op('Shape', ['z'])]);
      const count = b.op('ReduceSum', [b.op('Cast', [b.op('Shape', ['z'])], { to: 11 })], { keepdims: 0 });
      const mask = b.op('Cast', [b.op('Greater', ['z', f64(b, [], [0])])], { to: 11 });
      return b.op('Div', [b.op('Mul', [b.op('Mul', [shaped, 'z']), mask]), count]);
    },
  },
  {
    name: 'composite: softmax attention over MatMul with Transpose and Sqrt scale',
    inputs: [['q', [2, 3, 4]], ['k', [2, 3, 4]], ['v', [2, 3, 4]], ['s', [], 'positive']],
    build: (b) => {
      const scores = b.op('Div', [b.op('MatMul', ['q', b.op('Transpose', ['k'], { perm: [0, 2, 1] })]), b.op('Sqrt', ['s'])]);
      return b.op('MatMul', [b.op('Softmax', [scores], { axis: -1 }), 'v']);
    },
  },
];

// ------------------------------------------------------------------ running a case

const model = (graph: Graph): Model => ({
  irVersion: 8, opsets: { '': OPSET, 'com.microsoft': 1 }, producerName: 'rules.test', producerVersion: '0', graph, metadata: {},
});

interface Prepared {
  forward: Graph;
  data: Map<string, { shape: number[]; values: Float64Array }>;
  ints: NonNullable<Case['intInputs']>;
  wrt: string[];
}

function prepare(c: Case, seed: number): Prepared {
  const rng = new Rng(seed);
  const b = new GraphBuilder('rule_check');
  const data = new Map<string, { shape: number[]; values: Float64Array }>();
  for (const [name, shape, gen, declared] of c.inputs) {
    b.input(name, 'float64', declared ?? shape);
    data.set(name, { shape, values: sample(rng, numel(shape), gen) });
  }
  for (const [name, declared] of c.intInputs ?? []) b.input(name, 'int64', declared);
  const ys = [c.build(b)].flat();
  const info = inferShapes(b.graph);
  const terms = ys.map((y, k) => {
    const t = info.types.get(y);
    if (!t) throw new Error(`${c.name}: the shape of output ${y} could not be inferred`);
    // symbolic dims resolve against the data: inputs declare [batch, …] with batch = 2, seq = 3
    const dims = t.shape.map((d) => (typeof d === 'number' ? d : String(d).split('*').reduce((p, s) => p * (SYMBOLS[s] ?? Number(s)), 1)));
    const values = sample(rng, numel(dims));
    let r: string;
    if (t.shape.every((d) => typeof d === 'number')) r = b.constant({ dtype: 'float64', dims, data: values });
    else { // a symbolic R must be a graph input: a constant would not broadcast against [batch, …]
      r = b.input(`R_${k}`, 'float64', t.shape);
      data.set(r, { shape: dims, values });
    }
    return b.op('ReduceSum', [b.op('Mul', [y, r])], { keepdims: 0 });
  });
  if (terms.length === 1) b.op('Identity', [terms[0]!], {}, { outputs: ['loss'] });
  else b.op('Sum', terms, {}, { outputs: ['loss'] });
  b.graph.outputs.push({ name: 'loss', dtype: 'float64', shape: [] });
  return { forward: b.graph, data, ints: c.intInputs ?? [], wrt: c.wrt ?? c.inputs.map(([n]) => n) };
}

/** Feeds over copies of the inputs (the numeric pass perturbs its copies in place). */
const feedsOf = (p: Prepared): Record<string, ort.Tensor> => ({
  ...Object.fromEntries([...p.data].map(([name, { shape, values }]) => [name, new ort.Tensor('float64', values.slice(), shape)])),
  ...Object.fromEntries(p.ints.map(([name, , shape, values]) => [name, new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), shape)])),
});

async function analytic(p: Prepared): Promise<Map<string, { dims: readonly number[]; values: Float64Array }>> {
  const { graph, grads } = addGradients(p.forward, 'loss', p.wrt);
  const b = new GraphBuilder(graph);
  graph.outputs = [];
  for (const w of p.wrt) b.output(grads.get(w)!, `grad_of_${w}`, 'float64', p.data.get(w)!.shape);
  const session = await createSession(model(graph), { threads: 1 });
  try {
    const out = await session.run(feedsOf(p));
    return new Map(p.wrt.map((w) => {
      const t = out[`grad_of_${w}`]!;
      return [w, { dims: t.dims, values: t.data as Float64Array }];
    }));
  } finally {
    await session.release();
  }
}

/** Central differences, one session reused for every perturbation. */
async function numeric(p: Prepared): Promise<Map<string, Float64Array>> {
  const session = await createSession(model(p.forward), { threads: 1 });
  const feeds = feedsOf(p);
  const loss = async () => ((await session.run(feeds)).loss!.data as Float64Array)[0]!;
  const result = new Map<string, Float64Array>();
  try {
    for (const w of p.wrt) {
      const x = feeds[w]!.data as Float64Array;
      const g = new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const x0 = x[i]!;
        x[i] = x0 + H;
        const up = await loss();
        x[i] = x0 - H;
        const down = await loss();
        x[i] = x0;
        g[i] = (up - down) / (2 * H);
      }
      result.set(w, g);
    }
  } finally {
    await session.release();
  }
  return result;
}

/** max_i |a_i − n_i| / max(max_i |n_i|, FLOOR). */
function relError(a: Float64Array, n: Float64Array): number {
  let diff = 0, scale = FLOOR;
  for (let i = 0; i < n.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - n[i]!));
    scale = Math.max(scale, Math.abs(n[i]!));
  }
  return diff / scale;
}

// ------------------------------------------------------------------ tests

let worst = { err: 0, where: '' };

describe('gradient rules vs float64 central differences', () => {
  afterAll(() => {
    console.log(`rules.test: ${CASES.length} cases, worst relative error ${worst.err.toExponential(2)} (${worst.where})`);
  });

  it.each(CASES.map((c, i) => [c.name, c, 42 + i] as const))('%s', async (_name, c, seed) => {
    if (c.knownGap) {
      expect(() => addGradients(prepare(c, seed).forward, 'loss', c.inputs.map(([n]) => n)), 'known gap closed: drop knownGap').toThrow(c.knownGap);
      return;
    }
    const p = prepare(c, seed);
    const an = await analytic(p);
    const num = await numeric(p);
    for (const w of p.wrt) {
      const a = an.get(w)!, n = num.get(w)!;
      expect([...a.dims], `shape of the gradient of ${w}`).toEqual(p.data.get(w)!.shape);
      const err = relError(a.values, n);
      if (err > worst.err) worst = { err, where: `${_name}, d/d${w}` };
      expect(err, `gradient of ${w}: analytic ${[...a.values].map((v) => v.toFixed(6))} numeric ${[...n].map((v) => v.toFixed(6))}`).toBeLessThanOrEqual(TOL);
    }
  });

  it('covers every registered rule', () => {
    const covered = new Set(CASES.flatMap((c) => {
      const b = new GraphBuilder();
      for (const [name, shape, , declared] of c.inputs) b.input(name, 'float64', declared ?? shape);
      for (const [name, declared] of c.intInputs ?? []) b.input(name, 'int64', declared);
      c.build(b);
      return b.graph.nodes.map((n) => (n.domain ? `${n.domain}.${n.op}` : n.op));
    }));
    // onnxruntime runs these in float32 only: checked against closed forms below
    covered.add('com.microsoft.RotaryEmbedding');
    covered.add('com.microsoft.QuickGelu');
    covered.add('com.microsoft.FusedMatMul');
    const missing = registeredOps().filter((op) => !covered.has(op));
    expect(missing, 'registered ops without a finite-difference case').toEqual([]);
  });
});

describe('com.microsoft.RotaryEmbedding gradient (float32: onnxruntime has no float64 kernel)', () => {
  it('equals the closed form: x1·c − x2·s, x2·c + x1·s is linear, so d/dx1 = w1·c + w2·s, d/dx2 = w2·c − w1·s', async () => {
    const [B, H, S, D] = [2, 3, 5, 8], half = D / 2, maxSeq = 7;
    const rng = new Rng(7);
    const x = Float32Array.from(sample(rng, B * H * S * D)), w = Float32Array.from(sample(rng, B * H * S * D));
    const cos = new Float32Array(maxSeq * half), sin = new Float32Array(maxSeq * half);
    for (let p = 0; p < maxSeq; p++) for (let i = 0; i < half; i++) { cos[p * half + i] = Math.cos(p * (i + 1) * 0.3); sin[p * half + i] = Math.sin(p * (i + 1) * 0.3); }
    const b = new GraphBuilder();
    b.input('x', 'float32', [B, H, S, D]);
    b.input('w', 'float32', [B, H, S, D]);
    const cs = b.initializer('cos', { dtype: 'float32', dims: [maxSeq, half], data: cos });
    const sn = b.initializer('sin', { dtype: 'float32', dims: [maxSeq, half], data: sin });
    const y = b.op('RotaryEmbedding', ['x', b.int64([0]), cs, sn], { interleaved: 0 }, { domain: 'com.microsoft' });
    b.op('ReduceSum', [b.op('Mul', [y, 'w'])], { keepdims: 0 }, { outputs: ['loss'] });
    b.graph.outputs.push({ name: 'loss', dtype: 'float32', shape: [] });
    const { graph, grads } = addGradients(b.graph, 'loss', ['x']);
    graph.outputs.push({ name: grads.get('x')!, dtype: 'float32', shape: [B, H, S, D] });
    const model: Model = { irVersion: 8, opsets: { '': OPSET, 'com.microsoft': 1 }, producerName: 'test', producerVersion: '0', graph, metadata: {} };
    const session = await createSession(model);
    const out = await session.run({ x: new ort.Tensor('float32', x, [B, H, S, D]), w: new ort.Tensor('float32', w, [B, H, S, D]) });
    const dx = out[grads.get('x')!]!.data as Float32Array;
    let worst = 0;
    for (let r = 0; r < B * H * S; r++) {
      const p = r % S, o = r * D;
      for (let i = 0; i < half; i++) {
        const c = cos[p * half + i]!, s = sin[p * half + i]!, w1 = w[o + i]!, w2 = w[o + half + i]!;
        worst = Math.max(worst, Math.abs(dx[o + i]! - (w1 * c + w2 * s)), Math.abs(dx[o + half + i]! - (w2 * c - w1 * s)));
      }
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    await session.release();
  });
});

describe('autodiff errors and non-differentiable paths', () => {
  const scalarLoss = (b: GraphBuilder, y: string) => {
    b.op('ReduceSum', [y], { keepdims: 0 }, { outputs: ['loss'] });
    b.graph.outputs.push({ name: 'loss', dtype: 'float64', shape: [] });
  };

  it('an op without a rule on the loss path names the op and the node', () => {
    const b = new GraphBuilder();
    b.input('x', 'float64', [3, 4]);
    scalarLoss(b, b.op('Tanh', [b.op('Erf', ['x'], {}, { name: 'the_erf_node' })]));
    expect(() => addGradients(b.graph, 'loss', ['x'])).toThrow(/no gradient rule for op Erf \(node "the_erf_node"\)/);
  });

  it('an op without a rule off the loss path is fine', () => {
    const b = new GraphBuilder();
    b.input('x', 'float64', [3, 4]);
    b.input('z', 'float64', [3, 4]);
    b.op('Erf', ['x'], {}, { name: 'unused_erf' }); // depends on x, but the loss does not use it
    const notWrt = b.op('Erf', ['z']); // on the loss path, but z is not differentiated
    scalarLoss(b, b.op('Mul', ['x', notWrt]));
    expect(() => addGradients(b.graph, 'loss', ['x'])).not.toThrow();
  });

  it('a non-scalar loss is rejected', () => {
    const b = new GraphBuilder();
    b.input('x', 'float64', [3, 4]);
    const y = b.op('Exp', ['x']);
    expect(() => addGradients(b.graph, y, ['x'])).toThrow(/loss "Exp_\d+" must be a float scalar/);
  });

  it('an integer loss is rejected', () => {
    const b = new GraphBuilder();
    b.input('x', 'float64', [3, 4]);
    const n = b.op('ReduceSum', [b.op('Shape', ['x'])], { keepdims: 0 });
    expect(() => addGradients(b.graph, n, ['x'])).toThrow(/must be a float scalar/);
  });
});

describe('com.microsoft.QuickGelu gradient (float32: onnxruntime has no float64 kernel)', () => {
  for (const alpha of [1, 1.702]) {
    it(`equals the closed form d/dx x·σ(αx) = σ(αx) + αx·σ(αx)·(1 − σ(αx)), α = ${alpha}`, async () => {
      const n = 64;
      const rng = new Rng(11);
      const x = Float32Array.from(sample(rng, n).map((v) => 3 * v)), w = Float32Array.from(sample(rng, n));
      const b = new GraphBuilder();
      b.input('x', 'float32', [n]);
      b.input('w', 'float32', [n]);
      const y = b.op('QuickGelu', ['x'], { alpha: float(alpha) }, { domain: 'com.microsoft' });
      b.op('ReduceSum', [b.op('Mul', [y, 'w'])], { keepdims: 0 }, { outputs: ['loss'] });
      b.graph.outputs.push({ name: 'loss', dtype: 'float32', shape: [] });
      const { graph, grads } = addGradients(b.graph, 'loss', ['x']);
      graph.outputs.push({ name: grads.get('x')!, dtype: 'float32', shape: [n] });
      const model: Model = { irVersion: 8, opsets: { '': OPSET, 'com.microsoft': 1 }, producerName: 'test', producerVersion: '0', graph, metadata: {} };
      const session = await createSession(model);
      const out = await session.run({ x: new ort.Tensor('float32', x, [n]), w: new ort.Tensor('float32', w, [n]) });
      const dx = out[grads.get('x')!]!.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const s = 1 / (1 + Math.exp(-alpha * x[i]!));
        const expected = w[i]! * (s + alpha * x[i]! * s * (1 - s));
        worst = Math.max(worst, Math.abs(dx[i]! - expected) / Math.max(1, Math.abs(expected)));
      }
      expect(worst).toBeLessThanOrEqual(1e-6);
      await session.release();
    });
  }
});

describe('com.microsoft.FusedMatMul gradient (float32: onnxruntime has no float64 kernel)', () => {
  // C = α·op(A)·op(B), loss = Σ C ⊙ W: dop(A) = α·W·op(B)ᵀ, dop(B) = α·op(A)ᵀ·W, summed over broadcast batch axes
  const [M, K, N] = [3, 4, 5];
  for (const [transA, transB] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
    it(`equals the closed form, transA=${transA} transB=${transB}, α = 0.5, batch axes [2, 1] · [3]`, async () => {
      const aShape = [2, 1, ...(transA ? [K, M] : [M, K])], bShape = [3, ...(transB ? [N, K] : [K, N])];
      const rng = new Rng(5 + 2 * transA + transB);
      const a = Float32Array.from(sample(rng, numel(aShape))), bv = Float32Array.from(sample(rng, numel(bShape))), w = Float32Array.from(sample(rng, 2 * 3 * M * N));
      const alpha = 0.5;
      const gb = new GraphBuilder();
      gb.input('a', 'float32', aShape);
      gb.input('b', 'float32', bShape);
      gb.input('w', 'float32', [2, 3, M, N]);
      const y = gb.op('FusedMatMul', ['a', 'b'], { transA, transB, alpha: float(alpha) }, { domain: 'com.microsoft' });
      gb.op('ReduceSum', [gb.op('Mul', [y, 'w'])], { keepdims: 0 }, { outputs: ['loss'] });
      gb.graph.outputs.push({ name: 'loss', dtype: 'float32', shape: [] });
      const { graph, grads } = addGradients(gb.graph, 'loss', ['a', 'b']);
      graph.outputs.push({ name: grads.get('a')!, dtype: 'float32', shape: aShape }, { name: grads.get('b')!, dtype: 'float32', shape: bShape });
      const session = await createSession({ irVersion: 8, opsets: { '': OPSET, 'com.microsoft': 1 }, producerName: 'test', producerVersion: '0', graph, metadata: {} });
      const out = await session.run({ a: new ort.Tensor('float32', a, aShape), b: new ort.Tensor('float32', bv, bShape), w: new ort.Tensor('float32', w, [2, 3, M, N]) });
      const da = out[grads.get('a')!]!.data as Float32Array, db = out[grads.get('b')!]!.data as Float32Array;
      // element (i, k) of op(A) for batch i0, and (k, j) of op(B) for batch i1
      const A = (i0: number, i: number, k: number) => a[i0 * M * K + (transA ? k * M + i : i * K + k)]!;
      const B = (i1: number, k: number, j: number) => bv[i1 * K * N + (transB ? j * K + k : k * N + j)]!;
      const expA = new Float64Array(a.length), expB = new Float64Array(bv.length);
      for (let i0 = 0; i0 < 2; i0++) for (let i1 = 0; i1 < 3; i1++) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        const g = alpha * w[(i0 * 3 + i1) * M * N + i * N + j]!;
        for (let k = 0; k < K; k++) {
          expA[i0 * M * K + (transA ? k * M + i : i * K + k)] += g * B(i1, k, j);
          expB[i1 * K * N + (transB ? j * K + k : k * N + j)] += g * A(i0, i, k);
        }
      }
      expect(relError(Float64Array.from(da), expA)).toBeLessThanOrEqual(1e-6);
      expect(relError(Float64Array.from(db), expB)).toBeLessThanOrEqual(1e-6);
      // the gradient graph itself has no Transpose copies
      expect(graph.nodes.filter((n) => n.op === 'Transpose')).toEqual([]);
      await session.release();
    });
  }
});
