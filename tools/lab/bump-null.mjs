// What the lab's bump z-score reads when nothing is grown (docs/growth-practices.md, "The growth-practices
// grid"): the base's own run cut at steps 300, 310, …, 550; measureBump of the lines before the cut
// against the lines after it, exactly as the lab measures a grown run against its base. A growth
// whose z stays within this range adds no bump beyond what training on gives.
// usage: node tools/lab/bump-null.mjs RUN_DIR   (after npm run build; RUN_DIR of growth-practices)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics } from '../../dist/src/train/metrics.js';
import { measureBump } from '../../dist/src/plan/seeds-stats.js';

const [runDir] = process.argv.slice(2);
if (!runDir) {
  console.error('usage: node tools/lab/bump-null.mjs RUN_DIR');
  process.exit(2);
}
for (const base of ['base', 'base-constant']) {
  const file = join(runDir, base, 'metrics.jsonl');
  if (!existsSync(file)) continue;
  const m = readMetrics(file).entries;
  const zs = [];
  for (let cut = 300; cut <= m.length - 50; cut += 10) {
    const after = m.slice(cut).map((e) => ({ step: e.step - cut, loss: e.loss, val_loss: e.val_loss ?? null }));
    zs.push(measureBump(m.slice(0, cut), after).z);
  }
  zs.sort((a, b) => a - b);
  const mean = zs.reduce((a, b) => a + b, 0) / zs.length;
  console.log(`${base}: ${zs.length} cuts, z mean ${mean.toFixed(2)}, median ${zs[zs.length >> 1].toFixed(2)}, max ${zs.at(-1).toFixed(2)}, above 2 at ${zs.filter((z) => z > 2).length}`);
}
