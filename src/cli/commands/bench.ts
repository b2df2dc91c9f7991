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

export const benchTrainCommand: Command = {
  name: 'bench train',
  summary: 'Measure training speed (tokens/s, ms/step, peak RSS, MFU against the measured fp32 GEMM peak).',
  details: 'Random tokens, AdamW with clipping, fp32. --compare-torch runs tools/torch-bench.sh (PyTorch, same model and\noptimizer, OpenBLAS + tcmalloc) afterwards in a separate process and reports the ratio.',
  options: {
    preset: { type: 'string', arg: 'NAME', description: 'model preset', default: 'bench-small' },
    config: { type: 'string', arg: 'FILE', description: 'model config instead of a preset' },
    batch: { type: 'string', arg: 'N', description: 'sequences per step', default: '8' },
    seq: { type: 'string', arg: 'N', description: 'sequence length (default: the model\'s max_position_embeddings)' },
    steps: { type: 'string', arg: 'N', description: 'measured steps', default: '10' },
    warmup: { type: 'string', arg: 'N', description: 'unmeasured warm-up steps', default: '2' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads', default: '2' },
    spinning: { type: 'boolean', description: 'let ORT threads spin while idle' },
    'compare-torch': { type: 'boolean', description: 'also run the PyTorch baseline and report the ratio' },
    json: { type: 'boolean', description: 'print JSON (tokens_per_s, ms_per_step, peak_rss_mb, mfu, ...)' },
  },
  async run(args) {
    const config = configFromArgs(args.has('config') ? undefined : args.str('preset'), args.str('config'));
    const batch = args.int('batch', 8), seq = args.int('seq', config.maxSeqLen), threads = args.int('threads', 2);
    const steps = args.int('steps', 10), warmup = args.int('warmup', 2, 0);
    if (seq > config.maxSeqLen) throw new GrowlmError(`--seq ${seq} exceeds max_position_embeddings ${config.maxSeqLen}`);
    const json = args.flag('json');
    if (!json) note(`measuring the fp32 GEMM peak (${threads} threads)…`);
    const gemmBefore = await measureGemmPeak(threads);
    const step = await TrainStep.create(config, initWeights(config, 0), { session: { threads, spinning: args.flag('spinning') } });
    const rng = new Rng(1);
    const times: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const inputs = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
      const targets = BigInt64Array.from({ length: batch * seq }, () => BigInt(rng.int(config.vocabSize)));
      const t0 = performance.now();
      const r = await step.step([{ inputs, targets, batch, seq }], 3e-4);
      const ms = performance.now() - t0;
      if (i >= warmup) times.push(ms);
      if (!json) note(`step ${i + 1}/${warmup + steps}${i < warmup ? ' (warm-up)' : ''}: ${ms.toFixed(0)} ms, loss ${r.loss.toFixed(3)}`);
    }
    // noise only ever lowers a GEMM measurement: take the better of a measurement before and after
    const gemmGflops = Math.max(gemmBefore, await measureGemmPeak(threads));
    const msPerStep = median(times);
    const tokensPerS = (batch * seq) / (msPerStep / 1000);
    const flopsPerToken = trainingFlopsPerToken(config, seq);
    const result: Record<string, unknown> = {
      engine: 'growlm (onnxruntime-node CPU)',
      parameters: parameterCount(config), batch, seq, threads,
      tokens_per_s: tokensPerS,
      ms_per_step: msPerStep,
      peak_rss_mb: process.resourceUsage().maxRSS / 1024,
      gemm_gflops: gemmGflops,
      achieved_gflops: (tokensPerS * flopsPerToken) / 1e9,
      mfu: (tokensPerS * flopsPerToken) / (gemmGflops * 1e9),
    };
    if (args.flag('compare-torch')) {
      if (!json) note('running the PyTorch baseline (tools/torch-bench.sh)…');
      const presetFile = args.str('config') ?? join(packageRoot(), 'models', `${args.str('preset')}.json`);
      const r = spawnSync('bash', [join(packageRoot(), 'tools/torch-bench.sh'), '--preset-json', presetFile, '--batch', String(batch), '--seq', String(seq),
        '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--json'], { encoding: 'utf8', env: baselineEnv() });
      const line = r.stdout?.trim().split('\n').reverse().find((l) => l.startsWith('{')) ?? (r.stdout?.trim().startsWith('{') ? r.stdout : undefined);
      if (r.status !== 0 || !line) throw new GrowlmError(`the PyTorch baseline failed: ${(r.stderr || r.stdout || '').trim().split('\n').pop()}`);
      const torch = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
      result.torch = torch;
      result.speedup_vs_torch = tokensPerS / torch.tokens_per_s;
    }
    if (json) printJson(result);
    else {
      console.log(`${result.engine}: ${tokensPerS.toFixed(0)} tokens/s, ${msPerStep.toFixed(0)} ms/step, peak RSS ${(result.peak_rss_mb as number).toFixed(0)} MB, ` +
        `MFU ${((result.mfu as number) * 100).toFixed(1)}% of ${gemmGflops.toFixed(0)} GFLOP/s`);
      if (result.torch) {
        const t = result.torch as Record<string, number>;
        console.log(`pytorch: ${t.tokens_per_s!.toFixed(0)} tokens/s, ${t.ms_per_step!.toFixed(0)} ms/step, peak RSS ${t.peak_rss_mb!.toFixed(0)} MB → growlm/pytorch = ${(result.speedup_vs_torch as number).toFixed(2)}×`);
      }
    }
    await step.release();
    return 0;
  },
};
