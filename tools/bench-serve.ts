/**
 * Continuous batching pays off: aggregate greedy tokens/s of 8 concurrent requests through the
 * server vs one request alone, on a preset with random weights (byte tokenizer), loopback only.
 * Rounds alternate the two; medians are reported, and the median and range of the per-round ratios
 * (adjacent measurements, so that a shared machine's slow phases hit both). Prints one JSON object.
 *
 *   npm run build && node dist/tools/bench-serve.js [PRESET=bench-small] [THREADS=2] [CLIENTS=8]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPreset } from '../src/model/presets.js';
import { saveModelDir } from '../src/model/model-dir.js';
import { initWeights } from '../src/model/weights.js';
import { needsMallocTuning, relaunchWithTunedMalloc } from '../src/runtime/malloc-tuning.js';
import { serverRound } from '../src/bench/generate.js';
import { serveModel } from '../src/serve/server.js';

const NEW_TOKENS = 64;
const ROUNDS = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

if (needsMallocTuning()) {
  process.exitCode = await relaunchWithTunedMalloc();
} else {
  const [preset = 'bench-small', threadsArg = '2', clientsArg = '8'] = process.argv.slice(2);
  const threads = Number(threadsArg), clients = Number(clientsArg);
  const tmp = mkdtempSync(join(tmpdir(), 'growlm-bench-serve-'));
  const dir = join(tmp, preset);
  const config = loadPreset(preset);
  saveModelDir(dir, { config, weights: initWeights(config, 0) });
  const server = await serveModel(dir, { port: 0, host: '127.0.0.1', threads, tokenizer: 'byte', maxConcurrent: clients, maxQueue: clients });
  const round = (n: number) => serverRound(server, n, NEW_TOKENS);
  try {
    const single: number[] = [], concurrent: number[] = [], ratios: number[] = [];
    for (let r = 0; r <= ROUNDS; r++) { // round 0 warms up
      const s = await round(1), c = await round(clients);
      if (r === 0) continue;
      single.push(s);
      concurrent.push(c);
      ratios.push(c / s);
    }
    const s = median(single), c = median(concurrent);
    console.log(JSON.stringify({
      preset, threads, clients, new_tokens: NEW_TOKENS,
      single_request_tokens_per_s: Math.round(s), concurrent_tokens_per_s: Math.round(c), speedup: Number(median(ratios).toFixed(2)),
      speedup_range: [Math.min(...ratios), Math.max(...ratios)].map((x) => Number(x.toFixed(2))),
      mean_rows_per_step: Number((server.scheduler.stepRows / server.scheduler.steps).toFixed(2)),
    }));
  } finally {
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
