/**
 * The long crash run: SIGKILLs `growlm train`, a staged `growlm plan run` with a growth, and `growlm
 * data prepare` again and again, reruns each after every kill, and checks that the final files are
 * bitwise equal to an uninterrupted run's, and that no kill lost more than one checkpoint interval of
 * training (tools/sigkill-harness.ts).
 *   npm run build && node dist/tools/sigkill.js [--kills 12] [--seed 1] [--steps 24] [--max-delay-ms 4000] [--only train|plan|data] [--json]
 * Exit status 1 when a final file differs, a rerun failed, a kill lost more training steps than the
 * checkpoint interval, or a killed CLI left its child running.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ScenarioName, type ScenarioResult, runScenario } from './sigkill-harness.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '12' }, seed: { type: 'string', default: '1' }, steps: { type: 'string', default: '24' },
    'max-delay-ms': { type: 'string', default: '4000' }, only: { type: 'string' }, json: { type: 'boolean', default: false },
  },
});
const names: ScenarioName[] = values.only ? [values.only as ScenarioName] : ['train', 'plan', 'data'];
const work = mkdtempSync(join(tmpdir(), 'growlm-sigkill-'));
const rows: ScenarioResult[] = [];
try {
  for (const [i, name] of names.entries()) {
    rows.push(await runScenario(name, work, {
      kills: Number(values.kills), seed: Number(values.seed) * 1000 + i, steps: Number(values.steps), maxDelayMs: Number(values['max-delay-ms']),
      log: values.json ? undefined : (l) => process.stderr.write(l + '\n'),
    }));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const failed = rows.some((r) => r.differing.length > 0 || r.errors.length > 0 || r.orphans > 0);
if (values.json) {
  console.log(JSON.stringify({ seed: Number(values.seed), node: process.version, scenarios: rows, ok: !failed }, null, 1));
} else {
  const head = ['scenario', 'kills', 'at pause points', 'after a delay', 'finished early', 'orphans', 'files equal', 'rerun errors', 'leftovers', 'steps lost (max/interval)', 'seconds'];
  const table = [head, ...rows.map((r) => [r.scenario, r.kills, r.kills - (r.at.delay ?? 0), r.at.delay ?? 0, r.finishedEarly, r.orphans,
    `${r.compared - r.differing.length}/${r.compared}`, r.errors.length, r.leftovers.length,
    r.checkpointEvery === undefined ? '-' : `${r.maxLostSteps}/${r.checkpointEvery}`, r.seconds.toFixed(0)].map(String))];
  const widths = head.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  for (const r of rows) {
    console.log(`${r.scenario}: kills at ${Object.entries(r.at).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
    if (r.lostWork.length > 0) {
      console.log(`${r.scenario}: steps lost per kill (reached → resumed from, stage): ${r.lostWork.map((w) => `${w.lost} (${w.reached}→${w.resumedFrom}${w.stage === '.' ? '' : ` ${w.stage}`}, ${w.at})`).join('; ')}`);
      console.log(`${r.scenario}: ${r.resumeChecks} reruns printed where they resumed, each the newest valid checkpoint found by the harness`);
    }
    for (const f of r.differing) console.log(`${r.scenario}: differs from the uninterrupted run: ${f}`);
    for (const e of r.errors) console.log(`${r.scenario}: ${e}`);
    for (const l of r.leftovers) console.log(`${r.scenario}: left behind: ${l}`);
  }
}
process.exitCode = failed ? 1 : 0;
