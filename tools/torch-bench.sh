#!/usr/bin/env bash
# Strongest-setup PyTorch training baseline: runs tools/torch_train_bench.py with
# Debian's python3-torch, but with OpenBLAS and tcmalloc preloaded.
#
# Why: Debian's torch 1.13 calls sgemm_ through the libblas.so.3 alternative, which
# defaults to the reference BLAS (single-digit GFLOP/s); glibc malloc costs PyTorch
# 20-35% (and ~60% more RSS) against tcmalloc. Both are fixed per process with
# LD_PRELOAD; the system-wide BLAS alternative is left as it was (growlm's golden
# fixtures are produced by the same torch through it, see tools/reference.py).
# The OpenMP build of OpenBLAS is the default: it shares torch's libgomp thread pool,
# whereas the pthreads build adds its own spinning threads and oversubscribes small
# machines (measured ~2x slower training steps on 2 cores).
#
# Usage: tools/torch-bench.sh [torch_train_bench.py args...]
#   e.g. tools/torch-bench.sh --preset-json models/bench-small.json --json
# Environment:
#   TORCH_BENCH_OPENBLAS=openmp|pthread  OpenBLAS threading variant (default openmp:
#                                        shares torch's libgomp pool, no oversubscription)
#   TORCH_BENCH_CORETYPE                 OpenBLAS kernel family (default: from CPU flags;
#                                        an inherited OPENBLAS_CORETYPE is overridden)
#   TORCH_BENCH_ALLOCATOR=tcmalloc|glibc (default tcmalloc; glibc only for A/B comparisons)
#   TORCH_BENCH_NO_INSTALL=1             never apt-get; fail if the libraries are missing
#   TORCH_BENCH_PYTHON                   interpreter (default /usr/bin/python3)
#   TORCH_BENCH_SCRIPT                   the script in tools/ to run (default torch_train_bench.py;
#                                        torch_decode_bench.py for `growlm bench generate`)
# Everything the wrapper decides is printed to stderr; stdout is the script's output
# (a single JSON object with --json).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="${TORCH_BENCH_PYTHON:-/usr/bin/python3}"
variant="${TORCH_BENCH_OPENBLAS:-openmp}"
case "$variant" in openmp|pthread|serial) ;; *) echo "torch-bench: TORCH_BENCH_OPENBLAS must be openmp, pthread or serial" >&2; exit 2;; esac
allocator="${TORCH_BENCH_ALLOCATOR:-tcmalloc}"
case "$allocator" in tcmalloc|glibc) ;; *) echo "torch-bench: TORCH_BENCH_ALLOCATOR must be tcmalloc or glibc" >&2; exit 2;; esac
log() { echo "torch-bench: $*" >&2; }

ma="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"
libdir="/usr/lib/$ma"
openblas="$libdir/openblas-$variant/libopenblas.so.0"
tcmalloc="$libdir/libtcmalloc_minimal.so.4"
pkgs=("libopenblas0-$variant" libtcmalloc-minimal4)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ "${TORCH_BENCH_NO_INSTALL:-}" == 1 ]]; then
    log "missing packages: ${missing[*]} (TORCH_BENCH_NO_INSTALL=1)"; exit 1
  fi
  sudo=()
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
    else log "need root (or passwordless sudo) to install: ${missing[*]}"; exit 1; fi
  fi
  # Installing an OpenBLAS package registers it for libblas.so.3/liblapack.so.3 at a
  # higher priority, which would silently switch every BLAS user on the machine (numpy,
  # torch, tools/reference.py). Pin alternatives that are in auto mode to their current
  # target first, so the install changes nothing for other processes.
  for alt in "libblas.so.3-$ma" "liblapack.so.3-$ma"; do
    q="$(update-alternatives --query "$alt" 2>/dev/null || true)"
    status="$(sed -n 's/^Status: //p' <<<"$q")"; value="$(sed -n 's/^Value: //p' <<<"$q")"
    if [[ "$status" == auto && -n "$value" ]]; then
      log "pinning $alt -> $value (was auto) so the install does not switch the system BLAS"
      "${sudo[@]}" update-alternatives --quiet --set "$alt" "$value"
    fi
  done
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  if ! apt_install 2>/dev/null; then
    "${sudo[@]}" apt-get update -qq >/dev/null
    apt_install
  fi
fi
for f in "$openblas" "$tcmalloc"; do
  [[ -f "$f" ]] || { log "expected library not found: $f"; exit 1; }
done

# Kernel family for OpenBLAS, from the CPU flags: 0.3.21 predates e.g. AMD Zen 4/5 and
# may pick AVX2 (Haswell/Zen) kernels on AVX-512 machines, halving the GEMM rate. An
# OPENBLAS_CORETYPE inherited from the environment is NOT trusted (some hosts export
# OPENBLAS_CORETYPE=Haswell globally); set TORCH_BENCH_CORETYPE to force a choice.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { [[ "$flags" == *" $1 "* ]]; }
if [[ -n "${TORCH_BENCH_CORETYPE:-}" ]]; then
  coretype="$TORCH_BENCH_CORETYPE"
elif has avx512f && has avx512bw && has avx512dq && has avx512vl && has avx512cd; then
  coretype=SkylakeX
elif has avx2 && has fma; then
  coretype=Haswell
elif has avx; then
  coretype=Sandybridge
else
  coretype=Nehalem
fi
if [[ -n "${OPENBLAS_CORETYPE:-}" && "$OPENBLAS_CORETYPE" != "$coretype" ]]; then
  log "overriding inherited OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE with $coretype (set TORCH_BENCH_CORETYPE to force)"
fi
export OPENBLAS_CORETYPE="$coretype"

# Thread count: --threads N (default 2) drives torch, OpenMP and OpenBLAS alike.
threads=2
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --threads) threads="${args[i+1]:-2}" ;;
    --threads=*) threads="${args[i]#--threads=}" ;;
  esac
done
export OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads"
preload="$openblas"
[[ "$allocator" == tcmalloc ]] && preload+=":$tcmalloc"
export LD_PRELOAD="$preload${LD_PRELOAD:+:$LD_PRELOAD}"

log "cpu: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cpus available)"
log "preload: $LD_PRELOAD"
log "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE OMP_NUM_THREADS=$OMP_NUM_THREADS OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS"
script="${TORCH_BENCH_SCRIPT:-torch_train_bench.py}"
case "$script" in torch_train_bench.py|torch_decode_bench.py) ;; *) log "TORCH_BENCH_SCRIPT must be torch_train_bench.py or torch_decode_bench.py"; exit 2;; esac
exec "$py" "$here/$script" "$@"
