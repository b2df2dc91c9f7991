/** A synthetic RUN_DIR (run.json + metrics.jsonl per stage) shaped like a real staged-growth experiment. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord, RunStage } from '../../src/report/run-record.js';
import type { MetricsEntry } from '../../src/train/metrics.js';

const CONFIGS = {
  s1: { hidden_size: 128, num_hidden_layers: 4, intermediate_size: 344, num_attention_heads: 4, parameters: 857216 },
  s2: { hidden_size: 256, num_hidden_layers: 4, intermediate_size: 688, num_attention_heads: 8, parameters: 3278080 },
  s3: { hidden_size: 256, num_hidden_layers: 8, intermediate_size: 688, num_attention_heads: 8, parameters: 6425856 },
};

export const SAMPLE_TEXT = ' said the Hatter, <looking> at Alice & "smiling".';
export const GROWTH_DIFFS = [1.25e-6, 3.5e-7];

/** Write metrics for one stage: loss falls with cumulative tokens (and a bit faster for bigger models). */
function writeStage(runDir: string, dir: string, steps: number, params: number, startTokens: number, startLoss: number, seed: number): { endTokens: number; endLoss: number } {
  mkdirSync(join(runDir, dir), { recursive: true });
  const perStep = 8 * 128;
  const lines: string[] = [];
  let x = seed;
  const noise = () => { x = (x * 1103515245 + 12345) % 2 ** 31; return x / 2 ** 31 - 0.5; };
  const rate = 1.6e-5 * Math.sqrt(params / 857216);
  let loss = startLoss;
  for (let s = 1; s <= steps; s++) {
    const tokens = s * perStep;
    const floor = 1.4 + 0.9 * (857216 / params) ** 0.3;
    loss = floor + (startLoss - floor) * Math.exp(-rate * tokens);
    const e: MetricsEntry = {
      step: s, loss: loss + 0.08 * noise(), lr: 3e-3, grad_norm: 1 + noise(), tokens, tokens_per_s: 4e9 / params, flops: 6 * params * tokens, elapsed_s: tokens * params / 4e9,
    };
    if (seed === 2 && s === 30) e.spike = { z: 5.5, first_batch: 29 }; // a loss spike, listed by the report
    if (s % 10 === 0 || s === steps) { e.val_loss = loss + 0.05; e.val_bpb = (loss + 0.05) / Math.LN2; }
    lines.push(JSON.stringify(e));
  }
  if (seed === 3) lines.push('{"step": 61, "loss": 2.0, "tok'); // a torn last line: skipped with a warning
  writeFileSync(join(runDir, dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  return { endTokens: startTokens + steps * perStep, endLoss: loss };
}

function stage(name: keyof typeof CONFIGS, dir: string, tps: number | null): RunStage {
  const { parameters, ...config } = CONFIGS[name];
  return { name, dir, parameters, config, tokens_per_s: tps };
}

export function writeSyntheticRun(runDir: string): RunRecord {
  let a = writeStage(runDir, 'staged/s1', 60, CONFIGS.s1.parameters, 0, 5.6, 1);
  a = writeStage(runDir, 'staged/s2', 60, CONFIGS.s2.parameters, a.endTokens, a.endLoss, 2);
  writeStage(runDir, 'staged/s3', 60, CONFIGS.s3.parameters, a.endTokens, a.endLoss, 3);
  writeStage(runDir, 'scratch/s3', 180, CONFIGS.s3.parameters, 0, 5.6, 4);
  const run: RunRecord = {
    name: 'tiny → 6M: staged growth vs from scratch', kind: 'experiment', created: '2025-03-01T10:20:30.000Z',
    series: [
      { label: 'staged growth', stages: [stage('s1', 'staged/s1', 4600), stage('s2', 'staged/s2', 1250), stage('s3', 'staged/s3', null)] },
      { label: 'from scratch', stages: [stage('s3', 'scratch/s3', 610)] },
    ],
    growth: [
      { series: 'staged growth', from_stage: 's1', to_stage: 's2', max_abs_logit_diff: GROWTH_DIFFS[0]!, max_abs_logit: 4.2, loss_before: 2.4312, loss_after: 2.4313, seconds: 0.41, method: 'msg width' },
      { series: 'staged growth', from_stage: 's2', to_stage: 's3', max_abs_logit_diff: GROWTH_DIFFS[1]!, max_abs_logit: 5.1, loss_before: 2.1187, loss_after: 2.1187, seconds: 0.93, method: 'msg depth' },
    ],
    samples: [
      { stage: 's1', prompt: 'Alice was', text: ' beginning to get very tired of sitting by her sister on the bank' },
      { stage: 's3', prompt: '"Have some wine,"', text: SAMPLE_TEXT },
    ],
  };
  writeFileSync(join(runDir, 'run.json'), JSON.stringify(run, null, 2));
  return run;
}
