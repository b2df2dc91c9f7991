// The repository stands on its own: no file in it points at notes or paths outside it, every
// relative link of the README and docs/ resolves (file and heading), and every docs page (with its
// #anchor) cited from code, configs or docs names a page and a heading that exist.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');
const TEXT_EXTENSIONS = new Set(['.ts', '.md', '.json', '.py', '.sh', '.mjs']);

/** Tracked files plus new files git does not ignore (so a violation shows before it is committed). */
function repositoryTextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  const files = [...new Set(out.split('\0').filter(Boolean))];
  return files.filter((f) => TEXT_EXTENSIONS.has(extname(f)) && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
}

/**
 * References to the background notes that lived outside the repository, or to paths outside it.
 * The patterns are written so that this file does not match them itself.
 */
const OUTSIDE = [
  /\b(?:GROWTH|ORT-NOTES|INTEROP-NOTES)\.md\b/g,
  /\.\.\/shared\b/g,
  /(?<![\w.-])\/work\//g,
];

export function outsideReferences(text: string): string[] {
  const hits: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const re of OUTSIDE) for (const m of line.matchAll(re)) hits.push(`${i + 1}: ${m[0]}`);
  });
  return hits;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of withoutFences(markdown).split('\n')) {
    const h = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const text = h[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').trim().replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Markdown without its fenced code blocks (a line starting with # inside one is no heading). */
function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
}

/** Markdown without code blocks and inline code (links written as code are not links). */
function withoutCode(markdown: string): string {
  return withoutFences(markdown).replace(/`[^`\n]*`/g, '');
}

/** Targets of the inline links of a markdown text. */
export function markdownLinks(markdown: string): string[] {
  return [...withoutCode(markdown).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

/** Problems with one link target written in `from` (a repository-relative path); undefined if it resolves. */
function checkLink(from: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // https:, mailto: …: not a file of the repository
  const [path = '', anchor] = target.split('#', 2);
  const file = path === '' ? from : relative(ROOT, resolve(ROOT, dirname(from), decodeURIComponent(path)));
  if (file.startsWith('..')) return `${target}: points outside the repository`;
  if (!existsSync(join(ROOT, file))) return `${target}: no such file`;
  if (anchor && file.endsWith('.md') && !headingAnchors(read(file)).has(decodeURIComponent(anchor))) return `${target}: no heading with anchor #${anchor} in ${file}`;
  return undefined;
}

const DOC_PAGES = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);

describe('the repository is self-contained', () => {
  it('the scanners find what they look for', () => {
    // assembled, so that this file does not contain what it forbids
    const note = 'GROWTH' + '.md', up = '..' + '/shared', work = '/' + 'work/';
    expect(outsideReferences(`see ${note} §3\nok\nfrom ${up}/x and ${work}main`)).toEqual([`1: ${note}`, `3: ${up}`, `3: ${work}`]);
    expect(outsideReferences('docs/growth.md#mask-free, src/work/x, a/work/b')).toEqual([]);
    expect([...headingAnchors('# Growth\n## Mask-free\n```\n# not a heading\n```\n### MSG: masked `x` growth\n## Growth')])
      .toEqual(['growth', 'mask-free', 'msg-masked-x-growth', 'growth-1']);
    expect(markdownLinks('[a](b.md) `[c](d.md)` [e](f.md#g "t") [h](https://x.org/y)')).toEqual(['b.md', 'f.md#g', 'https://x.org/y']);
  });

  it('no file refers to notes or paths outside the repository', () => {
    const files = repositoryTextFiles();
    expect(files.length).toBeGreaterThan(50);
    const offenders = files.flatMap((f) => outsideReferences(read(f)).map((h) => `${f}:${h}`));
    expect(offenders).toEqual([]);
  });

  it('docs/ has the background pages and its index links each of them', () => {
    for (const page of ['decoder.md', 'growth.md', 'tele-flm.md', 'onnxruntime.md']) expect(DOC_PAGES).toContain(`docs/${page}`);
    const linked = new Set(markdownLinks(read('docs/README.md')).map((t) => t.split('#')[0]));
    for (const page of DOC_PAGES.filter((p) => p !== 'docs/README.md')) expect(linked, page).toContain(page.slice('docs/'.length));
  });

  it('every relative link in README.md and docs/ resolves to a file and heading', () => {
    const problems = ['README.md', ...DOC_PAGES].flatMap((f) => markdownLinks(read(f)).map((t) => checkLink(f, t)).filter((p) => p !== undefined).map((p) => `${f}: ${p}`));
    expect(problems).toEqual([]);
    expect(markdownLinks(read('README.md')).some((t) => t.startsWith('docs/'))).toBe(true);
  });

  it('every docs page (and #anchor) cited anywhere names an existing page and heading', () => {
    const cite = /(?<![\w/.-])docs\/([\w.-]+\.md)(?:#([\p{L}\p{N}_-]+))?/gu;
    const problems: string[] = [];
    let citations = 0;
    for (const f of repositoryTextFiles()) {
      for (const m of read(f).matchAll(cite)) {
        citations++;
        const problem = checkLink('', `docs/${m[1]}${m[2] ? `#${m[2]}` : ''}`);
        if (problem) problems.push(`${f}: ${problem}`);
      }
    }
    expect(problems).toEqual([]);
    expect(citations).toBeGreaterThan(5);
  });
});
