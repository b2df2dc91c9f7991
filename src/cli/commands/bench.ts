import { join } from 'node:path';
import type { Command } from '../command.js';
import { configFromArgs } from './init.js';
import { type BenchOptions, DEFAULT_BENCH, benchTrain } from '../../train/bench.js';
import type { Precision } from '../../train/train-graph.js';
import { DEFAULT_GENERATE_BENCH, benchGenerate } from '../../bench/generate.js';
import { packageRoot } from '../../util/paths.js';
import { DEVICE_OPTION, device } from '../device.js';
import { note, printJson } from '../output.js';

export const benchTrainCommand: Command = {
  name: 'bench train',
  summary: 'Measure training speed (tokens/s, ms/step, peak RSS, MFU against the measured fp32 GEMM peak).',
  details: 'Random tokens, AdamW with clipping, fp32. --compare-torch runs tools/torch-bench.sh (PyTorch, same model and\n' +
    'optimizer, OpenBLAS + tcmalloc) in a separate process and reports the ratio; with --rounds N the two alternate N\n' +
    'times (this machine\'s speed drifts by ±15% over minutes) and the medians of the rounds are compared.',
  options: {
    preset: { kind: 'string', arg: 'NAME', description: 'model preset', default: 'bench-small' },
    config: { kind: 'path', arg: 'FILE', description: 'model config instead of a preset' },
    batch: { kind: 'int', description: 'sequences per step', default: DEFAULT_BENCH.batch },
    seq: { kind: 'int', description: 'sequence length', defaultText: 'the model\'s max_position_embeddings' },
    steps: { kind: 'int', description: 'measured steps per round', default: DEFAULT_BENCH.steps },
    warmup: { kind: 'int', min: 0, description: 'unmeasured warm-up steps', default: DEFAULT_BENCH.warmup },
    rounds: { kind: 'int', description: 'measurement rounds (alternating with PyTorch under --compare-torch)', default: DEFAULT_BENCH.rounds },
    threads: { kind: 'int', description: 'intra-op threads', default: DEFAULT_BENCH.threads },
    device: DEVICE_OPTION,
    optimizer: { kind: 'enum', choices: ['js', 'graph', 'both'], default: DEFAULT_BENCH.update, description: 'where AdamW runs (both: alternate the two in the same rounds)' },
    precision: { kind: 'enum', choices: ['float32', 'float16', 'bfloat16'], default: DEFAULT_BENCH.precision, description: 'compute type of the training graph' },
    'peak-tflops': { kind: 'number', min: 0, exclusiveMin: true, description: 'the device\'s peak for MFU (e.g. a GPU\'s dense fp16 figure)', defaultText: 'the measured CPU fp32 GEMM peak' },
    spinning: { kind: 'boolean', description: 'let ORT threads spin while idle' },
    'compare-torch': { kind: 'boolean', description: 'also run the PyTorch baseline and report the ratio' },
    json: { kind: 'boolean', description: 'print JSON (tokens_per_s, ms_per_step, peak_rss_mb, mfu, ...)' },
  },
  examples: [
    'growlm bench train --preset tiny --steps 3 --warmup 1',
    'growlm bench train --preset bench-small --rounds 5 --compare-torch --json',
  ],
  async run(args) {
    const config = configFromArgs(args.has('config') ? undefined : args.str('preset'), args.str('config'));
    const json = args.flag('json');
    const configFile = args.str('config') ?? join(packageRoot(), 'models', `${args.str('preset')}.json`);
    const result = await benchTrain(config, {
      batch: args.int('batch'), seq: args.optInt('seq'), steps: args.int('steps'), warmup: args.int('warmup'), rounds: args.int('rounds'),
      threads: args.int('threads'), spinning: args.flag('spinning'), provider: await device(args),
      update: args.need('optimizer') as BenchOptions['update'], precision: args.need('precision') as Precision, peakTflops: args.optNum('peak-tflops'),
      compareTorch: args.flag('compare-torch') ? configFile : undefined,
    }, json ? undefined : note);
    if (json) printJson(result);
    else {
      console.log(`${result.engine}: ${result.tokens_per_s.toFixed(0)} tokens/s, ${result.ms_per_step.toFixed(0)} ms/step, peak RSS ${result.peak_rss_mb.toFixed(0)} MB, ` +
        `MFU ${(result.mfu * 100).toFixed(1)}% of ${result.gemm_gflops.toFixed(0)} GFLOP/s; ${result.update} AdamW: forward+backward ${result.split.gradients_ms.toFixed(1)} ms, update ${result.split.update_ms.toFixed(1)} ms`);
      if (result.graph) {
        const g = result.graph;
        console.log(`in-graph AdamW (same rounds): ${g.tokens_per_s.toFixed(0)} tokens/s, ${g.ms_per_step.toFixed(0)} ms/step; forward+backward ${g.split.gradients_ms.toFixed(1)} ms, update ${g.split.update_ms.toFixed(1)} ms`);
      }
      if (result.torch) {
        const t = result.torch;
        console.log(`pytorch: ${t.tokens_per_s.toFixed(0)} tokens/s, ${t.ms_per_step.toFixed(0)} ms/step, peak RSS ${t.peak_rss_mb.toFixed(0)} MB → growlm/pytorch = ${result.speedup_vs_torch!.toFixed(2)}×` +
          (result.rounds > 1 ? ` (per round: ${result.speedup_per_round!.map((x) => x.toFixed(2)).join(', ')})` : ''));
      }
    }
    return 0;
  },
};

export const benchGenerateCommand: Command = {
  name: 'bench generate',
  summary: 'Measure generation speed: prefill ms and decode tokens/s (KV cache, batch 1), concurrent requests through the server, PyTorch and llama.cpp alongside.',
  details: 'A 128-token random prompt (seeded), greedy decoding of 64 new tokens. In each round, alternating: growlm\'s\n' +
    'cached session (thread spinning off and on, its better counting), one request and then --clients concurrent requests through the server (loopback HTTP),\n' +
    'PyTorch eager with a KV cache on the same weights (tools/torch-bench.sh: OpenBLAS + tcmalloc) and llama.cpp\n' +
    '(node-llama-cpp) on the f32 GGUF export, each at 1 thread and at --threads, its better counting. Medians over\n' +
    'the rounds, and the per-round ratios; --no-torch / --no-llamacpp skip a baseline. Before each measured generation every\n' +
    'engine generates untimed for --warmup seconds (a process resuming after a pause ran slower for up to a second here).',
  options: {
    preset: { kind: 'string', arg: 'NAME', description: 'model preset (random weights, byte tokenizer)', default: 'bench-small' },
    model: { kind: 'path', arg: 'DIR', description: 'a model directory instead of a preset' },
    'prompt-tokens': { kind: 'int', description: 'prompt length', default: DEFAULT_GENERATE_BENCH.promptTokens },
    'new-tokens': { kind: 'int', description: 'tokens generated per request', default: DEFAULT_GENERATE_BENCH.newTokens },
    rounds: { kind: 'int', description: 'measured rounds (after a warm-up round)', default: DEFAULT_GENERATE_BENCH.rounds },
    threads: { kind: 'int', description: 'intra-op threads', default: DEFAULT_GENERATE_BENCH.threads },
    clients: { kind: 'int', description: 'concurrent requests through the server', default: DEFAULT_GENERATE_BENCH.clients },
    'no-torch': { kind: 'boolean', description: 'skip the PyTorch baseline' },
    'no-llamacpp': { kind: 'boolean', description: 'skip the llama.cpp baseline' },
    spinning: { kind: 'boolean', description: 'let the server\'s onnxruntime threads spin between kernels' },
    warmup: { kind: 'number', arg: 'S', min: 0, description: 'seconds each engine generates untimed before each measured generation (one generation at least)', default: DEFAULT_GENERATE_BENCH.warmupS },
    json: { kind: 'boolean', description: 'print JSON (prefill_ms, decode_tokens_per_s, concurrent_tokens_per_s, torch_...)' },
  },
  examples: [
    'growlm bench generate --preset tiny --prompt-tokens 32 --rounds 1 --no-torch --no-llamacpp',
    'growlm bench generate --preset bench-small --json',
  ],
  async run(args) {
    const json = args.flag('json');
    const source = args.has('model') ? { dir: args.need('model') } : { preset: args.need('preset') };
    const r = await benchGenerate(source, {
      promptTokens: args.int('prompt-tokens'), newTokens: args.int('new-tokens'), rounds: args.int('rounds'), threads: args.int('threads'),
      clients: args.int('clients'), torch: !args.flag('no-torch'), llamacpp: !args.flag('no-llamacpp'), spinning: args.flag('spinning'), warmupS: args.num('warmup'),
    }, json ? undefined : note);
    if (json) printJson(r);
    else {
      console.log(`growlm (spinning ${r.spinning ? 'on' : 'off'}): prefill ${r.prefill_ms.toFixed(1)} ms (${r.prompt_tokens} tokens), decode ${r.decode_tokens_per_s.toFixed(0)} tokens/s; ` +
        `server: ${r.clients} concurrent ${r.concurrent_tokens_per_s.toFixed(0)} tokens/s = ${r.concurrent_speedup.toFixed(2)}× one request (${r.single_request_tokens_per_s.toFixed(0)})`);
      if (r.torch_decode_tokens_per_s !== undefined) {
        console.log(`pytorch (${r.torch_threads} thread${r.torch_threads! > 1 ? 's' : ''}): prefill ${r.torch_prefill_ms!.toFixed(1)} ms, decode ${r.torch_decode_tokens_per_s.toFixed(0)} tokens/s → growlm/pytorch decode ${r.decode_vs_torch!.toFixed(2)}×`);
      }
      if (r.llamacpp_decode_tokens_per_s !== undefined) {
        console.log(`llama.cpp (${r.llamacpp_threads} thread${r.llamacpp_threads! > 1 ? 's' : ''}): prefill ${r.llamacpp_prefill_ms!.toFixed(1)} ms, decode ${r.llamacpp_decode_tokens_per_s.toFixed(0)} tokens/s → growlm/llama.cpp decode ${r.decode_vs_llamacpp!.toFixed(2)}×`);
      }
    }
    return 0;
  },
};
