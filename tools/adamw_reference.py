#!/usr/bin/python3
"""torch.optim.AdamW on fixed gradients: the optimizer alone, without a model's float32 rounding.

Writes test/fixtures/adamw-fixed-grads.json: two tensors (one decayed, one not, as growlm's matrices
and norm gains), their initial values, three steps of gradients, the per-step learning rates and the
values after each step. The gradients include entries near zero and of mixed scale so that bias
correction, eps and decoupled decay are all exercised. Run: /usr/bin/python3 tools/adamw_reference.py
"""
import json
import pathlib

import torch

torch.manual_seed(0)
betas, eps, wd = (0.9, 0.95), 1e-8, 0.1
shapes = {"matrix": (6, 5), "gain": (7,)}
init = {k: torch.randn(s, dtype=torch.float32) for k, s in shapes.items()}
grads = []
for step in range(3):
    g = {k: torch.randn(s, dtype=torch.float32) * (10.0 ** torch.randint(-4, 1, s).float()) for k, s in shapes.items()}
    grads.append(g)
lrs = [1e-2, 5e-3, 2e-3]

params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
opt = torch.optim.AdamW([
    {"params": [params["matrix"]], "weight_decay": wd},
    {"params": [params["gain"]], "weight_decay": 0.0},
], lr=lrs[0], betas=betas, eps=eps)
after = []
for step, g in enumerate(grads):
    for group in opt.param_groups:
        group["lr"] = lrs[step]
    for k, p in params.items():
        p.grad = g[k].clone()
    opt.step()
    after.append({k: p.detach().flatten().tolist() for k, p in params.items()})

out = {
    "torch": torch.__version__, "betas": betas, "eps": eps, "weight_decay": wd, "lrs": lrs,
    "shapes": shapes, "init": {k: v.flatten().tolist() for k, v in init.items()},
    "grads": [{k: v.flatten().tolist() for k, v in g.items()} for g in grads], "after": after,
}
path = pathlib.Path(__file__).resolve().parent.parent / "test/fixtures/adamw-fixed-grads.json"
path.write_text(json.dumps(out) + "\n")
print(f"wrote {path}")
