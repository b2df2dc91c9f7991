#!/usr/bin/python3
"""PyTorch eager decode baseline for `growlm bench generate` (CPU, float32, batch 1).

Loads a model directory (config.json + model.safetensors, or a sharded index) of a plain Llama
(growlm's bench folds μP and MSG masks first; the μP multipliers are applied here anyway), and
times a greedy generation with a KV cache: a prefill of the given prompt, then one token per step.
The cache is pre-allocated ([1, kv_heads, max_position_embeddings, head_dim] per layer, written in
place, as Hugging Face's static cache does) so no step copies it; q/k/v and gate/up are fused
projections; everything runs under torch.inference_mode(). Same model as tools/reference.py:

    h = input_mult * E[tokens]
    per layer: a = rms(h); q,k,v = a W_q, a W_k, a W_v; RoPE (rotate-half, theta)
               h += o_proj(softmax(causal(q k^T / sqrt(hd))) v)
               b = rms(h); h += down(silu(gate(b)) * up(b))
    logits = (output_mult / mup_scale_factor) * lm_head(rms_final(h))

Run it through tools/torch-bench.sh (OpenBLAS + tcmalloc preloaded, threads pinned):
    TORCH_BENCH_SCRIPT=torch_decode_bench.py tools/torch-bench.sh --model DIR \\
        --prompt-ids 1,2,3 --new-tokens 64 --rounds 1 --threads 2 --json
Prints one JSON object: prefill_ms, decode_tokens_per_s (medians over rounds after the warm-up: one
untimed generation, repeated until --warmup-s has passed),
the generated token ids, and what BLAS/allocator the process mapped.
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] not in DTYPES:
            sys.exit(f"torch_decode_bench: {path}: tensor {name} has dtype {t['dtype']}, expected F32 or F16")
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).astype(np.float32)
        out[name] = torch.from_numpy(arr.copy())
    return out


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
        w = {}
        for f in files:
            w.update(read_safetensors(os.path.join(model_dir, f)))
        return w
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


class Llama:
    def __init__(self, c, w):
        self.L = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads", self.H)
        self.hd = c.get("head_dim", c["hidden_size"] // self.H)
        self.eps = c.get("rms_norm_eps", 1e-5)
        self.max_len = c["max_position_embeddings"]
        self.in_mult = c.get("input_mult", 1.0)
        self.out_scale = c.get("output_mult", 1.0) / c.get("mup_scale_factor", 1.0)
        self.embed = w["model.embed_tokens.weight"]
        self.head = w.get("lm_head.weight", self.embed) * self.out_scale
        self.norm = w["model.norm.weight"]
        self.layers = []
        for i in range(self.L):
            p = f"model.layers.{i}."
            self.layers.append(dict(
                qkv=torch.cat([w[p + f"self_attn.{n}_proj.weight"] for n in "qkv"]).contiguous(),
                o=w[p + "self_attn.o_proj.weight"],
                gate_up=torch.cat([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"]]).contiguous(),
                down=w[p + "mlp.down_proj.weight"],
                ln1=w[p + "input_layernorm.weight"], ln2=w[p + "post_attention_layernorm.weight"],
            ))
        inv = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        ang = torch.arange(self.max_len, dtype=torch.float64)[:, None] * inv[None, :]
        ang = torch.cat([ang, ang], dim=-1)
        self.cos, self.sin = ang.cos().float(), ang.sin().float()
        self.k_cache = [torch.zeros(1, self.KV, self.max_len, self.hd) for _ in range(self.L)]
        self.v_cache = [torch.zeros(1, self.KV, self.max_len, self.hd) for _ in range(self.L)]

    def rms(self, x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * g

    def rope(self, x, cos, sin):
        h = self.hd // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    def forward(self, ids, start):
        """ids [S] at positions start..start+S-1 (the cache holds [0, start)); returns the last position's logits."""
        S = ids.shape[0]
        T = start + S
        h = self.embed[ids] * self.in_mult  # [S, d]
        cos, sin = self.cos[start:T], self.sin[start:T]
        mask = None
        if S > 1:
            mask = torch.full((S, T), float("-inf")).triu(start + 1)
        width = self.H * self.hd
        kvw = self.KV * self.hd
        for i, l in enumerate(self.layers):
            a = self.rms(h, l["ln1"])
            qkv = torch.nn.functional.linear(a, l["qkv"])
            q = qkv[:, :width].view(S, self.H, self.hd).transpose(0, 1)
            k = qkv[:, width:width + kvw].view(S, self.KV, self.hd).transpose(0, 1)
            v = qkv[:, width + kvw:].view(S, self.KV, self.hd).transpose(0, 1)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            self.k_cache[i][0, :, start:T] = k
            self.v_cache[i][0, :, start:T] = v
            keys, values = self.k_cache[i][0, :, :T], self.v_cache[i][0, :, :T]
            if self.KV != self.H:
                keys = keys.repeat_interleave(self.H // self.KV, dim=0)
                values = values.repeat_interleave(self.H // self.KV, dim=0)
            scores = torch.matmul(q, keys.transpose(1, 2)) * (self.hd ** -0.5)
            if mask is not None:
                scores = scores + mask
            out = torch.matmul(torch.softmax(scores, dim=-1), values)  # [H, S, hd]
            h = h + torch.nn.functional.linear(out.transpose(0, 1).reshape(S, width), l["o"])
            b = self.rms(h, l["ln2"])
            gu = torch.nn.functional.linear(b, l["gate_up"])
            f = gu.shape[1] // 2
            h = h + torch.nn.functional.linear(torch.nn.functional.silu(gu[:, :f]) * gu[:, f:], l["down"])
        return torch.nn.functional.linear(self.rms(h[-1:], self.norm), self.head)[0]


def mapped_libraries():
    libs = set()
    try:
        for line in open("/proc/self/maps"):
            name = line.split()[-1]
            if "blas" in name or "tcmalloc" in name:
                libs.add(os.path.basename(name))
    except OSError:
        pass
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-ids", required=True)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup-s", type=float, default=0.0,
                    help="untimed generations repeat for at least this long before the measured ones (at least one)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    c = json.load(open(os.path.join(a.model, "config.json")))
    m = Llama(c, load_weights(a.model))
    prompt = torch.tensor([int(x) for x in a.prompt_ids.split(",")], dtype=torch.long)
    if prompt.shape[0] + a.new_tokens > m.max_len:
        sys.exit("torch_decode_bench: the prompt and the new tokens do not fit the context")
    prefill, decode = [], []
    tokens = []
    with torch.inference_mode():
        warm_until = time.perf_counter() + a.warmup_s
        r = 0
        while r <= a.rounds:
            t0 = time.perf_counter()
            logits = m.forward(prompt, 0)
            t1 = time.perf_counter()
            tokens = []
            pos = prompt.shape[0]
            for _ in range(a.new_tokens):
                nxt = int(torch.argmax(logits))
                tokens.append(nxt)
                logits = m.forward(torch.tensor([nxt]), pos)
                pos += 1
            t2 = time.perf_counter()
            if r == 0:  # warming up: one generation at least, then until --warmup-s has passed
                if t2 >= warm_until:
                    r = 1
                continue
            r += 1
            prefill.append((t1 - t0) * 1000)
            decode.append(a.new_tokens / (t2 - t1))
    res = dict(engine="pytorch", torch_version=torch.__version__, threads=a.threads,
               prefill_ms=statistics.median(prefill), decode_tokens_per_s=statistics.median(decode),
               tokens=tokens, libraries=mapped_libraries())
    print(json.dumps(res) if a.json else res)


if __name__ == "__main__":
    main()
