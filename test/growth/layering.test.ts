// The growth layer's boundaries, by reading its sources: the operators and the plan do no file I/O
// (all of it is in model-dir.ts), and growth imports no layer above it (train, plan, cli, report).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = join(import.meta.dirname, '../../src/growth');
const sources = readdirSync(DIR).filter((f) => f.endsWith('.ts')).map((f) => ({ file: f, text: readFileSync(join(DIR, f), 'utf8') }));
const imports = (text: string) => [...text.matchAll(/^import[^;]*?from '([^']+)';/gms)].map((m) => m[1]!);

describe('src/growth', () => {
  it('has the named operators, each in its own module', () => {
    const exported = (file: string) => sources.find((s) => s.file === file)?.text ?? '';
    for (const [file, fn] of [['hidden.ts', 'growHidden'], ['heads.ts', 'growHeads'], ['ffn.ts', 'growFfn'], ['depth.ts', 'growDepth'], ['vocab.ts', 'growVocab'], ['grow-model.ts', 'growModel'], ['model-dir.ts', 'growModelDir'], ['check.ts', 'compareModels'], ['calibrate.ts', 'layerDistances']]) {
      expect(exported(file!), `${file} exports ${fn}`).toMatch(new RegExp(`export (async )?function ${fn}\\(`));
    }
  });

  it('does file I/O only in model-dir.ts', () => {
    const io = /^node:fs|^node:fs\/promises$|\/model\/model-dir\.js$|\/model\/checkpoint-files\.js$|\/model\/safetensors\.js$|\/data\/dataset\.js$|\/util\/atomic\.js$/;
    const offenders = sources.filter((s) => s.file !== 'model-dir.ts').flatMap((s) => imports(s.text).filter((i) => io.test(i)).map((i) => `${s.file} imports ${i}`));
    expect(offenders).toEqual([]);
    // and the check holds: model-dir.ts does import node:fs
    expect(imports(sources.find((s) => s.file === 'model-dir.ts')!.text)).toContain('node:fs');
  });

  it('imports no layer above it', () => {
    const offenders = sources.flatMap((s) => imports(s.text).filter((i) => /^\.\.\/(train|plan|cli|report)\//.test(i)).map((i) => `${s.file} imports ${i}`));
    expect(offenders).toEqual([]);
  });
});
