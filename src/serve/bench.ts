/**
 * `growlm bench generate`: generation speed of one model, side by side in the same run —
 *
 * - growlm: the prompt's prefill (ms) and greedy decode tokens/s at batch 1 on the KV-cache session;
 * - the server: aggregate tokens/s of `clients` concurrent greedy requests through `growlm serve`'s
 *   HTTP API on loopback (continuous batching), and of one request alone, with their ratio;
 * - PyTorch eager with a pre-allocated KV cache on the same weights (tools/torch_decode_bench.py
 *   through tools/torch-bench.sh: OpenBLAS + tcmalloc), at 1 thread and at `threads`, the better
 *   counting: on a loaded 2-core machine its OpenMP threads contend.
 *
 * Rounds alternate the engines (a shared machine's slow phases then hit all of them) and medians are
 * reported, with the per-round ratios. A preset is measured on random weights (seed 0) with the
 * byte tokenizer; μP and MSG masks are folded for PyTorch (export/fold.ts), which sees a plain Llama.
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
import { type RunningServer, serveModel } from './server.js';

export interface GenerateBenchOptions {
  promptTokens: number;
  newTokens: number;
  rounds: number;
  threads: number;
  /** Concurrent requests through the server. */
  clients: number;
  /** Also run the PyTorch baseline. */
  torch: boolean;
}

export const DEFAULT_GENERATE_BENCH: GenerateBenchOptions = { promptTokens: 128, newTokens: 64, rounds: 3, threads: 2, clients: 8, torch: true };

export interface GenerateBenchResult {
  model: string;
  prompt_tokens: number;
  new_tokens: number;
  threads: number;
  rounds: number;
  clients: number;
  prefill_ms: number;
  decode_tokens_per_s: number;
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
  /** Median over rounds of growlm decode / PyTorch decode (its better thread count in that round). */
  decode_vs_torch?: number;
  /** Whether PyTorch chose growlm's greedy tokens (near-ties of random weights may flip one). */
  torch_same_greedy_tokens?: boolean;
}

interface TorchRun {
  prefill_ms: number;
  decode_tokens_per_s: number;
  tokens: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** tools/torch_decode_bench.py through tools/torch-bench.sh, one measured round. */
function runTorchDecode(plainDir: string, prompt: number[], newTokens: number, threads: number): TorchRun {
  const r = spawnSync('bash', [join(packageRoot(), 'tools/torch-bench.sh'), '--model', plainDir, '--prompt-ids', prompt.join(','),
    '--new-tokens', String(newTokens), '--rounds', '1', '--threads', String(threads), '--json'],
  { encoding: 'utf8', env: { ...baselineEnv(), TORCH_BENCH_SCRIPT: 'torch_decode_bench.py' } });
  const out = r.stdout ?? '';
  if (r.status !== 0 || !out.includes('{')) throw new GrowlmError(`the PyTorch baseline failed: ${(r.stderr || out).trim().split('\n').pop()}`);
  return JSON.parse(out.slice(out.indexOf('{'))) as TorchRun;
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
  const tmp = mkdtempSync(join(tmpdir(), 'growlm-bench-generate-'));
  try {
    const m = resolveModel(source, tmp);
    const prompt = benchPrompt(m.config, o.promptTokens, o.newTokens);
    let plainDir: string | undefined;
    if (o.torch) {
      plainDir = join(tmp, 'plain');
      saveModelDir(plainDir, plainLlama(m.config, m.weights));
    }
    const kv = await KvSession.create(m.config, m.weights, { threads: o.threads });
    const server = await serveModel(m.dir, { port: 0, host: '127.0.0.1', threads: o.threads, maxConcurrent: o.clients, maxQueue: o.clients, ...(m.byte ? { tokenizer: 'byte' } : {}) });
    const torchThreads = [...new Set([1, o.threads])];
    const prefill: number[] = [], decode: number[] = [], single: number[] = [], concurrent: number[] = [], speedup: number[] = [], vsTorch: number[] = [];
    const torchRuns = new Map<number, TorchRun[]>(torchThreads.map((t) => [t, []]));
    let same = true;
    try {
      for (let r = 0; r <= o.rounds; r++) { // round 0 warms up
        const label = r === 0 ? 'warm-up' : `round ${r}/${o.rounds}`;
        const ours = await cachedRound(kv, prompt, o.newTokens);
        note(`${label}: growlm prefill ${ours.prefillMs.toFixed(1)} ms, decode ${ours.tokensPerS.toFixed(0)} tokens/s`);
        const s = await serverRound(server, 1, o.newTokens);
        const c = await serverRound(server, o.clients, o.newTokens);
        note(`${label}: server ${o.clients} concurrent ${c.toFixed(0)} tokens/s, one request ${s.toFixed(0)} tokens/s`);
        let bestTorch: TorchRun | undefined;
        if (plainDir && r > 0) {
          for (const t of torchThreads) {
            const run = runTorchDecode(plainDir, prompt, o.newTokens, t);
            note(`${label}: pytorch (${t} thread${t > 1 ? 's' : ''}) prefill ${run.prefill_ms.toFixed(1)} ms, decode ${run.decode_tokens_per_s.toFixed(0)} tokens/s`);
            torchRuns.get(t)!.push(run);
            same &&= run.tokens.every((id, i) => id === ours.tokens[i]);
            if (!bestTorch || run.decode_tokens_per_s > bestTorch.decode_tokens_per_s) bestTorch = run;
          }
        }
        if (r === 0) continue;
        prefill.push(ours.prefillMs);
        decode.push(ours.tokensPerS);
        single.push(s);
        concurrent.push(c);
        speedup.push(c / s);
        if (bestTorch) vsTorch.push(ours.tokensPerS / bestTorch.decode_tokens_per_s);
      }
    } finally {
      await server.close();
      await kv.release();
    }
    const result: GenerateBenchResult = {
      model: m.name, prompt_tokens: o.promptTokens, new_tokens: o.newTokens, threads: o.threads, rounds: o.rounds, clients: o.clients,
      prefill_ms: median(prefill), decode_tokens_per_s: median(decode),
      concurrent_tokens_per_s: median(concurrent), single_request_tokens_per_s: median(single), concurrent_speedup: median(speedup),
    };
    if (plainDir) {
      const byThreads = Object.fromEntries(torchThreads.map((t) => [String(t), median(torchRuns.get(t)!.map((x) => x.decode_tokens_per_s))]));
      const best = torchThreads.reduce((a, b) => (byThreads[String(b)]! > byThreads[String(a)]! ? b : a));
      Object.assign(result, {
        torch_prefill_ms: median(torchRuns.get(best)!.map((x) => x.prefill_ms)), torch_decode_tokens_per_s: byThreads[String(best)],
        torch_threads: best, torch_decode_tokens_per_s_by_threads: byThreads, decode_vs_torch: median(vsTorch), torch_same_greedy_tokens: same,
      });
    }
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
