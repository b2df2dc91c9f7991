#!/usr/bin/env python3
"""Load a `growlm export --format hf` folder with Hugging Face transformers, as a user would.

transformers' LlamaForCausalLM and AutoTokenizer load the folder with no custom code
(trust_remote_code stays off); the script tokenizes a text, compares transformers' logits with
tools/llama_torch.py in float64 (which test/export/hf.test.ts compares with growlm), and greedily
generates a few tokens. It needs transformers 5 and torch 2, which Debian 12 does not package, so it
is run by hand in a virtual environment (not by the tests):

    python -m venv v && v/bin/pip install torch transformers
    v/bin/python tools/transformers_check.py --model DIR [--text "It was the best of times"]
"""
import argparse
import json
import os
import sys

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_torch  # noqa: E402


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--text", default="It was the best of times, it was the worst of times")
    ap.add_argument("--new-tokens", type=int, default=16)
    args = ap.parse_args(argv)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = LlamaForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32)
    model.eval()
    ids = tok(args.text, add_special_tokens=False)["input_ids"]
    x = torch.tensor([ids])
    with torch.no_grad():
        ours = model(x).logits[0].double()
        c = llama_torch.load_config(args.model)
        params = {n: torch.tensor(t, dtype=torch.float64) for n, t in llama_torch.load_tensors(args.model, c).items()}
        ref = llama_torch.forward(params, c, x)[0]
        out = model.generate(x, max_new_tokens=args.new_tokens, do_sample=False, pad_token_id=tok.pad_token_id or 0)
    rel = float((ours - ref).abs().max() / ref.abs().max())
    print(json.dumps({
        "model": args.model, "class": type(model).__name__, "dtype": str(model.config.torch_dtype if hasattr(model.config, "torch_dtype") else ""),
        "tokenizer": type(tok).__name__, "tokens": len(ids), "ids_head": ids[:12],
        "rel_logit_diff_vs_llama_torch_float64": rel,
        "greedy": tok.decode(out[0, len(ids):]),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
