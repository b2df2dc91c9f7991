/** Tensor copies shared by the growth plan and cloning (row-major [rows, cols] Float32Arrays). */

/** Copy `src` ([r1, c1]) into the top-left of a new [r2, c2] tensor; new entries from `fill`. */
export function expand(src: Float32Array, r1: number, c1: number, r2: number, c2: number, fill: (out: Float32Array) => void): Float32Array {
  const out = new Float32Array(r2 * c2);
  if (r2 * c2 > r1 * c1) fill(out); // new entries; old ones are overwritten below
  if (c1 === c2) out.set(src);
  else for (let r = 0; r < r1; r++) out.set(src.subarray(r * c1, (r + 1) * c1), r * c2);
  return out;
}

/** Tile `src` [r1, c1] over [r2, c2] (integer factors), scaling every entry by `scale`. */
export function tile(src: Float32Array, r1: number, c1: number, r2: number, c2: number, scale: number): Float32Array {
  const out = new Float32Array(r2 * c2);
  const row = scale === 1 ? src : src.map((v) => v * scale);
  for (let r = 0; r < r2; r++) {
    const from = (r % r1) * c1;
    for (let c = 0; c < c2; c += c1) out.set(row.subarray(from, from + c1), r * c2 + c);
  }
  return out;
}
