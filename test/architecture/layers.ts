/**
 * The layer rule of the code base (README "How it is built"): every file of src/ and graphs/
 * belongs to a folder, the folders are ordered in layers, and a file may import only from its own
 * folder and from lower layers. Folders on one layer (graphs, autodiff, passes) may not import each
 * other. Every static `import … from`, `export … from`, `import x = require()` and dynamic
 * `import()` counts, type-only ones too (TypeScript's own pre-processor finds them, so comments and
 * strings that look like imports do not).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import ts from 'typescript';

/** Lowest first; the folders of one entry are peers. */
export const LAYERS: readonly (readonly string[])[] = [
  ['src/util'],
  ['src/onnx'],
  ['src/model'],
  ['src/data'],
  ['src/import'],
  ['graphs', 'src/autodiff', 'src/passes'],
  ['src/runtime'],
  ['src/growth'],
  ['src/train'],
  ['src/generate'],
  ['src/sft'],
  ['src/serve'],
  ['src/export'],
  ['src/bench'],
  ['src/report'],
  ['src/plan'],
  ['src/index.ts'],
  ['src/cli'],
];

/** Files that belong to another folder's layer than the one they sit in. */
export const RELOCATED: Readonly<Record<string, string>> = {
};

export interface SourceFile {
  /** Repository-relative, with forward slashes. */
  path: string;
  source: string;
}

/** The folder (layer unit) of a repository-relative path: graphs, src/<top folder>, or src/index.ts; undefined outside them. */
export function folderOf(path: string): string | undefined {
  if (RELOCATED[path]) return RELOCATED[path];
  const parts = path.split('/');
  if (parts[0] === 'graphs' && parts.length > 1) return 'graphs';
  if (parts[0] !== 'src' || parts.length < 2) return undefined;
  return parts.length === 2 ? path : `src/${parts[1]}`;
}

/** The relative module specifiers a source file imports (package imports are not part of the rule). */
export function relativeImports(source: string): string[] {
  return ts
    .preProcessFile(source, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((s) => s.startsWith('./') || s.startsWith('../'));
}

function layerIndex(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** Import edges between folders: one per (file, specifier) that leaves its folder. */
interface Edge {
  file: string;
  spec: string;
  from: string;
  to: string;
}

/**
 * Every violation of the layer rule in `files`, one line each: a file outside the layer order, an
 * import from a higher layer or a peer, and each folder-level import cycle. Empty when the rule holds.
 */
export function checkLayers(files: readonly SourceFile[]): string[] {
  const problems: string[] = [];
  const edges: Edge[] = [];
  for (const f of files) {
    const from = folderOf(f.path);
    if (from === undefined || layerIndex(from) < 0) {
      problems.push(`${f.path}: its folder ${from ?? dirname(f.path)} is not in the layer order (test/architecture/layers.ts LAYERS)`);
      continue;
    }
    for (const spec of relativeImports(f.source)) {
      const target = posix.normalize(posix.join(posix.dirname(f.path), spec));
      const to = folderOf(target);
      if (to === undefined || to === from) continue;
      edges.push({ file: f.path, spec, from, to });
    }
  }
  for (const e of edges) {
    const li = layerIndex(e.from);
    const lj = layerIndex(e.to);
    if (lj < 0) problems.push(`${e.file} imports '${e.spec}': ${e.to} is not in the layer order`);
    else if (lj === li) problems.push(`${e.file} imports '${e.spec}': ${e.from} may not import its peer ${e.to} (same layer)`);
    else if (lj > li) problems.push(`${e.file} imports '${e.spec}': ${e.from} may not import ${e.to}, a higher layer (${e.from} may import ${lowerThan(li)})`);
  }
  for (const cycle of folderCycles(edges)) problems.push(`folder-level import cycle: ${cycle.join(' → ')}`);
  return problems;
}

function lowerThan(layer: number): string {
  const below = LAYERS.slice(0, layer).flat();
  return below.length ? `only its own folder and ${below.join(', ')}` : 'only its own folder';
}

/**
 * One cycle per group of folders that import each other (strongly connected component): the
 * shortest one through the group's smallest folder name, as folders from it back to it.
 */
export function folderCycles(edges: readonly { from: string; to: string }[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) {
    if (e.from === e.to) continue;
    const out = next.get(e.from) ?? [];
    if (!out.includes(e.to)) out.push(e.to);
    next.set(e.from, out.sort());
  }
  /** Shortest paths from `start` (breadth first): each reached folder's predecessor. */
  const search = (start: string): Map<string, string> => {
    const prev = new Map<string, string>();
    const queue = [start];
    for (let i = 0; i < queue.length; i++) {
      for (const n of next.get(queue[i]!) ?? []) {
        if (!prev.has(n)) {
          prev.set(n, queue[i]!);
          queue.push(n);
        }
      }
    }
    return prev;
  };
  const cycles: string[][] = [];
  const done = new Set<string>();
  for (const start of [...next.keys()].sort()) {
    if (done.has(start)) continue;
    const prev = search(start);
    if (!prev.has(start)) continue; // not on a cycle
    for (const n of prev.keys()) if (search(n).has(start)) done.add(n); // its group
    const cycle = [start];
    for (let n = prev.get(start)!; n !== start; n = prev.get(n)!) cycle.unshift(n);
    cycles.push([start, ...cycle]);
  }
  return cycles;
}

/** The .ts/.js files of src/ and graphs/ under a repository root, repository-relative. */
export function layeredFiles(root: string): SourceFile[] {
  const out: SourceFile[] = [];
  const visit = (rel: string): void => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) visit(p);
      else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push({ path: p, source: readFileSync(join(root, p), 'utf8') });
    }
  };
  visit('src');
  visit('graphs');
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}
