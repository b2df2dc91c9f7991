/** A summary of an ONNX model: what `growlm inspect` prints. */
import { type Dim, type Graph, type Model, numel } from './ir.js';

export interface ModelSummary {
  ir_version: number;
  opsets: Record<string, number>;
  producer: string;
  inputs: { name: string; dtype: string; shape: Dim[] | null }[];
  outputs: { name: string; dtype: string; shape: Dim[] | null }[];
  nodes: number;
  op_counts: Record<string, number>;
  /** Elements held in initializers (the model's stored parameters and constants). */
  parameters: number;
  initializers: number;
  /** Elements of float inputs with fully fixed shapes whose names look like weights (growlm feeds weights as inputs). */
  weight_input_parameters: number;
}

function countOps(g: Graph, counts: Record<string, number>): number {
  let n = 0;
  for (const node of g.nodes) {
    const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.op}` : node.op;
    counts[key] = (counts[key] ?? 0) + 1;
    n++;
    for (const a of Object.values(node.attrs)) if (a.type === 'graph') n += countOps(a.value, counts);
  }
  return n;
}

export function summarize(m: Model): ModelSummary {
  const op_counts: Record<string, number> = {};
  const nodes = countOps(m.graph, op_counts);
  let parameters = 0;
  for (const t of m.graph.initializers.values()) parameters += numel(t.dims);
  const init = m.graph.initializers;
  const weightInputs = m.graph.inputs.filter((i) => !init.has(i.name) && i.dtype.startsWith('float') && /weight/.test(i.name)
    && i.shape !== null && i.shape.every((d) => typeof d === 'number'));
  return {
    ir_version: m.irVersion,
    opsets: m.opsets,
    producer: [m.producerName, m.producerVersion].filter(Boolean).join(' '),
    // initializers listed as inputs (old IR style) are parameters, not inputs
    inputs: m.graph.inputs.filter((i) => !init.has(i.name)).map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    outputs: m.graph.outputs.map(({ name, dtype, shape }) => ({ name, dtype, shape })),
    nodes,
    op_counts: Object.fromEntries(Object.entries(op_counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    parameters,
    initializers: init.size,
    weight_input_parameters: weightInputs.reduce((s, i) => s + numel(i.shape as number[]), 0),
  };
}

function fmtShape(s: Dim[] | null): string {
  return s === null ? '?' : `[${s.map((d) => (d === null ? '?' : d)).join(', ')}]`;
}

export function formatSummary(s: ModelSummary): string {
  const lines = [
    `producer:   ${s.producer || '(none)'}`,
    `ir_version: ${s.ir_version}`,
    `opsets:     ${Object.entries(s.opsets).map(([d, v]) => `${d || 'ai.onnx'} ${v}`).join(', ')}`,
    `parameters: ${s.parameters.toLocaleString('en-US')} in ${s.initializers} initializers` +
      (s.weight_input_parameters ? ` (+ ${s.weight_input_parameters.toLocaleString('en-US')} fed as weight inputs)` : ''),
    `nodes:      ${s.nodes}`,
    'inputs:',
    ...s.inputs.map((i) => `  ${i.name}  ${i.dtype} ${fmtShape(i.shape)}`),
    'outputs:',
    ...s.outputs.map((o) => `  ${o.name}  ${o.dtype} ${fmtShape(o.shape)}`),
    'ops:',
    ...Object.entries(s.op_counts).map(([op, n]) => `  ${String(n).padStart(6)}  ${op}`),
  ];
  return lines.join('\n');
}
