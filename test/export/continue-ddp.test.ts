// The hand-off to a distributed trainer: a grown model (μP multipliers ≠ 1, MSG masks ramped to 1),
// trained to the middle of its schedule, exported with its AdamW state; tools/continue_ddp.py (PyTorch
// DDP, gloo, 2 processes) continues it on growlm's token shards. Its first step sees the batch growlm
// draws next and gives the same loss as growlm continuing itself (measured 3e-8 relative; the 20-step
// comparison in docs/hf-export.md).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../../src/data/prepare.js';
import { exportHfModel } from '../../src/export/hf.js';
import { growModelDir } from '../../src/growth/model-dir.js';
import { parseConfig } from '../../src/model/config.js';
import { initModelDir } from '../../src/model/init-model-dir.js';
import { trainModelDir } from '../../src/train/train-model-dir.js';

const SCRIPT = join(import.meta.dirname, '../../tools/continue_ddp.py');
/** Debian's python3-torch (installed by .ci/run); without it these tests are skipped. */
const HAVE_TORCH = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy']).status === 0;
const TRAIN = { batch: 4, seq: 24, lr: 3e-3, warmup: 1, checkpointEvery: 2, session: { threads: 1 } };

let tmp: string;
let data: string;

function continueDdp(...args: string[]) {
  const r = spawnSync('/usr/bin/python3', [SCRIPT, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const jsonLines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as { step: number; loss: number; lr: number; grad_norm: number });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-ddp-'));
  const text = Array.from({ length: 120 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog ${i * 7 % 13} times.`).join('\n\n');
  writeFileSync(join(tmp, 'corpus.txt'), text);
  data = join(tmp, 'data');
  // small shards, so that windows cross shard boundaries
  await prepareDataset({ inputs: [join(tmp, 'corpus.txt')], tokenizer: 'byte', outDir: data, valFraction: 0.1, shardTokens: 1500, minTrainTokens: 100 });
});

describe.skipIf(!HAVE_TORCH)('tools/continue_ddp.py continues growlm', () => {
  it('a grown μP model: the first DDP step has growlm\'s loss on the same batch', async () => {
    const base = { vocab_size: 256, head_dim: 8, max_position_embeddings: 32, input_mult: 4, output_mult: 1, mup_scale_factor: 2, initializer_range: 0.05 };
    const small = join(tmp, 'small');
    initModelDir(small, parseConfig({ ...base, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4 }), { seed: 1 });
    await trainModelDir(small, data, { ...TRAIN, steps: 4 });
    const grown = join(tmp, 'grown');
    const big = parseConfig({ ...base, hidden_size: 48, intermediate_size: 64, num_hidden_layers: 3, num_attention_heads: 6 });
    await growModelDir({ model: small, to: big, out: grown, method: 'msg', rampSteps: 2 });
    // to the middle of an 8-step schedule; the masks reach 1 at step 2 and are removed at the stop
    await trainModelDir(grown, data, { ...TRAIN, steps: 8, stopAt: 4 });
    const hf = join(tmp, 'grown-hf');
    // the moments carry the small model's 4 AdamW steps through growth: step 8, at step 4 of this run's schedule
    expect(exportHfModel(grown, hf, { withOptimizer: true }).optimizer_step).toBe(8);
    const handoff = JSON.parse(readFileSync(join(hf, 'optimizer.json'), 'utf8'));
    expect([handoff.step, handoff.schedule_step, handoff.lr.next_step]).toEqual([8, 4, 5]);
    // the embedding's and the head's fold scales (4 and 1/2) show in their groups
    expect(handoff.param_groups.map((g: { grad_scale: number }) => g.grad_scale).sort()).toEqual([0.5, 1, 1, 4]);

    // growlm continuing itself
    const self = join(tmp, 'grown-self');
    cpSync(grown, self, { recursive: true });
    await trainModelDir(self, data, { ...TRAIN, steps: 8, resume: true });
    const growlm = jsonLines(readFileSync(join(self, 'metrics.jsonl'), 'utf8'));
    const r = continueDdp('--model', hf, '--data', data, '--steps', '2', '--procs', '2');
    expect(r.code, r.stderr).toBe(0);
    const ddp = jsonLines(r.stdout);
    expect(ddp.map((e) => e.step)).toEqual([5, 6]);
    for (const e of ddp) {
      const g = growlm.find((x) => x.step === e.step)!;
      console.log(`step ${e.step}: growlm loss ${g.loss}, DDP ${e.loss} (relative ${(Math.abs(e.loss - g.loss) / g.loss).toExponential(1)}), grad norm ${g.grad_norm} vs ${e.grad_norm}`);
      expect(e.lr).toBeCloseTo(g.lr, 15);
      expect(Math.abs(e.loss - g.loss) / g.loss).toBeLessThanOrEqual(1e-5);
      expect(Math.abs(e.grad_norm - g.grad_norm) / g.grad_norm).toBeLessThanOrEqual(1e-4);
    }
    expect(ddp[1]!.loss).not.toBe(ddp[0]!.loss); // a second, different batch
  });

  it('bad input: one line, exit 1', () => {
    const r = continueDdp('--model', join(tmp, 'grown'), '--data', data);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/input_mult = 4: not a plain Llama \(export it with growlm export --format hf\)/);
  });
});
