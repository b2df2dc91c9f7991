// The parsers under fuzzing (fast-check, fixed seed, 1,500 inputs each; the long run is tools/fuzz.ts):
// every input parses or is refused with a GrowlmError, none hangs or holds big memory. Then one
// regression test per crash the fuzzer found, and the "header claims 2^60 bytes" cases.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fuzzScratchRoot, fuzzTarget, fuzzTargets } from '../../tools/fuzz-targets.js';
import { parseConfig, ConfigError } from '../../src/model/config.js';
import { SafetensorsError, loadSafetensors } from '../../src/model/safetensors.js';
import { OnnxFormatError, decodeModel } from '../../src/onnx/serialize.js';
import { onnx } from '../../src/onnx/proto.js';
import { PlanError, loadPlan } from '../../src/plan/plan.js';
import { TokenFileError, readTokenFile } from '../../src/data/token-file.js';

const work = mkdtempSync(join(fuzzScratchRoot(), 'growlm-fuzz-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const RUNS = 1500, SEED = 20261202, LIMIT_MS = 2000;

describe('parsers under fuzzing', () => {
  for (const t of fuzzTargets(join(work, 'targets'))) {
    it(`${t.name}: ${RUNS} inputs, each parsed or a typed error; no crash, hang or big allocation`, () => {
      const c = fuzzTarget(t, { numRuns: RUNS, seed: SEED, limitMs: LIMIT_MS });
      expect(c.failures).toEqual([]);
      expect(c.inputs).toBe(RUNS);
      expect(c.parsed + c.typed).toBe(RUNS);
      // the generators reach both sides: some inputs parse, most are refused
      expect(c.parsed).toBeGreaterThan(0);
      expect(c.typed).toBeGreaterThan(RUNS / 2);
    });
  }
});

/** ArrayBuffer bytes allocated and kept while `f` runs (it throws: nothing it made is kept beyond what leaked). */
function heldBy(f: () => void): number {
  const before = process.memoryUsage().arrayBuffers;
  try {
    f();
  } catch {
    // expected
  }
  return process.memoryUsage().arrayBuffers - before;
}

const CONFIG = { vocab_size: 64, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 16 };
const onnxModel = (graph: onnx.IGraphProto) => onnx.ModelProto.encode({ ir_version: 8, opset_import: [{ domain: '', version: 17 }], graph }).finish();

describe('fuzz findings (regressions) and huge claims', () => {
  it('onnx: a tensor or graph attribute without its payload is an OnnxFormatError (was a TypeError)', () => {
    for (const type of [4, 5]) {
      const m = onnxModel({ name: 'g', node: [{ op_type: 'Identity', input: ['x'], output: ['y'], attribute: [{ name: 'a', type }] }] });
      expect(() => decodeModel(m)).toThrow(OnnxFormatError);
      expect(() => decodeModel(m)).toThrow(/attribute a: a (tensor|graph) attribute without its (tensor|graph)/);
    }
  });

  it('onnx: dims claiming 2^50 elements with 3 values is an OnnxFormatError and allocates nothing (was a RangeError after trying to allocate)', () => {
    const huge = onnxModel({ name: 'g', initializer: [{ name: 't', dims: [2 ** 30, 2 ** 20], data_type: 1, float_data: [1, 2, 3] }] });
    const held = heldBy(() => decodeModel(huge));
    expect(() => decodeModel(huge)).toThrow(/tensor t: 3 values for 1125899906842624 elements/);
    expect(held).toBeLessThan(1 << 20);
    // 2^30 floats (4 GiB) claimed by a field of 1 value: refused before any allocation
    const big = onnxModel({ name: 'g', initializer: [{ name: 't', dims: [2 ** 30], data_type: 1, float_data: [1] }] });
    expect(heldBy(() => decodeModel(big))).toBeLessThan(1 << 20);
    expect(() => decodeModel(big)).toThrow(OnnxFormatError);
    const overflow = onnxModel({ name: 'g', initializer: [{ name: 't', dims: [2 ** 40, 2 ** 40], data_type: 1 }] });
    expect(() => decodeModel(overflow)).toThrow(/tensor t: dims \[.*\] have too many elements/);
  });

  it('config.json: growlm.masks.<part> or .layers set to null is a ConfigError (was a TypeError)', () => {
    const ramp = { start: 0, steps: 1 };
    expect(() => parseConfig({ ...CONFIG, growlm: { masks: { hidden: null, ramp } } })).toThrow(ConfigError);
    expect(() => parseConfig({ ...CONFIG, growlm: { masks: { hidden: null, ramp } } })).toThrow(/growlm\.masks\.hidden\.from must be a positive integer/);
    expect(() => parseConfig({ ...CONFIG, growlm: { masks: { layers: null, ramp } } })).toThrow(/growlm\.masks\.layers\.indices must be layer indices/);
  });

  it('plan: a stage without "model" is a PlanError (was a TypeError from path.join)', () => {
    const p = join(work, 'no-model.plan.json');
    writeFileSync(p, JSON.stringify({ name: 'p', stages: [{ name: 's1', train: { steps: 1 } }] }));
    expect(() => loadPlan(p)).toThrow(PlanError);
    expect(() => loadPlan(p)).toThrow(/stage s1 needs a "model"/);
  });

  it('safetensors: a header length of 2^60, or a tensor claiming 2^60 bytes, is refused without allocating', () => {
    const p = join(work, 'huge.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(2n ** 60n);
    writeFileSync(p, Buffer.concat([len, Buffer.from('{}')]));
    expect(heldBy(() => loadSafetensors(p))).toBeLessThan(1 << 20);
    expect(() => loadSafetensors(p)).toThrow(/bad header length 1152921504606846976/);
    const header = Buffer.from(JSON.stringify({ t: { dtype: 'U8', shape: [2 ** 60], data_offsets: [0, 2 ** 60] } }));
    const hl = Buffer.alloc(8);
    hl.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(p, Buffer.concat([hl, header, Buffer.alloc(16)]));
    expect(heldBy(() => loadSafetensors(p))).toBeLessThan(1 << 20);
    expect(() => loadSafetensors(p)).toThrow(SafetensorsError);
  });

  it('token shard: a header claiming a 2^32-1 vocabulary over a short body is read by the file size, not the claim', () => {
    const p = join(work, 'huge.tok');
    const h = Buffer.alloc(16);
    h.write('GLMTOK01', 0, 'ascii');
    h.writeUInt32LE(4, 8);
    h.writeUInt32LE(2 ** 32 - 1, 12);
    writeFileSync(p, Buffer.concat([h, Buffer.alloc(6)]));
    expect(() => readTokenFile(p)).toThrow(TokenFileError);
    expect(() => readTokenFile(p)).toThrow(/truncated \(body of 6 bytes/);
  });
});
