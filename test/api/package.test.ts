/**
 * growlm as a package: the README's TypeScript script, compiled by tsc against the built
 * declarations and run with `growlm` resolved from node_modules (a symlink to this repository, as
 * `npm install` of a local path makes it). `npm test` builds dist/ first.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'examples/grow-and-train.ts');
const require = createRequire(import.meta.url);
const TSC = join(dirname(require.resolve('typescript/package.json')), 'bin/tsc');
const TYPES = dirname(dirname(require.resolve('@types/node/package.json')));

let app: string;

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'growlm-api-'));
  mkdirSync(join(app, 'node_modules'));
  symlinkSync(ROOT, join(app, 'node_modules', 'growlm'), 'dir');
  symlinkSync(TYPES, join(app, 'node_modules', '@types'), 'dir');
  writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module', private: true }));
});
afterAll(() => rmSync(app, { recursive: true, force: true }));

const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: app, encoding: 'utf8', env: { ...process.env, GROWLM_DEBUG: '' } });

describe('growlm as a package', () => {
  it('the README shows examples/grow-and-train.ts verbatim', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Use it from TypeScript'));
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    expect(block?.[1]).toBe(readFileSync(SCRIPT, 'utf8'));
  });

  it('importing it runs nothing and prints nothing', () => {
    const r = run(['--input-type=module', '-e', "const g = await import('growlm'); process.stdout.write(Object.keys(g).sort().join(','))"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const names = r.stdout.split(',');
    for (const f of ['initModelDir', 'trainModelDir', 'growModel', 'removeMasks', 'generateText', 'evaluateModelDir', 'exportModel', 'benchTrain', 'prepareDataset', 'runPlanDir', 'GrowlmError', 'DEFAULT_TRAIN']) {
      expect(names).toContain(f);
    }
    // the package exports nothing of the CLI
    expect(names.filter((n) => /usage|cli|main/i.test(n))).toEqual([]);
  });

  it('the README script compiles against the declarations and grows and trains a model', () => {
    copyFileSync(SCRIPT, join(app, 'grow-and-train.ts'));
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'] },
      files: ['grow-and-train.ts'],
    }));
    const tsc = run([TSC, '-p', '.']);
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const r = run([join(app, 'out/grow-and-train.js')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const m = /^grown: max \|Δlogit\| ([\d.e+-]+), held-out loss ([\d.]+) → ([\d.]+)\nsmall: loss ([\d.]+); grown: loss ([\d.]+), masks removed\nthe quick.{20}\n$/s.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    // growth preserved the function on held-out data
    expect(Number(m![1])).toBeLessThan(1e-4);
    expect(m![3]).toBe(m![2]);
    // training lowered the loss from ln(256) ≈ 5.55 (4 + 6 steps on a repetitive text)
    expect(Number(m![5])).toBeLessThan(Number(m![4]));
    const grown = JSON.parse(readFileSync(join(app, 'big', 'config.json'), 'utf8'));
    expect(grown).toMatchObject({ hidden_size: 160, num_attention_heads: 5, num_hidden_layers: 5, intermediate_size: 432 });
    expect(grown.growlm.masks).toBeUndefined();
  }, 300_000);
});
