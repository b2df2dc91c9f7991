/**
 * The per-setting figure of an experiment's run.json (`settings`: label, mean, std, n, verdict): a
 * point per setting with ±std error bars, as inline SVG (no script), and the same figures as a table.
 */
import { escapeHtml } from './html.js';

export interface SettingPoint {
  label: string;
  mean: number;
  std: number;
  n: number;
  /** Against the reference setting: better, worse, tie (|Δ| within the spread) or reference. */
  verdict: string;
}

export function parseSettings(raw: unknown): SettingPoint[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter((s): s is SettingPoint => typeof s === 'object' && s !== null && typeof s.label === 'string' && typeof s.mean === 'number' && Number.isFinite(s.mean))
    .map((s) => ({ label: s.label, mean: s.mean, std: Number.isFinite(s.std) ? s.std : 0, n: s.n ?? 1, verdict: String(s.verdict ?? '') }));
}

const COLORS: Record<string, string> = { reference: '#555', better: '#1a7f37', worse: '#cf222e', tie: '#9a6700' };

export function settingsSection(points: SettingPoint[]): string {
  if (points.length === 0) return '';
  const row = 22, left = 200, width = 640, top = 10;
  const lo = Math.min(...points.map((p) => p.mean - p.std)), hi = Math.max(...points.map((p) => p.mean + p.std));
  const pad = (hi - lo) * 0.1 || 0.01;
  const x = (v: number) => left + ((v - (lo - pad)) / (hi - lo + 2 * pad)) * (width - left - 20);
  const h = top + points.length * row + 24;
  const items = points.map((p, i) => {
    const y = top + i * row + row / 2, c = COLORS[p.verdict] ?? '#555';
    return `<text x="${left - 8}" y="${y + 4}" text-anchor="end">${escapeHtml(p.label)}</text>`
      + `<line x1="${x(p.mean - p.std)}" x2="${x(p.mean + p.std)}" y1="${y}" y2="${y}" stroke="${c}" stroke-width="2"/>`
      + `<circle cx="${x(p.mean)}" cy="${y}" r="4" fill="${c}"><title>${escapeHtml(`${p.label}: ${p.mean.toFixed(4)} ± ${p.std.toFixed(4)} (${p.n} seeds, ${p.verdict})`)}</title></circle>`;
  }).join('');
  const axisY = top + points.length * row + 14;
  const ticks = [lo, (lo + hi) / 2, hi].map((v) => `<text x="${x(v)}" y="${axisY}" text-anchor="middle">${v.toFixed(3)}</text>`).join('');
  const rows = points.map((p) => `<tr><td>${escapeHtml(p.label)}</td><td>${p.mean.toFixed(4)}</td><td>${p.std.toFixed(4)}</td><td>${p.n}</td><td>${escapeHtml(p.verdict)}</td></tr>`).join('');
  return `<section id="settings"><h2>Final validation loss per setting</h2>
<p class="caption">Mean over seeds (dot) ± one standard deviation (bar), nats per token; lower is better. Colour: against the reference — green better, red worse, amber a tie (the difference is within the spread √(std² + std_ref²)).</p>
<svg viewBox="0 0 ${width} ${h}" width="100%" style="max-width:${width}px;font:12px sans-serif" role="img" aria-label="final validation loss per setting">${items}${ticks}</svg>
<table><thead><tr><th>setting</th><th>mean</th><th>std</th><th>seeds</th><th>verdict</th></tr></thead><tbody>${rows}</tbody></table></section>`;
}
