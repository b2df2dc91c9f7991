/**
 * AdamW as an ONNX graph: the same update as adamw.ts (torch.optim.AdamW semantics, global-norm
 * clipping, μP learning-rate multipliers, decoupled weight decay, bias correction) written as
 * element-wise ops, so that it runs wherever the session runs, next to the weights.
 *
 * Why a second graph rather than ops appended to the training graph: gradient accumulation (k
 * micro-batches per update) runs the training graph k times and updates once; the update is a
 * separate run over the same weights, and the skip on a non-finite step is free (the inputs are not
 * replaced: the old weights and moments are still the live tensors). The graph is also small enough
 * to test alone against the JavaScript loop and torch on fixed gradients. What stays on the device
 * between the two runs is every weight, moment and gradient (see GraphAdamW); what comes back to the
 * host is the loss, the token count and the squared gradient norm.
 *
 * The arithmetic is float64 with float32 storage, operation for operation as adamwTensor does it in
 * JavaScript (whose numbers are doubles), so the two updates give the same float32 weights. In
 * float32 arithmetic they differed by an ulp here and there after one step, and Adam amplifies such
 * differences (an entry whose gradient is near 0 moves by ≈ lr·sign(g)): 8.5e-5 of max |w| after 5
 * steps of the tiny preset at lr 3e-3. The update is memory-bound, so doubles cost ≈ 2× of a
 * small part of a GPU step (every intermediate is materialized either way).
 *
 * Inputs: float64 scalars `lr`, `step` (1-based), `grad_sq` (the squared global norm of the
 * gradients as given: the training graph's float32 value, or the host's sum over accumulated
 * micro-batches) and `loss_scale` (1 without loss scaling; the gradients are those of
 * loss·loss_scale), then per parameter float32 `w:NAME`, `m:NAME`, `v:NAME`, `g:NAME`. Outputs: float32 `w_out:NAME`, `m_out:NAME`, `v_out:NAME`.
 */
import { GraphBuilder } from '../onnx/builder.js';
import { DTYPE_CODE, type Model } from '../onnx/ir.js';
import type { AdamWOptions } from './adamw.js';

/** One optimized tensor as the update graph needs it. */
export interface UpdateParam {
  name: string;
  shape: number[];
  lrMult: number;
  decay: boolean;
}

const FLOAT = DTYPE_CODE.float32, DOUBLE = DTYPE_CODE.float64;

export const updateInput = (kind: 'w' | 'm' | 'v' | 'g', name: string) => `${kind}:${name}`;
export const updateOutput = (kind: 'w' | 'm' | 'v', name: string) => `${kind}_out:${name}`;

export function buildAdamWGraph(params: UpdateParam[], o: AdamWOptions): Model {
  const b = new GraphBuilder('adamw');
  const lr = b.input('lr', 'float64', []);
  const step = b.input('step', 'float64', []);
  const gradSq = b.input('grad_sq', 'float64', []);
  const lossScale = b.input('loss_scale', 'float64', []);
  const f = (x: number) => b.constant({ dtype: 'float64', dims: [], data: Float64Array.of(x) });
  // the gradient scale s: clipping of the unscaled norm (adamw.ts clipFactor), divided by the loss scale
  const norm = b.op('Div', [b.op('Sqrt', [gradSq]), lossScale]);
  const clip = o.clipNorm > 0 ? b.op('Min', [f(1), b.op('Div', [f(o.clipNorm), b.op('Add', [norm, f(1e-6)])])]) : f(1);
  const s = b.op('Div', [clip, lossScale]);
  const c1 = b.op('Mul', [f(1 - o.beta1), s]);
  const c2 = b.op('Mul', [b.op('Mul', [f(1 - o.beta2), s]), s]);
  const bc1 = b.op('Sub', [f(1), b.op('Pow', [f(o.beta1), step])]);
  const k = b.op('Reciprocal', [b.op('Sqrt', [b.op('Sub', [f(1), b.op('Pow', [f(o.beta2), step])])])]);
  // per (μP multiplier, decay) group: the step size rate/(1 − β1^t) and the decay factor 1 − rate·wd
  const groups = new Map<string, { stepSize: string; shrink: string | undefined }>();
  const groupOf = (p: UpdateParam) => {
    const key = `${p.lrMult}|${p.decay}`;
    let g = groups.get(key);
    if (!g) {
      const rate = p.lrMult === 1 ? lr : b.op('Mul', [lr, f(p.lrMult)]);
      g = {
        stepSize: b.op('Div', [rate, bc1]),
        shrink: p.decay && o.weightDecay > 0 ? b.op('Sub', [f(1), b.op('Mul', [rate, f(o.weightDecay)])]) : undefined,
      };
      groups.set(key, g);
    }
    return g;
  };
  for (const p of params) {
    const { stepSize, shrink } = groupOf(p);
    b.scope(p.name, () => {
      const [w, m, v, g] = (['w', 'm', 'v', 'g'] as const).map((kind) => b.op('Cast', [b.input(updateInput(kind, p.name), 'float32', p.shape)], { to: DOUBLE })) as [string, string, string, string];
      // adamwTensor's expressions, in its order: m' = β1·m + c1·g; v' = β2·v + (c2·g)·g; w' = w·shrink − (stepSize·m') / (√v'·k + ε)
      const m2 = b.op('Add', [b.op('Mul', [m, f(o.beta1)]), b.op('Mul', [g, c1])]);
      const v2 = b.op('Add', [b.op('Mul', [v, f(o.beta2)]), b.op('Mul', [b.op('Mul', [g, c2]), g])]);
      const denom = b.op('Add', [b.op('Mul', [b.op('Sqrt', [v2]), k]), f(o.eps)]);
      const delta = b.op('Div', [b.op('Mul', [m2, stepSize]), denom]);
      const w2 = b.op('Sub', [shrink ? b.op('Mul', [w, shrink]) : w, delta]);
      b.op('Cast', [m2], { to: FLOAT }, { outputs: [updateOutput('m', p.name)] });
      b.op('Cast', [v2], { to: FLOAT }, { outputs: [updateOutput('v', p.name)] });
      b.op('Cast', [w2], { to: FLOAT }, { outputs: [updateOutput('w', p.name)] });
    });
    for (const kind of ['w', 'm', 'v'] as const) b.graph.outputs.push({ name: updateOutput(kind, p.name), dtype: 'float32', shape: p.shape });
  }
  return { irVersion: 8, opsets: { '': 17 }, producerName: 'growlm', producerVersion: '', graph: b.graph, metadata: {} };
}
