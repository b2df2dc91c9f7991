// growlm serve as a user starts it: it prints where it serves, answers, and stops cleanly on a
// signal; bad settings are one-line errors.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/model/config.js';
import { saveModelDir } from '../../src/model/model-dir.js';
import { initWeights } from '../../src/model/weights.js';
import { MAIN, expectOneLineError, growlm } from '../cli/run.js';

let dir: string;

beforeAll(() => {
  dir = join(mkdtempSync(join(tmpdir(), 'growlm-serve-cli-')), 'm');
  const config = parseConfig({
    vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32,
    growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } },
  });
  saveModelDir(dir, { config, weights: initWeights(config, 1) });
});

describe('growlm serve', () => {
  it('serves on a free loopback port until SIGTERM', async () => {
    const child = spawn(process.execPath, [MAIN, 'serve', '--model', dir, '--port', '0', '--max-concurrent', '2'], { env: { ...process.env, GROWLM_DEBUG: '' } });
    let stderr = '';
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    try {
      const url = await new Promise<string>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error(`no start line: ${stderr}`)), 20_000);
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = /serving m on (http:\/\/127\.0\.0\.1:\d+)\/v1 \(context 32;/.exec(stderr);
          if (m) { clearTimeout(timer); ok(m[1]!); }
        });
      });
      expect(stderr).not.toMatch(/warning/);
      const res = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 3 }) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(3);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('bad settings are one-line errors', () => {
    expectOneLineError(growlm('serve', '--model', dir, '--ctx', '33', '--port', '0'), /context must be an integer in \[2, 32\]/, 2);
    expectOneLineError(growlm('serve', '--model', dir, '--port', '70000'), /--port must be an integer in \[0, 65535\]/, 2);
    expectOneLineError(growlm('serve', '--model', join(dir, 'nope'), '--port', '0'), /nope/, 1);
    expectOneLineError(growlm('serve', '--model', dir, '--port', '0', '--header-timeout', '0'), /--header-timeout must be/, 2);
  });
});
