import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RELOCATED, checkLayers, folderCycles, folderOf, layeredFiles, relativeImports } from './layers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('layer rule', () => {
  it('holds for src/ and graphs/', () => {
    const files = layeredFiles(root);
    expect(files.some((f) => f.path === 'src/train/train-graph.ts')).toBe(true);
    expect(files.some((f) => f.path === 'graphs/decoder.ts')).toBe(true);
    expect(checkLayers(files)).toEqual([]);
  });

  it('relocates only files that still sit outside their folder', () => {
    const paths = new Set(layeredFiles(root).map((f) => f.path));
    const stale = Object.keys(RELOCATED).filter((p) => !paths.has(p));
    expect(stale, 'RELOCATED (test/architecture/layers.ts) lists files that have moved: remove them').toEqual([]);
  });

  it('graphs/ imports only the IR and the model description', () => {
    const targets = new Set<string>();
    for (const f of layeredFiles(root).filter((f) => f.path.startsWith('graphs/'))) {
      for (const spec of relativeImports(f.source)) {
        const to = folderOf(new URL(spec, `file:///${f.path}`).pathname.slice(1));
        if (to !== 'graphs') targets.add(to!);
      }
    }
    expect([...targets].sort()).toEqual(['src/model', 'src/onnx']);
  });

  it('fails on an import from a higher layer, naming the file, the import and the rule', () => {
    const problems = checkLayers([
      { path: 'src/onnx/builder.ts', source: "import { TrainStep } from '../train/step.js';\nexport const x = 1;" },
      { path: 'src/train/step.ts', source: "import { GraphBuilder } from '../onnx/builder.js';" },
    ]);
    expect(problems[0]).toBe(
      "src/onnx/builder.ts imports '../train/step.js': src/onnx may not import src/train, a higher layer (src/onnx may import only its own folder and src/util)",
    );
    expect(problems[1]).toBe('folder-level import cycle: src/onnx → src/train → src/onnx');
    expect(problems).toHaveLength(2);
  });

  it('counts export-from, dynamic and type-only imports, not comments or strings', () => {
    const source = [
      "// import { a } from '../runtime/session.js';",
      "const s = \"import('../runtime/session.js')\";",
      "export { b } from '../runtime/forward.js';",
      "const m = await import('../train/step.js');",
      "import type { Batch } from '../generate/generate.js';",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    expect(relativeImports(source)).toEqual(['../runtime/forward.js', '../train/step.js', '../generate/generate.js']);
    expect(checkLayers([{ path: 'src/data/x.ts', source }])).toHaveLength(3);
  });

  it('forbids imports between peers and files outside the layer order', () => {
    expect(checkLayers([{ path: 'graphs/decoder.ts', source: "import { addGradients } from '../src/autodiff/gradient.js';" }])).toEqual([
      "graphs/decoder.ts imports '../src/autodiff/gradient.js': graphs may not import its peer src/autodiff (same layer)",
    ]);
    expect(checkLayers([{ path: 'src/misc/x.ts', source: '' }])).toEqual([
      'src/misc/x.ts: its folder src/misc is not in the layer order (test/architecture/layers.ts LAYERS)',
    ]);
  });

  it('allows the same folder, lower layers, subfolders and packages', () => {
    expect(
      checkLayers([
        { path: 'src/cli/commands/train.ts', source: "import { a } from '../command.js';\nimport { b } from '../../train/step.js';\nimport { c } from '../../../graphs/decoder.js';\nimport * as ort from 'onnxruntime-node';" },
        { path: 'src/autodiff/rules/matmul.ts', source: "import { d } from '../registry.js';\nimport { e } from '../../onnx/ir.js';" },
        { path: 'src/index.ts', source: "export { f } from './plan/plan.js';" },
      ]),
    ).toEqual([]);
  });

  it('reports one shortest cycle per group of folders that import each other', () => {
    const e = (from: string, to: string) => ({ from, to });
    expect(folderCycles([e('a', 'b'), e('b', 'c'), e('c', 'a'), e('b', 'a'), e('c', 'd')])).toEqual([['a', 'b', 'a']]);
    expect(folderCycles([e('a', 'b'), e('b', 'c'), e('c', 'a'), e('d', 'e'), e('e', 'd'), e('x', 'd')])).toEqual([
      ['a', 'b', 'c', 'a'],
      ['d', 'e', 'd'],
    ]);
    expect(folderCycles([e('a', 'b'), e('b', 'c'), e('a', 'c')])).toEqual([]);
  });
});
