#!/usr/bin/python3
"""PyTorch training-speed baseline for growlm (CPU, float32).

Re-implements growlm's decoder (Llama architecture with muP multipliers) in
plain PyTorch and times full training steps -- forward, backward, global
grad-norm clipping, AdamW update -- on random token batches, so that growlm's
own ONNX trainer can be compared against the strongest PyTorch setup available
on the same machine.

Run it through tools/torch-bench.sh, which preloads OpenBLAS (Debian's torch is
otherwise bound to the reference BLAS, ~6 GFLOP/s) and tcmalloc, and pins the
BLAS/OpenMP thread counts. The output reports which BLAS and allocator were
actually mapped into the process, so a weak setup is visible.

Model (must match growlm / tools/reference.py):
    h = input_mult * E[tokens]
    per layer: a = rms(h); q,k,v = a W_q, a W_k, a W_v (no bias); RoPE (HF rotate-half)
               h += o_proj(softmax(mask(q k^T / sqrt(hd))) v)
               b = rms(h); h += down(silu(gate(b)) * up(b))
    logits = (output_mult / mup_scale_factor) * lm_head(rms_final(h))   (untied)
    loss = mean cross-entropy;  init N(0, 0.02^2), norm gains 1.
q/k/v and gate/up are stored as fused weights (concatenated rows). This is
mathematically identical (AdamW and decoupled decay are element-wise, clipping
uses the global norm) and is what a tuned PyTorch implementation would do;
--no-fuse uses separate Linear layers instead, --check compares the two.

Training FLOPs per token (reported, PaLM convention, causal mask not discounted):
    6 * (parameters excluding the input embedding) + 12 * L * S * (H * hd)
mfu = achieved FLOP/s / measured fp32 GEMM peak (best of 5 2048^3 torch.mm on the
same thread count, measured before and after training; the better series counts).

Usage:
    tools/torch-bench.sh --preset-json models/bench-small.json [--batch 8] [--seq 256]
        [--steps 10] [--warmup 2] [--threads 2] [--json]
    /usr/bin/python3 tools/torch_train_bench.py --gemm-only   # GEMM peak only
"""
import argparse
import ctypes
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


DEFAULT_CONFIG = dict(vocab_size=4096, hidden_size=384, intermediate_size=1024,
                      num_hidden_layers=6, num_attention_heads=6, head_dim=64,
                      max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
                      input_mult=1.0, output_mult=1.0, mup_scale_factor=1.0)


def load_config(path):
    c = dict(DEFAULT_CONFIG)
    if path:
        with open(path) as f:
            raw = json.load(f)
        for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                  "num_attention_heads"):
            if k not in raw:
                sys.exit(f"{path}: missing field {k}")
        for k, v in raw.items():
            if k in c and v is not None:
                c[k] = v
        if "head_dim" not in raw or raw["head_dim"] is None:
            c["head_dim"] = raw["hidden_size"] // raw["num_attention_heads"]
        kv = raw.get("num_key_value_heads", c["num_attention_heads"])
        if kv != c["num_attention_heads"]:
            sys.exit(f"{path}: num_key_value_heads != num_attention_heads is not supported")
        if raw.get("tie_word_embeddings"):
            sys.exit(f"{path}: tied embeddings are not supported (growlm uses an untied lm_head)")
    for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
              "num_attention_heads", "head_dim"):
        c[k] = int(c[k])
    for k in ("rms_norm_eps", "rope_theta", "input_mult", "output_mult", "mup_scale_factor"):
        c[k] = float(c[k])
    if c["head_dim"] % 2:
        sys.exit(f"head_dim must be even, got {c['head_dim']}")
    return c


# ----------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, c, fuse):
        super().__init__()
        d, f = c["hidden_size"], c["intermediate_size"]
        self.H, self.hd = c["num_attention_heads"], c["head_dim"]
        hh = self.H * self.hd
        self.fuse = fuse
        self.input_layernorm = RMSNorm(d, c["rms_norm_eps"])
        self.post_attention_layernorm = RMSNorm(d, c["rms_norm_eps"])
        if fuse:
            self.qkv_proj = nn.Linear(d, 3 * hh, bias=False)      # rows: q | k | v
            self.gate_up_proj = nn.Linear(d, 2 * f, bias=False)   # rows: gate | up
        else:
            self.q_proj = nn.Linear(d, hh, bias=False)
            self.k_proj = nn.Linear(d, hh, bias=False)
            self.v_proj = nn.Linear(d, hh, bias=False)
            self.gate_proj = nn.Linear(d, f, bias=False)
            self.up_proj = nn.Linear(d, f, bias=False)
        self.o_proj = nn.Linear(hh, d, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)
        self.scale = 1.0 / math.sqrt(self.hd)

    def forward(self, h, cos, sin, mask):
        B, S, _ = h.shape
        H, hd = self.H, self.hd
        a = self.input_layernorm(h)
        if self.fuse:
            # [B,S,3,H,hd] -> [3,B,H,S,hd]
            q, k, v = self.qkv_proj(a).view(B, S, 3, H, hd).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = (p(a).view(B, S, H, hd).transpose(1, 2)
                       for p in (self.q_proj, self.k_proj, self.v_proj))
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # explicit causal attention: scores = scale * q k^T + mask (0 / -inf), one batched GEMM
        qf = q.reshape(B * H, S, hd)
        kf = k.reshape(B * H, S, hd)
        vf = v.reshape(B * H, S, hd)
        scores = torch.baddbmm(mask, qf, kf.transpose(1, 2), beta=1.0, alpha=self.scale)
        att = torch.softmax(scores, dim=-1)
        o = torch.bmm(att, vf).view(B, H, S, hd).transpose(1, 2).reshape(B, S, H * hd)
        h = h + self.o_proj(o)
        b = self.post_attention_layernorm(h)
        if self.fuse:
            gate, up = self.gate_up_proj(b).chunk(2, dim=-1)
        else:
            gate, up = self.gate_proj(b), self.up_proj(b)
        return h + self.down_proj(F.silu(gate) * up)


class Decoder(nn.Module):
    def __init__(self, c, fuse=True):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList(Block(c, fuse) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.logit_scale = c["output_mult"] / c["mup_scale_factor"]
        self._tables = {}
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=0.02)
            else:
                nn.init.ones_(p)

    def tables(self, S, dtype):
        key = (S, dtype)
        if key not in self._tables:
            hd = self.c["head_dim"]
            inv_freq = 1.0 / self.c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
            freqs = torch.outer(torch.arange(S, dtype=torch.float64), inv_freq)
            emb = torch.cat((freqs, freqs), dim=-1)
            mask = torch.full((S, S), float("-inf"), dtype=dtype).triu(1)
            self._tables[key] = (emb.cos().to(dtype), emb.sin().to(dtype), mask)
        return self._tables[key]

    def forward(self, tokens):
        B, S = tokens.shape
        cos, sin, mask = self.tables(S, self.embed_tokens.weight.dtype)
        h = self.embed_tokens(tokens)
        if self.c["input_mult"] != 1.0:
            h = self.c["input_mult"] * h
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        logits = self.lm_head(self.norm(h))
        if self.logit_scale != 1.0:
            logits = self.logit_scale * logits
        return logits


def loss_fn(model, tokens):
    logits = model(tokens[:, :-1])
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))


def make_optimizer(model, args):
    decay = [p for p in model.parameters() if p.dim() >= 2]    # matrices incl. embedding, lm_head
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # norm gains
    groups = [dict(params=decay, weight_decay=0.1), dict(params=no_decay, weight_decay=0.0)]
    kw = dict(lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    if args.foreach:
        kw["foreach"] = True
    return torch.optim.AdamW(groups, **kw)


def count_params(model):
    total = sum(p.numel() for p in model.parameters())
    emb = model.embed_tokens.weight.numel()
    return total, total - emb


def train_flops_per_token(c, n_nonemb, S):
    return 6 * n_nonemb + 12 * c["num_hidden_layers"] * S * c["num_attention_heads"] * c["head_dim"]


# ----------------------------------------------------------------------------- setup report

def mapped_libraries():
    """Shared objects of interest actually mapped into this process."""
    keys = ("blas", "lapack", "malloc", "mkl", "gomp", "iomp", "dnnl", "mkldnn")
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    base = os.path.basename(path).lower()
                    if any(k in base for k in keys):
                        libs.add(path)
    except OSError:
        pass
    return sorted(libs)


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def _scopes():
    """Lookup scopes in the order the dynamic linker binds libtorch_cpu's undefined symbols:
    the global scope (executable + LD_PRELOAD objects) first, then libtorch_cpu's own
    dependency tree (it is dlopen()ed RTLD_LOCAL by Python, so its libblas.so.3 is not global)."""
    out = [ctypes.CDLL(None)]
    lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    if os.path.exists(lib):
        try:
            out.append(ctypes.CDLL(lib))  # already loaded: returns the existing handle
        except OSError:
            pass
    return out


def _lookup(name):
    for scope in _scopes():
        try:
            return getattr(scope, name)
        except AttributeError:
            continue
    return None


def symbol_owner(name):
    """Library that symbol `name` resolves to for libtorch (i.e. whose sgemm_ torch calls)."""
    fn = _lookup(name)
    if fn is None:
        return None
    try:
        addr = ctypes.cast(fn, ctypes.c_void_p).value
        info = _DlInfo()
        if ctypes.CDLL(None).dladdr(ctypes.c_void_p(addr), ctypes.byref(info)):
            return os.path.realpath(info.dli_fname.decode())
    except (AttributeError, OSError, ValueError):
        pass
    return None


def openblas_info():
    corename, config, nthreads = (_lookup(n) for n in (
        "openblas_get_corename", "openblas_get_config", "openblas_get_num_threads"))
    if corename is None or config is None or nthreads is None:
        return None
    corename.restype = ctypes.c_char_p
    config.restype = ctypes.c_char_p
    return dict(core=corename().decode(), config=config().decode().strip(), threads=nthreads())


def cpu_model():
    flags, name = set(), platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", platform.processor()):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [x for x in ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma") if x in flags]
    return name, isa


def setup_report(args):
    libs = mapped_libraries()
    sgemm = symbol_owner("sgemm_")
    ob = openblas_info()
    allocator = "glibc malloc"
    for lib in libs:
        b = os.path.basename(lib)
        if "tcmalloc" in b or "jemalloc" in b or "mimalloc" in b:
            allocator = lib
    if ob:
        blas = f"OpenBLAS (core {ob['core']}, {ob['threads']} threads): {ob['config']}"
    elif sgemm:
        blas = f"sgemm_ from {sgemm}" + (" (REFERENCE BLAS: slow!)" if "/blas/" in sgemm else "")
    else:
        blas = "unknown"
    name, isa = cpu_model()
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                      "OMP_WAIT_POLICY", "LD_PRELOAD") if k in os.environ}
    return dict(torch=torch.__version__, blas=blas, sgemm_from=sgemm, allocator=allocator,
                mapped_libs=libs, cpu=name, cpu_isa=isa, logical_cpus=os.cpu_count(),
                torch_threads=torch.get_num_threads(), env=env)


# ----------------------------------------------------------------------------- measurements

def cpu_pressure():
    """Linux PSI 'some' avg10 for CPU: % of time runnable tasks waited for a CPU."""
    try:
        with open("/proc/pressure/cpu") as f:
            for line in f:
                if line.startswith("some"):
                    return float(line.split("avg10=")[1].split()[0])
    except (OSError, IndexError, ValueError):
        pass
    return None


def idle_cpus(interval=1.0):
    """CPUs left idle by everything on the machine over `interval` s (from /proc/stat).
    PSI alone misses one busy single-threaded neighbour on a 2-CPU box (it only shows once
    we add our threads), yet such a neighbour makes 2-thread OpenMP steps 10x+ slower."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v[:8])  # idle + iowait, total (excl. guest)
    try:
        i0, t0 = snap()
        time.sleep(interval)
        i1, t1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return round((i1 - i0) / hz / interval, 2) if t1 > t0 else None


def gemm_peak(n=2048, reps=5):
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    c = torch.empty(n, n)
    torch.mm(a, b, out=c)  # warm-up (thread pools, page faults)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n ** 3 / best / 1e9, best


def check_equivalence(c, B, S):
    """Fused and unfused models, same weights, must give the same loss and gradients."""
    torch.manual_seed(0)
    ref = Decoder(c, fuse=False).double()
    fused = Decoder(c, fuse=True).double()
    sd = dict(ref.state_dict())
    for i in range(c["num_hidden_layers"]):
        p = f"layers.{i}."
        sd[p + "qkv_proj.weight"] = torch.cat([sd.pop(p + f"{n}_proj.weight") for n in "qkv"])
        sd[p + "gate_up_proj.weight"] = torch.cat([sd.pop(p + f"{n}_proj.weight") for n in ("gate", "up")])
    fused.load_state_dict(sd)
    tokens = torch.randint(c["vocab_size"], (B, S + 1))
    l1, l2 = loss_fn(ref, tokens), loss_fn(fused, tokens)
    l1.backward()
    l2.backward()
    g1 = ref.layers[0].k_proj.weight.grad
    g2 = fused.layers[0].qkv_proj.weight.grad[g1.shape[0]:2 * g1.shape[0]]
    r = dict(loss_unfused=l1.item(), loss_fused=l2.item(), loss_abs_diff=abs(l1.item() - l2.item()),
             k_grad_max_abs_diff=(g1 - g2).abs().max().item(),
             lm_head_grad_max_abs_diff=(ref.lm_head.weight.grad - fused.lm_head.weight.grad).abs().max().item())
    # cross-check against the golden-fixture reference (tools/reference.py), if present
    here = os.path.dirname(os.path.abspath(__file__))
    if os.path.isfile(os.path.join(here, "reference.py")):
        sys.path.insert(0, here)
        sys.dont_write_bytecode = True  # do not leave tools/__pycache__ behind
        try:
            import reference
            params = {}
            for k, v in ref.state_dict().items():
                for a in ("q_", "k_", "v_", "o_"):
                    k = k.replace(f".{a}proj.", f".self_attn.{a}proj.")
                for a in ("gate", "up", "down"):
                    k = k.replace(f".{a}_proj.", f".mlp.{a}_proj.")
                params[k if k == "lm_head.weight" else "model." + k] = v.detach()
            with torch.no_grad():
                lr = reference.forward(params, c, tokens[:, :-1])
                lm = fused(tokens[:, :-1])
            r["reference_py_logits_max_abs_diff"] = (lr - lm).abs().max().item()
        except Exception as e:  # reference.py is maintained elsewhere; report, do not fail
            r["reference_py_error"] = f"{type(e).__name__}: {e}"
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset-json", help="HF-style config.json (default: bench-small shape)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10, help="measured steps")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="print one JSON object only")
    ap.add_argument("--no-fuse", dest="fuse", action="store_false",
                    help="separate q/k/v and gate/up Linear layers (default: fused, same math)")
    ap.add_argument("--no-foreach", dest="foreach", action="store_false",
                    help="per-parameter AdamW loop instead of foreach kernels")
    ap.add_argument("--gemm-size", type=int, default=2048)
    ap.add_argument("--gemm-only", action="store_true", help="only measure the GEMM peak")
    ap.add_argument("--skip-gemm", action="store_true", help="do not measure the GEMM peak")
    ap.add_argument("--check", action="store_true",
                    help="verify fused == unfused (float64, small batch) and exit")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if min(args.batch, args.seq, args.steps, args.threads, args.gemm_size) < 1 or args.warmup < 0:
        ap.error("--batch, --seq, --steps, --threads, --gemm-size must be >= 1 and --warmup >= 0")

    torch.set_num_threads(args.threads)
    c = load_config(args.preset_json)
    if args.check:
        r = check_equivalence(c, 2, min(args.seq, 32))
        print(json.dumps(r, indent=2))
        ok = (r["loss_abs_diff"] < 1e-10 and r["k_grad_max_abs_diff"] < 1e-12
              and r.get("reference_py_logits_max_abs_diff", 0.0) < 1e-10)
        sys.exit(0 if ok else 1)
    setup = setup_report(args)
    out = dict(setup=setup)
    idle = idle_cpus()
    setup["idle_cpus_at_start"] = idle
    if idle is not None and idle < args.threads - 0.25:
        print(f"WARNING: only {idle} of {os.cpu_count()} CPUs idle before the run (other processes are busy); "
              f"with {args.threads} threads the timings will be inflated, possibly many-fold",
              file=sys.stderr, flush=True)

    gemm_runs = []

    def measure_gemm():
        if not args.skip_gemm:
            gemm_runs.append(gemm_peak(args.gemm_size))
            gflops, secs = max(gemm_runs)
            out.update(gemm_n=args.gemm_size, gemm_gflops=round(gflops, 1), gemm_ms=round(secs * 1e3, 2),
                       gemm_gflops_runs=[round(g, 1) for g, _ in gemm_runs])

    measure_gemm()
    if args.gemm_only:
        emit(out, args)
        return

    B, S = args.batch, args.seq
    mpe = c.get("max_position_embeddings")
    if mpe and S > int(mpe):
        print(f"warning: seq {S} > max_position_embeddings {mpe}", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = Decoder(c, fuse=args.fuse)
    model.train()
    opt = make_optimizer(model, args)
    n_total, n_nonemb = count_params(model)
    fpt = train_flops_per_token(c, n_nonemb, S)
    gen = torch.Generator().manual_seed(args.seed + 1)

    times, losses = [], []
    psi_before = cpu_pressure()
    ru0 = None
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
        tokens = torch.randint(c["vocab_size"], (B, S + 1), generator=gen)
        t0 = time.perf_counter()
        loss = loss_fn(model, tokens)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        lv = loss.item()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
        losses.append(lv)
        if not args.json:
            tag = "warmup" if step < args.warmup else "step"
            print(f"  {tag:6s} {step:3d}  loss {lv:.4f}  grad_norm {gnorm.item():.3f}  {dt * 1e3:8.1f} ms",
                  file=sys.stderr, flush=True)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    # second best-of-5 GEMM series after training; the peak is the better of the two, so a
    # burst of load from other processes during one series does not deflate it
    measure_gemm()
    if not all(math.isfinite(x) for x in losses):
        sys.exit("non-finite loss")
    # Contention indicators: a quiet machine shows PSI ~0, few involuntary context switches
    # and cpu_s/wall_s ~= threads. On a shared box other jobs inflate step times (and
    # OpenMP spin-waiting then burns CPU), so check these before trusting the numbers.
    wall = sum(times)
    contention = dict(cpu_psi_some_avg10_before=psi_before, cpu_psi_some_avg10_after=cpu_pressure(),
                      involuntary_ctx_switches=ru1.ru_nivcsw - ru0.ru_nivcsw,
                      cpu_s_per_wall_s=round((ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / wall, 2))

    med = statistics.median(times)
    tps = B * S / med
    achieved = fpt * tps
    out.update(
        preset=args.preset_json, batch=B, seq=S, steps=args.steps, warmup=args.warmup,
        threads=args.threads, fused_qkv_gateup=args.fuse, adamw_foreach=args.foreach,
        params_total=n_total, params_nonembedding=n_nonemb,
        train_flops_per_token=fpt,
        ms_per_step=round(med * 1e3, 1), ms_per_step_min=round(min(times) * 1e3, 1),
        ms_per_step_max=round(max(times) * 1e3, 1),
        tokens_per_s=round(tps, 1), achieved_gflops=round(achieved / 1e9, 1),
        first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4),
        peak_rss_mb=round(ru1.ru_maxrss / 1024, 1), contention=contention,
    )
    if "gemm_gflops" in out:
        out["mfu"] = round(achieved / (out["gemm_gflops"] * 1e9), 4)
    emit(out, args)


def emit(out, args):
    if args.json:
        s = out["setup"]
        print(f"loaded: BLAS {s['blas']}; allocator {s['allocator']}", file=sys.stderr)
        print(json.dumps(out, indent=2))
        return
    s = out["setup"]
    print(f"torch {s['torch']}  threads {s['torch_threads']}  cpu: {s['cpu']} "
          f"({s['logical_cpus']} logical, {' '.join(s['cpu_isa'])})")
    print(f"BLAS:      {s['blas']}")
    print(f"sgemm_ ->  {s['sgemm_from']}")
    print(f"idle CPUs at start: {s.get('idle_cpus_at_start')}")
    print(f"allocator: {s['allocator']}")
    if "gemm_gflops" in out:
        print(f"GEMM peak: {out['gemm_gflops']} GFLOP/s (fp32 {out['gemm_n']}^3 torch.mm, best of 5, "
              f"{out['gemm_ms']} ms; series: {out['gemm_gflops_runs']})")
    if "tokens_per_s" not in out:
        return
    print(f"model:     {out['params_total']:,} params ({out['params_nonembedding']:,} non-embedding), "
          f"{out['train_flops_per_token'] / 1e6:.1f} MFLOP/token train")
    print(f"batch {out['batch']} x seq {out['seq']}, {out['steps']} steps after {out['warmup']} warm-up")
    print(f"ms_per_step: {out['ms_per_step']} (median; min {out['ms_per_step_min']}, max {out['ms_per_step_max']})")
    print(f"tokens_per_s: {out['tokens_per_s']}")
    mfu = f"  mfu: {out['mfu'] * 100:.1f}% of GEMM peak" if "mfu" in out else ""
    print(f"achieved: {out['achieved_gflops']} GFLOP/s{mfu}")
    print(f"peak_rss_mb: {out['peak_rss_mb']}")
    print(f"loss: {out['first_loss']} -> {out['last_loss']}")
    k = out["contention"]
    print(f"contention: cpu PSI some avg10 {k['cpu_psi_some_avg10_before']} -> {k['cpu_psi_some_avg10_after']}, "
          f"{k['involuntary_ctx_switches']} involuntary ctx switches, {k['cpu_s_per_wall_s']} cpu-s per wall-s")


if __name__ == "__main__":
    main()
