#!/usr/bin/python3
"""Continue growlm's training in PyTorch DDP: the hand-off of a grown model to a distributed trainer.

Input: a folder written by `growlm export --format hf --with-optimizer` (config.json,
model.safetensors, optimizer.safetensors, optimizer.json) and the growlm dataset the model was
trained on (meta.json + train-NNNNN.tok shards). The script

  - builds the plain Llama of tools/llama_torch.py in every process and wraps it in
    torch.nn.parallel.DistributedDataParallel over the gloo backend (--procs processes on this CPU);
  - loads the AdamW moments into torch.optim.AdamW through its state_dict: one param group per
    optimizer.json group (its lr multiplier, weight decay and eps, all folded as growlm exported them),
    state step = growlm's optimizer step;
  - continues the learning-rate schedule at the recorded position (growlm's cosine / wsd / constant
    formulas) and clips on growlm's global gradient norm (each group's gradient × its grad_scale);
  - draws the batches growlm would draw next: growlm's sampler (xoshiro128** seeded by the recorded
    state, windows of seq+1 tokens at uniform offsets of the concatenated shards), each process
    taking its contiguous share of the rows of every batch; DDP averages the gradients, so a step
    sees the whole batch's mean loss, as growlm's step does.

It prints (and with --out writes) one JSON line per step: step, loss (the batch's mean loss before
the update, as growlm's metrics.jsonl), lr, grad_norm.

Usage:
    /usr/bin/python3 tools/continue_ddp.py --model HF_DIR --data DATA_DIR [--steps N] [--procs 2]
        [--threads 1] [--out metrics.jsonl]
"""
import argparse
import json
import math
import os
import socket
import struct
import sys

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_torch  # noqa: E402


class HandoffError(Exception):
    pass


MASK32 = 0xFFFFFFFF


def rotl(x, k):
    return ((x << k) | (x >> (32 - k))) & MASK32


class Rng:
    """growlm's xoshiro128** (src/util/rng.ts), from its recorded state."""

    def __init__(self, state):
        self.s = [int(x) & MASK32 for x in state]

    def next_u32(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK32, 7) * 9) & MASK32
        t = (s[1] << 9) & MASK32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 11)
        return result

    def uniform(self):
        a = self.next_u32() >> 5
        b = self.next_u32() >> 6
        return (a * 67108864 + b) / 9007199254740992

    def int(self, n):
        return math.floor(self.uniform() * n)


def lr_at(s, step):
    """growlm's learning-rate schedule (src/train/schedule.ts)."""
    if s["warmup"] > 0 and step <= s["warmup"]:
        return s["peak_lr"] * step / s["warmup"]
    floor = s["peak_lr"] * s["min_ratio"]
    if s["kind"] == "constant":
        return s["peak_lr"]
    if s["kind"] == "cosine":
        span = max(1, s["total"] - s["warmup"])
        t = min(1, (step - s["warmup"]) / span)
        return floor + 0.5 * (s["peak_lr"] - floor) * (1 + math.cos(math.pi * t))
    if s["kind"] == "wsd":
        decay = max(1, round(s["total"] * s["decay_fraction"]))
        start = s["total"] - decay
        if step <= start:
            return s["peak_lr"]
        return s["peak_lr"] - (s["peak_lr"] - floor) * min(1, (step - start) / decay)
    raise HandoffError(f"unknown schedule kind {s['kind']!r}")


def read_token_file(path, vocab):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 16 or buf[:8] != b"GLMTOK01":
        raise HandoffError(f"{path}: not a growlm token file")
    width, v = struct.unpack("<II", buf[8:16])
    if width not in (2, 4) or (len(buf) - 16) % width:
        raise HandoffError(f"{path}: bad token width {width} or truncated")
    if v != vocab:
        raise HandoffError(f"{path}: vocabulary size {v}, meta.json says {vocab}")
    return np.frombuffer(buf[16:], dtype="<u2" if width == 2 else "<u4")


def load_train_tokens(data_dir, want_tokenizer):
    """The training shards as one stream (growlm's ShardedTokenStream), checked against meta.json."""
    path = os.path.join(data_dir, "meta.json")
    if not os.path.isfile(path):
        raise HandoffError(f"{data_dir} is not a growlm dataset (no meta.json)")
    with open(path) as f:
        meta = json.load(f)
    if meta.get("format") != "growlm-dataset" or meta.get("version") != 1:
        raise HandoffError(f"{path}: not a growlm dataset of version 1")
    tok = meta["tokenizer"]
    if want_tokenizer and any(want_tokenizer.get(k) != tok.get(k) for k in ("kind", "vocab_size", "sha256")):
        raise HandoffError(f"{path}: the dataset's tokenizer ({tok.get('kind')}, vocab {tok.get('vocab_size')}) is not the model's ({want_tokenizer.get('kind')}, vocab {want_tokenizer.get('vocab_size')})")
    parts = []
    for s in meta["train"]["shards"]:
        t = read_token_file(os.path.join(data_dir, s["file"]), tok["vocab_size"])
        if t.size != s["tokens"]:
            raise HandoffError(f"{s['file']}: {t.size} tokens, meta.json says {s['tokens']}")
        parts.append(t)
    return np.concatenate(parts).astype(np.int64)


class Sampler:
    """growlm's BatchSampler (src/data/dataset.ts) continued from its recorded state."""

    def __init__(self, tokens, state):
        self.tokens, self.rng = tokens, Rng(state["rng"])
        self.batch, self.seq = state["batch"], state["seq"]

    def next(self):
        starts = self.tokens.size - self.seq
        rows = []
        for _ in range(self.batch):
            s = self.rng.int(starts)
            rows.append(self.tokens[s:s + self.seq + 1])
        w = torch.from_numpy(np.stack(rows))
        return w[:, :-1].contiguous(), w[:, 1:].contiguous()


def load_handoff(model_dir):
    path = os.path.join(model_dir, "optimizer.json")
    if not os.path.isfile(path):
        raise HandoffError(f"{model_dir} has no optimizer.json (export with --with-optimizer)")
    with open(path) as f:
        h = json.load(f)
    if h.get("format") != "growlm-adamw-handoff" or h.get("version") != 1:
        raise HandoffError(f"{path}: not a growlm optimizer hand-off of version 1")
    moments = llama_torch.read_safetensors(os.path.join(model_dir, "optimizer.safetensors"))
    return h, moments


def build_optimizer(model, h, moments):
    """torch.optim.AdamW with growlm's groups, its moments loaded through load_state_dict."""
    named = model.named()
    groups = [{"params": [named[n] for n in g["params"]], "weight_decay": g["weight_decay"], "eps": g["eps"],
               "lr_mult": g["lr_mult"], "grad_scale": g["grad_scale"], "names": g["params"]} for g in h["param_groups"]]
    if sorted(n for g in groups for n in g["names"]) != sorted(named):
        raise HandoffError("optimizer.json's groups do not cover the model's parameters")
    opt = torch.optim.AdamW(groups, lr=0.0, betas=tuple(h["betas"]))
    sd = opt.state_dict()
    state, i = {}, 0
    for g in h["param_groups"]:
        for n in g["params"]:
            m, v = moments.get(f"exp_avg.{n}"), moments.get(f"exp_avg_sq.{n}")
            if m is None or v is None:
                raise HandoffError(f"optimizer.safetensors has no moments for {n}")
            state[i] = {"step": torch.tensor(float(h["step"])), "exp_avg": torch.tensor(np.array(m)), "exp_avg_sq": torch.tensor(np.array(v))}
            i += 1
    sd["state"] = state
    opt.load_state_dict(sd)
    return opt


def growlm_grad_norm(opt):
    """growlm's global gradient norm: the plain model's gradients × each group's grad_scale."""
    sq = 0.0
    for g in opt.param_groups:
        for p in g["params"]:
            sq += (g["grad_scale"] ** 2) * float(p.grad.double().pow(2).sum())
    return math.sqrt(sq)


def run(rank, args, port):
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=args.procs)
    try:
        c = llama_torch.load_config(args.model)
        h, moments = load_handoff(args.model)
        tokens = load_train_tokens(args.data, h["data"]["tokenizer"])
        sampler = Sampler(tokens, h["data"]["sampler"])
        if sampler.batch % args.procs:
            raise HandoffError(f"the batch of {sampler.batch} rows does not split over {args.procs} processes")
        rows = slice(rank * sampler.batch // args.procs, (rank + 1) * sampler.batch // args.procs)
        model = llama_torch.Llama(c, llama_torch.load_tensors(args.model, c))
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        opt = build_optimizer(model, h, moments)
        sched, acc, clip = h["lr"]["schedule"], h["data"]["accumulate"], h["clip_norm"]
        first = h["lr"]["next_step"]
        last = min(sched["total"], first + args.steps - 1) if args.steps else sched["total"]
        out = open(args.out, "w") if args.out and rank == 0 else None
        for step in range(first, last + 1):
            lr = lr_at(sched, step)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_mult"]
            total = torch.zeros(1, dtype=torch.float64)
            for k in range(acc):
                inputs, targets = sampler.next()
                x, y = inputs[rows], targets[rows]
                ctx = ddp.no_sync() if k < acc - 1 else torch.enable_grad()
                with ctx:
                    logits = ddp(x)
                    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)) / acc
                    loss.backward()
                total += loss.detach().double()
            dist.all_reduce(total)
            norm = growlm_grad_norm(opt)
            if clip > 0:
                factor = min(1.0, clip / (norm + 1e-6))
                for g in opt.param_groups:
                    for p in g["params"]:
                        p.grad.mul_(factor)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if rank == 0:
                line = json.dumps({"step": step, "loss": float(total) / args.procs, "lr": lr, "grad_norm": norm})
                print(line, flush=True)
                if out:
                    out.write(line + "\n")
        if out:
            out.close()
    finally:
        dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise HandoffError(f"usage: {message}")


def main(argv):
    ap = _Parser(description="Continue a growlm model's training in PyTorch DDP (gloo, CPU).")
    ap.add_argument("--model", required=True, help="folder of growlm export --format hf --with-optimizer")
    ap.add_argument("--data", required=True, help="the growlm dataset the model was trained on")
    ap.add_argument("--steps", type=int, default=0, help="steps to run (default: to the end of the schedule)")
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process")
    ap.add_argument("--out", help="write the per-step JSON lines here too")
    args = ap.parse_args(argv)
    if args.procs < 1 or args.threads < 1 or args.steps < 0:
        raise HandoffError("--procs and --threads must be ≥ 1, --steps ≥ 0")
    # check the inputs once here, so that a bad one fails with one line before any process starts
    c = llama_torch.load_config(args.model)
    h, _ = load_handoff(args.model)
    load_train_tokens(args.data, h["data"]["tokenizer"])
    if h["data"]["sampler"]["batch"] % args.procs:
        raise HandoffError(f"the batch of {h['data']['sampler']['batch']} rows does not split over {args.procs} processes")
    del c
    mp.spawn(run, args=(args, free_port()), nprocs=args.procs, join=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (HandoffError, llama_torch.LlamaError) as e:
        print(f"continue_ddp.py: error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # one line, no traceback (a worker's error: the last line of its traceback)
        lines = [l for l in str(e).splitlines() if l.strip()]
        print(f"continue_ddp.py: error: {lines[-1].strip() if lines else type(e).__name__}", file=sys.stderr)
        sys.exit(1)
