// The SFT demo set's builders (tools/sft-demo/): the quiz(6) pattern parser on real lines of the
// bsdgames files (copied here, so the parser tests need no install), the whole installed set when
// Debian's bsdgames is present, and the held-out split by question.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { firstExpansion, parseQuizFile, parseQuizIndex, parseQuizPattern, quizFields, quizRecords } from '../../tools/sft-demo/quiz.js';
import { QUIZ_DIR, countryItems, glossDefinition, quizItems } from '../../tools/sft-demo/sources.js';
import { buildDemoSet, questionKey } from '../../tools/sft-demo/build.js';

describe('quiz(6) patterns, on lines of the bsdgames files', () => {
  it('alternatives, optional parts (nested), groups', () => {
    // pres, line 1
    const f = quizFields('{G{eorge} }Washington:1789-{17}97:{J{ohn} }Adams:{J{ohn} }Adams');
    expect(f.map(firstExpansion)).toEqual(['George Washington', '1789-1797', 'John Adams', 'John Adams']);
    // africa: alternatives take the first
    expect(quizFields("Chad:N'Djamena|Ndjamena").map(firstExpansion)).toEqual(['Chad', "N'Djamena"]);
    // sov: a group with an empty alternative, then a group of numerals
    expect(firstExpansion('Hen[ry|] [I|1]')).toBe('Henry I');
    expect(firstExpansion('W[illia|]m [II|2|Rufus|the Red]')).toBe('William II');
    // state: a top-level alternation whose first branch has nested optional parts
    expect(firstExpansion('Cal{if{ornia}}|CA')).toBe('California');
    // seq-easy: an optional group that holds an alternation
    expect(firstExpansion('Fibonacci{ seq{ence}| numbers}')).toBe('Fibonacci seqence');
    // the structure: {pat} is [pat|]
    expect(parseQuizPattern('a{b}c|d')).toEqual([
      [{ kind: 'lit', text: 'a' }, { kind: 'group', alts: [[{ kind: 'lit', text: 'b' }], []], optional: true }, { kind: 'lit', text: 'c' }],
      [{ kind: 'lit', text: 'd' }],
    ]);
  });

  it('accent spellings become the accented letter; other short groups take the first alternative', () => {
    expect(firstExpansion("Cameroon:Yaound['e|e'|e]".split(':')[1]!)).toBe('Yaoundé');
    expect(firstExpansion("C[^o|o^|o]te d'Ivoire")).toBe("Côte d'Ivoire");
    expect(firstExpansion("C[^\bo|o^|o]te d'Ivoire")).toBe("Côte d'Ivoire"); // the overstrike spelling of the africa file
    expect(firstExpansion("S[~a|a~|a]o Tom['e|e'|e] and Pr['i|i'|i]ncipe")).toBe('São Tomé and Príncipe');
    expect(firstExpansion('Mo[z|,c|c,|c]ambique')).toBe('Mozambique');
    expect(firstExpansion('[°A|A°|A]land Islands')).toBe('Åland Islands');
    expect(firstExpansion("The quality of mercy is not strain['|e]d")).toBe("The quality of mercy is not strain'd");
  });

  it('escapes: \\: is a colon inside a field, not a separator', () => {
    // bard: "To be{,} or not to be{\:}:\" continued by "that is the question{\:}:\"
    const recs = quizRecords('To be{,} or not to be{\\:}:\\\nthat is the question{\\:}:\\\nHamlet{ III-i}:\\\nHamlet\nnext:line\n');
    expect(recs).toHaveLength(2);
    expect(recs[0]!.line).toBe(1);
    expect(recs[1]!.line).toBe(5);
    expect(quizFields(recs[0]!.text).map(firstExpansion)).toEqual(['To be, or not to be:', 'that is the question:', 'Hamlet III-i', 'Hamlet']);
  });

  it('continuation lines join into one record (pres, lines 3–4)', () => {
    const text = '{T{homas} }Jefferson:1801-{{18}0}9:{A{aron} }Burr|{G{eorge} }Clinton:\\\n{J{ames} }Madison\n';
    const { rows, errors } = parseQuizFile('pres', text);
    expect(errors).toEqual([]);
    expect(rows).toEqual([{ file: 'pres', line: 1, fields: ['Thomas Jefferson', '1801-1809', 'Aaron Burr', 'James Madison'] }]);
  });

  it('an unbalanced pattern is an error for its record, not for the file', () => {
    const { rows, errors } = parseQuizFile('x', 'a[b:c\nd:e\nf}:g\n');
    expect(rows.map((r) => r.fields)).toEqual([['d', 'e']]);
    expect(errors.map((e) => e.line)).toEqual([1, 3]);
  });

  it('the index: the data file and the names of its fields', () => {
    const s = parseQuizIndex('/usr/share/games/bsdgames/quiz/state:state:cap{ital}:abbr{ev{iation}}:flower\n/usr/share/games/bsdgames/quiz/midearth:M[iddle{-}Earth|E]:cap{ital}\n');
    expect(s).toEqual([{ file: 'state', fields: ['state', 'capital', 'abbreviation', 'flower'] }, { file: 'midearth', fields: ['Middle-Earth', 'capital'] }]);
  });
});

describe.skipIf(!existsSync(QUIZ_DIR))('the installed quiz files (Debian bsdgames)', () => {
  it('parse without pattern errors into question/answer items', () => {
    const q = quizItems();
    expect(q.errors).toEqual([]);
    expect(q.records).toBeGreaterThan(1500);
    expect(q.items.length).toBeGreaterThan(1300);
    const find = (question: string) => q.items.find((i) => i.question === question)?.answer;
    expect(find('What is the capital of Cameroon?')).toBe('Yaoundé');
    expect(find('Who succeeded Thomas Jefferson as president of the United States?')).toBe('James Madison');
    expect(find('What is the postal abbreviation of Alabama?')).toBe('AL');
    for (const i of q.items.filter((x) => x.relation !== 'ed')) { // ed's answers are regular expressions, brackets and all
      expect(i.answer).not.toMatch(/[{}[\]|\\]/);
      expect(i.question).not.toMatch(/[{}|\\]/);
    }
  });
});

describe('the other sources and the split', () => {
  it('WordNet glosses: the definition before the examples', () => {
    expect(glossDefinition('a member of the genus Canis; "the dog barked all night"')).toBe('a member of the genus Canis');
    expect(glossDefinition('cause to continue in a certain state; e.g., `keep clean\'')).toBe('cause to continue in a certain state');
    expect(glossDefinition('an entity that has physical existence  ')).toBe('an entity that has physical existence');
  });

  it('countries-list: capitals, continents and currencies', () => {
    const c = countryItems();
    expect(c.find((i) => i.question === 'What is the capital of France?')?.answer).toBe('Paris');
    expect(c.find((i) => i.question === 'On which continent is Japan?')?.answer).toBe('Asia');
    expect(c.find((i) => i.question === 'What is the currency of Japan?')?.answer).toBe('Japanese Yen');
  });

  it('held out by question: no question (relation + subject) on both sides; deterministic; one item per question', () => {
    const a = buildDemoSet({ quizDir: null, definitions: 3000, heldout: 0.2, seed: 4 });
    const b = buildDemoSet({ quizDir: null, definitions: 3000, heldout: 0.2, seed: 4 });
    expect(a.train.map((i) => i.question)).toEqual(b.train.map((i) => i.question));
    const trainKeys = new Set(a.train.map(questionKey));
    for (const h of a.heldout) expect(trainKeys.has(questionKey(h))).toBe(false);
    const qs = [...a.train, ...a.heldout].map((i) => i.question.toLowerCase());
    expect(new Set(qs).size).toBe(qs.length);
    const frac = a.heldout.length / (a.heldout.length + a.train.length);
    expect(frac).toBeGreaterThan(0.17);
    expect(frac).toBeLessThan(0.23);
    expect(a.facts).toHaveLength(a.train.length + a.heldout.length);
    expect(a.manifest.sources.definitions!.items).toBe([...a.train, ...a.heldout].filter((i) => i.source === 'definitions').length);
    expect(a.manifest.sources.definitions!.items).toBeGreaterThan(2950); // 3000 chosen, less the repeated questions
    // another seed, another split
    const c = buildDemoSet({ quizDir: null, definitions: 3000, heldout: 0.2, seed: 5 });
    expect(c.heldout.map((i) => i.question)).not.toEqual(a.heldout.map((i) => i.question));
  });
});
