import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { configFromSpec } from './init.js';
import { openDataset } from '../../data/dataset.js';
import { configToJson } from '../../model/config.js';
import { CONFIG_FILE, WEIGHTS_FILE, loadModelDir, saveWeights } from '../../model/model-dir.js';
import { INDEX_FILE } from '../../model/checkpoint-files.js';
import { growCheckpointStreaming } from '../../passes/grow-checkpoint.js';
import { OPTIMIZER_FILE, loadOptimizerState, saveOptimizerState } from '../../model/training-state.js';
import { type GrowthMethod, type Placement, growModel } from '../../passes/grow.js';
import type { Batch } from '../../runtime/batch.js';
import { windows } from '../../runtime/forward.js';
import { compareModels, layerDistances } from '../../train/calibration.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { GrowlmError } from '../../util/errors.js';
import { UsageError } from '../errors.js';
import { Rng } from '../../util/rng.js';
import { printJson } from '../output.js';

/** A held-out batch: the first windows of a dataset's validation split, else seeded random tokens. */
export function heldOutBatch(dataDir: string | undefined, vocab: number, seq: number, batch = 4): Batch {
  if (dataDir) {
    const data = openDataset(dataDir);
    data.close();
    const b = windows(data.val, batch, Math.min(seq, data.val.length - 1)).next().value;
    if (b) return b;
  }
  const rng = new Rng(1234);
  const n = batch * seq;
  return {
    inputs: BigInt64Array.from({ length: n }, () => BigInt(rng.int(vocab))),
    targets: BigInt64Array.from({ length: n }, () => BigInt(rng.int(vocab))),
    batch, seq,
  };
}

export const growCommand: Command = {
  name: 'grow',
  summary: 'Grow a model to a larger config (width as heads, FFN, depth) so that it computes the same function.',
  details: 'msg: new structure behind masks that ramp from 0 to 1 during the next `growlm train` (over --ramp-steps steps).\nmask-free: zero-initialized output projections and rescaled norm gains; exact for any engine.\nThe optimizer state (DIR/optimizer.safetensors, if present) grows along. A model whose masks are still ramping\ncannot grow again: train it until the masks reach 1 (they are then removed).',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory to grow', required: true },
    to: { kind: 'string', arg: 'PRESET|FILE', description: 'target preset name or config.json', required: true },
    out: { kind: 'path', arg: 'DIR', description: 'where to write the grown model', required: true },
    method: { kind: 'enum', choices: ['msg', 'mask-free', 'clone'], description: 'growth method (clone: integer width factors)', default: 'msg' },
    placement: { kind: 'enum', choices: ['append', 'interleave', 'distance'], description: 'where new layers go', default: 'interleave' },
    'ramp-steps': { kind: 'int', description: 'msg: steps over which masks ramp from 0 to 1', default: 200 },
    stagger: { kind: 'boolean', description: 'msg: ramp FFN, then hidden, then heads (layers alongside)' },
    data: { kind: 'path', arg: 'DIR', description: 'dataset whose validation split gives the check / calibration batch' },
    check: { kind: 'boolean', description: 'run old and grown model on a held-out batch and report the difference' },
    seed: { kind: 'int', min: 0, description: 'seed for new weights', default: 0 },
    stream: { kind: 'boolean', description: 'grow tensor by tensor from disk (memory bounded by the largest tensor); automatic for a sharded checkpoint' },
    'shard-size': { kind: 'int', arg: 'MB', description: 'write the grown weights as HF shards of at most MB megabytes' },
    force: { kind: 'boolean', description: 'overwrite a model in --out' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm grow --model m --to analog-102b --out m2 --check',
    'growlm grow --model m --to big.json --out m2 --method mask-free --force',
  ],
  async run(args) {
    const method = args.need('method') as GrowthMethod;
    if (!['msg', 'mask-free', 'clone'].includes(method)) throw new UsageError(`--method must be msg, mask-free or clone, got "${method}"`);
    const placement = args.need('placement') as Placement;
    if (!['append', 'interleave', 'distance'].includes(placement)) throw new UsageError(`--placement must be append, interleave or distance, got "${placement}"`);
    const modelDir = args.need('model'), out = args.need('out');
    const to = args.need('to');
    const target = configFromSpec(to);
    if (!args.flag('force') && (existsSync(join(out, CONFIG_FILE)) || existsSync(join(out, WEIGHTS_FILE)))) throw new GrowlmError(`${out} already holds a model (use --force to overwrite)`);
    const shardBytes = args.has('shard-size') ? args.int('shard-size') * 1e6 : Infinity;
    if (args.flag('stream') || existsSync(join(modelDir, INDEX_FILE))) {
      if (args.flag('check')) throw new UsageError('--check loads both models into memory; it cannot be combined with streaming growth');
      const t0 = performance.now();
      const r = growCheckpointStreaming(modelDir, target, {
        method, placement, seed: args.int('seed'), rampSteps: args.int('ramp-steps'), stagger: args.flag('stagger'),
      }, out, shardBytes);
      const seconds = (performance.now() - t0) / 1000;
      const result = { out, method, placement, streamed: true, bytes_written: r.bytesWritten, seconds, gb_per_s: r.bytesWritten / 1e9 / seconds, masks: r.config.growth.masks ?? null };
      if (args.flag('json')) printJson(result);
      else console.log(`grew ${modelDir} → ${out} tensor by tensor (${(r.bytesWritten / 1e9).toFixed(2)} GB in ${seconds.toFixed(1)} s)`);
      return 0;
    }
    const source = loadModelDir(modelDir);
    const optimizerPath = join(modelDir, OPTIMIZER_FILE);
    const optimizer = existsSync(optimizerPath) ? loadOptimizerState(optimizerPath) : undefined;
    const seq = Math.min(source.config.maxSeqLen, 64);
    const batch = args.has('check') || placement === 'distance' ? heldOutBatch(args.str('data'), source.config.vocabSize, seq) : undefined;
    const distances = placement === 'distance' && target.numLayers > source.config.numLayers ? await layerDistances(source.config, source.weights, batch!) : undefined;

    const t0 = performance.now();
    const grown = growModel({ ...source, optimizer }, target, {
      method, placement, seed: args.int('seed'), rampSteps: args.int('ramp-steps'), stagger: args.flag('stagger'), layerDistances: distances,
    });
    const growSeconds = (performance.now() - t0) / 1000;
    const check = batch ? await compareModels(source, grown, batch) : undefined;

    mkdirSync(out, { recursive: true });
    const t1 = performance.now();
    saveWeights(out, grown.weights, shardBytes);
    if (grown.optimizer) saveOptimizerState(join(out, OPTIMIZER_FILE), grown.weights, grown.optimizer);
    const tok = grown.config.tokenizer as { file?: string; config_file?: string } | undefined;
    for (const f of [tok?.file, tok?.config_file]) if (f && existsSync(join(modelDir, f))) copyFileSync(join(modelDir, f), join(out, f));
    writeFileAtomic(join(out, CONFIG_FILE), [JSON.stringify(configToJson(grown.config), null, 2) + '\n']);
    const writeSeconds = (performance.now() - t1) / 1000;
    const bytes = [...grown.weights.values()].reduce((s, t) => s + t.data.byteLength, 0);
    const result = {
      out, method, placement,
      from: { hidden_size: source.config.hiddenSize, intermediate_size: source.config.intermediateSize, num_hidden_layers: source.config.numLayers, num_attention_heads: source.config.numHeads },
      to: { hidden_size: grown.config.hiddenSize, intermediate_size: grown.config.intermediateSize, num_hidden_layers: grown.config.numLayers, num_attention_heads: grown.config.numHeads },
      layer_distances: distances ?? null,
      masks: grown.config.growth.masks ?? null,
      grow_seconds: growSeconds, write_seconds: writeSeconds,
      grow_gb_per_s: bytes / 1e9 / growSeconds,
      ...(check ?? {}),
    };
    if (args.flag('json')) printJson(result);
    else {
      console.log(`grew ${modelDir} → ${out} (${method}): hidden ${result.from.hidden_size}→${result.to.hidden_size}, ffn ${result.from.intermediate_size}→${result.to.intermediate_size}, layers ${result.from.num_hidden_layers}→${result.to.num_hidden_layers}, heads ${result.from.num_attention_heads}→${result.to.num_attention_heads}`);
      if (check) console.log(`check: max |Δlogit| ${check.max_abs_logit_diff.toExponential(2)} (max |logit| ${check.max_abs_logit.toFixed(2)}), loss ${check.loss_before.toFixed(6)} → ${check.loss_after.toFixed(6)}`);
    }
    return 0;
  },
};
