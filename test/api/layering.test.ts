/**
 * Library errors never speak CLI: no file outside src/cli imports or throws UsageError, and no
 * error message outside src/cli names a flag (` --steps`); src/cli turns typed errors into flag-speak.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const library = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'graphs'))].filter((f) => !relative(ROOT, f).startsWith('src/cli/'));

describe('library errors', () => {
  it('UsageError lives in src/cli only', () => {
    expect(library.length).toBeGreaterThan(50);
    const users = library.filter((f) => /\bUsageError\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(ROOT, f));
    expect(users).toEqual([]);
  });

  it('no error message outside src/cli names a command-line flag', () => {
    const offenders: string[] = [];
    for (const f of library) {
      // the text from each `new XError(` / `super(` to the end of its statement
      const text = readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:new \w*Error\(|super\()([\s\S]*?)\);/g)) {
        if (/(^|[\s'"`(])--[a-z][a-z-]*/.test(m[1]!)) offenders.push(`${relative(ROOT, f)}: ${m[0].slice(0, 120)}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('the scan sees flag-speak where it is (src/cli)', () => {
    const cli = sources(join(ROOT, 'src/cli')).map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(/new UsageError\([^;]*--[a-z]/.test(cli)).toBe(true);
  });
});
