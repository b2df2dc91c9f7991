// growlm tune on a small corpus: every (width, lr) pair is trained and recorded, the best LR per
// width is picked from the recorded losses, and the plot is a self-contained page.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { proxyConfig } from '../../src/train/tune.js';
import { expectOneLineError, growlm } from '../cli/run.js';

describe('growlm tune', () => {
  it('builds μP proxies: same head dim and FFN ratio, width_mult relative to the narrowest', () => {
    const target = parseConfig({ vocab_size: 256, hidden_size: 160, intermediate_size: 768, num_hidden_layers: 9, num_attention_heads: 10, head_dim: 16, max_position_embeddings: 256, output_mult: 2 });
    const p = proxyConfig(target, 64, 32, 2, 128, 256, 2);
    expect(p).toMatchObject({ hiddenSize: 64, numHeads: 4, headDim: 16, intermediateSize: 307, numLayers: 2, mupScaleFactor: 2, outputMult: 2, maxSeqLen: 128 });
    expect(() => proxyConfig(target, 50, 32, 2, 128, 256, 2)).toThrow(/not a multiple of head_dim 16/);
    // a GQA target with tied embeddings: its proxies keep the ratio and the tying
    const gqa = parseConfig({ vocab_size: 256, hidden_size: 160, intermediate_size: 768, num_hidden_layers: 9, num_attention_heads: 10, num_key_value_heads: 5, head_dim: 16, max_position_embeddings: 256, tie_word_embeddings: true });
    expect(proxyConfig(gqa, 64, 32, 2, 128, 256, 2)).toMatchObject({ numHeads: 4, numKvHeads: 2, tieWordEmbeddings: true });
    expect(() => proxyConfig(gqa, 48, 32, 2, 128, 256, 2)).toThrow(/^width 48 gives 3 heads, not a multiple of the target's 2 query heads per kv head$/);
  });

  it('sweeps learning rates over widths and records every run', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'growlm-tune-'));
    const corpus = join(tmp, 'corpus');
    mkdirSync(corpus);
    for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `d${i}.txt`), 'the cat sat on the mat and the dog sat on the log. '.repeat(40));
    writeFileSync(join(tmp, 'm.json'), JSON.stringify({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32 }));
    expect(growlm('data', 'prepare', '--input', corpus, '--out', join(tmp, 'data'), '--val-fraction', '0.25').code).toBe(0);
    const out = join(tmp, 'tune');
    const r = growlm('tune', '--target', 'analog-52b', '--data', join(tmp, 'data'), '--widths', '16,32', '--lrs', '1e-4,1e-2', '--steps', '8', '--seq', '32', '--batch', '2', '--threads', '1', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    const lines = readFileSync(join(out, 'tune.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.width, l.lr])).toEqual([[16, 1e-4], [16, 1e-2], [32, 1e-4], [32, 1e-2]]);
    for (const w of [16, 32]) {
      const best = lines.filter((l) => l.width === w).sort((a, b) => a.val_loss - b.val_loss)[0];
      expect(result.best_per_width.find((b: { width: number }) => b.width === w).lr).toBe(best.lr);
    }
    expect(result.chosen.lr).toBe(result.best_per_width[1].lr);
    const html = readFileSync(join(out, 'tune.html'), 'utf8');
    expect(html).toContain('width 32');
    expect(html).not.toMatch(/<script src=|<link /); // chart.js is inlined
    // the chosen LR feeds train
    const model = join(tmp, 'm');
    expect(growlm('init', '--config', join(tmp, 'm.json'), '--out', model).code).toBe(0);
    const t = growlm('train', '--model', model, '--data', join(tmp, 'data'), '--steps', '2', '--batch', '2', '--seq', '32', '--lr-from', join(out, 'tune-result.json'), '--schedule', 'constant', '--threads', '1', '--json');
    expect(t.code, t.stderr).toBe(0);
    const first = JSON.parse(readFileSync(join(model, 'metrics.jsonl'), 'utf8').split('\n')[0]!);
    expect(first.lr).toBe(result.chosen.lr); // constant schedule, no warm-up for a 2-step run
    expectOneLineError(growlm('train', '--model', model, '--data', join(tmp, 'data'), '--steps', '2', '--lr-from', join(tmp, 'm.json')), /no chosen learning rate/);
    expectOneLineError(growlm('tune', '--widths', '16,x', '--data', join(tmp, 'data'), '--out', out), /--widths must be a comma-separated list/, 2);
  });
});
