/**
 * The figure of `growlm experiment sft-size` (run.json's `sft_size`: the training pool and one point
 * per model): held-out answer loss and exact match against the number of fine-tuning samples (log
 * scale), a line per selection mode (both end at the whole pool), the base model as a dashed level;
 * inline SVG (no script) and the same figures as a table, with exact match per source.
 */
import { escapeHtml } from './html.js';

export interface SftSizePoint {
  model: string;
  /** random, diverse, all (the whole pool) or base. */
  mode: string;
  /** Requested size (the pool for "all", 0 for the base). */
  size: number;
  train_samples: number;
  answer_loss: number;
  exact_match: number;
  sources: { source: string; answer_loss: number; exact_match: number; samples: number }[];
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function parseSftSize(raw: unknown): { pool: number; points: SftSizePoint[] } | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as { pool?: unknown; points?: unknown };
  if (!num(r.pool) || !Array.isArray(r.points)) return null;
  const points = r.points.filter((p): p is SftSizePoint => typeof p === 'object' && p !== null && typeof p.model === 'string' && typeof p.mode === 'string'
    && num(p.size) && num(p.answer_loss) && num(p.exact_match) && Array.isArray(p.sources));
  return { pool: r.pool, points };
}

const COLORS: Record<string, string> = { random: '#d1495b', diverse: '#1f6fd1', base: '#555' };

/** One panel: y against log10(size) for each mode's line, the base as a dashed level. */
function panel(points: SftSizePoint[], y: (p: SftSizePoint) => number, title: string, fmt: (v: number) => string, floor = -Infinity): string {
  const W = 520, H = 260, L = 60, R = 14, T = 26, B = 40;
  const trained = points.filter((p) => p.mode !== 'base');
  const base = points.find((p) => p.mode === 'base');
  if (trained.length === 0) return '';
  const xs = trained.map((p) => Math.log10(Math.max(1, p.size)));
  const ys = [...points.map(y)];
  const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.08;
  y0 = Math.max(floor, y0 - pad); y1 += pad;
  const px = (v: number) => L + ((v - x0) / (x1 - x0)) * (W - L - R);
  const py = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const all = trained.find((p) => p.mode === 'all');
  const lines = ['random', 'diverse'].map((mode) => {
    const ps = trained.filter((p) => p.mode === mode).concat(all ? [all] : []).sort((a, b) => a.size - b.size);
    if (ps.filter((p) => p.mode === mode).length === 0) return '';
    const d = ps.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(Math.log10(p.size)).toFixed(1)},${py(y(p)).toFixed(1)}`).join(' ');
    const dots = ps.map((p) => `<circle cx="${px(Math.log10(p.size)).toFixed(1)}" cy="${py(y(p)).toFixed(1)}" r="3.5" fill="${COLORS[mode]}"><title>${escapeHtml(`${p.model}: ${fmt(y(p))} (${p.train_samples} samples)`)}</title></circle>`).join('');
    return `<path d="${d}" fill="none" stroke="${COLORS[mode]}" stroke-width="2"/>${dots}`;
  }).join('');
  const baseLine = base ? `<line x1="${L}" x2="${W - R}" y1="${py(y(base)).toFixed(1)}" y2="${py(y(base)).toFixed(1)}" stroke="${COLORS.base}" stroke-dasharray="6 4"/><text x="${W - R - 4}" y="${(py(y(base)) - 4).toFixed(1)}" text-anchor="end" fill="${COLORS.base}">base ${escapeHtml(fmt(y(base)))}</text>` : '';
  const sizes = [...new Set(trained.map((p) => p.size))].sort((a, b) => a - b);
  const xt = sizes.map((s) => `<text x="${px(Math.log10(s)).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${s.toLocaleString('en-US')}</text>`).join('');
  const yt = [y0, (y0 + y1) / 2, y1 - pad].map((v) => `<text x="${L - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(fmt(v))}</text>`).join('');
  const legend = ['random', 'diverse'].map((m, i) => `<rect x="${W - R - 150 + i * 75}" y="6" width="10" height="10" fill="${COLORS[m]}"/><text x="${W - R - 136 + i * 75}" y="15">${m}</text>`).join('');
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" style="max-width:${W}px;font:11px sans-serif" role="img" aria-label="${escapeHtml(title)}">`
    + `<text x="${W / 2}" y="${H - 4}" text-anchor="middle">fine-tuning samples (log scale)</text><text x="4" y="15" font-weight="600">${escapeHtml(title)}</text>`
    + `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#bbb"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#bbb"/>`
    + `${baseLine}${lines}${xt}${yt}${legend}</svg>`;
}

export function sftSizeSection(d: { pool: number; points: SftSizePoint[] } | null): string {
  if (!d || d.points.length === 0) return '';
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const sources = [...new Set(d.points.flatMap((p) => p.sources.map((s) => s.source)))].sort();
  const rows = d.points.map((p) => {
    const per = sources.map((src) => {
      const s = p.sources.find((x) => x.source === src);
      return s ? `${pct(s.exact_match)} · ${s.answer_loss.toFixed(3)}` : '–';
    });
    return `<tr><td>${escapeHtml(p.model)}</td><td>${escapeHtml(p.mode)}</td><td>${p.train_samples.toLocaleString('en-US')}</td><td>${p.answer_loss.toFixed(4)}</td><td>${pct(p.exact_match)}</td>${per.map((c) => `<td>${c}</td>`).join('')}</tr>`;
  }).join('');
  return `<section id="sft-size"><h2>Held-out answers against fine-tuning set size</h2>
<p class="caption">Each point is the same base fine-tuned for the same number of steps on a subset of the ${d.pool.toLocaleString('en-US')} training questions, chosen at random or for diversity (both lines end at the whole pool), then scored on held-out questions it never saw: answer loss (mean cross-entropy over answer tokens, nats; lower is better) and exact match of the greedy answer after normalising case, punctuation and spaces. Dashed: the base before fine-tuning, with the same chat template.</p>
<div class="grid2">${panel(d.points, (p) => p.answer_loss, 'held-out answer loss (nats/token)', (v) => v.toFixed(3))}${panel(d.points, (p) => p.exact_match, 'held-out exact match', pct, 0)}</div>
<div class="scroll"><table><thead><tr><th>model</th><th>selection</th><th>train samples</th><th>answer loss</th><th>exact match</th>${sources.map((s) => `<th>${escapeHtml(s)}: exact · loss</th>`).join('')}</tr></thead><tbody>${rows}</tbody></table></div></section>`;
}
