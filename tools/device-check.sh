#!/usr/bin/env bash
# The first run of growlm on a GPU host (no network needed): the provider tests, a training
# benchmark (tokens/s, MFU against the GPU's dense peak, memory, the step split between forward +
# backward and the AdamW update, host vs in-graph AdamW alternating) and a generation benchmark,
# written as one JSON summary. Budgeted to finish within 8 minutes.
#
#   ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci && npm run build    # once, with CUDA 12 + cuDNN 9 on the host
#   bash tools/device-check.sh [--device cuda|webgpu] [--preset NAME] [--out FILE]
#   bash tools/device-check.sh --dry-run                        # the same steps on the CPU (preset tiny)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVICE=cuda
DRY=0
PRESET=""
OUT="device-check.json"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1; DEVICE=cpu ;;
    --device) DEVICE="$2"; shift ;;
    --preset) PRESET="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "device-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$DEVICE" = cpu ] && DRY=1

WORK="$(mktemp -d "${TMPDIR:-/tmp}/growlm-device-check.XXXXXX")"
MEMLOG="$WORK/gpu-memory.csv"
SAMPLER=""
cleanup() { [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
START=$(date +%s)
log() { echo "device-check [$(( $(date +%s) - START ))s]: $*" >&2; }

# --- the device ---------------------------------------------------------------------------------
GPU_NAME=""; GPU_MEMORY_MB=""; DRIVER=""
if [ "$DRY" = 0 ]; then
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "device-check: no GPU here (nvidia-smi not found); --dry-run runs the same steps on the CPU" >&2
    exit 1
  fi
  IFS=',' read -r GPU_NAME GPU_MEMORY_MB DRIVER < <(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits | head -1)
  GPU_NAME="$(echo "$GPU_NAME" | xargs)"; GPU_MEMORY_MB="$(echo "$GPU_MEMORY_MB" | xargs)"; DRIVER="$(echo "$DRIVER" | xargs)"
  log "$GPU_NAME, $GPU_MEMORY_MB MiB, driver $DRIVER"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$MEMLOG" 2>/dev/null &
  SAMPLER=$!
fi
# dense peaks in TFLOP/s (NVIDIA datasheets, without sparsity): fp16/bf16 tensor cores, tf32 (what
# onnxruntime's CUDA provider uses for float32 GEMMs by default), plain fp32
PEAKS="$(node -e '
const name = (process.argv[1] || "").toUpperCase();
const table = [
  ["H200", 989, 495, 67], ["H100 NVL", 835, 418, 60], ["H100 PCIE", 756, 378, 51], ["H100", 989, 495, 67],
  ["A100", 312, 156, 19.5], ["L40S", 362, 183, 91.6], ["L4", 121, 60, 30.3], ["A10", 125, 62.5, 31.2],
  ["V100", 125, 15.7, 15.7], ["T4", 65, 8.1, 8.1],
];
const row = table.find(([k]) => name.includes(k));
console.log(JSON.stringify(row ? { match: row[0], fp16: row[1], tf32: row[2], fp32: row[3] } : null));
' "$GPU_NAME")"

cd "$ROOT"
[ -f dist/src/cli/main.js ] || { log "building"; npm run build --silent >/dev/null; }
GROWLM="node dist/src/cli/main.js"
if [ -z "$PRESET" ]; then PRESET=$([ "$DRY" = 1 ] && echo tiny || echo bench-medium); fi
BATCH=$([ "$DRY" = 1 ] && echo 8 || echo 32)
SEQ=$([ "$DRY" = 1 ] && echo 128 || echo 256)
THREADS=$([ "$DRY" = 1 ] && echo 2 || echo 4)
peak_arg() { # $1: fp16|tf32
  node -e 'const p = JSON.parse(process.argv[1]); if (p) console.log(`--peak-tflops ${p[process.argv[2]]}`);' "$PEAKS" "$1"
}

# --- 1. provider tests (≤ 150 s) ------------------------------------------------------------------
log "provider tests (test/device, the --device tests of test/cli/device.test.ts) on $DEVICE"
TESTS_JSON="$WORK/tests.json"
set +e
GROWLM_DEVICE="$DEVICE" timeout 150 npx vitest run test/device test/cli/device.test.ts -t '^(on |--device )' --reporter=json --outputFile="$TESTS_JSON" > "$WORK/tests.log" 2>&1
TESTS_RC=$?
set -e
[ -f "$TESTS_JSON" ] || echo '{}' > "$TESTS_JSON"

# --- 2. training benchmark (3 × ≤ 90 s) ---------------------------------------------------------
run_bench() { # name, args...
  local name="$1"; shift
  log "training benchmark: $name"
  set +e
  timeout 90 $GROWLM bench train --preset "$PRESET" --batch "$BATCH" --seq "$SEQ" --steps 5 --warmup 2 --threads "$THREADS" --device "$DEVICE" --json "$@" > "$WORK/bench-$name.json" 2> "$WORK/bench-$name.log"
  local rc=$?
  set -e
  [ $rc = 0 ] || { log "  failed (exit $rc): $(tail -1 "$WORK/bench-$name.log")"; echo "{\"error\": $(tail -1 "$WORK/bench-$name.log" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify(s.trim())))')}" > "$WORK/bench-$name.json"; }
}
# float32: the host AdamW and the in-graph one alternate in the same rounds (their difference is the
# gradients' and weights' trips between device and host plus the host loop)
run_bench float32 --optimizer both --rounds 2 --precision float32 $([ "$DRY" = 0 ] && peak_arg tf32)
run_bench float16 --optimizer graph --precision float16 $([ "$DRY" = 0 ] && peak_arg fp16)
run_bench bfloat16 --optimizer graph --precision bfloat16 $([ "$DRY" = 0 ] && peak_arg fp16)

# --- 3. generation benchmark (≤ 90 s) -----------------------------------------------------------
log "generation benchmark (bench-small, random weights, KV cache, batch 1)"
set +e
timeout 90 node dist/tools/bench-decode.js bench-small "$THREADS" --device="$DEVICE" --rounds=2 > "$WORK/decode.json" 2> "$WORK/decode.log"
[ $? = 0 ] || echo "{\"error\": \"$(tail -1 "$WORK/decode.log" | tr -d '"\\')\"}" > "$WORK/decode.json"
set -e

[ -n "$SAMPLER" ] && { kill "$SAMPLER" 2>/dev/null || true; SAMPLER=""; }

# --- the summary --------------------------------------------------------------------------------
node - "$WORK" "$OUT" "$DEVICE" "$DRY" "$GPU_NAME" "$GPU_MEMORY_MB" "$DRIVER" "$PEAKS" "$PRESET" "$TESTS_RC" "$START" <<'EOF'
const fs = require('node:fs'), path = require('node:path');
const [work, out, device, dry, gpu, memoryMb, driver, peaks, preset, testsRc, start] = process.argv.slice(2);
const read = (f) => { try { return JSON.parse(fs.readFileSync(path.join(work, f), 'utf8')); } catch { return null; } };
const t = read('tests.json') ?? {};
const failures = (t.testResults ?? []).flatMap((f) => (f.assertionResults ?? []).filter((a) => a.status === 'failed').map((a) => a.fullName));
let peakMemory = null;
try {
  const used = fs.readFileSync(path.join(work, 'gpu-memory.csv'), 'utf8').split('\n').map(Number).filter(Number.isFinite);
  if (used.length) peakMemory = Math.max(...used);
} catch {}
const bench = (name) => {
  const b = read(`bench-${name}.json`);
  if (!b || b.error) return b;
  const share = (s) => s && { ...s, update_share: s.update_ms / (s.gradients_ms + s.update_ms) };
  return {
    tokens_per_s: b.tokens_per_s, ms_per_step: b.ms_per_step, mfu: b.mfu, peak_gflops: b.gemm_gflops, parameters: b.parameters,
    batch: b.batch, seq: b.seq, update: b.update, split: share(b.split), peak_rss_mb: b.peak_rss_mb,
    ...(b.graph ? { graph_update: { tokens_per_s: b.graph.tokens_per_s, ms_per_step: b.graph.ms_per_step, split: share(b.graph.split),
      mfu: b.mfu * b.graph.tokens_per_s / b.tokens_per_s },
      // the host AdamW's forward + backward also carries every gradient to the host and every weight back
      host_device_copies_ms: b.split.gradients_ms - b.graph.split.gradients_ms } : {}),
  };
};
const summary = {
  dry_run: dry === '1', device,
  host: { gpu: gpu || null, memory_mb: memoryMb ? Number(memoryMb) : null, driver: driver || null, peak_tflops: JSON.parse(peaks) },
  mfu_against: dry === '1' ? 'the measured CPU float32 GEMM peak' : 'the table\'s dense peak for this GPU (float32: TF32, half types: FP16/BF16)',
  tests: { exit_code: Number(testsRc), passed: t.numPassedTests ?? null, failed: t.numFailedTests ?? null, skipped: (t.numPendingTests ?? 0) + (t.numTodoTests ?? 0), failures },
  train: { preset, float32: bench('float32'), float16: bench('float16'), bfloat16: bench('bfloat16') },
  generate: read('decode.json'),
  gpu_memory_peak_mb: peakMemory,
  seconds: Math.round(Date.now() / 1000 - Number(start)),
};
fs.writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
EOF
log "summary written to $OUT"
