/**
 * Training-speed benchmark: tokens/s, ms/step, peak RSS and MFU against the measured fp32 GEMM
 * peak, on random tokens with AdamW and clipping; optionally alternating with the PyTorch baseline
 * (tools/torch-bench.sh, same model, batch and optimizer) in a child process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type ModelConfig, parameterCount } from '../model/config.js';
import { initWeights } from '../model/weights.js';
import { measureGemmPeak } from '../runtime/gemm-peak.js';
import { type Provider, checkProvider } from '../runtime/session.js';
import { GrowlmError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { Rng } from '../util/rng.js';
import { trainingFlopsPerToken } from './flops.js';
import { TrainStep } from './step.js';
import type { Precision } from './train-graph.js';
import { stepSettings } from './train-model-dir.js';

export interface BenchOptions {
  /** Sequences per step. */
  batch: number;
  /** Sequence length (default: the model's max_position_embeddings). */
  seq?: number;
  /** Measured steps per round. */
  steps: number;
  /** Unmeasured warm-up steps (run once, before the first round). */
  warmup: number;
  /** Measurement rounds (alternating with PyTorch when comparing). */
  rounds: number;
  /** Intra-op threads. */
  threads: number;
  /** Let onnxruntime's threads spin while idle. */
  spinning: boolean;
  provider: Provider;
  /** Where AdamW runs; 'both' alternates the two, round by round, in one process. */
  update: 'js' | 'graph' | 'both';
  precision: Precision;
  /** The device's peak (TFLOP/s) for MFU; default: the measured CPU float32 GEMM peak. */
  peakTflops?: number;
  /** Also run the PyTorch baseline on this config file (a preset's file or a config.json). */
  compareTorch?: string;
}

export const DEFAULT_BENCH: BenchOptions = { batch: 8, steps: 10, warmup: 2, rounds: 1, threads: 2, spinning: false, provider: 'cpu', update: 'js', precision: 'float32' };

/** Median milliseconds of a step's parts (TrainStep.lastTimings). */
export interface StepSplit { gradients_ms: number; update_ms: number }

export interface TorchResult { tokens_per_s: number; ms_per_step: number; peak_rss_mb: number; [k: string]: unknown }

export interface BenchResult {
  engine: string;
  parameters: number;
  batch: number;
  seq: number;
  threads: number;
  rounds: number;
  tokens_per_s: number;
  ms_per_step: number;
  ms_per_step_rounds: number[];
  peak_rss_mb: number;
  gemm_gflops: number;
  achieved_gflops: number;
  mfu: number;
  torch?: TorchResult;
  speedup_vs_torch?: number;
  speedup_per_round?: number[];
  update: 'js' | 'graph';
  precision: Precision;
  /** Where the step's time goes: forward + backward (and the gradients' copy), and the AdamW update (with its copies). */
  split: StepSplit;
  /** update 'both': the in-graph AdamW, measured in the same rounds (the main figures are the JavaScript AdamW's). */
  graph?: { tokens_per_s: number; ms_per_step: number; ms_per_step_rounds: number[]; split: StepSplit };
}

/** PyTorch runs with its own allocator (tcmalloc, see tools/torch-bench.sh), not with growlm's glibc settings. */
export function baselineEnv(): NodeJS.ProcessEnv {
  const { GLIBC_TUNABLES: _, ...env } = process.env;
  return env;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** tools/torch-bench.sh in a child process: PyTorch on the same model, batch and optimizer. */
function runTorch(configFile: string, batch: number, seq: number, steps: number, warmup: number, threads: number): TorchResult {
  const r = spawnSync('bash', [join(packageRoot(), 'tools/torch-bench.sh'), '--preset-json', configFile, '--batch', String(batch), '--seq', String(seq),
    '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--json'], { encoding: 'utf8', env: baselineEnv() });
  const out = r.stdout ?? '';
  if (r.status !== 0 || !out.includes('{')) throw new GrowlmError(`the PyTorch baseline failed: ${(r.stderr || out).trim().split('\n').pop()}`);
  return JSON.parse(out.slice(out.indexOf('{'))) as TorchResult;
}

/** Measure training speed; `note` gets human progress lines. */
export async function benchTrain(config: ModelConfig, options: Partial<BenchOptions> = {}, note: (line: string) => void = () => {}): Promise<BenchResult> {
  const o = { ...DEFAULT_BENCH, ...options };
  const { batch, steps, warmup, rounds, threads } = o;
  const seq = o.seq ?? config.maxSeqLen;
  if (seq > config.maxSeqLen) throw new GrowlmError(`sequence length ${seq} exceeds max_position_embeddings ${config.maxSeqLen}`);
  await checkProvider(o.provider);
  const peakGiven = o.peakTflops !== undefined;
  if (!peakGiven) note(`measuring the fp32 GEMM peak (${threads} threads)…`);
  const gemmBefore = peakGiven ? o.peakTflops! * 1000 : await measureGemmPeak(threads);
  const updates: ('js' | 'graph')[] = o.update === 'both' ? ['js', 'graph'] : [o.update];
  const settings = stepSettings({ update: 'js', precision: o.precision, session: { provider: o.provider } });
  const stepsOf = await Promise.all(updates.map((update) => TrainStep.create(config, initWeights(config, 0), {
    ...settings, update, session: { threads, spinning: o.spinning, provider: o.provider },
  })));
  try {
    const rng = new Rng(1);
    const perRound = updates.map(() => [] as number[]), splits = updates.map(() => ({ g: [] as number[], u: [] as number[] }));
    const torchRuns: TorchResult[] = [];
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < updates.length; k++) {
        const step = stepsOf[k]!, label = updates.length > 1 ? `${updates[k]} AdamW, ` : '';
        const times: number[] = [];
        const first = round === 0 ? 0 : warmup; // warm-up steps run once
        for (let i = first; i < warmup + steps; i++) {
          const inputs = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
          const targets = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
          const t0 = performance.now();
          const r = await step.step([{ inputs, targets, batch, seq }], 3e-4);
          const ms = performance.now() - t0;
          if (i >= warmup) {
            times.push(ms);
            splits[k]!.g.push(step.lastTimings.gradientsMs);
            splits[k]!.u.push(step.lastTimings.updateMs);
          }
          note(`${rounds > 1 ? `round ${round + 1}, ` : ''}${label}step ${i + 1}/${warmup + steps}${i < warmup ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms, loss ${r.loss.toFixed(3)}`);
        }
        perRound[k]!.push(median(times));
      }
      if (o.compareTorch !== undefined) {
        note(`${rounds > 1 ? `round ${round + 1}: ` : ''}running the PyTorch baseline (tools/torch-bench.sh)…`);
        torchRuns.push(runTorch(o.compareTorch, batch, seq, steps, warmup, threads));
      }
    }
    // noise only ever lowers a GEMM measurement: take the better of a measurement before and after
    const gemmGflops = peakGiven ? gemmBefore : Math.max(gemmBefore, await measureGemmPeak(threads));
    const flopsPerToken = trainingFlopsPerToken(config, seq);
    const split = (k: number): StepSplit => ({ gradients_ms: median(splits[k]!.g), update_ms: median(splits[k]!.u) });
    const oursPerRound = perRound[0]!;
    const msPerStep = median(oursPerRound);
    const tokensPerS = (batch * seq) / (msPerStep / 1000);
    const result: BenchResult = {
      engine: `growlm (onnxruntime-node ${o.provider === 'cpu' ? 'CPU' : o.provider})`,
      parameters: parameterCount(config), batch, seq, threads, rounds,
      tokens_per_s: tokensPerS,
      ms_per_step: msPerStep,
      ms_per_step_rounds: oursPerRound,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      gemm_gflops: gemmGflops,
      achieved_gflops: (tokensPerS * flopsPerToken) / 1e9,
      mfu: (tokensPerS * flopsPerToken) / (gemmGflops * 1e9),
      update: updates[0]!, precision: o.precision, split: split(0),
    };
    if (updates.length > 1) {
      const ms = median(perRound[1]!);
      result.graph = { tokens_per_s: (batch * seq) / (ms / 1000), ms_per_step: ms, ms_per_step_rounds: perRound[1]!, split: split(1) };
    }
    if (torchRuns.length) {
      const torchMs = median(torchRuns.map((t) => t.ms_per_step));
      result.torch = rounds === 1 ? torchRuns[0] : {
        ...torchRuns[0], ms_per_step: torchMs, tokens_per_s: (batch * seq) / (torchMs / 1000),
        ms_per_step_rounds: torchRuns.map((t) => t.ms_per_step), peak_rss_mb: Math.max(...torchRuns.map((t) => t.peak_rss_mb)),
      };
      result.speedup_vs_torch = torchMs / msPerStep;
      result.speedup_per_round = torchRuns.map((t, i) => t.ms_per_step / oursPerRound[i]!);
    }
    return result;
  } finally {
    for (const step of stepsOf) await step.release();
  }
}
