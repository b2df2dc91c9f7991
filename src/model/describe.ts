/**
 * What `growlm inspect MODEL_DIR` shows: sizes, parameter count, the MSG masks while a growth ramps
 * (which structures are new, their old size, current value, the ramp) and the growth history. The
 * JSON form uses config.json's snake_case names.
 */
import { join } from 'node:path';
import { CheckpointReader } from './checkpoint-files.js';
import { type ModelConfig, configToJson, parameterCount } from './config.js';
import { masksCompleteAt } from './masks.js';
import { CONFIG_FILE, readConfigFile } from './model-dir.js';

export interface ModelDescription {
  parameters: number;
  /** config.json as growlm writes it (HF Llama names, μP fields, the growlm section). */
  config: Record<string, unknown>;
  /** The masks of an MSG growth still ramping (config.json's growlm.masks), or null. */
  masks: ModelConfig['growth']['masks'] | null;
  /** The optimizer step of the run training the grown model at which every mask is 1, or null. */
  masks_complete_at: number | null;
  /** config.json's growlm.history: one entry per growth (from, to, method, placement, layers). */
  growth_history: unknown[];
  tensors: { name: string; dtype: string; shape: number[] }[];
}

export function describeModelDir(dir: string): ModelDescription {
  const config = readConfigFile(join(dir, CONFIG_FILE));
  const reader = CheckpointReader.open(dir);
  let tensors: ModelDescription['tensors'];
  try {
    tensors = reader.names().map((name) => { const s = reader.spec(name)!; return { name, dtype: s.dtype, shape: s.dims }; });
  } finally {
    reader.close();
  }
  const m = config.growth.masks;
  return {
    parameters: parameterCount(config), config: configToJson(config), masks: m ?? null,
    masks_complete_at: masksCompleteAt(config) ?? null, growth_history: config.growth.history, tensors,
  };
}

const fmt = (v: number) => String(Number(v.toFixed(4)));
type Sizes = Record<string, number | undefined>;
const sizes = (s: Sizes | undefined) => s ? `hidden ${s.hidden_size}, ffn ${s.intermediate_size}, layers ${s.num_hidden_layers}, heads ${s.num_attention_heads}` : '?';

/** The human-readable lines of a description. */
export function formatModelDescription(d: ModelDescription): string {
  const c = d.config as Record<string, number>;
  const kv = c.num_key_value_heads !== c.num_attention_heads ? ` (${c.num_key_value_heads} kv head${c.num_key_value_heads === 1 ? '' : 's'})` : '';
  const scaling = d.config.rope_scaling as Record<string, number> | undefined;
  const lines = [
    `parameters: ${d.parameters.toLocaleString('en-US')} in ${d.tensors.length} tensors`,
    `layers ${c.num_hidden_layers}, hidden ${c.hidden_size}, heads ${c.num_attention_heads}×${c.head_dim}${kv}, ffn ${c.intermediate_size}, vocab ${c.vocab_size}, seq ${c.max_position_embeddings}`,
    `embeddings ${d.config.tie_word_embeddings ? 'tied (the head is model.embed_tokens.weight)' : 'untied'}, rope θ ${c.rope_theta}${scaling ? `, llama3 scaling ×${scaling.factor} (low ${scaling.low_freq_factor}, high ${scaling.high_freq_factor}, original ${scaling.original_max_position_embeddings})` : ''}`,
    `μP: input_mult ${c.input_mult}, output_mult ${c.output_mult}, mup_scale_factor ${c.mup_scale_factor}`,
  ];
  const m = d.masks;
  if (!m) lines.push('masks: none (a plain decoder)');
  else {
    lines.push(`masks (MSG growth ramping; ramp from step ${m.ramp.start} over ${m.ramp.steps} steps${m.ramp.stagger ? ', staggered' : ''}; all reach 1 at step ${d.masks_complete_at}):`);
    const size: Record<string, number> = { hidden: c.hidden_size!, ffn: c.intermediate_size!, heads: c.num_attention_heads!, vocab: c.vocab_size! };
    for (const k of ['hidden', 'ffn', 'heads', 'vocab'] as const) {
      const e = m[k];
      if (e) lines.push(`  ${k}: old size ${e.from} of ${size[k]}, new part at ${fmt(e.value)}`);
    }
    if (m.layers) lines.push(`  layers: new layers ${m.layers.indices.join(', ')} at ${fmt(m.layers.value)}`);
  }
  if (d.growth_history.length === 0) lines.push('growth history: none');
  else {
    lines.push('growth history:');
    d.growth_history.forEach((h, i) => {
      const g = h as { from?: Sizes; to?: Sizes; method?: string; placement?: string };
      lines.push(`  ${i + 1}. ${g.method ?? '?'}${g.placement ? ` (${g.placement})` : ''}: ${sizes(g.from)} → ${sizes(g.to)}`);
    });
  }
  return lines.join('\n');
}
