/**
 * The data files of the BSD game quiz(6) (Debian package bsdgames, /usr/share/games/bsdgames/quiz/):
 * one record per line, fields separated by `:`, a `\` at the end of a line continues the record on
 * the next line (the backslash and the line break are dropped, as the game does), and each field is
 * a pattern:
 *
 *   a|b    alternatives
 *   {pat}  an optional part (the same as [pat|])
 *   [pat]  a group, as in pat[pat|pat]pat
 *   \c     the character c itself (`\:`, `\|`, `\[`, …)
 *
 * The game shows a field as its first alternative everywhere with optional parts included (its
 * rxp_expand); `firstExpansion` does the same, except that a group of accent spellings of one letter
 * (`['e|e'|e]`, `[^o|o^|o]`, also written as overstrikes `'`⌫`e`; `[z|,c|c,|c]` picks z) becomes
 * the accented letter (é, ô); backspaces left elsewhere are dropped. `index`
 * lists the subjects: the data file's path, then a pattern naming each field.
 */

export type QuizNode = { kind: 'lit'; text: string } | { kind: 'group'; alts: QuizNode[][]; optional: boolean };

export class QuizSyntaxError extends Error {
  override name = 'QuizSyntaxError';
}

/** Join continuation lines; drop blank lines. Returns the records with their first line number (1-based). */
export function quizRecords(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const lines = text.split('\n');
  let cur: string | null = null, start = 0;
  lines.forEach((raw, i) => {
    const l = raw.replace(/\r$/, '');
    if (cur === null) { cur = ''; start = i + 1; }
    if (l.endsWith('\\')) { cur += l.slice(0, -1); return; }
    cur += l;
    if (cur.trim() !== '') out.push({ line: start, text: cur });
    cur = null;
  });
  if (cur !== null && (cur as string).trim() !== '') out.push({ line: start, text: cur });
  return out;
}

/** Split a record at the `:`s that are not escaped (escapes are kept for the pattern parser). */
export function quizFields(record: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < record.length; i++) {
    const c = record[i]!;
    if (c === '\\' && i + 1 < record.length) { cur += c + record[i + 1]; i++; continue; }
    if (c === ':') { out.push(cur); cur = ''; continue; }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** Parse one field into its top-level alternatives. */
export function parseQuizPattern(field: string): QuizNode[][] {
  let pos = 0;
  // returns the alternatives and the closer that ended them ('' at the end of the field)
  const alts = (depth: number): { alts: QuizNode[][]; closer: string } => {
    const out: QuizNode[][] = [[]];
    const push = (text: string) => {
      const seq = out[out.length - 1]!;
      const last = seq[seq.length - 1];
      if (last?.kind === 'lit') last.text += text; else seq.push({ kind: 'lit', text });
    };
    while (pos < field.length) {
      const c = field[pos++]!;
      if (c === '\\') {
        if (pos < field.length) push(field[pos++]!);
      } else if (c === '[' || c === '{') {
        const g = alts(depth + 1);
        if (g.closer === '') throw new QuizSyntaxError(`unmatched ${c} in "${field}"`);
        const optional = g.closer === '}';
        out[out.length - 1]!.push({ kind: 'group', alts: optional ? [...g.alts, []] : g.alts, optional });
      } else if (c === ']' || c === '}') {
        if (depth === 0) throw new QuizSyntaxError(`unmatched ${c} in "${field}"`);
        return { alts: out, closer: c };
      } else if (c === '|') {
        out.push([]);
      } else push(c);
    }
    return { alts: out, closer: '' };
  };
  return alts(0).alts;
}

const ACCENTS: Record<string, string> = {
  "'e": 'é', "e'": 'é', "'a": 'á', "a'": 'á', "'i": 'í', "i'": 'í', "'o": 'ó', "o'": 'ó', "'u": 'ú', "u'": 'ú',
  '`e': 'è', 'e`': 'è', '`a': 'à', 'a`': 'à', '^o': 'ô', 'o^': 'ô', '^e': 'ê', 'e^': 'ê', '^a': 'â', 'a^': 'â',
  '~a': 'ã', 'a~': 'ã', '~n': 'ñ', 'n~': 'ñ', '~o': 'õ', 'o~': 'õ', ',c': 'ç', 'c,': 'ç', '"u': 'ü', 'u"': 'ü', '"o': 'ö', 'o"': 'ö',
  ',s': 'ș', 's,': 'ș', '°A': 'Å', 'A°': 'Å', 'o/': 'ø', '/o': 'ø',
};

function seqText(seq: QuizNode[]): string {
  return seq.map((n) => (n.kind === 'lit' ? n.text : groupText(n))).join('');
}

/** The files write accents as overstrikes (`'` backspace `e`) or as two characters (`'e`). */
const accentKey = (t: string) => t.replaceAll('\b', '');

function groupText(g: Extract<QuizNode, { kind: 'group' }>): string {
  const first = g.alts[0] ?? [];
  // an accent group: every alternative one plain literal of ≤ 2 characters, the first a known digraph
  if (first.length === 1 && first[0]!.kind === 'lit' && ACCENTS[accentKey(first[0]!.text)] !== undefined
    && g.alts.every((a) => a.length === 0 || (a.length === 1 && a[0]!.kind === 'lit' && accentKey(a[0]!.text).length <= 2))) return ACCENTS[accentKey(first[0]!.text)]!;
  return seqText(first);
}

/** The text the game shows for a pattern: first alternatives, optional parts included; spaces tidied. */
export function firstExpansion(field: string): string {
  return seqText(parseQuizPattern(field)[0] ?? []).replaceAll('\b', '').replace(/\s+/g, ' ').trim();
}

export interface QuizSubject {
  /** Data file name (the index's path, without its folder). */
  file: string;
  /** Field names (first expansion of the index's patterns). */
  fields: string[];
}

/** Parse the index file: one subject per record. */
export function parseQuizIndex(text: string): QuizSubject[] {
  return quizRecords(text).map((r) => {
    const [path, ...cats] = quizFields(r.text);
    return { file: (path ?? '').split('/').pop()!, fields: cats.map(firstExpansion) };
  });
}

export interface QuizRow {
  file: string;
  /** Line of the record in its file (1-based). */
  line: number;
  /** Each field's first expansion ('' when empty or unparsable). */
  fields: string[];
}

/** The records of a data file, each field expanded; records with a pattern error are returned in `errors`. */
export function parseQuizFile(file: string, text: string): { rows: QuizRow[]; errors: { line: number; message: string }[] } {
  const rows: QuizRow[] = [];
  const errors: { line: number; message: string }[] = [];
  for (const r of quizRecords(text)) {
    try {
      rows.push({ file, line: r.line, fields: quizFields(r.text).map(firstExpansion) });
    } catch (e) {
      if (!(e instanceof QuizSyntaxError)) throw e;
      errors.push({ line: r.line, message: e.message });
    }
  }
  return { rows, errors };
}
