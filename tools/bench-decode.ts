/**
 * Decode tokens/s at batch 1, KV cache vs the uncached full-window decoder, on a preset with random
 * weights (src/generate/bench.ts). Prints one JSON object.
 *
 *   npm run build && node dist/tools/bench-decode.js [PRESET=bench-small] [THREADS=2] [--standard-ops] [--device=cpu|cuda|webgpu] [--rounds=3] [--spin]
 */
import { benchDecode } from '../src/generate/bench.js';
import { loadPreset } from '../src/model/presets.js';
import { initWeights } from '../src/model/weights.js';
import { needsMallocTuning, relaunchWithTunedMalloc } from '../src/runtime/malloc-tuning.js';
import type { Provider } from '../src/runtime/session.js';

if (needsMallocTuning()) {
  process.exitCode = await relaunchWithTunedMalloc();
} else {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const preset = args[0] ?? 'bench-small';
  const threads = Number(args[1] ?? 2);
  const fusedKernels = !process.argv.includes('--standard-ops');
  const provider = (process.argv.find((a) => a.startsWith('--device='))?.slice('--device='.length) ?? 'cpu') as Provider;
  const config = loadPreset(preset);
  const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 3);
  const spinning = process.argv.includes('--spin');
  const r = await benchDecode(config, initWeights(config, 0), { threads, fusedKernels, provider, rounds, spinning });
  console.log(JSON.stringify({ preset, device: provider, fused_kernels: fusedKernels, spinning, ...r }));
}
