/**
 * Growth of a checkpoint on disk, one tensor at a time: each source tensor is read, grown and
 * written before the next is touched, so peak memory is bounded by the largest tensor (source +
 * grown), not the model. Same result as `growModel` on the loaded model (GrowthPlan draws new
 * entries in the same order).
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelConfig, configToJson } from '../model/config.js';
import { CheckpointReader, type TensorSpec, writeCheckpointStream, writeSafetensorsStream } from '../model/checkpoint-files.js';
import { CONFIG_FILE, readConfigFile } from '../model/model-dir.js';
import { SafetensorsFile } from '../model/safetensors.js';
import { OPTIMIZER_FILE } from '../model/training-state.js';
import { writeFileAtomic } from '../util/atomic.js';
import { type GrowOptions, GrowthError, GrowthPlan } from './grow.js';

export interface StreamingGrowResult {
  config: ModelConfig;
  bytesWritten: number;
}

export function growCheckpointStreaming(srcDir: string, target: ModelConfig, opts: GrowOptions, outDir: string, shardBytes: number): StreamingGrowResult {
  if (opts.placement === 'distance') throw new GrowthError('placement distance needs a calibration run of the whole model; use append or interleave when streaming');
  const src = readConfigFile(join(srcDir, CONFIG_FILE));
  const plan = new GrowthPlan(src, target, opts);
  const reader = CheckpointReader.open(srcDir);
  mkdirSync(outDir, { recursive: true });
  let bytes = 0;
  try {
    for (const s of plan.steps) if (!reader.spec(s.source)) throw new GrowthError(`${srcDir}: checkpoint has no tensor ${s.source}`);
    const specs: TensorSpec[] = plan.steps.map((s) => ({ name: s.out, dtype: 'float32', dims: plan.dims(s) }));
    writeCheckpointStream(outDir, specs, (i) => {
      const step = plan.steps[i]!;
      const data = plan.growTensor(step, reader.read(step.source).data as Float32Array, false);
      bytes += data.byteLength;
      return { dtype: 'float32', dims: specs[i]!.dims, data };
    }, shardBytes, { format: 'pt', producer: 'growlm' });
  } finally {
    reader.close();
  }
  const optPath = join(srcDir, OPTIMIZER_FILE);
  if (existsSync(optPath)) {
    const f = SafetensorsFile.open(optPath);
    try {
      const specs: TensorSpec[] = ['m', 'v'].flatMap((k) => plan.steps.map((s) => ({ name: `${k}.${s.out}`, dtype: 'float32' as const, dims: plan.dims(s) })));
      const n = plan.steps.length;
      writeSafetensorsStream(join(outDir, OPTIMIZER_FILE), specs, (i) => {
        const step = plan.steps[i % n]!;
        const key = `${i < n ? 'm' : 'v'}.${step.source}`;
        return { dtype: 'float32', dims: specs[i]!.dims, data: plan.growTensor(step, f.read(key).data as Float32Array, true) };
      }, f.header.metadata);
    } finally {
      f.close();
    }
  }
  const tok = plan.config.tokenizer as { file?: string; config_file?: string } | undefined;
  for (const file of [tok?.file, tok?.config_file]) if (file && existsSync(join(srcDir, file))) copyFileSync(join(srcDir, file), join(outDir, file));
  writeFileAtomic(join(outDir, CONFIG_FILE), [JSON.stringify(configToJson(plan.config), null, 2) + '\n']);
  return { config: plan.config, bytesWritten: bytes };
}
