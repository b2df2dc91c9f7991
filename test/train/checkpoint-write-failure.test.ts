// A checkpoint write that fails part-way (disk full, no permission) leaves the earlier checkpoint
// intact and loadable, no file or folder under the new checkpoint's name, no temporary leftovers, and
// a typed error that says what failed and where. The failure is injected at the file-writer parameter
// (the tests run as root, so chmod would not stop the writes).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cpSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { growlm } from '../cli/run.js';
import { parseConfig } from '../../src/model/config.js';
import { initWeights } from '../../src/model/weights.js';
import type { OptimizerState } from '../../src/model/training-state.js';
import { type AtomicWriter, WriteFailedError, writeFileAtomic } from '../../src/util/atomic.js';
import { CheckpointError, saveCheckpoint } from '../../src/train/checkpoint.js';
import { latestCheckpoint } from '../../src/train/trainer.js';

const config = parseConfig({ vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 });

function optimizer(weights: ReturnType<typeof initWeights>, step: number): OptimizerState {
  const m = new Map<string, Float32Array>(), v = new Map<string, Float32Array>();
  for (const [n, w] of weights) {
    m.set(n, new Float32Array(w.data.length).fill(step));
    v.set(n, new Float32Array(w.data.length).fill(step / 2));
  }
  return { step, m, v };
}

/** A system error as node:fs throws it. */
function sysError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}, write`), { code, errno: -28, syscall: 'write' });
}

/** The real writer, failing with `err` once `after` bytes of the file whose name ends in `which` are written. */
const failingWriter = (which: string, after: number, err: NodeJS.ErrnoException): AtomicWriter => (path, chunks) => {
  if (!path.endsWith(which)) return writeFileAtomic(path, chunks);
  writeFileAtomic(path, (function* () {
    let n = 0;
    for (const c of chunks) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      if (n + b.byteLength > after) {
        yield b.subarray(0, after - n);
        throw err;
      }
      n += b.byteLength;
      yield b;
    }
  })());
};

describe('checkpoint write failures', () => {
  for (const [what, which, after, err] of [
    ['disk full in the weights', 'model.safetensors', 1000, sysError('ENOSPC', 'no space left on device')],
    ['permission denied on the optimizer state', 'optimizer.safetensors', 0, sysError('EACCES', 'permission denied')],
    ['disk full in state.json', 'state.json', 10, sysError('ENOSPC', 'no space left on device')],
  ] as const) {
    it(`${what}: the earlier checkpoint survives, nothing under the new name, the message says what and where`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'growlm-wfail-'));
      const w2 = initWeights(config, 2), w4 = initWeights(config, 4);
      const good = saveCheckpoint(dir, config, w2, optimizer(w2, 2), { step: 2, data: { at: 2 }, trainer: {} }, 3);
      const before = readdirSync(good).map((f) => [f, readFileSync(join(good, f))]);
      let thrown: unknown;
      try {
        saveCheckpoint(dir, config, w4, optimizer(w4, 4), { step: 4, data: { at: 4 }, trainer: {} }, 1, failingWriter(which, after, err));
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(CheckpointError);
      const msg = (thrown as Error).message;
      expect(msg).toContain(`could not write the checkpoint of step 4 in ${join(dir, 'checkpoints')} (earlier checkpoints are kept): cannot write`);
      expect(msg).toContain(`step-00000004.tmp-${process.pid}/${which}: ${err.message}`);
      expect(msg).not.toContain('\n');
      // only the earlier checkpoint, byte for byte (keep 1 did not prune it: pruning follows a successful write)
      expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['step-00000002']);
      expect(readdirSync(good).map((f) => [f, readFileSync(join(good, f))])).toEqual(before);
      const back = latestCheckpoint(dir, config);
      expect(back.warnings).toEqual([]);
      expect(back.checkpoint!.state.step).toBe(2);
      expect(back.checkpoint!.weights.get('model.embed_tokens.weight')!.data).toEqual(w2.get('model.embed_tokens.weight')!.data);
    });
  }

  it('writeFileAtomic: a failing write leaves neither the target nor a temporary file, and a typed error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-wfail-'));
    const target = join(dir, 'out.bin');
    expect(() => failingWriter('out.bin', 3, sysError('ENOSPC', 'no space left on device'))(target, ['abcdef'])).toThrow(WriteFailedError);
    expect(readdirSync(dir)).toEqual([]);
    // a real system error: the temporary file's name is taken by a folder
    mkdirSync(join(dir, `.out.bin.${process.pid}.tmp`));
    expect(() => writeFileAtomic(target, ['abc'])).toThrow(/^cannot write .*out\.bin: EISDIR: illegal operation on a directory/);
    expect(existsSync(target)).toBe(false);
  });
});

/** Mount a tmpfs of `bytes` at `dir` (root with mount rights only; false where that is not allowed). */
function mountTmpfs(dir: string, bytes: number): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]).status === 0;
}

describe('a real full disk (a small tmpfs, where mounting is allowed)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'growlm-full-'));
  const probe = join(tmp, 'probe');
  mkdirSync(probe);
  const canMount = mountTmpfs(probe, 65536) && spawnSync('umount', [probe]).status === 0;

  it.skipIf(!canMount)('growlm train fills the disk at a checkpoint: exit 1, the error names the file and ENOSPC, step 2 survives', () => {
    const corpus = join(tmp, 'corpus');
    mkdirSync(corpus);
    for (let i = 0; i < 4; i++) writeFileSync(join(corpus, `${i}.txt`), `Part ${i}. ` + 'The quick brown fox jumps over the lazy dog. '.repeat(60));
    const data = join(tmp, 'data'), cfg = join(tmp, 'small.json'), m0 = join(tmp, 'm0');
    expect(growlm('data', 'prepare', '--input', corpus, '--tokenizer', 'byte', '--out', data, '--val-fraction', '0.25').code).toBe(0);
    writeFileSync(cfg, JSON.stringify({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 }));
    expect(growlm('init', '--config', cfg, '--out', m0).code).toBe(0);
    const train = (m: string, ...extra: string[]) => growlm('train', '--model', m, '--data', data, '--steps', '6', '--batch', '2', '--checkpoint-every', '2', '--eval-every', '0', '--threads', '1', ...extra);
    expect(train(m0, '--stop-at', '2').code).toBe(0); // ≈ 280 kB: weights, optimizer state, one checkpoint
    const mnt = join(tmp, 'mnt');
    mkdirSync(mnt);
    expect(mountTmpfs(mnt, 400 * 1024)).toBe(true); // room for the model directory, not for a second checkpoint
    try {
      const m = join(mnt, 'm');
      cpSync(m0, m, { recursive: true });
      const good = join(m, 'checkpoints', 'step-00000002');
      const before = readdirSync(good).map((f) => [f, readFileSync(join(good, f))]);
      const r = train(m, '--resume');
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(new RegExp(`^growlm: error: could not write the checkpoint of step 4 in ${m}/checkpoints \\(earlier checkpoints are kept\\): cannot write ${m}/checkpoints/step-00000004\\.tmp-\\d+/\\w+\\.safetensors: ENOSPC: no space left on device`));
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readdirSync(join(m, 'checkpoints'))).toEqual(['step-00000002']);
      expect(readdirSync(good).map((f) => [f, readFileSync(join(good, f))])).toEqual(before);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
