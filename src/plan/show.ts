/** Per-stage sizes and costs of a plan: parameters, FLOPs per token, training memory. */
import { type ModelConfig, parameterCount } from '../model/config.js';
import { trainingFlopsPerToken } from '../train/flops.js';
import { type Plan, resolveStageConfig, stageTrain } from './plan.js';

export interface StageSummary {
  stage: string;
  model: string;
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  parameters: number;
  seq: number;
  train_flops_per_token: number;
  tokens: number | null;
  train_flops: number | null;
  /** fp32 weights + gradients + AdamW moments: 16 bytes per parameter. */
  state_bytes: number;
  /** Activations kept for the backward pass, fp32, per sequence of `seq` tokens (estimate). */
  activation_bytes_per_sequence: number;
}

/**
 * Activation memory estimate per sequence, fp32, no recomputation: per layer and token the saved
 * values of this decoder (norms, q/k/v/rotary, attention output, FFN gate/up/act: ≈ 16·d + 4·f
 * floats) plus the attention probabilities (2·H·S floats per token: scores and softmax).
 */
export function activationBytesPerSequence(c: ModelConfig, seq: number): number {
  const perToken = c.numLayers * (16 * c.hiddenSize + 4 * c.intermediateSize + 2 * c.numHeads * seq) + 3 * c.vocabSize;
  return 4 * perToken * seq;
}

export function summarizePlan(plan: Plan): StageSummary[] {
  return plan.stages.map((s) => {
    const c = resolveStageConfig(plan, s);
    const t = stageTrain(plan, s);
    const seq = t.seq ?? c.maxSeqLen;
    const tokens = t.tokens ?? (t.steps !== undefined ? t.steps * (t.batch ?? 8) * seq : null);
    const fpt = trainingFlopsPerToken(c, seq);
    const params = parameterCount(c);
    return {
      stage: s.name, model: s.model, layers: c.numLayers, hidden: c.hiddenSize, ffn: c.intermediateSize, heads: c.numHeads,
      parameters: params, seq, train_flops_per_token: fpt, tokens, train_flops: tokens === null ? null : tokens * fpt,
      state_bytes: 16 * params, activation_bytes_per_sequence: activationBytesPerSequence(c, seq),
    };
  });
}

const si = (x: number, unit = '') => {
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z'];
  let i = 0;
  while (Math.abs(x) >= 1000 && i < units.length - 1) { x /= 1000; i++; }
  return `${x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)}${units[i]}${unit}`;
};
const bytes = (x: number) => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return `${x.toFixed(x >= 100 ? 0 : 1)} ${units[i]}`;
};

export function formatPlanSummary(plan: Plan, rows: StageSummary[]): string {
  const head = ['stage', 'layers', 'hidden', 'ffn', 'heads', 'params', 'FLOPs/token', 'tokens', 'train FLOPs', 'weights+grads+Adam', 'activations/seq'];
  const body = rows.map((r) => [r.stage, String(r.layers), String(r.hidden), String(r.ffn), String(r.heads), si(r.parameters), si(r.train_flops_per_token),
    r.tokens === null ? '-' : si(r.tokens), r.train_flops === null ? '-' : si(r.train_flops), bytes(r.state_bytes), bytes(r.activation_bytes_per_sequence)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const total = rows.reduce((s, r) => s + (r.train_flops ?? 0), 0);
  return [`plan ${plan.name}${plan.description ? `: ${plan.description}` : ''}`, '', line(head), ...body.map(line), '',
    `total training compute: ${si(total, 'FLOP')}`].join('\n');
}
