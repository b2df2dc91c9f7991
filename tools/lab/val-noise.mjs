// Noise of the validation estimate (docs/growth-practices.md): per-batch validation losses of one or
// two model directories over the whole validation split (batches of 16 × 128, as the demo evaluates).
// usage: node tools/lab/val-noise.mjs DATA_DIR MODEL_DIR [MODEL_DIR]   (after npm run build)
import { loadModelDir } from '../../dist/src/model/model-dir.js';
import { DecoderRunner } from '../../dist/src/runtime/forward.js';
import { windows } from '../../dist/src/data/batch.js';
import { openDataset } from '../../dist/src/data/dataset.js';

const [dataDir, ...models] = process.argv.slice(2);
if (!dataDir || models.length < 1 || models.length > 2) {
  console.error('usage: node tools/lab/val-noise.mjs DATA_DIR MODEL_DIR [MODEL_DIR]');
  process.exit(2);
}
const stats = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
};
const data = openDataset(dataDir);
const perModel = [];
for (const m of models) {
  const { config, weights } = loadModelDir(m);
  const runner = await DecoderRunner.create(config, weights, ['loss'], { threads: 1 });
  const losses = [];
  for (const b of windows(data.val, 16, 128)) losses.push((await runner.run(b)).loss);
  perModel.push(losses);
  const { mean, sd } = stats(losses);
  console.log(`${m}: ${losses.length} batches, mean ${mean.toFixed(4)}, first 8 ${stats(losses.slice(0, 8)).mean.toFixed(4)}, sd per batch ${sd.toFixed(4)}, standard error of 8 batches ${(sd / Math.sqrt(8)).toFixed(4)}`);
}
if (perModel.length === 2) {
  const { mean, sd } = stats(perModel[0].map((x, i) => x - perModel[1][i]));
  console.log(`paired difference: mean ${mean.toFixed(4)}, sd per batch ${sd.toFixed(4)}, standard error of 8 batches ${(sd / Math.sqrt(8)).toFixed(4)}`);
}
process.exit(0);
