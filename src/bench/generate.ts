/**
 * `growlm bench generate`: generation speed of one model, side by side in the same run —
 *
 * - growlm: the prompt's prefill (ms) and greedy decode tokens/s at batch 1 on the KV-cache session;
 * - the server: aggregate tokens/s of `clients` concurrent greedy requests through `growlm serve`'s
 *   HTTP API on loopback (continuous batching), and of one request alone, with their ratio;
 * - PyTorch eager with a pre-allocated KV cache on the same weights (tools/torch_decode_bench.py
 *   through tools/torch-bench.sh: OpenBLAS + tcmalloc);
 * - llama.cpp (node-llama-cpp's prebuilt CPU library) on the model's f32 GGUF export
 *   (tools/llama-cpp-decode-bench.mjs, a process of its own; F32 KV cache, no flash attention).
 *
 * Both baselines run at 1 thread and at `threads`, the better counting: on a loaded 2-core machine
 * their worker threads contend (llama.cpp measured ≈ 420 tokens/s with 1 thread, ≈ 75 with 2). growlm's
 * own decode runs at `threads` with onnxruntime's thread spinning off and on, the better counting, for
 * the same reason: spinning made decoding ≈ 1.4× faster on an idle machine and up to 2× slower on a busy one.
 *
 * Rounds alternate the engines (a shared machine's slow phases then hit all of them) and medians are
 * reported, with the per-round ratios. In every round each engine generates untimed for `warmupS`
 * seconds (one generation at least) before its measured generation (the baselines inside their own
 * processes), so that none is measured cold after another has had the machine: on this VM a process
 * that waited a few seconds (as growlm does while a baseline runs) decoded 15–25% slower for about
 * half a second to a second after it resumed, so a single warm-up generation (≈ 0.2 s) was not enough.
 * A preset is measured on random weights (seed 0) with the byte tokenizer; μP and MSG masks are
 * folded for the baselines (export/fold.ts), which see a plain Llama.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPrompt, cachedRound } from '../generate/bench.js';
import type { ModelConfig } from '../model/config.js';
import { loadModelDir, saveModelDir } from '../model/model-dir.js';
import { loadPreset } from '../model/presets.js';
import { type Weights, initWeights } from '../model/weights.js';
import { KvSession } from '../runtime/kv-session.js';
import { baselineEnv } from '../train/bench.js';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { plainLlama } from '../export/fold.js';
import { exportGguf } from '../export/gguf.js';
import { type RunningServer, serveModel } from '../serve/server.js';

export interface GenerateBenchOptions {
  promptTokens: number;
  newTokens: number;
  rounds: number;
  threads: number;
  /** Concurrent requests through the server. */
  clients: number;
  /** Also run the PyTorch baseline. */
  torch: boolean;
  /** Also run the llama.cpp baseline. */
  llamacpp: boolean;
  /** Thread spinning in the server's session (growlm's own decode is measured both ways). */
  spinning: boolean;
  /** Seconds each engine generates untimed before each measured generation (one generation at least). */
  warmupS: number;
}

export const DEFAULT_GENERATE_BENCH: GenerateBenchOptions = { promptTokens: 128, newTokens: 64, rounds: 3, threads: 2, clients: 8, torch: true, llamacpp: true, spinning: false, warmupS: 1 };

export interface GenerateBenchResult {
  model: string;
  prompt_tokens: number;
  new_tokens: number;
  threads: number;
  rounds: number;
  clients: number;
  warmup_s: number;
  /** growlm at its better thread-spinning setting (medians over rounds). */
  prefill_ms: number;
  decode_tokens_per_s: number;
  /** Whether that is with onnxruntime's thread spinning on. */
  spinning: boolean;
  decode_tokens_per_s_by_spinning: { off: number; on: number };
  /** The server's spinning setting (`spinning` option). */
  server_spinning: boolean;
  /** Aggregate completion tokens/s of `clients` concurrent requests through the server. */
  concurrent_tokens_per_s: number;
  /** One request alone through the server (HTTP and sampling included). */
  single_request_tokens_per_s: number;
  /** Median over rounds of concurrent / single (adjacent measurements). */
  concurrent_speedup: number;
  torch_prefill_ms?: number;
  torch_decode_tokens_per_s?: number;
  /** The thread count PyTorch's figures are from (its better of 1 and `threads`). */
  torch_threads?: number;
  /** PyTorch decode tokens/s per thread count tried (medians). */
  torch_decode_tokens_per_s_by_threads?: Record<string, number>;
  /** Median over rounds of growlm decode (its better spinning setting) / PyTorch decode (its better thread count), round by round. */
  decode_vs_torch?: number;
  /** Whether PyTorch chose growlm's greedy tokens (near-ties of random weights may flip one). */
  torch_same_greedy_tokens?: boolean;
  /** The same for llama.cpp. */
  llamacpp_prefill_ms?: number;
  llamacpp_decode_tokens_per_s?: number;
  llamacpp_threads?: number;
  llamacpp_decode_tokens_per_s_by_threads?: Record<string, number>;
  decode_vs_llamacpp?: number;
  llamacpp_same_greedy_tokens?: boolean;
}

/** One measured generation of a baseline. */
interface BaselineRun {
  prefill_ms: number;
  decode_tokens_per_s: number;
  tokens: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** A baseline's child process; its last stdout line is one JSON object. */
function runChild(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): BaselineRun {
  const r = spawnSync(command, args, { encoding: 'utf8', env, timeout: CHILD_TIMEOUT_MS });
  const out = r.stdout ?? '';
  if (r.error) throw new GrowlmError(`the ${name} baseline failed: ${r.error.message}`);
  if (r.status !== 0 || !out.includes('{')) throw new GrowlmError(`the ${name} baseline failed: ${(r.stderr || out).trim().split('\n').pop()}`);
  return JSON.parse(out.slice(out.indexOf('{'))) as BaselineRun;
}

/** A baseline run slower than this (a pathological thread count on a loaded machine) is an error. */
const CHILD_TIMEOUT_MS = 600_000;

interface Baseline {
  key: 'torch' | 'llamacpp';
  name: string;
  run(threads: number): BaselineRun;
}

/** PyTorch: tools/torch_decode_bench.py through tools/torch-bench.sh on the plain model's directory. */
function torchBaseline(plainDir: string, prompt: number[], newTokens: number, warmupS: number): Baseline {
  return {
    key: 'torch', name: 'pytorch',
    run: (threads) => runChild('PyTorch', 'bash', [join(packageRoot(), 'tools/torch-bench.sh'), '--model', plainDir, '--prompt-ids', prompt.join(','),
      '--new-tokens', String(newTokens), '--rounds', '1', '--threads', String(threads), '--warmup-s', String(warmupS), '--json'], { ...baselineEnv(), TORCH_BENCH_SCRIPT: 'torch_decode_bench.py' }),
  };
}

/** llama.cpp: tools/llama-cpp-decode-bench.mjs on the GGUF file. */
function llamaCppBaseline(gguf: string, prompt: number[], newTokens: number, warmupS: number): Baseline {
  return {
    key: 'llamacpp', name: 'llama.cpp',
    run: (threads) => runChild('llama.cpp', process.execPath, [join(packageRoot(), 'tools/llama-cpp-decode-bench.mjs'), gguf, prompt.join(','), String(newTokens), String(threads), String(warmupS)], baselineEnv()),
  };
}

/** Greedy completions of `n` different prompts at once through the server; completion tokens per second of wall time. */
export async function serverRound(server: RunningServer, n: number, newTokens: number): Promise<number> {
  const t0 = performance.now();
  const done = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const res = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: server.modelId, prompt: `Request ${i}: tell me a story about number ${i * 7}.`, max_tokens: newTokens, temperature: 0 }),
    });
    if (res.status !== 200) throw new GrowlmError(`the server answered HTTP ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens;
  }));
  return done.reduce((a, b) => a + b, 0) / ((performance.now() - t0) / 1000);
}

/** Run `generate` untimed, once at least and then until `seconds` have passed. */
async function warmUp(seconds: number, generate: () => Promise<unknown>): Promise<void> {
  const until = performance.now() + seconds * 1000;
  do await generate(); while (performance.now() < until);
}

/** The model to measure: a model directory, or a preset with random weights written to a temporary one. */
function resolveModel(source: { preset: string } | { dir: string }, tmp: string): { name: string; dir: string; config: ModelConfig; weights: Weights; byte: boolean } {
  if ('dir' in source) {
    const { config, weights } = loadModelDir(source.dir);
    return { name: source.dir, dir: source.dir, config, weights, byte: false };
  }
  const config = loadPreset(source.preset);
  if (config.vocabSize < 256) throw new GrowlmError(`preset ${source.preset} has fewer than 256 tokens: the server's byte tokenizer does not fit`);
  const dir = join(tmp, source.preset);
  const weights = initWeights(config, 0);
  saveModelDir(dir, { config, weights });
  return { name: source.preset, dir, config, weights, byte: true };
}

export async function benchGenerate(source: { preset: string } | { dir: string }, options: Partial<GenerateBenchOptions> = {}, note: (line: string) => void = () => {}): Promise<GenerateBenchResult> {
  const o = { ...DEFAULT_GENERATE_BENCH, ...options };
  for (const k of ['promptTokens', 'newTokens', 'rounds', 'threads', 'clients'] as const) {
    if (!(Number.isSafeInteger(o[k]) && o[k] >= 1)) throw new InvalidSettingError(k, `${k} must be an integer ≥ 1, got ${o[k]}`);
  }
  if (!(Number.isFinite(o.warmupS) && o.warmupS >= 0)) throw new InvalidSettingError('warmupS', `warmupS must be a number of seconds ≥ 0, got ${o.warmupS}`);
  const tmp = mkdtempSync(join(tmpdir(), 'growlm-bench-generate-'));
  try {
    const m = resolveModel(source, tmp);
    const prompt = benchPrompt(m.config, o.promptTokens, o.newTokens);
    const baselines: Baseline[] = [];
    if (o.torch) {
      const plainDir = join(tmp, 'plain');
      saveModelDir(plainDir, plainLlama(m.config, m.weights));
      baselines.push(torchBaseline(plainDir, prompt, o.newTokens, o.warmupS));
    }
    if (o.llamacpp) {
      const gguf = join(tmp, 'model.gguf');
      await exportGguf(m.dir, gguf, { dtype: 'f32', ...(m.byte ? { tokenizer: 'byte' } : {}) });
      baselines.push(llamaCppBaseline(gguf, prompt, o.newTokens, o.warmupS));
    }
    // growlm's decode with onnxruntime's thread spinning off and on, as the baselines run at two thread counts
    const spinSettings = [false, true] as const;
    const kvs = await Promise.all(spinSettings.map((spinning) => KvSession.create(m.config, m.weights, { threads: o.threads, spinning })));
    const server = await serveModel(m.dir, { port: 0, host: '127.0.0.1', threads: o.threads, spinning: o.spinning, maxConcurrent: o.clients, maxQueue: o.clients, ...(m.byte ? { tokenizer: 'byte' } : {}) });
    const threadCounts = [...new Set([1, o.threads])];
    const bySpin = spinSettings.map(() => ({ prefill: [] as number[], decode: [] as number[] }));
    const single: number[] = [], concurrent: number[] = [], speedup: number[] = [];
    const runs = new Map(baselines.map((b) => [b.key, { ratios: [] as number[], same: true, byThreads: new Map<number, BaselineRun[]>(threadCounts.map((t) => [t, []])) }]));
    try {
      for (let r = 0; r <= o.rounds; r++) { // round 0 warms up
        const label = r === 0 ? 'warm-up' : `round ${r}/${o.rounds}`;
        const measured = [];
        for (const [i, kv] of kvs.entries()) {
          await warmUp(o.warmupS, () => cachedRound(kv, prompt, o.newTokens)); // as each baseline warms up in its process
          const run = await cachedRound(kv, prompt, o.newTokens);
          note(`${label}: growlm (spinning ${spinSettings[i] ? 'on' : 'off'}) prefill ${run.prefillMs.toFixed(1)} ms, decode ${run.tokensPerS.toFixed(0)} tokens/s`);
          measured.push(run);
        }
        const ours = measured.reduce((a, b) => (b.tokensPerS > a.tokensPerS ? b : a));
        await warmUp(o.warmupS, () => serverRound(server, o.clients, o.newTokens));
        const s = await serverRound(server, 1, o.newTokens);
        const c = await serverRound(server, o.clients, o.newTokens);
        note(`${label}: server ${o.clients} concurrent ${c.toFixed(0)} tokens/s, one request ${s.toFixed(0)} tokens/s`);
        if (r === 0) continue; // the baselines warm up inside their own processes
        for (const b of baselines) {
          const rec = runs.get(b.key)!;
          let best = 0;
          for (const t of threadCounts) {
            const run = b.run(t);
            note(`${label}: ${b.name} (${t} thread${t > 1 ? 's' : ''}) prefill ${run.prefill_ms.toFixed(1)} ms, decode ${run.decode_tokens_per_s.toFixed(0)} tokens/s`);
            rec.byThreads.get(t)!.push(run);
            rec.same &&= run.tokens.every((id, i) => id === ours.tokens[i]);
            best = Math.max(best, run.decode_tokens_per_s);
          }
          rec.ratios.push(ours.tokensPerS / best);
        }
        measured.forEach((run, i) => { bySpin[i]!.prefill.push(run.prefillMs); bySpin[i]!.decode.push(run.tokensPerS); });
        single.push(s);
        concurrent.push(c);
        speedup.push(c / s);
      }
    } finally {
      await server.close();
      for (const kv of kvs) await kv.release();
    }
    const decodeBySpin = bySpin.map((x) => median(x.decode));
    const spin = decodeBySpin[1]! > decodeBySpin[0]! ? 1 : 0;
    const result: GenerateBenchResult = {
      model: m.name, prompt_tokens: o.promptTokens, new_tokens: o.newTokens, threads: o.threads, rounds: o.rounds, clients: o.clients, warmup_s: o.warmupS,
      prefill_ms: median(bySpin[spin]!.prefill), decode_tokens_per_s: decodeBySpin[spin]!, spinning: spin === 1,
      decode_tokens_per_s_by_spinning: { off: decodeBySpin[0]!, on: decodeBySpin[1]! }, server_spinning: o.spinning,
      concurrent_tokens_per_s: median(concurrent), single_request_tokens_per_s: median(single), concurrent_speedup: median(speedup),
    };
    for (const b of baselines) {
      const rec = runs.get(b.key)!;
      const byThreads = Object.fromEntries(threadCounts.map((t) => [String(t), median(rec.byThreads.get(t)!.map((x) => x.decode_tokens_per_s))]));
      const best = threadCounts.reduce((x, y) => (byThreads[String(y)]! > byThreads[String(x)]! ? y : x));
      Object.assign(result, {
        [`${b.key}_prefill_ms`]: median(rec.byThreads.get(best)!.map((x) => x.prefill_ms)), [`${b.key}_decode_tokens_per_s`]: byThreads[String(best)],
        [`${b.key}_threads`]: best, [`${b.key}_decode_tokens_per_s_by_threads`]: byThreads, [`decode_vs_${b.key}`]: median(rec.ratios), [`${b.key}_same_greedy_tokens`]: rec.same,
      });
    }
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
