// The GGUF writer without llama.cpp: float16 rounding against every binary16 value, the file read back
// by @huggingface/gguf (an independent parser), the RoPE row permutation, Llama 3 RoPE factors, the
// tokenizer metadata, and bad input (one-line errors, nothing written).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gguf as readGguf } from '@huggingface/gguf';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FoldError } from '../../src/export/fold.js';
import { GgufError, encodeGgufHeader, gguf, ggufChunks } from '../../src/export/gguf-file.js';
import { fromFloat16Bits as f16Value, toFloat16Bits as f16Bits } from '../../src/onnx/half.js';
import { GgufTokenizerError, TOKEN_TYPE, bpeFromTokenizerJson, preTokenizerName, tokenizerMetadata } from '../../src/export/gguf-tokenizer.js';
import { exportGguf, ropeFreqFactors, llamaTensors, permuteRope } from '../../src/export/gguf.js';
import { byteToUnicode, byteTokenizerJson } from '../../src/export/tokenizer-files.js';
import { growModel } from '../../src/growth/grow-model.js';
import { parseConfig } from '../../src/model/config.js';
import { initModelDir } from '../../src/model/init-model-dir.js';
import { loadModelDir, saveModelDir } from '../../src/model/model-dir.js';
import { plainLlama } from '../../src/export/fold.js';
import { initWeights } from '../../src/model/weights.js';
import { expectOneLineError, growlm } from '../cli/run.js';

describe('float16 rounding', () => {
  const f32 = (x: number) => Math.fround(x);
  it('is exact on every binary16 value and rounds every midpoint to even', () => {
    const wrong: string[] = [];
    const check = (x: number, want: number) => { if (f16Bits(x) !== want) wrong.push(`${x} → ${f16Bits(x).toString(16)}, want ${want.toString(16)}`); };
    for (let h = 0; h < 0x10000; h++) {
      const v = f16Value(h);
      if (Number.isNaN(v)) { if (!Number.isNaN(f16Value(f16Bits(v)))) wrong.push(`NaN ${h}`); continue; }
      check(v, h);
      // the midpoint to the next value up in magnitude (finite, same sign), and one float32 ulp either side
      if ((h & 0x7fff) >= 0x7bff) continue;
      const next = h + 1;
      const mid = (v + f16Value(next)) / 2;
      if (f32(mid) !== mid) wrong.push(`midpoint ${mid} is not a float32`);
      check(mid, h % 2 === 0 ? h : next);
      const ulp = Math.abs(mid) * 2 ** -23;
      check(f32(mid - Math.sign(mid) * ulp), h); // toward zero
      check(f32(mid + Math.sign(mid) * ulp), next); // away from zero
    }
    expect(wrong.slice(0, 5)).toEqual([]);
  });

  it('overflows to infinity past 65520, keeps signed zeros and flushes below 2^-25', () => {
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(65519.99)).toBe(0x7bff);
    expect(f16Bits(65520)).toBe(0x7c00);
    expect(f16Bits(-1e9)).toBe(0xfc00);
    expect(f16Bits(-0)).toBe(0x8000);
    expect(f16Bits(2 ** -25)).toBe(0); // the tie between 0 and the smallest subnormal goes to even (0)
    expect(f16Bits(f32(2 ** -25 * 1.0001))).toBe(1);
    expect(f16Bits(1 / 3)).toBe(0x3555);
  });
});

describe('RoPE layout', () => {
  it('puts Hugging Face row s·hd/2 + j of each head at row 2j + s', () => {
    // 2 heads of hd 4, one column: HF rows per head [a0 a1 | b0 b1] → interleaved [a0 b0 a1 b1]
    const hf = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(permuteRope(hf, 2, 4, 1))).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
    // whole rows move (3 columns)
    const wide = Float32Array.from({ length: 12 }, (_, i) => i);
    expect(Array.from(permuteRope(wide, 1, 4, 3))).toEqual([0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11]);
  });

  it('Llama 3 scaling: factor 1 above the high-frequency band, `factor` below the low one, interpolated between', () => {
    const s = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    const f = ropeFreqFactors(s, 500000, 128);
    expect(f.length).toBe(64);
    for (let j = 0; j < 64; j++) {
      const wavelen = 2 * Math.PI * 500000 ** ((2 * j) / 128);
      if (wavelen < 8192 / 4) expect(f[j]).toBe(1);
      else if (wavelen > 8192) expect(f[j]).toBe(8);
      else {
        expect(f[j]).toBeGreaterThan(1);
        expect(f[j]).toBeLessThan(8);
        expect(f[j]).toBeGreaterThanOrEqual(f[j - 1]!); // monotone in wavelength
      }
    }
    expect(new Set(f).size).toBeGreaterThan(3);
  });
});

describe('GGUF file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'growlm-gguf-unit-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cfg = (extra: Record<string, unknown> = {}) => parseConfig({
    vocab_size: 260, hidden_size: 24, intermediate_size: 40, num_hidden_layers: 2, num_attention_heads: 3, head_dim: 8,
    num_key_value_heads: 3, max_position_embeddings: 64, rope_theta: 20000, rms_norm_eps: 3e-5, input_mult: 2, output_mult: 0.5,
    growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } }, ...extra,
  });

  /** Tensor bytes of a parsed file, by name. */
  function tensorBytes(file: string, parsed: Awaited<ReturnType<typeof readGguf>>): Map<string, Buffer> {
    const buf = readFileSync(file);
    const start = Number(parsed.tensorDataOffset);
    const out = new Map<string, Buffer>();
    for (const t of parsed.tensorInfos) {
      const n = t.shape.reduce((a, b) => a * Number(b), 1);
      const size = n * (t.dtype === 0 ? 4 : 2);
      out.set(t.name, buf.subarray(start + Number(t.offset), start + Number(t.offset) + size));
    }
    return out;
  }

  for (const dtype of ['f32', 'f16'] as const) {
    it(`${dtype}: @huggingface/gguf reads back the metadata, tensor infos and data`, async () => {
      const c = cfg();
      const w = initWeights(c, 4);
      saveModelDir(join(dir, `m-${dtype}`), { config: c, weights: w });
      const out = join(dir, `m-${dtype}.gguf`);
      const r = await exportGguf(join(dir, `m-${dtype}`), out, { dtype });
      expect(r.bytes).toBe(readFileSync(out).length);
      const p = await readGguf(out, { allowLocalFile: true });
      const md = p.metadata as Record<string, unknown>;
      expect(md.version).toBe(3);
      expect(md['general.architecture']).toBe('llama');
      expect(md['general.alignment']).toBe(32);
      expect(md['general.file_type']).toBe(dtype === 'f32' ? 0 : 1);
      expect([md['llama.context_length'], md['llama.embedding_length'], md['llama.block_count'], md['llama.feed_forward_length']]).toEqual([64, 24, 2, 40]);
      expect([md['llama.attention.head_count'], md['llama.attention.head_count_kv'], md['llama.rope.dimension_count'], md['llama.attention.key_length']]).toEqual([3, 3, 8, 8]);
      expect(md['llama.rope.freq_base']).toBe(20000);
      expect(md['llama.attention.layer_norm_rms_epsilon']).toBe(Math.fround(3e-5));
      expect(md['tokenizer.ggml.model']).toBe('gpt2');
      expect(md['tokenizer.ggml.pre']).toBe('gpt-2');
      const tokens = md['tokenizer.ggml.tokens'] as string[];
      expect(tokens.slice(0, 256)).toEqual(byteToUnicode());
      expect(tokens.slice(256)).toEqual(['[PAD256]', '[PAD257]', '[PAD258]', '[PAD259]']);
      expect(md['tokenizer.ggml.token_type']).toEqual([...Array(256).fill(TOKEN_TYPE.normal), ...Array(4).fill(TOKEN_TYPE.unused)]);
      expect(md['tokenizer.ggml.merges']).toEqual([]);
      expect(md['tokenizer.ggml.add_bos_token']).toBe(false);
      // tensors: llama.cpp names, dims innermost first, 32-byte aligned offsets, the plain model's values
      const plain = plainLlama(c, w);
      const expected = llamaTensors(plain.config, plain.weights, dtype);
      expect(p.tensorInfos.map((t) => t.name)).toEqual(expected.map((t) => t.name));
      expect(expected.map((t) => t.name)).toContain('output.weight');
      expect(expected.map((t) => t.name)).toContain('blk.1.ffn_down.weight');
      const bytes = tensorBytes(out, p);
      for (const [i, t] of p.tensorInfos.entries()) {
        const e = expected[i]!;
        expect(t.shape.map(Number)).toEqual([...e.shape].reverse());
        expect(Number(t.offset) % 32).toBe(0);
        expect(t.dtype).toBe(e.type === 'f32' ? 0 : 1);
        if (e.shape.length === 1) expect(e.type).toBe('f32');
        const got = bytes.get(t.name)!;
        if (e.type === 'f32') expect(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).equals(got)).toBe(true);
        else expect(Array.from(new Uint16Array(got.buffer.slice(got.byteOffset, got.byteOffset + got.length)))).toEqual(Array.from(e.data, f16Bits));
      }
      // μP folded: token_embd = input_mult × embed_tokens; attn_q permuted from q_proj
      if (dtype === 'f32') {
        const te = bytes.get('token_embd.weight')!;
        expect(te.readFloatLE(4 * 5)).toBe(Math.fround(2 * (w.get('model.embed_tokens.weight')!.data[5] as number)));
        const q = bytes.get('blk.0.attn_q.weight')!;
        // GGUF row 1 (j = 0, s = 1) is HF row hd/2 = 4
        expect(q.readFloatLE(4 * 24 * 1)).toBe(w.get('model.layers.0.self_attn.q_proj.weight')!.data[24 * 4]);
      }
    });
  }

  it('property: random architectures (GQA ratios, MQA, tied, Llama 3 scaling, head_dim ≠ hidden/heads, f32/f16) read back exactly', async () => {
    let n = 0;
    await fc.assert(fc.asyncProperty(
      fc.record({
        kv: fc.integer({ min: 1, max: 3 }), group: fc.constantFrom(1, 2, 4), hd: fc.constantFrom(2, 4, 8), d: fc.integer({ min: 4, max: 24 }),
        f: fc.integer({ min: 2, max: 24 }), L: fc.integer({ min: 1, max: 3 }), V: fc.integer({ min: 256, max: 262 }), tied: fc.boolean(), llama3: fc.boolean(),
        inputMult: fc.constantFrom(1, 0.5, 3), dtype: fc.constantFrom('f32' as const, 'f16' as const),
      }),
      async (a) => {
        const c = cfg({
          vocab_size: a.V, hidden_size: a.d, intermediate_size: a.f, num_hidden_layers: a.L, num_attention_heads: a.kv * a.group, num_key_value_heads: a.kv,
          head_dim: a.hd, tie_word_embeddings: a.tied, input_mult: a.inputMult, output_mult: 1, mup_scale_factor: 2,
          ...(a.llama3 ? { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } } : {}),
        });
        const w = initWeights(c, n);
        const m = join(dir, `prop-${n++}`);
        saveModelDir(m, { config: c, weights: w });
        await exportGguf(m, `${m}.gguf`, { dtype: a.dtype });
        const p = await readGguf(`${m}.gguf`, { allowLocalFile: true });
        const md = p.metadata as Record<string, unknown>;
        expect([md['llama.attention.head_count'], md['llama.attention.head_count_kv'], md['llama.attention.key_length'], md['llama.embedding_length']]).toEqual([a.kv * a.group, a.kv, a.hd, a.d]);
        const plain = plainLlama(c, w);
        // tied stays tied only when both uses scale alike (input_mult = output_mult / mup_scale_factor)
        expect(p.tensorInfos.some((t) => t.name === 'output.weight')).toBe(!(a.tied && a.inputMult === 0.5));
        const expected = llamaTensors(plain.config, plain.weights, a.dtype);
        expect(p.tensorInfos.map((t) => t.name)).toEqual(expected.map((t) => t.name));
        const bytes = tensorBytes(`${m}.gguf`, p);
        for (const [i, t] of p.tensorInfos.entries()) {
          const e = expected[i]!;
          expect(t.shape.map(Number)).toEqual([...e.shape].reverse());
          const got = bytes.get(t.name)!;
          const want = e.type === 'f32' ? Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) : Buffer.from(Uint16Array.from(e.data, f16Bits).buffer);
          expect(got.equals(want), t.name).toBe(true);
        }
      },
    ), { numRuns: 12, seed: 20261202 });
  });

  it('writes rope_freqs for Llama 3 RoPE scaling, no output.weight for a tied model, head_count_kv for GQA', async () => {
    const c = cfg({
      vocab_size: 256, tie_word_embeddings: true, input_mult: 1, output_mult: 1, num_key_value_heads: 1,
      rope_scaling: { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
    });
    saveModelDir(join(dir, 'tied'), { config: c, weights: initWeights(c, 5) });
    const out = join(dir, 'tied.gguf');
    await exportGguf(join(dir, 'tied'), out);
    const p = await readGguf(out, { allowLocalFile: true });
    const names = p.tensorInfos.map((t) => t.name);
    expect(names).not.toContain('output.weight');
    expect(names).toContain('rope_freqs.weight');
    expect(p.tensorInfos.find((t) => t.name === 'blk.0.attn_k.weight')!.shape.map(Number)).toEqual([24, 8]);
    expect((p.metadata as Record<string, unknown>)['llama.attention.head_count_kv']).toBe(1);
    const f = tensorBytes(out, p).get('rope_freqs.weight')!;
    const factors = Array.from({ length: 4 }, (_, j) => f.readFloatLE(4 * j));
    expect(factors).toEqual(Array.from(ropeFreqFactors(c.ropeScaling!, 20000, 8)));
  });

  it('header: typed values, arrays, duplicate keys and bad values refused', () => {
    const { header, offsets, dataBytes } = encodeGgufHeader([['a', gguf.u32(7)], ['b', gguf.strings(['x', 'yz'])]], [{ name: 't', shape: [3], type: 'f32' }, { name: 'u', shape: [2, 2], type: 'f16' }]);
    expect(header.length % 32).toBe(0);
    expect(header.readUInt32LE(0)).toBe(0x46554747);
    expect(offsets).toEqual([0, 32]);
    expect(dataBytes).toBe(64);
    expect(() => encodeGgufHeader([['a', gguf.u32(1)], ['a', gguf.u32(2)]], [])).toThrow(/appears twice/);
    expect(() => encodeGgufHeader([['a', gguf.u32(-1)]], [])).toThrow(GgufError);
    expect(() => encodeGgufHeader([['a', gguf.f32(NaN)]], [])).toThrow(GgufError);
    expect(() => encodeGgufHeader([], [{ name: 'x'.repeat(64), shape: [1], type: 'f32' }])).toThrow(/63 bytes/);
    expect(() => [...ggufChunks([], [{ name: 't', shape: [3], type: 'f32', data: new Float32Array(2) }])]).toThrow(/2 values for shape \[3\]/);
  });

  it('bad input: one line, exit 1, nothing written', async () => {
    const c = cfg();
    saveModelDir(join(dir, 'cli'), { config: c, weights: initWeights(c, 6) });
    const out = join(dir, 'cli.gguf');
    expectOneLineError(growlm('export', '--model', join(dir, 'missing'), '--format', 'gguf', '--out', out), /not a model directory/);
    expectOneLineError(growlm('export', '--model', join(dir, 'cli'), '--format', 'gguf', '--out', out, '--dtype', 'bf16'), /--dtype must be f32 or f16 for --format gguf, got "bf16"/, 2);
    await expect(exportGguf(join(dir, 'cli'), dir)).rejects.toThrow(/is a directory/);
    initModelDir(join(dir, 'untrained'), parseConfig({ vocab_size: 256, hidden_size: 16, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 }));
    expectOneLineError(growlm('export', '--model', join(dir, 'untrained'), '--format', 'gguf', '--out', out), /no recorded tokenizer: train it first or pass --tokenizer/);
    await expect(exportGguf(join(dir, 'untrained'), out, { tokenizer: 'gpt2' })).rejects.toThrow(/50257 tokens but the model's vocab_size is 256/);
    expect(existsSync(out)).toBe(false);
    const ok = growlm('export', '--model', join(dir, 'cli'), '--format', 'gguf', '--out', out, '--dtype', 'f16', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ out, dtype: 'f16', pre_tokenizer: 'gpt-2' });
    expectOneLineError(growlm('export', '--model', join(dir, 'cli'), '--format', 'gguf', '--out', out), /already holds a file \(use --force to overwrite\)/);
  });

  it('refuses a model whose vocabulary mask is still below 1, writing nothing', async () => {
    const small = cfg({ vocab_size: 256 });
    const grown = growModel({ config: small, weights: initWeights(small, 7) }, cfg({ vocab_size: 300 }), { method: 'msg', placement: 'append', seed: 1, rampSteps: 10, stagger: false });
    saveModelDir(join(dir, 'vocab'), grown);
    await expect(exportGguf(join(dir, 'vocab'), join(dir, 'vocab.gguf'))).rejects.toThrow(FoldError);
    expect(existsSync(join(dir, 'vocab.gguf'))).toBe(false);
    expect(loadModelDir(join(dir, 'vocab')).config.growth.masks?.vocab?.value).toBe(0);
  });
});

describe('tokenizer metadata', () => {
  const bpe = (extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}) => ({
    normalizer: null, pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    added_tokens: [{ id: 5, content: '<|endoftext|>', special: true }, { id: 6, content: '<tool>', special: false }],
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, 'Ġ': 3, 'Ġa': 4 }, merges: ['a b', ['Ġ', 'a']], ...model }, ...extra,
  });
  const llama3Split = { type: 'Split', pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, behavior: 'Isolated', invert: false };

  it('tokens by id with types, merges as "left right", special ids from tokenizer_config, chat templates', () => {
    const b = bpeFromTokenizerJson(bpe(), { eos_token: { content: '<|endoftext|>' }, chat_template: [{ name: 'default', template: 'T' }, { name: 'tool_use', template: 'U' }] });
    expect(b.tokens).toEqual(['a', 'b', 'ab', 'Ġ', 'Ġa', '<|endoftext|>', '<tool>']);
    expect(b.types).toEqual([1, 1, 1, 1, 1, TOKEN_TYPE.control, TOKEN_TYPE.userDefined]);
    expect(b.merges).toEqual(['a b', 'Ġ a']);
    expect([b.bos, b.eos, b.addBos, b.addEos]).toEqual([5, 5, false, false]);
    const md = new Map(tokenizerMetadata(b, 8));
    expect(md.get('tokenizer.ggml.tokens')).toEqual({ type: 'array', of: 'string', value: [...b.tokens, '[PAD7]'] });
    expect(md.get('tokenizer.ggml.eos_token_id')).toEqual({ type: 'u32', value: 5 });
    expect(md.get('tokenizer.chat_template')).toEqual({ type: 'string', value: 'T' });
    expect(md.get('tokenizer.chat_template.tool_use')).toEqual({ type: 'string', value: 'U' });
    expect(() => tokenizerMetadata(b, 6)).toThrow(/7 tokens but the model's vocab_size is 6/);
    // BOS prepended by a TemplateProcessing post-processor (Llama 3) → add_bos_token
    const withBos = bpe({ post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] } });
    expect(bpeFromTokenizerJson(withBos, { bos_token: '<|endoftext|>' }).addBos).toBe(true);
  });

  it('names the pre-tokenizer as llama.cpp does, and refuses what llama.cpp would split differently', () => {
    expect(preTokenizerName({ type: 'ByteLevel', use_regex: true }, true)).toBe('gpt-2');
    expect(preTokenizerName({ type: 'Sequence', pretokenizers: [llama3Split, { type: 'ByteLevel', use_regex: false }] }, true)).toBe('llama-bpe');
    expect(preTokenizerName({ type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', use_regex: true }] }, true)).toBe('smollm');
    // growlm's byte tokenizer: no merges, so the split does not matter
    expect(preTokenizerName((byteTokenizerJson() as { pre_tokenizer: unknown }).pre_tokenizer, false)).toBe('gpt-2');
    expect(() => preTokenizerName({ type: 'ByteLevel', use_regex: false }, true)).toThrow(/no llama.cpp equivalent/);
    expect(() => preTokenizerName({ type: 'Sequence', pretokenizers: [{ ...llama3Split, pattern: { Regex: '\\w+' } }, { type: 'ByteLevel', use_regex: false }] }, true)).toThrow(GgufTokenizerError);
    expect(() => preTokenizerName({ type: 'ByteLevel', add_prefix_space: true, use_regex: true }, true)).toThrow(/prefix space/);
    expect(() => preTokenizerName({ type: 'Metaspace' }, true)).toThrow(/not byte-level/);
    expect(() => preTokenizerName(null, true)).toThrow(/not byte-level/);
  });

  it('refuses tokenizers without a faithful byte-level BPE form', () => {
    expect(() => bpeFromTokenizerJson(bpe({}, { type: 'Unigram' }))).toThrow(/Unigram.*only byte-level BPE/);
    expect(() => bpeFromTokenizerJson(bpe({}, { byte_fallback: true }))).toThrow(/SentencePiece-style/);
    expect(() => bpeFromTokenizerJson(bpe({ normalizer: { type: 'NFC' } }))).toThrow(/normalizer/);
    expect(() => bpeFromTokenizerJson(bpe({}, { merges: ['a b c'] }))).toThrow(/malformed merge/);
    expect(() => bpeFromTokenizerJson(bpe({}, { vocab: { a: 0, b: 0 } }))).toThrow(/gives id 0 to both/);
    expect(() => bpeFromTokenizerJson(bpe({}, { ignore_merges: true }))).toThrow(/only for the llama-bpe pre-tokenizer, not gpt-2/);
    const llama3Pre = { pre_tokenizer: { type: 'Sequence', pretokenizers: [llama3Split, { type: 'ByteLevel', use_regex: false }] } };
    expect(() => bpeFromTokenizerJson(bpe(llama3Pre))).toThrow(/ignore_merges false/);
    expect(bpeFromTokenizerJson(bpe(llama3Pre, { ignore_merges: true })).pre).toBe('llama-bpe');
  });
});

