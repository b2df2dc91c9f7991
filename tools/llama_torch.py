#!/usr/bin/python3
"""A plain Hugging Face Llama in PyTorch, written from the Llama definition, sharing no code with growlm.

Reads a Hugging Face `LlamaForCausalLM` folder (what `growlm export --format hf` writes, or any
Llama checkpoint in that layout): config.json, model.safetensors or a sharded
model.safetensors.index.json, tensors in F32, F16, BF16 or F64 (parsed by hand: no third-party
package). Computes what transformers' LlamaForCausalLM computes:

    h = E[tokens]
    per layer: h += o_proj(attn(rope(q_proj a), rope(k_proj a), v_proj a)),  a = rms(h) * g1
               h += down_proj(silu(gate_proj b) * up_proj b),               b = rms(h) * g2
    logits = lm_head(rms(h) * g)     (lm_head = embed_tokens when tie_word_embeddings)

rms(x) = x / sqrt(mean(x^2) + eps); causal softmax attention with scale 1/sqrt(head_dim);
rotate-half RoPE with rope_theta (and rope_scaling of type llama3); grouped-query attention
(query head h reads key/value head h // (heads / kv_heads)). Used by tools/reference.py (--hf) and
tools/continue_ddp.py.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F


class LlamaError(Exception):
    pass


def read_safetensors(path):
    """{name: np.ndarray (float32, or float64 for F64)} from one safetensors file."""
    if not os.path.isfile(path):
        raise LlamaError(f"missing file: {path}")
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise LlamaError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise LlamaError(f"{path}: header length {n} exceeds the file")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise LlamaError(f"{path}: bad header ({e})")
    data = buf[8 + n:]
    width = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt, shape, (b, e) = info["dtype"], list(info["shape"]), info["data_offsets"]
        if dt not in width:
            raise LlamaError(f"{path}: tensor {name}: unsupported dtype {dt}")
        if not (0 <= b <= e <= len(data)) or e - b != width[dt] * math.prod(shape):
            raise LlamaError(f"{path}: tensor {name}: bad data_offsets {[b, e]} for shape {shape}")
        raw = data[b:e]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F64":
            a = np.frombuffer(raw, dtype="<f8")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:  # bfloat16: the high half of a float32
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        out[name] = a.reshape(shape)
    return out


def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise LlamaError(f"missing file: {path}")
    with open(path) as f:
        raw = json.load(f)
    if raw.get("model_type", "llama") != "llama":
        raise LlamaError(f"{path}: model_type {raw.get('model_type')!r} is not llama")
    for k in ("input_mult", "output_mult", "mup_scale_factor"):
        if float(raw.get(k, 1.0)) != 1.0:
            raise LlamaError(f"{path}: {k} = {raw[k]}: not a plain Llama (export it with growlm export --format hf)")
    if (raw.get("growlm") or {}).get("masks"):
        raise LlamaError(f"{path}: MSG masks are ramping: not a plain Llama")
    c = dict(vocab_size=int(raw["vocab_size"]), hidden_size=int(raw["hidden_size"]),
             intermediate_size=int(raw["intermediate_size"]), num_hidden_layers=int(raw["num_hidden_layers"]),
             num_attention_heads=int(raw["num_attention_heads"]))
    c["num_key_value_heads"] = int(raw.get("num_key_value_heads") or c["num_attention_heads"])
    c["head_dim"] = int(raw.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])
    c["rms_norm_eps"] = float(raw.get("rms_norm_eps", 1e-6))
    c["rope_theta"] = float(raw.get("rope_theta", 10000.0))
    c["rope_scaling"] = raw.get("rope_scaling")
    c["tie_word_embeddings"] = bool(raw.get("tie_word_embeddings", False))
    if c["num_attention_heads"] % c["num_key_value_heads"]:
        raise LlamaError(f"{path}: num_key_value_heads does not divide num_attention_heads")
    return c


def param_names(c):
    names = ["model.embed_tokens.weight"]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        names += [p + n + ".weight" for n in ("input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                               "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")]
    names.append("model.norm.weight")
    if not c["tie_word_embeddings"]:
        names.append("lm_head.weight")
    return names


def load_tensors(model_dir, c):
    """{name: np.ndarray} of the parameters, from model.safetensors or a sharded index."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for fn in files:
            tensors.update(read_safetensors(os.path.join(model_dir, fn)))
    else:
        tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    out = {}
    for n in param_names(c):
        if n not in tensors:
            raise LlamaError(f"{model_dir}: missing tensor {n}")
        out[n] = tensors[n]
    return out


def inv_freq(c):
    """RoPE inverse frequencies (float64), with llama3 rope_scaling when the config has it."""
    hd = c["head_dim"]
    f = 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    s = c.get("rope_scaling")
    if s and (s.get("rope_type") or s.get("type")) not in (None, "default"):
        if (s.get("rope_type") or s.get("type")) != "llama3":
            raise LlamaError(f"rope_scaling {s} is not supported")
        factor, lo, hi, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        smooth = (old / wavelen - lo) / (hi - lo)
        scaled = torch.where(wavelen > old / lo, f / factor, f)
        mid = (wavelen <= old / lo) & (wavelen >= old / hi)
        f = torch.where(mid, (1 - smooth) * f / factor + smooth * f, scaled)
    return f


def rms_norm(x, g, eps):
    return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(params, c, tokens):
    """tokens [B, S] int64 → logits [B, S, V]; params: {name: tensor} (any float dtype, all alike)."""
    B, S = tokens.shape
    H, KV, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["rms_norm_eps"]
    dtype = params["model.embed_tokens.weight"].dtype
    freqs = torch.outer(torch.arange(S, dtype=torch.float64), inv_freq(c))
    emb = torch.cat([freqs, freqs], dim=-1)
    cos, sin = emb.cos().to(dtype), emb.sin().to(dtype)
    causal = torch.ones(S, S, dtype=torch.bool).triu(1)
    h = params["model.embed_tokens.weight"][tokens]
    for i in range(c["num_hidden_layers"]):
        p = lambda n: params[f"model.layers.{i}.{n}.weight"]
        a = rms_norm(h, p("input_layernorm"), eps)
        q = F.linear(a, p("self_attn.q_proj")).view(B, S, H, hd).transpose(1, 2)
        k = F.linear(a, p("self_attn.k_proj")).view(B, S, KV, hd).transpose(1, 2)
        v = F.linear(a, p("self_attn.v_proj")).view(B, S, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, H * hd)
        h = h + F.linear(o, p("self_attn.o_proj"))
        b = rms_norm(h, p("post_attention_layernorm"), eps)
        h = h + F.linear(F.silu(F.linear(b, p("mlp.gate_proj"))) * F.linear(b, p("mlp.up_proj")), p("mlp.down_proj"))
    y = rms_norm(h, params["model.norm.weight"], eps)
    head = params["model.embed_tokens.weight"] if c["tie_word_embeddings"] else params["lm_head.weight"]
    return F.linear(y, head)


class Llama(torch.nn.Module):
    """The model as an nn.Module (for DDP): one Parameter per HF tensor, in param_names order."""

    def __init__(self, c, tensors, dtype=torch.float32):
        super().__init__()
        self.c = c
        self.names = param_names(c)
        self.weights = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(np.array(tensors[n]), dtype=dtype)) for n in self.names])

    def named(self):
        return dict(zip(self.names, self.weights))

    def forward(self, tokens):
        return forward(self.named(), self.c, tokens)
