#!/usr/bin/python3
"""A small random Llama (or Mistral) checkpoint written the way Hugging Face writes one, and its logits.

growlm's `import` must reproduce the logits of a model nobody here wrote. No pretrained Llama ships in
an npm or Debian package, so this script builds one from another implementation: PyTorch, following
the structure of transformers' LlamaForCausalLM forward (it shares no code with growlm and does not use
transformers, which is not installed here):

    h = embed_tokens[ids]
    per layer:  a = RMSNorm(h)                      (weight * normed)
                q, k, v = q_proj a, k_proj a, v_proj a      ([B, S, heads * head_dim] → [B, heads, S, hd])
                q, k = q cos + rotate_half(q) sin, …        (inv_freq = 1 / θ^(2i/hd), llama3 rope_scaling)
                k, v = repeat_kv(k), repeat_kv(v)           (grouped-query attention)
                h += o_proj softmax(q kᵀ / √hd + causal mask) v
                h += down_proj(silu(gate_proj b) * up_proj b),  b = RMSNorm(h)
    logits = lm_head(RMSNorm(h))            (lm_head = embed_tokens when tie_word_embeddings)

The weights are drawn N(0, std²) (HF's init for Linear/Embedding, with a larger std so logits are
far from uniform) and norm gains 1 + N(0, 0.1²) (trained models do not have gains of 1), then
rounded to the stored dtype (bf16 by default). The logits are computed from those rounded weights
(upcast exactly) in float64 and stored as float32: what an importer converting bf16 → float32 must
reproduce, to float32 accuracy, on any CPU.

Files, as `save_pretrained` lays them out: config.json, generation_config.json, model.safetensors or
model-0000i-of-0000n.safetensors + model.safetensors.index.json (shards filled in parameter order,
a new one when the next tensor would pass --shard-bytes; each file's header lists its tensors by
name with `{"format": "pt"}` metadata, padded with spaces to 8 bytes; a tied model stores no
lm_head.weight), and beside them the tokenizer files of --tokenizer-dir (tokenizer.json; a
tokenizer_config.json with a chat_template is written for it). safetensors is written by hand (no
third-party package). Also written: the --logits file (safetensors) with `ids.K` (int64 [S]) and `logits.K`
(float32 [S, vocab]) for each token sequence K: the ids of the texts in TOKENIZER_DIR/encoded.json
(written by tools/gpt2-tokenizer-json.mjs) and one random sequence over the whole vocabulary.

Usage:
    node tools/gpt2-tokenizer-json.mjs --out TOK --merges 400
    /usr/bin/python3 tools/make_llama_checkpoint.py --tokenizer-dir TOK --out DIR --logits FILE
        [--arch llama|mistral] [--vocab 672] [--hidden 64] [--layers 2] [--heads 4] [--kv-heads 2]
        [--head-dim 16] [--ffn 176] [--rope-theta 500000] [--llama3-scaling] [--tie | --no-tie]
        [--dtype bf16|f16|f32] [--shard-bytes N] [--seed 0] [--std 0.12]
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

TORCH_DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
ST_NAMES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.int64: "I64"}
CONFIG_DTYPE = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}
TRANSFORMERS_VERSION = "4.46.3"  # the version whose save_pretrained layout this follows


def tensor_bytes(t):
    """Raw little-endian bytes of a tensor (bf16/f16 through its int16 bit view)."""
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """safetensors: u64 header length, JSON header (space-padded to 8 bytes), data in header order."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def param_shapes(a):
    d, qd, kvd, f, V = a.hidden, a.heads * a.head_dim, a.kv_heads * a.head_dim, a.ffn, a.vocab
    shapes = [("model.embed_tokens.weight", [V, d])]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        shapes += [(p + "self_attn.q_proj.weight", [qd, d]), (p + "self_attn.k_proj.weight", [kvd, d]),
                   (p + "self_attn.v_proj.weight", [kvd, d]), (p + "self_attn.o_proj.weight", [d, qd]),
                   (p + "mlp.gate_proj.weight", [f, d]), (p + "mlp.up_proj.weight", [f, d]),
                   (p + "mlp.down_proj.weight", [d, f]),
                   (p + "input_layernorm.weight", [d]), (p + "post_attention_layernorm.weight", [d])]
    shapes.append(("model.norm.weight", [d]))
    if not a.tie:
        shapes.append(("lm_head.weight", [V, d]))
    return shapes


def make_weights(a):
    g = torch.Generator().manual_seed(a.seed)
    w = {}
    for name, shape in param_shapes(a):
        if name.endswith("norm.weight"):
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        else:
            t = a.std * torch.randn(shape, generator=g)
        w[name] = t.to(TORCH_DTYPES[a.dtype])  # the stored, rounded weights
    return w


# ---- the forward pass, after transformers' modeling_llama (here in float64) ----

def rms_norm(x, weight, eps):
    input_dtype = x.dtype
    x = x.to(torch.float32) if x.dtype in (torch.float16, torch.bfloat16) else x  # HF upcasts half types
    variance = x.pow(2).mean(-1, keepdim=True)
    x = x * torch.rsqrt(variance + eps)
    return weight * x.to(input_dtype)


def llama3_inv_freq(inv_freq, s):
    factor, low, high, old = s["factor"], s["low_freq_factor"], s["high_freq_factor"], s["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old / low, old / high
    wavelen = 2 * math.pi / inv_freq
    inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, inv_freq_llama)


def rotary(cfg, positions, dtype=torch.float64):
    hd = cfg["head_dim"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).to(dtype) / hd))
    if cfg.get("rope_scaling"):
        inv_freq = llama3_inv_freq(inv_freq, cfg["rope_scaling"])
    freqs = positions[:, None].to(dtype) @ inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, kv, s, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, s, hd).reshape(b, kv * n_rep, s, hd)


def forward(cfg, w, ids):
    """ids [B, S] int64 → logits [B, S, V] float32: computed in float64 from the stored weights (exact
    upcasts), rounded once at the end, so that the file does not depend on the CPU's float32 kernels
    (float32 BLAS results differ by a few 1e-6 between CPU types)."""
    w = {k: v.to(torch.float64) for k, v in w.items()}
    B, S = ids.shape
    H, KV, hd, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"], cfg["rms_norm_eps"]
    cos, sin = rotary(cfg, torch.arange(S))
    mask = torch.full((S, S), float("-inf"), dtype=torch.float64).triu(1)
    h = torch.nn.functional.embedding(ids, w["model.embed_tokens.weight"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = (a @ w[p + "self_attn.q_proj.weight"].T).view(B, S, H, hd).transpose(1, 2)
        k = (a @ w[p + "self_attn.k_proj.weight"].T).view(B, S, KV, hd).transpose(1, 2)
        v = (a @ w[p + "self_attn.v_proj.weight"].T).view(B, S, KV, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = repeat_kv(k, H // KV), repeat_kv(v, H // KV)
        scores = q @ k.transpose(2, 3) / math.sqrt(hd) + mask
        att = torch.softmax(scores, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, H * hd)
        h = h + o @ w[p + "self_attn.o_proj.weight"].T
        b = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(b @ w[p + "mlp.gate_proj.weight"].T)
        h = h + (gate * (b @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    y = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return (y @ head.T).to(torch.float32)


def hf_config(a, eot_id):
    c = {
        "architectures": ["MistralForCausalLM" if a.arch == "mistral" else "LlamaForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": eot_id, "eos_token_id": eot_id,
        "head_dim": a.head_dim, "hidden_act": "silu", "hidden_size": a.hidden, "initializer_range": 0.02,
        "intermediate_size": a.ffn, "max_position_embeddings": a.max_pos,
        "model_type": a.arch, "num_attention_heads": a.heads, "num_hidden_layers": a.layers,
        "num_key_value_heads": a.kv_heads, "rms_norm_eps": 1e-05, "rope_theta": a.rope_theta,
        "tie_word_embeddings": a.tie, "torch_dtype": CONFIG_DTYPE[a.dtype],
        "transformers_version": TRANSFORMERS_VERSION, "use_cache": True, "vocab_size": a.vocab,
    }
    if a.arch == "mistral":
        c["sliding_window"] = None
    else:
        c.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1,
                  "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                   "original_max_position_embeddings": 64, "rope_type": "llama3"}
                  if a.llama3_scaling else None})
    return dict(sorted(c.items()))


CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|endoftext|>' }}"
                 "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")


def tokenizer_config(eot_id):
    eot = {"content": "<|endoftext|>", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": True}
    return {"add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": {str(eot_id): eot},
            "bos_token": "<|endoftext|>", "chat_template": CHAT_TEMPLATE, "clean_up_tokenization_spaces": False,
            "eos_token": "<|endoftext|>", "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer",
            "unk_token": "<|endoftext|>"}


def save(a, w, cfg, eot_id):
    os.makedirs(a.out, exist_ok=True)
    dump = lambda name, obj: open(os.path.join(a.out, name), "w").write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    dump("config.json", cfg)
    dump("generation_config.json", {"_from_model_config": True, "bos_token_id": eot_id, "eos_token_id": eot_id,
                                    "transformers_version": TRANSFORMERS_VERSION})
    with open(os.path.join(a.tokenizer_dir, "tokenizer.json"), "rb") as f:
        tok = f.read()
    open(os.path.join(a.out, "tokenizer.json"), "wb").write(tok)
    dump("tokenizer_config.json", tokenizer_config(eot_id))
    shards, size = [[]], 0
    for name, _ in param_shapes(a):  # save_pretrained's sharding: in order, a new shard when the next tensor passes the limit
        n = w[name].numel() * w[name].element_size()
        if shards[-1] and size + n > a.shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += n
    if len(shards) == 1:
        write_safetensors(os.path.join(a.out, "model.safetensors"), {k: w[k] for k in shards[0]}, {"format": "pt"})
        return
    weight_map, total = {}, 0
    for i, names in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(a.out, fname), {k: w[k] for k in names}, {"format": "pt"})
        for k in names:
            weight_map[k] = fname
            total += w[k].numel() * w[k].element_size()
    dump("model.safetensors.index.json", {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tokenizer-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--logits", required=True, help="where the logits go (a safetensors file)")
    p.add_argument("--arch", choices=["llama", "mistral"], default="llama")
    p.add_argument("--vocab", type=int, default=672)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=16)
    p.add_argument("--ffn", type=int, default=176)
    p.add_argument("--max-pos", type=int, default=256)
    p.add_argument("--rope-theta", type=float, default=500000.0)
    p.add_argument("--llama3-scaling", action="store_true")
    p.add_argument("--tie", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--dtype", choices=list(TORCH_DTYPES), default="bf16")
    p.add_argument("--shard-bytes", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--std", type=float, default=0.12)
    p.add_argument("--random-len", type=int, default=16)
    a = p.parse_args()
    if a.heads % a.kv_heads:
        sys.exit("--kv-heads must divide --heads")
    with open(os.path.join(a.tokenizer_dir, "encoded.json")) as f:
        enc = json.load(f)
    if enc["vocab_size"] > a.vocab:
        sys.exit(f"--vocab {a.vocab} is smaller than the tokenizer's {enc['vocab_size']} ids")
    torch.manual_seed(a.seed)
    w = make_weights(a)
    cfg = hf_config(a, enc["eot_id"])
    save(a, w, cfg, enc["eot_id"])
    g = torch.Generator().manual_seed(a.seed + 1)
    seqs = [e["ids"] for e in enc["encoded"]] + [torch.randint(0, a.vocab, (a.random_len,), generator=g).tolist()]
    out = {}
    with torch.no_grad():
        for k, ids in enumerate(seqs):
            t = torch.tensor([ids], dtype=torch.int64)
            out[f"ids.{k}"] = t[0]
            out[f"logits.{k}"] = forward(cfg, w, t)[0].contiguous()
    write_safetensors(a.logits, out, {"format": "pt", "what": "LlamaForCausalLM's forward from the stored weights, in float64, rounded to float32"})
    m = max(float(v.abs().max()) for k, v in out.items() if k.startswith("logits."))
    print(f"wrote {a.out}: {sum(t.numel() for t in w.values())} parameters ({a.dtype}), {len(seqs)} sequences, max |logit| {m:.3f}")


if __name__ == "__main__":
    main()
