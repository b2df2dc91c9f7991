import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { configFromArgs } from './init.js';
import { parameterCount } from '../../model/config.js';
import { initWeights } from '../../model/weights.js';
import { measureGemmPeak } from '../../runtime/gemm-peak.js';
import { trainingFlopsPerToken } from '../../train/flops.js';
import { TrainStep } from '../../train/step.js';
import { GrowlmError } from '../../util/errors.js';
import { packageRoot } from '../../util/paths.js';
import { Rng } from '../../util/rng.js';
import { note, printJson } from '../output.js';

/** PyTorch runs with its own allocator (tcmalloc, see tools/torch-bench.sh), not with growlm's glibc settings. */
function baselineEnv(): NodeJS.ProcessEnv {
  const { GLIBC_TUNABLES: _, ...env } = process.env;
  return env;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface TorchResult { tokens_per_s: number; ms_per_step: number; peak_rss_mb: number; [k: string]: unknown }

/** tools/torch-bench.sh in a child process: PyTorch on the same model, batch and optimizer. */
function runTorch(presetFile: string, batch: number, seq: number, steps: number, warmup: number, threads: number): TorchResult {
  const r = spawnSync('bash', [join(packageRoot(), 'tools/torch-bench.sh'), '--preset-json', presetFile, '--batch', String(batch), '--seq', String(seq),
    '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--json'], { encoding: 'utf8', env: baselineEnv() });
  const out = r.stdout ?? '';
  if (r.status !== 0 || !out.includes('{')) throw new GrowlmError(`the PyTorch baseline failed: ${(r.stderr || out).trim().split('\n').pop()}`);
  return JSON.parse(out.slice(out.indexOf('{'))) as TorchResult;
}

export const benchTrainCommand: Command = {
  name: 'bench train',
  summary: 'Measure training speed (tokens/s, ms/step, peak RSS, MFU against the measured fp32 GEMM peak).',
  details: 'Random tokens, AdamW with clipping, fp32. --compare-torch runs tools/torch-bench.sh (PyTorch, same model and\n' +
    'optimizer, OpenBLAS + tcmalloc) in a separate process and reports the ratio; with --rounds N the two alternate N\n' +
    'times (this machine\'s speed drifts by ±15% over minutes) and the medians of the rounds are compared.',
  options: {
    preset: { type: 'string', arg: 'NAME', description: 'model preset', default: 'bench-small' },
    config: { type: 'string', arg: 'FILE', description: 'model config instead of a preset' },
    batch: { type: 'string', arg: 'N', description: 'sequences per step', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: the model\'s max_position_embeddings)' },
    steps: { type: 'string', arg: 'N', description: 'measured steps per round', default: '10' },
    warmup: { type: 'string', arg: 'N', description: 'unmeasured warm-up steps', default: '2' },
    rounds: { type: 'string', arg: 'N', description: 'measurement rounds (alternating with PyTorch under --compare-torch)', default: '1' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads', default: '2' },
    spinning: { type: 'boolean', description: 'let ORT threads spin while idle' },
    'compare-torch': { type: 'boolean', description: 'also run the PyTorch baseline and report the ratio' },
    json: { type: 'boolean', description: 'print JSON (tokens_per_s, ms_per_step, peak_rss_mb, mfu, ...)' },
  },
  async run(args) {
    const config = configFromArgs(args.has('config') ? undefined : args.str('preset'), args.str('config'));
    const batch = args.int('batch', 8), seq = args.int('seq', config.maxSeqLen), threads = args.int('threads', 2);
    const steps = args.int('steps', 10), warmup = args.int('warmup', 2, 0), rounds = args.int('rounds', 1);
    if (seq > config.maxSeqLen) throw new GrowlmError(`--seq ${seq} exceeds max_position_embeddings ${config.maxSeqLen}`);
    const json = args.flag('json'), compare = args.flag('compare-torch');
    const presetFile = args.str('config') ?? join(packageRoot(), 'models', `${args.str('preset')}.json`);
    if (!json) note(`measuring the fp32 GEMM peak (${threads} threads)…`);
    const gemmBefore = await measureGemmPeak(threads);
    const step = await TrainStep.create(config, initWeights(config, 0), { session: { threads, spinning: args.flag('spinning') } });
    const rng = new Rng(1);
    const oursPerRound: number[] = [], torchRuns: TorchResult[] = [];
    for (let round = 0; round < rounds; round++) {
      const times: number[] = [];
      const first = round === 0 ? 0 : warmup; // warm-up steps run once
      for (let i = first; i < warmup + steps; i++) {
        const inputs = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
        const targets = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
        const t0 = performance.now();
        const r = await step.step([{ inputs, targets, batch, seq }], 3e-4);
        const ms = performance.now() - t0;
        if (i >= warmup) times.push(ms);
        if (!json) note(`${rounds > 1 ? `round ${round + 1}, ` : ''}step ${i + 1}/${warmup + steps}${i < warmup ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms, loss ${r.loss.toFixed(3)}`);
      }
      oursPerRound.push(median(times));
      if (compare) {
        if (!json) note(`${rounds > 1 ? `round ${round + 1}: ` : ''}running the PyTorch baseline (tools/torch-bench.sh)…`);
        torchRuns.push(runTorch(presetFile, batch, seq, steps, warmup, threads));
      }
    }
    // noise only ever lowers a GEMM measurement: take the better of a measurement before and after
    const gemmGflops = Math.max(gemmBefore, await measureGemmPeak(threads));
    const msPerStep = median(oursPerRound);
    const tokensPerS = (batch * seq) / (msPerStep / 1000);
    const flopsPerToken = trainingFlopsPerToken(config, seq);
    const result: Record<string, unknown> = {
      engine: 'growlm (onnxruntime-node CPU)',
      parameters: parameterCount(config), batch, seq, threads, rounds,
      tokens_per_s: tokensPerS,
      ms_per_step: msPerStep,
      ms_per_step_rounds: oursPerRound,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      gemm_gflops: gemmGflops,
      achieved_gflops: (tokensPerS * flopsPerToken) / 1e9,
      mfu: (tokensPerS * flopsPerToken) / (gemmGflops * 1e9),
    };
    if (compare) {
      const torchMs = median(torchRuns.map((t) => t.ms_per_step));
      result.torch = rounds === 1 ? torchRuns[0] : {
        ...torchRuns[0], ms_per_step: torchMs, tokens_per_s: (batch * seq) / (torchMs / 1000),
        ms_per_step_rounds: torchRuns.map((t) => t.ms_per_step), peak_rss_mb: Math.max(...torchRuns.map((t) => t.peak_rss_mb)),
      };
      result.speedup_vs_torch = torchMs / msPerStep;
      result.speedup_per_round = torchRuns.map((t, i) => t.ms_per_step / oursPerRound[i]!);
    }
    if (json) printJson(result);
    else {
      console.log(`${result.engine}: ${tokensPerS.toFixed(0)} tokens/s, ${msPerStep.toFixed(0)} ms/step, peak RSS ${(result.peak_rss_mb as number).toFixed(0)} MB, ` +
        `MFU ${((result.mfu as number) * 100).toFixed(1)}% of ${gemmGflops.toFixed(0)} GFLOP/s`);
      if (result.torch) {
        const t = result.torch as TorchResult;
        console.log(`pytorch: ${t.tokens_per_s.toFixed(0)} tokens/s, ${t.ms_per_step.toFixed(0)} ms/step, peak RSS ${t.peak_rss_mb.toFixed(0)} MB → growlm/pytorch = ${(result.speedup_vs_torch as number).toFixed(2)}×` +
          (rounds > 1 ? ` (per round: ${(result.speedup_per_round as number[]).map((x) => x.toFixed(2)).join(', ')})` : ''));
      }
    }
    await step.release();
    return 0;
  },
};
