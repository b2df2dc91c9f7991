/** Where the package's own files (presets in models/) live, from source or from dist/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'models'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('growlm package root not found');
    dir = up;
  }
  return (root = dir);
}

export function modelsDir(): string {
  return join(packageRoot(), 'models');
}
