/**
 * The long fuzzing run: ≥ 100,000 inputs per parser (tools/fuzz-targets.ts), then a table of counts.
 *   npm run build && node dist/tools/fuzz.js [--runs 100000] [--seed 1] [--limit-ms 2000] [--only NAME]
 * Exit status 1 when any input crashed, hung or allocated too much (the first few are printed).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type FuzzCounts, fuzzScratchRoot, fuzzTarget, fuzzTargets } from './fuzz-targets.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' }, 'limit-ms': { type: 'string', default: '2000' }, only: { type: 'string' } } });
const runs = Number(values.runs), seed = Number(values.seed), limitMs = Number(values['limit-ms']);
const work = mkdtempSync(join(fuzzScratchRoot(), 'growlm-fuzz-'));
const rows: FuzzCounts[] = [];
try {
  for (const t of fuzzTargets(work)) {
    if (values.only && t.name !== values.only) continue;
    const c = fuzzTarget(t, { numRuns: runs, seed, limitMs });
    rows.push(c);
    process.stderr.write(`${t.name}: ${c.inputs} inputs in ${c.seconds.toFixed(1)} s\n`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const head = ['parser', 'inputs', 'parsed', 'typed errors', 'crashes', 'hangs', 'over memory', 'seconds'];
const table = [head, ...rows.map((r) => [r.target, r.inputs, r.parsed, r.typed, r.crashes, r.hangs, r.memory, r.seconds.toFixed(1)].map(String))];
const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
for (const row of table) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
console.log(`seed ${seed}, per-input limit ${limitMs} ms, Node ${process.version}`);
const failures = rows.flatMap((r) => r.failures.map((f) => ({ target: r.target, ...f })));
for (const f of failures) console.log(`${f.target}: ${f.outcome}: ${f.message}\n  input (hex, first 200 bytes): ${f.input}`);
process.exitCode = failures.length > 0 ? 1 : 0;
