import { writeFileSync } from 'node:fs';
import { generateText, growModelDir, initModelDir, loadPreset, prepareDataset, trainModelDir } from 'growlm';

// a small corpus, tokenized as bytes into a dataset directory
const lines = Array.from({ length: 30 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog.`);
writeFileSync('corpus.txt', lines.join('\n\n'));
await prepareDataset({ inputs: ['corpus.txt'], tokenizer: 'byte', outDir: 'data', valFraction: 0.2 });

// the tiny preset (4 layers, 4 heads of 32), trained a few steps
const tiny = loadPreset('tiny');
initModelDir('small', tiny, { seed: 1 });
const before = await trainModelDir('small', 'data', { steps: 4, batch: 2, seq: 32, lr: 3e-3 });

// grow it to 5 heads, a wider FFN and 5 layers: the grown model computes the same function
// (checked on held-out data), with the new structure behind masks that ramp from 0 to 1 while
// training continues
const growth = await growModelDir({ model: 'small', out: 'big', sizes: { hidden: 160, heads: 5, ffn: 432, layers: 5 }, rampSteps: 4, check: true, data: 'data' });
console.log(`grown: max |Δlogit| ${growth.max_abs_logit_diff.toExponential(1)}, held-out loss ${growth.loss_before.toFixed(4)} → ${growth.loss_after.toFixed(4)}`);
const after = await trainModelDir('big', 'data', { steps: 6, batch: 2, seq: 32, lr: 1e-3 });
console.log(`small: loss ${before.lastLoss.toFixed(3)}; grown: loss ${after.lastLoss.toFixed(3)}, masks ${after.config.growth.masks ? 'ramping' : 'removed'}`);

const { text } = await generateText('big', 'the quick', { maxTokens: 20, temperature: 0 });
console.log(`the quick${text}`);
