/**
 * growDepth: more layers (L₁ → L₂), each a copy of an old layer placed by `planLayers`. A new layer
 * is behind a layer mask that scales its branches (msg), or its output projections (o_proj,
 * down_proj) are zero so it starts as an identity (mask-free, clone).
 */
import type { MaskState, ModelConfig } from '../model/config.js';
import { growModel } from './grow-model.js';
import { type Fill, type GrowOptions, type GrowableModel, type GrowthMethod, type Placement, type Role, GrowthError } from './types.js';

/** Where each layer of the grown model comes from: an old layer kept, or a new copy of an old one. */
export interface LayerSource {
  source: number;
  isNew: boolean;
}

export function withLayers(c: ModelConfig, layers: number): ModelConfig {
  return { ...c, numLayers: layers };
}

/** Grow the depth alone (placement and, for 'distance', layer distances in `opts`). */
export function growDepth(model: GrowableModel, layers: number, opts: GrowOptions): GrowableModel {
  return growModel(model, withLayers(model.config, layers), opts);
}

/**
 * Layer placement. append: new layers on top (copies of the top layer). interleave: new layers
 * spread evenly, each a copy of the layer below it. distance: a copy follows each of the layers that
 * change the residual stream most (1 − cos(h_in, h_out) on a calibration batch, calibrate.ts) —
 * those carry the most computation, so they are the ones given more depth.
 */
export function planLayers(l1: number, l2: number, placement: Placement, distances?: number[]): LayerSource[] {
  const extra = l2 - l1;
  const after = new Array<number>(l1).fill(0); // new layers inserted after old layer i
  if (extra === 0) return [...Array(l1).keys()].map((i) => ({ source: i, isNew: false }));
  if (placement === 'append') after[l1 - 1] = extra;
  else if (placement === 'interleave') {
    for (let k = 0; k < extra; k++) after[Math.min(l1 - 1, Math.max(0, Math.ceil(((k + 1) * l1) / extra) - 1))]!++;
  } else {
    if (!distances || distances.length !== l1) throw new GrowthError(`placement distance needs ${l1} layer distances from a calibration batch`);
    const order = [...distances.keys()].sort((a, b) => distances[b]! - distances[a]! || a - b);
    for (let k = 0; k < extra; k++) after[order[k % l1]!]!++;
  }
  const out: LayerSource[] = [];
  for (let i = 0; i < l1; i++) {
    out.push({ source: i, isNew: false });
    for (let k = 0; k < after[i]!; k++) out.push({ source: i, isNew: true });
  }
  return out;
}

/** mask-free and clone: a new layer's output projections are zero as a whole (it starts as an identity). */
export function newLayerFill(role: Role, method: GrowthMethod): Fill | undefined {
  return method !== 'msg' && (role === 'o' || role === 'down') ? 'zero' : undefined;
}

export function depthMask(layers: LayerSource[]): Partial<MaskState> {
  const indices = layers.flatMap((l, i) => (l.isNew ? [i] : []));
  return indices.length ? { layers: { indices, value: 0 } } : {};
}
