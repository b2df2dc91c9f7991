/** Model FLOPs per token (the usual 6N + attention estimate, as in the PaLM/Chinchilla MFU convention). */
import type { ModelConfig } from '../model/config.js';
import { parameterCount } from '../model/config.js';

/**
 * Forward+backward FLOPs per token: 6·(parameters except the input embedding) + 12·L·S·H·hd. A tied
 * matrix counts once, as the head (its lookup costs no FLOPs, its product with the hidden states does);
 * under grouped-query attention the attention products are still one per query head.
 */
export function trainingFlopsPerToken(c: ModelConfig, seq: number): number {
  const dense = parameterCount(c) - (c.tieWordEmbeddings ? 0 : c.vocabSize * c.hiddenSize);
  return 6 * dense + 12 * c.numLayers * seq * c.numHeads * c.headDim;
}

/** Forward-only FLOPs per token (a third of training). */
export function forwardFlopsPerToken(c: ModelConfig, seq: number): number {
  return trainingFlopsPerToken(c, seq) / 3;
}
