#!/usr/bin/python3
"""Independent PyTorch reference for growlm's golden fixtures.

growlm builds GPT-style (Llama-architecture, muP-scaled) decoder models as ONNX
graphs in TypeScript. This script re-implements the same model, loss, gradients
and AdamW update directly in PyTorch, sharing no code with growlm, so that its
output can serve as the numeric ground truth the ONNX graphs are tested against.

Model directory: config.json (Hugging Face Llama field names plus muP fields
input_mult, output_mult, mup_scale_factor) and model.safetensors (float32,
Linear weights stored [out, in]). Tensors named growlm.* (growth masks) are
ignored. safetensors is parsed by hand (no third-party package).

Forward:
    h = input_mult * E[tokens]
    per layer: h += o_proj(causal_attn(rope(q_proj a), rope(k_proj a), v_proj a)), a = rms1(h)
               h += down_proj(silu(gate_proj b) * up_proj b),                      b = rms2(h)
    logits = (output_mult / mup_scale_factor) * lm_head(rms_final(h))
Grouped-query attention (num_key_value_heads < num_attention_heads): k and v heads are repeated
as Hugging Face's repeat_kv does (query head h reads kv head h // (H / kv)). tie_word_embeddings:
lm_head is model.embed_tokens.weight (no lm_head.weight tensor). rope_scaling of type llama3:
inverse frequencies as transformers' _compute_llama3_parameters computes them.
Loss: mean cross-entropy over targets != ignore_index.

Usage:
    /usr/bin/python3 tools/reference.py --model DIR --tokens FILE --out OUT.json
        [--batch B] [--seq S] [--targets T.json] [--ignore-index -100]
        [--grads] [--adamw-steps N --lr X --weight-decay 0.1 --betas 0.9,0.95 --eps 1e-8]
        [--logits-subset K] [--float64]
Token file: 8-byte magic "GLMTOK01", u32 bytes_per_token (2|4), u32 vocab_size,
then little-endian unsigned ids. The first B*(S+1) ids form a [B, S+1] batch;
inputs = [:, :-1], targets = [:, 1:].
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


class RefError(Exception):
    pass


def load_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise RefError(f"missing file: {path}")
    with open(path) as f:
        raw = json.load(f)
    try:
        c = dict(vocab_size=int(raw["vocab_size"]), hidden_size=int(raw["hidden_size"]),
                 intermediate_size=int(raw["intermediate_size"]),
                 num_hidden_layers=int(raw["num_hidden_layers"]),
                 num_attention_heads=int(raw["num_attention_heads"]))
    except KeyError as e:
        raise RefError(f"{path}: missing field {e.args[0]}")
    c["num_key_value_heads"] = int(raw.get("num_key_value_heads", c["num_attention_heads"]))
    c["head_dim"] = int(raw.get("head_dim", c["hidden_size"] // c["num_attention_heads"]))
    c["rms_norm_eps"] = float(raw.get("rms_norm_eps", 1e-5))
    c["rope_theta"] = float(raw.get("rope_theta", 10000.0))
    c["max_position_embeddings"] = raw.get("max_position_embeddings")
    for k in ("input_mult", "output_mult", "mup_scale_factor"):
        c[k] = float(raw.get(k, 1.0))
    if c["num_attention_heads"] % c["num_key_value_heads"]:
        raise RefError("num_key_value_heads must divide num_attention_heads")
    c["tie_word_embeddings"] = bool(raw.get("tie_word_embeddings", False))
    rs = raw.get("rope_scaling")
    c["rope_scaling"] = None
    if rs is not None:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "llama3":
            c["rope_scaling"] = {k: float(rs[k]) for k in ("factor", "low_freq_factor", "high_freq_factor",
                                                           "original_max_position_embeddings")}
        elif kind != "default":
            raise RefError(f"rope_scaling type {kind!r} is not supported")
    if c["head_dim"] % 2:
        raise RefError(f"head_dim must be even, got {c['head_dim']}")
    return c


def read_safetensors(path):
    """Return {name: np.ndarray} from a safetensors file (F32/F64 only)."""
    if not os.path.isfile(path):
        raise RefError(f"missing file: {path}")
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise RefError(f"{path}: bad safetensors header (file too short)")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise RefError(f"{path}: bad safetensors header (length {n} exceeds file size)")
    try:
        header = json.loads(buf[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RefError(f"{path}: bad safetensors header ({e})")
    if not isinstance(header, dict):
        raise RefError(f"{path}: bad safetensors header (not a JSON object)")
    data = buf[8 + n:]
    dtypes = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dt, shape, (b, e) = dtypes[info["dtype"]], list(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise RefError(f"{path}: bad safetensors header entry for {name!r}: {info}")
        if not (0 <= b <= e <= len(data)) or e - b != dt.itemsize * math.prod(shape):
            raise RefError(f"{path}: bad data_offsets {[b, e]} for {name!r} shape {shape}")
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
    return out


def expected_shapes(c):
    V, d, f = c["vocab_size"], c["hidden_size"], c["intermediate_size"]
    qd = c["num_attention_heads"] * c["head_dim"]
    kvd = c["num_key_value_heads"] * c["head_dim"]
    s = {"model.embed_tokens.weight": [V, d], "model.norm.weight": [d]}
    if not c["tie_word_embeddings"]:
        s["lm_head.weight"] = [V, d]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        s.update({p + "input_layernorm.weight": [d], p + "post_attention_layernorm.weight": [d],
                  p + "self_attn.q_proj.weight": [qd, d], p + "self_attn.k_proj.weight": [kvd, d],
                  p + "self_attn.v_proj.weight": [kvd, d], p + "self_attn.o_proj.weight": [d, qd],
                  p + "mlp.gate_proj.weight": [f, d], p + "mlp.up_proj.weight": [f, d],
                  p + "mlp.down_proj.weight": [d, f]})
    return s


def load_params(model_dir, c, dtype):
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    shapes = expected_shapes(c)
    unknown = sorted(k for k in tensors if k not in shapes and not k.startswith("growlm."))
    if unknown:
        raise RefError(f"unknown tensors in model.safetensors: {', '.join(unknown)}")
    params = {}
    for name, shape in shapes.items():  # fixed, deterministic order
        if name not in tensors:
            raise RefError(f"missing tensor: {name}")
        if list(tensors[name].shape) != shape:
            raise RefError(f"shape mismatch for {name}: got {list(tensors[name].shape)}, expected {shape}")
        params[name] = torch.tensor(np.array(tensors[name]), dtype=dtype, requires_grad=True)
    return params


def read_tokens(path, vocab):
    if not os.path.isfile(path):
        raise RefError(f"missing file: {path}")
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 16 or buf[:8] != b"GLMTOK01":
        raise RefError(f"{path}: not a GLMTOK01 token file")
    width, file_vocab = struct.unpack("<II", buf[8:16])
    if width not in (2, 4) or (len(buf) - 16) % width:
        raise RefError(f"{path}: bad bytes_per_token {width} or truncated data")
    ids = np.frombuffer(buf[16:], dtype="<u2" if width == 2 else "<u4").astype(np.int64)
    if file_vocab > vocab or (ids.size and ids.max() >= min(vocab, file_vocab)):
        raise RefError(f"{path}: token ids/vocab_size {file_vocab} exceed model vocab_size {vocab}")
    return ids


def rms_norm(x, g, eps):
    return g * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def llama3_inv_freq(inv_freq, rs):
    # transformers' _compute_llama3_parameters, in float64
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    old = rs["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def repeat_kv(x, n_rep):
    # Hugging Face's repeat_kv: [B, kv, S, hd] -> [B, kv * n_rep, S, hd]
    B, kv, S, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(B, kv, n_rep, S, hd).reshape(B, kv * n_rep, S, hd)


def rope_tables(S, hd, theta, dtype, scaling=None):
    inv_freq = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    if scaling is not None:
        inv_freq = llama3_inv_freq(inv_freq, scaling)
    freqs = torch.outer(torch.arange(S, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def forward(params, c, tokens):
    """tokens [B,S] int64 -> logits [B,S,V]."""
    B, S = tokens.shape
    H, hd, eps = c["num_attention_heads"], c["head_dim"], c["rms_norm_eps"]
    kv = c["num_key_value_heads"]
    dtype = params["model.embed_tokens.weight"].dtype
    cos, sin = rope_tables(S, hd, c["rope_theta"], dtype, c["rope_scaling"])  # [S, hd]
    causal = torch.ones(S, S, dtype=torch.bool).triu(1)
    h = c["input_mult"] * params["model.embed_tokens.weight"][tokens]
    for i in range(c["num_hidden_layers"]):
        p = lambda n: params[f"model.layers.{i}.{n}.weight"]
        a = rms_norm(h, p("input_layernorm"), eps)
        q, k, v = (F.linear(a, p(f"self_attn.{n}_proj")).view(B, S, heads, hd).transpose(1, 2)
                   for n, heads in (("q", H), ("k", kv), ("v", kv)))  # [B,H|kv,S,hd]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, H // kv), repeat_kv(v, H // kv)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, H * hd)
        h = h + F.linear(o, p("self_attn.o_proj"))
        b = rms_norm(h, p("post_attention_layernorm"), eps)
        h = h + F.linear(F.silu(F.linear(b, p("mlp.gate_proj"))) * F.linear(b, p("mlp.up_proj")),
                         p("mlp.down_proj"))
    y = rms_norm(h, params["model.norm.weight"], eps)
    head = params["model.embed_tokens.weight" if c["tie_word_embeddings"] else "lm_head.weight"]
    return (c["output_mult"] / c["mup_scale_factor"]) * F.linear(y, head)


def loss_fn(logits, targets, ignore_index):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),
                           ignore_index=ignore_index, reduction="mean")


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().reshape(-1).double().tolist()}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one-line error + exit 1 instead of argparse's exit 2
        raise RefError(f"usage: {message}")


def parse_args(argv):
    ap = _Parser(description="Independent PyTorch reference for growlm fixtures.")
    ap.add_argument("--model", required=True, help="model dir with config.json + model.safetensors")
    ap.add_argument("--tokens", required=True, help="GLMTOK01 token file")
    ap.add_argument("--out", required=True, help="output JSON path")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--seq", type=int, default=None, help="default: as long as the token file allows")
    ap.add_argument("--targets", help="JSON list of lists [B][S] overriding the shifted targets")
    ap.add_argument("--ignore-index", type=int, default=-100)
    ap.add_argument("--grads", action="store_true", help="write d(loss)/d(param) for every tensor")
    ap.add_argument("--adamw-steps", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--betas", default="0.9,0.95")
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--adamw-head", type=int, default=16, help="entries per tensor reported after AdamW")
    ap.add_argument("--logits-subset", type=int, default=None, help="only first K positions per row")
    ap.add_argument("--float64", action="store_true")
    return ap.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    dtype = torch.float64 if args.float64 else torch.float32
    c = load_config(args.model)
    params = load_params(args.model, c, dtype)
    ids = read_tokens(args.tokens, c["vocab_size"])
    B = args.batch
    S = args.seq if args.seq is not None else ids.size // max(B, 1) - 1
    if B < 1 or S < 1 or B * (S + 1) > ids.size:
        raise RefError(f"need batch*(seq+1) tokens with batch,seq >= 1: batch={B} seq={S}, file has {ids.size}")
    rows = torch.from_numpy(ids[:B * (S + 1)].copy()).view(B, S + 1)
    inputs, targets = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    if args.targets:
        if not os.path.isfile(args.targets):
            raise RefError(f"missing file: {args.targets}")
        with open(args.targets) as f:
            t = json.load(f)
        if not (isinstance(t, list) and len(t) == B and all(isinstance(r, list) and len(r) == S for r in t)):
            raise RefError(f"{args.targets}: targets must be a [{B}][{S}] list of lists")
        targets = torch.tensor(t, dtype=torch.int64)
        bad = (targets != args.ignore_index) & ((targets < 0) | (targets >= c["vocab_size"]))
        if bad.any():
            raise RefError(f"{args.targets}: target ids out of range")

    logits = forward(params, c, inputs)
    loss = loss_fn(logits, targets, args.ignore_index)
    K = S if args.logits_subset is None else max(0, min(S, args.logits_subset))
    out = {"config": c, "dtype": "float64" if args.float64 else "float32", "batch": B, "seq": S,
           "ignore_index": args.ignore_index, "inputs": inputs.tolist(), "targets": targets.tolist(),
           "loss": loss.item(), "logits": tensor_json(logits[:, :K])}
    if args.grads:
        grads = torch.autograd.grad(loss, list(params.values()))
        out["grads"] = {n: tensor_json(g) for n, g in zip(params, grads)}
    if args.adamw_steps > 0:
        try:
            betas = tuple(float(x) for x in args.betas.split(","))
            assert len(betas) == 2
        except (ValueError, AssertionError):
            raise RefError(f"--betas must be 'b1,b2', got {args.betas!r}")
        decay = [p for p in params.values() if p.dim() == 2]
        no_decay = [p for p in params.values() if p.dim() != 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=args.lr, betas=betas, eps=args.eps)
        losses = []
        for _ in range(args.adamw_steps):
            opt.zero_grad()
            step_loss = loss_fn(forward(params, c, inputs), targets, args.ignore_index)
            step_loss.backward()
            losses.append(step_loss.item())  # loss before this step's update
            opt.step()
        with torch.no_grad():
            final = loss_fn(forward(params, c, inputs), targets, args.ignore_index).item()
        out["adamw"] = {"steps": args.adamw_steps, "lr": args.lr, "weight_decay": args.weight_decay,
                        "betas": list(betas), "eps": args.eps,
                        "decayed": [n for n, p in params.items() if p.dim() == 2],
                        "losses": losses, "final_loss": final,
                        "params": {n: p.detach().reshape(-1)[:args.adamw_head].double().tolist()
                                   for n, p in params.items()}}
    with open(args.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except RefError as e:
        print(f"reference.py: error: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # still one line and exit 1, no traceback
        print(f"reference.py: error: {type(e).__name__}: {e}".replace("\n", " "), file=sys.stderr)
        sys.exit(1)
