#!/usr/bin/env bash
# Rebuild the Hugging Face checkpoints in test/fixtures/ that `growlm import` is tested against
# (docs/import.md): GPT-2's first 400 BPE merges as tokenizer.json, then two random models written
# by PyTorch (tools/make_llama_checkpoint.py, Debian's python3-torch) with their logits.
#   bash tools/make-hf-fixtures.sh [DIR]      (default test/fixtures)
set -euo pipefail
cd "$(dirname "$0")/.."
F=${1:-test/fixtures}
mkdir -p "$F"
tok=$(mktemp -d)
trap 'rm -rf "$tok"' EXIT
node tools/gpt2-tokenizer-json.mjs --out "$tok" --merges 400
cp "$tok/encoded.json" "$F/hf-tokenizer-encoded.json"
rm -rf "$F/hf-llama-gqa-tied" "$F/hf-mistral-mha"
# Llama: GQA 4 query heads / 2 kv heads, tied embeddings, rope_theta 500000, llama3 rope_scaling, bf16, 3 shards
/usr/bin/python3 tools/make_llama_checkpoint.py --tokenizer-dir "$tok" --out "$F/hf-llama-gqa-tied" \
  --logits "$F/hf-llama-gqa-tied.logits.safetensors" --llama3-scaling --seed 1
# Mistral (sliding_window null): 4 heads / 4 kv heads, untied head, rope_theta 1e6, bf16, one model.safetensors
/usr/bin/python3 tools/make_llama_checkpoint.py --tokenizer-dir "$tok" --out "$F/hf-mistral-mha" \
  --logits "$F/hf-mistral-mha.logits.safetensors" --arch mistral --kv-heads 4 --no-tie --rope-theta 1000000 \
  --shard-bytes 100000000 --seed 2
