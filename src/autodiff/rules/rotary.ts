/**
 * Gradient of rotary embeddings (com.microsoft RotaryEmbedding). RoPE rotates each pair of
 * features by a position-dependent angle θ; a rotation's adjoint is the rotation by −θ, so the
 * input gradient is the same op applied to dy with the sin table negated.
 */
import { one, registerGrad } from '../registry.js';

registerGrad('com.microsoft.RotaryEmbedding', (ctx, n, dy) => {
  const [, positions, cos, sin] = n.inputs as [string, string, string, string];
  const negSin = ctx.b.op('Neg', [sin]);
  const dx = ctx.b.op('RotaryEmbedding', [one(dy), positions, cos, negSin], n.attrs, { domain: 'com.microsoft' });
  return [dx, null, null, null];
});
