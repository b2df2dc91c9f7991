#!/usr/bin/env python3
"""Loss bump at each growth of a staged run (docs/growth-practices.md).

usage: growth-bump.py STAGE_DIR STAGE_DIR [...] [--ramp N]
Stage directories in training order (each with metrics.jsonl). Per growth it prints the last
validation loss before, the first ones after, the mean and sd of the last 50 training losses before,
and the largest z of the training loss during the first N steps after (single steps and 10-step
means), plus the step-to-step scatter of each stage's validation curve (second differences / sqrt 6
over its last 8 evaluations).
"""
import json, math, os, sys

args = sys.argv[1:]
ramp = 100
if '--ramp' in args:
    i = args.index('--ramp'); ramp = int(args[i + 1]); del args[i:i + 2]
if len(args) < 2:
    sys.exit(__doc__)
metrics = [[json.loads(l) for l in open(os.path.join(d, 'metrics.jsonl')) if l.strip()] for d in args]

def vals(es):
    return [(e['step'], e['val_loss']) for e in es if e.get('val_loss') is not None]

def scatter(es):
    v = [x for _, x in vals(es)][-8:]
    d = [v[i - 1] - 2 * v[i] + v[i + 1] for i in range(1, len(v) - 1)]
    if len(d) < 2:
        return float('nan')
    m = sum(d) / len(d)
    return math.sqrt(sum((x - m) ** 2 for x in d) / (len(d) - 1) / 6)

for (a, pre), (b, post) in zip(zip(args, metrics), list(zip(args, metrics))[1:]):
    before = vals(pre)[-1][1]
    after = [(s, round(x, 4)) for s, x in vals(post)[:4]]
    last = [e['loss'] for e in pre[-50:] if e.get('loss') is not None]
    mu = sum(last) / len(last)
    sd = math.sqrt(sum((x - mu) ** 2 for x in last) / (len(last) - 1))
    ramp_losses = [e['loss'] for e in post[:ramp] if e.get('loss') is not None]
    z_step = max((x - mu) / sd for x in ramp_losses)
    means = [sum(ramp_losses[i:i + 10]) / 10 for i in range(len(ramp_losses) - 9)]
    z_mean = max((x - mu) / (sd / math.sqrt(10)) for x in means)
    print(f'{os.path.basename(a)} -> {os.path.basename(b)}: val before {before:.4f}, after {after}; '
          f'train loss before {mu:.4f} ± {sd:.4f}; ramp max z: single step {z_step:.2f}, 10-step mean {z_mean:.2f}; '
          f'val scatter {scatter(pre):.4f} before, {scatter(post):.4f} after')
