/**
 * μP proxy search, as Tele-FLM did it: sweep the learning rate (and optionally the output
 * multiplier) on narrow proxies of a target config at several widths, all with μP (hidden-matrix LR
 * ∝ 1/width_mult, logits ÷ width_mult), and check that the best learning rate stays put as width
 * grows — the property that lets values found on a small proxy transfer to the target.
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../model/config.js';
import { saveModelDir } from '../model/model-dir.js';
import { initWeights } from '../model/weights.js';
import type { SessionOptions } from '../runtime/session.js';
import { GrowlmError } from '../util/errors.js';
import { DEFAULT_TRAIN, trainModelDir } from './train-model-dir.js';

export interface TuneOptions {
  widths: number[];
  lrs: number[];
  outputMults: number[];
  layers: number;
  steps: number;
  batch: number;
  seq: number;
  seed: number;
  session: SessionOptions;
}

export interface TunePoint {
  width: number;
  lr: number;
  output_mult: number;
  parameters: number;
  /** Mean training loss over the last 10% of steps. */
  train_loss: number;
  val_loss: number;
}

/** A narrow proxy of `target` at hidden width `width`: same head dim, FFN ratio and multipliers; μP width_mult = width / base. */
export function proxyConfig(target: ModelConfig, width: number, base: number, layers: number, seq: number, vocab: number, outputMult: number): ModelConfig {
  if (width % target.headDim !== 0) throw new GrowlmError(`width ${width} is not a multiple of head_dim ${target.headDim}`);
  // grouped-query attention: the proxy keeps the target's query heads per kv head
  const heads = width / target.headDim, groups = target.numHeads / target.numKvHeads;
  if (heads % groups !== 0) throw new GrowlmError(`width ${width} gives ${heads} heads, not a multiple of the target's ${groups} query heads per kv head`);
  return {
    ...target,
    vocabSize: vocab,
    hiddenSize: width,
    numHeads: heads,
    numKvHeads: heads / groups,
    intermediateSize: Math.max(8, Math.round((target.intermediateSize / target.hiddenSize) * width)),
    numLayers: layers,
    maxSeqLen: seq,
    mupScaleFactor: width / base,
    outputMult,
    growth: { history: [] },
    tokenizer: undefined,
  };
}

export async function tune(target: ModelConfig, dataDir: string, vocab: number, outDir: string, o: TuneOptions, onPoint: (p: TunePoint) => void): Promise<TunePoint[]> {
  mkdirSync(outDir, { recursive: true });
  const jsonl = join(outDir, TUNE_LOG_FILE);
  writeFileSync(jsonl, '');
  const base = Math.min(...o.widths);
  const points: TunePoint[] = [];
  for (const width of o.widths) {
    for (const outputMult of o.outputMults) {
      for (const lr of o.lrs) {
        const c = proxyConfig(target, width, base, o.layers, o.seq, vocab, outputMult);
        const dir = join(outDir, 'runs', `w${width}-om${outputMult}-lr${lr}`);
        saveModelDir(dir, { config: c, weights: initWeights(c, o.seed) });
        const losses: number[] = [];
        const r = await trainModelDir(dir, dataDir, {
          ...DEFAULT_TRAIN, steps: o.steps, batch: o.batch, seq: o.seq, lr, schedule: 'constant', warmup: Math.round(o.steps * 0.05),
          evalEvery: o.steps, evalBatches: 4, checkpointEvery: 0, keep: 1, seed: o.seed, session: o.session, restart: true, maxNonFinite: o.steps,
        }, (e) => { losses.push(e.loss); });
        const tail = losses.slice(-Math.max(1, Math.round(o.steps / 10))).filter(Number.isFinite);
        const p: TunePoint = {
          width, lr, output_mult: outputMult, parameters: 0,
          train_loss: tail.length ? tail.reduce((a, b) => a + b, 0) / tail.length : NaN,
          val_loss: r.valLoss ?? NaN,
        };
        p.parameters = c.numLayers * (4 * width * width + 3 * width * c.intermediateSize + 2 * width) + 2 * vocab * width + width;
        appendFileSync(jsonl, JSON.stringify(p) + '\n');
        points.push(p);
        onPoint(p);
      }
    }
  }
  return points;
}

/** Files a tune run writes into its OUT folder. */
export const TUNE_LOG_FILE = 'tune.jsonl';
export const TUNE_PLOT_FILE = 'tune.html';
export const TUNE_RESULT_FILE = 'tune-result.json';

/** The learning rate a tune run chose (OUT/tune-result.json), for `train --lr-from` and plans' "tuned". */
export function readTunedLr(path: string): number {
  let lr: unknown;
  try {
    lr = (JSON.parse(readFileSync(path, 'utf8')) as { chosen?: { lr?: unknown } }).chosen?.lr;
  } catch {
    throw new GrowlmError(`cannot read tune result ${path}`);
  }
  if (typeof lr !== 'number' || !(lr > 0)) throw new GrowlmError(`${path}: no chosen learning rate (is it a growlm tune-result.json?)`);
  return lr;
}

/** Best (lowest validation loss) point per width. */
export function bestPerWidth(points: TunePoint[]): TunePoint[] {
  const by = new Map<number, TunePoint>();
  for (const p of points) {
    const cur = by.get(p.width);
    if (Number.isFinite(p.val_loss) && (!cur || p.val_loss < cur.val_loss)) by.set(p.width, p);
  }
  return [...by.values()].sort((a, b) => a.width - b.width);
}

/** A self-contained HTML plot of validation loss against learning rate, one line per width. */
export function tunePlotHtml(points: TunePoint[], chartJs: string, title: string): string {
  const widths = [...new Set(points.map((p) => p.width))].sort((a, b) => a - b);
  const colors = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df', '#bc4c00', '#0550ae'];
  const datasets = widths.map((w, i) => ({
    label: `width ${w}`,
    data: points.filter((p) => p.width === w && Number.isFinite(p.val_loss)).sort((a, b) => a.lr - b.lr).map((p) => ({ x: p.lr, y: p.val_loss })),
    borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length], tension: 0,
  }));
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:900px}</style></head><body>
<h1>${esc(title)}</h1><p>Validation loss (nats/token) after a fixed number of steps against the peak learning rate, one line per proxy width (μP).
If μP transfers, the minimum sits at the same learning rate for every width.</p>
<canvas id="c" width="860" height="460"></canvas>
<script>${chartJs}</script>
<script>new Chart(document.getElementById('c'),{type:'line',data:{datasets:${JSON.stringify(datasets)}},
options:{animation:false,scales:{x:{type:'logarithmic',title:{display:true,text:'learning rate'}},y:{title:{display:true,text:'validation loss (nats/token)'}}}}});</script>
</body></html>`;
}
