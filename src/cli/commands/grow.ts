import type { Command } from '../command.js';
import { configFromSpec } from './init.js';
import { growModelDir } from '../../growth/model-dir.js';
import type { SizeOverrides } from '../../growth/plan.js';
import type { GrowthRecord } from '../../growth/record.js';
import { DEFAULT_RAMP_STEPS, GROWTH_METHODS, type GrowthMethod, PLACEMENTS, type Placement } from '../../growth/types.js';
import { UsageError } from '../errors.js';
import { DEVICE_OPTION, device } from '../device.js';
import { printJson } from '../output.js';

const SIZE_FLAGS = { hidden: 'hidden_size', ffn: 'intermediate_size', layers: 'num_hidden_layers', heads: 'num_attention_heads', vocab: 'vocab_size' } as const;

function describe(r: GrowthRecord): string[] {
  if (r.streamed) return [`grew ${r.model} → ${r.out} tensor by tensor (${(r.bytes_written / 1e9).toFixed(2)} GB in ${r.seconds.toFixed(1)} s)`];
  const sizes = Object.entries(SIZE_FLAGS).filter(([flag, k]) => flag !== 'vocab' || r.to[k] !== r.from[k]).map(([flag, k]) => `${flag} ${r.from[k]}→${r.to[k]}`);
  const lines = [`grew ${r.model} → ${r.out} (${r.method}): ${sizes.join(', ')}`];
  if (r.check_batch && !Number.isNaN(r.max_abs_logit_diff)) {
    const on = r.check_batch === 'held-out' ? 'on held-out data' : 'on random tokens, not held-out text (give --data DIR)';
    lines.push(`check ${on}: max |Δlogit| ${r.max_abs_logit_diff.toExponential(2)} (max |logit| ${r.max_abs_logit.toFixed(2)}), loss ${r.loss_before.toFixed(6)} → ${r.loss_after.toFixed(6)}`);
  }
  return lines;
}

export const growCommand: Command = {
  name: 'grow',
  summary: 'Grow a model to a larger config (width as heads, FFN, depth) so that it computes the same function.',
  details: 'The target: --to (a preset or config.json) and/or size overrides (--hidden, --ffn, --layers, --heads, --vocab) applied\nto it or to the model\'s own config.\nmsg: new structure behind masks that ramp from 0 to 1 during the next `growlm train` (over --ramp-steps steps).\nmask-free: zero-initialized output projections and rescaled norm gains; exact for any engine.\nThe optimizer state (DIR/optimizer.safetensors, if present) grows along. A model whose masks are still ramping\ncannot grow again: train it until the masks reach 1 (they are then removed).',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory to grow', required: true },
    to: { kind: 'string', arg: 'PRESET|FILE', description: 'target preset name or config.json (optional with size overrides)' },
    out: { kind: 'path', arg: 'DIR', description: 'where to write the grown model', required: true },
    hidden: { kind: 'int', description: 'target hidden_size (more heads at the same head dim when attention width = hidden)' },
    ffn: { kind: 'int', description: 'target intermediate_size' },
    layers: { kind: 'int', description: 'target num_hidden_layers' },
    heads: { kind: 'int', description: 'target num_attention_heads (a GQA model keeps its heads per kv head: kv heads grow along)' },
    vocab: { kind: 'int', description: 'target vocab_size (padding; msg only)' },
    method: { kind: 'enum', choices: [...GROWTH_METHODS], description: 'growth method (clone: integer width factors)', default: 'msg' },
    placement: { kind: 'enum', choices: [...PLACEMENTS], description: 'where new layers go', default: 'interleave' },
    'ramp-steps': { kind: 'int', min: 0, description: 'msg: steps over which masks ramp from 0 to 1', default: DEFAULT_RAMP_STEPS },
    stagger: { kind: 'boolean', description: 'msg: ramp FFN, then hidden, then heads (layers alongside)' },
    data: { kind: 'path', arg: 'DIR', description: 'dataset whose validation split gives the check / calibration batch (else random tokens)' },
    check: { kind: 'boolean', description: 'run old and grown model on a held-out batch and report the difference' },
    device: DEVICE_OPTION,
    seed: { kind: 'int', min: 0, description: 'seed for new weights', default: 0 },
    stream: { kind: 'boolean', description: 'grow tensor by tensor from disk (memory bounded by the largest tensor); automatic for a sharded checkpoint' },
    'shard-size': { kind: 'int', arg: 'MB', description: 'write the grown weights as HF shards of at most MB megabytes' },
    force: { kind: 'boolean', description: 'overwrite a model in --out' },
    json: { kind: 'boolean', description: 'print JSON' },
  },
  examples: [
    'growlm grow --model m --to analog-102b --out m2 --check',
    'growlm grow --model m --to big.json --out m2 --method mask-free --force',
    'growlm grow --model m --hidden 256 --layers 8 --out m2 --check --data data',
  ],
  async run(args) {
    const method = args.need('method') as GrowthMethod;
    const placement = args.need('placement') as Placement;
    const sizes: SizeOverrides = {};
    for (const flag of Object.keys(SIZE_FLAGS) as (keyof typeof SIZE_FLAGS)[]) if (args.has(flag)) sizes[flag] = args.int(flag);
    const to = args.str('to');
    const overrides = Object.entries(sizes).map(([k, v]) => `--${k} ${v}`).join(' ');
    if (to === undefined && !overrides) throw new UsageError('give --to PRESET|FILE and/or size overrides (--hidden, --ffn, --layers, --heads, --vocab)');
    const record = await growModelDir({
      model: args.need('model'), out: args.need('out'), ...(to !== undefined ? { to: configFromSpec(to) } : {}),
      toName: [to, overrides].filter(Boolean).join(' '), sizes,
      method, placement, seed: args.int('seed'), rampSteps: args.int('ramp-steps'), stagger: args.flag('stagger'),
      check: args.flag('check'), data: args.str('data'), stream: args.flag('stream'),
      shardBytes: args.has('shard-size') ? args.int('shard-size') * 1e6 : Infinity, force: args.flag('force'),
      session: { provider: await device(args) },
    });
    if (args.flag('json')) printJson(record);
    else for (const line of describe(record)) console.log(line);
    return 0;
  },
};
