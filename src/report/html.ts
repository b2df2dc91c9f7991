/**
 * Renders ReportData as one self-contained HTML page: tables are rendered here, charts are drawn in
 * the page by Chart.js, whose UMD build is inlined (no network references), from data embedded as
 * JSON.
 */
import { parseSettings, settingsSection } from './settings-chart.js';
import { parseSftSize, sftSizeSection } from './sft-size-chart.js';
import type { ReportData, SeriesData, StageSummary } from './report-data.js';

const COLORS = ['#1f6fd1', '#d1495b', '#2a9d5c', '#e08a1e', '#7b4fc9', '#3d8f99', '#8c564b', '#c2419c'];

export function seriesColor(i: number): string {
  return COLORS[i % COLORS.length]!;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** 857216 → "857.2k", 6.3e6 → "6.30M". */
export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e12) return `${(n / 1e12).toFixed(2)}T`;
  if (a >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n * 100) / 100);
}

/** 1.234e15 → "1.23e15". */
export function sci(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  if (n === 0) return '0';
  const [m, e] = n.toExponential(digits).split('e');
  return `${m}e${Number(e)}`;
}

const fixed = (n: number | null | undefined, d = 4) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const int = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));

function duration(s: number): string {
  if (!Number.isFinite(s) || s <= 0) return '–';
  if (s < 90) return `${s.toFixed(1)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

function swatch(i: number): string {
  return `<span class="swatch" style="background:${seriesColor(i)}"></span>`;
}

function table(head: string[], rows: string[][], cls = ''): string {
  return `<div class="scroll"><table${cls ? ` class="${cls}"` : ''}><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>\n` +
    rows.map((r) => `<tr>${r.map((c, i) => `<td${i === 0 ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`).join('\n') + '\n</tbody></table></div>';
}

function shape(st: StageSummary): string {
  const c = st.config;
  const v = (k: string) => (typeof c[k] === 'number' ? String(c[k]) : '?');
  return `${v('num_hidden_layers')} × ${v('hidden_size')}, ${v('num_attention_heads')} heads, FFN ${v('intermediate_size')}`;
}

function header(d: ReportData): string {
  const r = d.run;
  const created = r.created ? (() => {
    const t = new Date(r.created);
    return Number.isNaN(t.getTime()) ? r.created : t.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  })() : 'unknown time';
  let what: string;
  if (r.kind === 'plan') {
    const s = d.series[0];
    const params = s?.stages.map((st) => compact(st.parameters)) ?? [];
    what = `Staged plan: ${s?.stages.length ?? 0} stage${s?.stages.length === 1 ? '' : 's'}${params.length > 1 ? `, grown ${params.join(' → ')} parameters` : params.length ? `, ${params[0]} parameters` : ''}, ${d.growth.length} growth step${d.growth.length === 1 ? '' : 's'}.`;
    if (d.series.length > 1) what += ` Baselines with the staged run's training FLOPs: ${d.series.slice(1).map((b) => `“${escapeHtml(b.label)}”`).join(', ')}.`;
  } else {
    what = `Experiment comparing ${d.series.map((s) => `“${escapeHtml(s.label)}” (${s.stages.length} stage${s.stages.length === 1 ? '' : 's'})`).join(' with ')}.`;
  }
  return `<header><h1>${escapeHtml(r.name || '(unnamed run)')}</h1>
<p class="meta">${r.kind === 'plan' ? 'plan' : 'experiment'} · created ${escapeHtml(created)}</p>
<p>${what}${r.description ? ` ${escapeHtml(r.description)}` : ''}</p></header>`;
}

function summary(d: ReportData): string {
  const rows = d.series.map((s, i) => {
    const last = s.stages[s.stages.length - 1];
    const lastVal = [...s.stages].reverse().find((st) => st.finalValLoss !== null);
    return [
      `${swatch(i)}${escapeHtml(s.label)}`, String(s.stages.length), compact(last?.parameters), compact(s.totalTokens), sci(s.totalFlops),
      duration(s.seconds), fixed(last?.finalLoss), fixed(lastVal?.finalValLoss), fixed(lastVal?.finalValBpb, 3),
    ];
  });
  return `<section id="summary"><h2>Summary</h2>
<p class="caption">Final figures of each series. Losses are cross-entropy in nats per token; bits/byte is the validation loss per byte of text.</p>
${table(['series', 'stages', 'final parameters', 'training tokens', 'training FLOPs', 'training time', 'final train loss', 'final val loss', 'val bits/byte'], rows)}</section>`;
}

function charts(): string {
  return `<section id="curves"><h2>Loss against training tokens</h2>
<p class="caption">Training loss (light line, averaged over buckets of steps when long) and validation loss (dots) in nats per token, against tokens trained on, cumulative over the stages of a series. Dashed vertical lines mark growth steps (stage boundaries).</p>
<div class="chart"><canvas id="chart-loss-tokens" role="img" aria-label="loss against training tokens"></canvas></div></section>
<section id="compute"><h2>Validation loss against training compute</h2>
<p class="caption">Validation loss (nats per token) against cumulative training FLOPs (forward + backward, 6N + attention estimate; log scale). Lower and further left is better: this is the comparison that matters for growth.</p>
<div class="chart"><canvas id="chart-val-flops" role="img" aria-label="validation loss against training FLOPs"></canvas></div></section>`;
}

function growthTable(d: ReportData): string {
  if (d.growth.length === 0) return '<section id="growth"><h2>Growth steps</h2><p class="caption">No growth steps in this run.</p></section>';
  const idx = new Map(d.series.map((s, i) => [s.label, i]));
  const rows = d.growth.map((g) => [
    `${swatch(idx.get(g.series) ?? 0)}${escapeHtml(g.series)}`, `${escapeHtml(g.from_stage)} → ${escapeHtml(g.to_stage)}`, escapeHtml(g.method || '–'),
    g.paramsBefore !== null && g.paramsAfter !== null ? `${compact(g.paramsBefore)} → ${compact(g.paramsAfter)}` : '–',
    sci(g.max_abs_logit_diff), fixed(g.max_abs_logit, 3), sci(g.relative), fixed(g.loss_before), fixed(g.loss_after),
    (g.loss_after - g.loss_before >= 0 ? '+' : '') + sci(g.loss_after - g.loss_before), Number.isFinite(g.seconds) ? `${g.seconds.toFixed(2)} s` : '–',
  ]);
  return `<section id="growth"><h2>Growth steps: function preservation</h2>
<p class="caption">On a probe batch, the grown model should compute the same function as the model it grew from: max |Δlogit| is the largest difference between their logits, relative to the largest |logit| of the original; the loss (nats per token) of the same batch before and after growing should agree.</p>
${table(['series', 'stages', 'method', 'parameters', 'max |Δlogit|', 'max |logit|', 'relative', 'loss before', 'loss after', 'Δ loss', 'time'], rows, 'growth')}</section>`;
}

function stageTable(d: ReportData): string {
  const rows = d.series.flatMap((s, i) => s.stages.map((st) => [
    `${swatch(i)}${d.series.length > 1 ? `${escapeHtml(s.label)} / ` : ''}${escapeHtml(st.name)}`, compact(st.parameters), shape(st), int(st.steps), compact(st.tokens), sci(st.flops),
    st.tokensPerS === null ? '–' : `${int(st.tokensPerS)}${st.tokensPerSFrom === 'metrics' ? '<sup title="from metrics.jsonl">*</sup>' : ''}`, duration(st.seconds),
    fixed(st.finalLoss), fixed(st.finalValLoss),
  ]));
  const starred = d.series.some((s) => s.stages.some((st) => st.tokensPerSFrom === 'metrics'));
  return `<section id="stages"><h2>Stages: size and throughput</h2>
<p class="caption">Parameter count and training throughput (tokens per second) of each stage, with the tokens and training FLOPs spent in it.${starred ? ' <sup>*</sup> throughput from the stage\'s metrics.jsonl (run.json had none).' : ''}</p>
<div class="grid2"><div class="chart small"><canvas id="chart-params" role="img" aria-label="parameters per stage"></canvas></div>
<div class="chart small"><canvas id="chart-throughput" role="img" aria-label="throughput per stage"></canvas></div></div>
${table(['stage', 'parameters', 'shape (layers × hidden)', 'steps', 'tokens', 'FLOPs', 'tokens/s', 'time', 'final train loss', 'final val loss'], rows, 'stages')}</section>`;
}

function samples(d: ReportData): string {
  if (d.run.samples.length === 0) return '<section id="samples"><h2>Samples</h2><p class="caption">No samples in this run.</p></section>';
  const items = d.run.samples.map((s) => `<div class="sample"><div class="tag">stage ${escapeHtml(s.stage)}</div><pre><span class="prompt">${escapeHtml(s.prompt)}</span>${escapeHtml(s.text)}</pre></div>`);
  return `<section id="samples"><h2>Samples</h2>
<p class="caption">Continuations sampled from the models; the prompt is highlighted.</p>
${items.join('\n')}</section>`;
}

/** Steps whose training loss spiked (z-score against the previous steps), per stage. */
function spikes(d: ReportData): string {
  const rows = d.series.flatMap((s) => s.stages.flatMap((st) => st.spikes.map((x) =>
    `<tr><td>${escapeHtml(s.label)}</td><td>${escapeHtml(st.name)}</td><td>${x.step}</td><td>${x.loss.toFixed(4)}</td><td>${x.z.toFixed(1)}</td><td>${x.firstBatch}</td></tr>`)));
  if (rows.length === 0) return '';
  return `<section id="spikes"><h2>Loss spikes</h2><p>Steps whose training loss lay more than 4 standard deviations above the mean of the previous 50 steps.</p>
<table><thead><tr><th>series</th><th>stage</th><th>step</th><th>loss</th><th>z</th><th>first batch</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function warnings(d: ReportData): string {
  if (d.warnings.length === 0) return '';
  return `<section class="warn" id="warnings"><h2>Warnings</h2><ul>${d.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></section>`;
}

/** What the page's script draws (small: curves are decimated already). */
function chartData(d: ReportData) {
  const r = (n: number, p = 5) => Number(n.toPrecision(p));
  return {
    series: d.series.map((s: SeriesData, i) => ({
      label: s.label, color: seriesColor(i),
      train: s.train.map((p) => ({ x: Math.round(p.tokens), y: r(p.loss) })),
      val: s.val.map((p) => ({ x: p.tokens, y: r(p.loss) })),
      valFlops: s.val.filter((p) => p.flops > 0).map((p) => ({ x: r(p.flops, 6), y: r(p.loss) })),
      boundaries: s.boundaries,
    })),
    stages: d.series.flatMap((s, i) => s.stages.map((st) => ({
      label: d.series.length > 1 ? `${s.label} / ${st.name}` : st.name, color: seriesColor(i), parameters: st.parameters, tokensPerS: st.tokensPerS,
    }))),
  };
}

const CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1d2330;background:#f3f4f7;margin:0}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
header h1{margin:0 0 2px;font-size:24px}
header p{margin:4px 0}
.meta{color:#5b6475;font-size:13px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:8px;padding:14px 18px 16px;margin:14px 0}
h2{font-size:16px;margin:0 0 2px}
.caption{color:#5b6475;font-size:12.5px;margin:0 0 10px;max-width:900px}
.chart{position:relative;height:340px}
.chart.small{height:230px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:18px;margin-bottom:12px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:12.5px;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#f6f7f9;font-weight:600;color:#3a4252}
th:first-child,td.l{text-align:left}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.sample{margin:10px 0}
.tag{font-size:12px;color:#5b6475;margin-bottom:3px}
pre{white-space:pre-wrap;word-break:break-word;margin:0;padding:10px 12px;background:#f8f9fb;border:1px solid #eceef2;border-radius:6px;font:12.5px/1.5 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
.prompt{background:#dfe9fb;border-radius:3px;font-weight:600}
.warn{background:#fff8e6;border-color:#efd58a}
.empty{color:#8a92a3;font-style:italic;padding:40px;text-align:center}
footer{color:#8a92a3;font-size:12px;margin-top:18px}
@media (max-width:800px){.grid2{grid-template-columns:1fr}}
`;

/** The page's own script: draws the four charts from #report-data with the inlined Chart.js. */
const CLIENT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
  Chart.defaults.color = '#3a4252';
  function compact(n) {
    var a = Math.abs(n);
    if (a >= 1e12) return +(n / 1e12).toPrecision(3) + 'T';
    if (a >= 1e9) return +(n / 1e9).toPrecision(3) + 'B';
    if (a >= 1e6) return +(n / 1e6).toPrecision(3) + 'M';
    if (a >= 1e3) return +(n / 1e3).toPrecision(3) + 'k';
    return String(+n.toPrecision(3));
  }
  var SUP = '⁰¹²³⁴⁵⁶⁷⁸⁹';
  function sup(e) { return String(e).split('').map(function (c) { return c === '-' ? '⁻' : SUP[+c]; }).join(''); }
  // Log-axis labels: powers of ten, and 2× / 5× between them when the axis spans few decades.
  function logTicks(v, i, ticks) {
    var e = Math.floor(Math.log10(v) + 1e-9), m = v / Math.pow(10, e);
    if (Math.abs(m - 1) < 1e-6) return '10' + sup(e);
    var span = Math.log10(ticks[ticks.length - 1].value / ticks[0].value);
    if (span <= 2.5 && (Math.abs(m - 2) < 1e-6 || Math.abs(m - 5) < 1e-6)) return Math.round(m) + '×10' + sup(e);
    return '';
  }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }
  // Dashed vertical lines with labels at the growth steps.
  function growthLines(lines) {
    return {
      id: 'growthLines',
      afterDatasetsDraw: function (chart) {
        var a = chart.chartArea, x = chart.scales.x, ctx = chart.ctx;
        ctx.save();
        ctx.font = '11px ' + Chart.defaults.font.family;
        lines.forEach(function (l, i) {
          var px = x.getPixelForValue(l.x);
          if (!(px >= a.left - 1 && px <= a.right + 1)) return;
          ctx.strokeStyle = l.color; ctx.lineWidth = 1.5; ctx.setLineDash([6, 4]);
          ctx.beginPath(); ctx.moveTo(px, a.top); ctx.lineTo(px, a.bottom); ctx.stroke();
          ctx.setLineDash([]);
          var text = '▲ ' + l.label, w = ctx.measureText(text).width, y = a.top + 13 + 14 * (i % 3);
          var tx = px + w + 6 > a.right ? px - w - 4 : px + 4;
          ctx.fillStyle = 'rgba(255,255,255,0.85)'; ctx.fillRect(tx - 2, y - 10, w + 4, 13);
          ctx.fillStyle = l.color; ctx.fillText(text, tx, y);
        });
        ctx.restore();
      },
    };
  }
  function lines(key) {
    var out = [];
    data.series.forEach(function (s) {
      s.boundaries.forEach(function (b) { out.push({ x: b[key], label: (data.series.length > 1 ? s.label + ': ' : '') + b.label, color: s.color }); });
    });
    return out;
  }
  function empty(id, msg) {
    var c = document.getElementById(id);
    var p = document.createElement('p'); p.className = 'empty'; p.textContent = msg;
    c.parentNode.replaceChild(p, c);
  }
  var tooltipNum = function (ctx) { return ctx.dataset.label + ': ' + ctx.parsed.y.toFixed(4) + ' at ' + compact(ctx.parsed.x); };

  // (a) loss against tokens
  var lossSets = [];
  data.series.forEach(function (s) {
    lossSets.push({ label: s.label + ' — train loss', data: s.train, borderColor: alpha(s.color, 0.4), backgroundColor: alpha(s.color, 0.4), borderWidth: 1, pointRadius: 0, tension: 0, order: 2 });
    lossSets.push({ label: s.label + ' — validation loss', data: s.val, borderColor: s.color, backgroundColor: s.color, borderWidth: 2, pointRadius: 3.5, showLine: true, order: 1 });
  });
  if (lossSets.some(function (d) { return d.data.length > 0; })) {
    new Chart(document.getElementById('chart-loss-tokens'), {
      type: 'line',
      data: { datasets: lossSets },
      options: {
        maintainAspectRatio: false, parsing: true, normalized: true,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', min: 0, title: { display: true, text: 'training tokens (cumulative over stages)' }, ticks: { callback: compact } },
          y: { title: { display: true, text: 'loss (nats / token)' } },
        },
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { label: tooltipNum } } },
      },
      plugins: [growthLines(lines('tokens'))],
    });
  } else empty('chart-loss-tokens', 'No loss recorded in the stages\' metrics.jsonl.');

  // (b) validation loss against training FLOPs
  var flopSets = data.series.map(function (s) {
    return { label: s.label, data: s.valFlops, borderColor: s.color, backgroundColor: s.color, borderWidth: 2, pointRadius: 3, tension: 0 };
  });
  if (flopSets.some(function (d) { return d.data.length > 0; })) {
    new Chart(document.getElementById('chart-val-flops'), {
      type: 'line',
      data: { datasets: flopSets },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'logarithmic', title: { display: true, text: 'training FLOPs (cumulative, log scale)' }, ticks: { callback: logTicks, autoSkip: false, maxRotation: 0 } },
          y: { title: { display: true, text: 'validation loss (nats / token)' } },
        },
        plugins: { legend: { position: 'bottom' }, tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ': ' + ctx.parsed.y.toFixed(4) + ' at ' + ctx.parsed.x.toExponential(2) + ' FLOPs'; } } } },
      },
      plugins: [growthLines(lines('flops'))],
    });
  } else empty('chart-val-flops', 'No validation loss recorded (train with validation enabled to get this chart).');

  // (d) parameters and throughput per stage
  function bars(id, title, values, fmt, axis) {
    if (!values.some(function (v) { return v !== null && v > 0; })) { empty(id, 'No ' + title.toLowerCase() + ' recorded.'); return; }
    new Chart(document.getElementById(id), {
      type: 'bar',
      data: { labels: data.stages.map(function (s) { return s.label; }), datasets: [{ label: title, data: values, backgroundColor: data.stages.map(function (s) { return alpha(s.color, 0.75); }), borderColor: data.stages.map(function (s) { return s.color; }), borderWidth: 1 }] },
      options: {
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: axis }, ticks: { callback: fmt } }, x: { title: { display: true, text: 'stage' } } },
        plugins: { legend: { display: false }, title: { display: true, text: title }, tooltip: { callbacks: { label: function (ctx) { return fmt(ctx.parsed.y) + ' ' + axis; } } } },
      },
    });
  }
  bars('chart-params', 'Parameters per stage', data.stages.map(function (s) { return s.parameters; }), compact, 'parameters');
  bars('chart-throughput', 'Training throughput per stage', data.stages.map(function (s) { return s.tokensPerS; }), compact, 'tokens / s');
})();
`;

export interface RenderOptions {
  /** Chart.js UMD source to inline. */
  chartJs: string;
  /** Shown in the footer. */
  generator: string;
}

export function renderReport(d: ReportData, o: RenderOptions): string {
  const json = JSON.stringify(chartData(d)).replace(/</g, '\\u003c');
  // a "</script" inside the library would end its script element early
  const lib = o.chartJs.replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(d.run.name || 'growlm run')} — growlm report</title>
<style>${CSS}</style>
</head><body><main>
${header(d)}
${warnings(d)}
${summary(d)}
${spikes(d)}
${settingsSection(parseSettings(d.run.settings))}
${sftSizeSection(parseSftSize(d.run.sft_size))}
${charts()}
${growthTable(d)}
${stageTable(d)}
${samples(d)}
<footer>${escapeHtml(o.generator)} · loss is mean cross-entropy in nats per token · FLOPs are the trainer's estimate of training compute (6·N + attention per token)</footer>
</main>
<script type="application/json" id="report-data">${json}</script>
<script>${lib}</script>
<script>${CLIENT}</script>
</body></html>
`;
}
