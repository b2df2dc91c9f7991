// growlm report: a synthetic RUN_DIR rendered by the CLI, then opened in headless Chromium.
// Set REPORT_SCREENSHOT=/path/to.png to also save a full-page screenshot.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRunRecord } from '../../src/report/run-record.js';
import { decimate } from '../../src/report/report-data.js';
import { writeReport } from '../../src/report/report.js';
import { expectOneLineError, growlm } from '../cli/run.js';
import { SAMPLE_TEXT, writeSyntheticRun } from './synthetic-run.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`report test: ${CHROMIUM} is missing (apt-get install chromium); the browser check is skipped`);

let tmp: string;
let runDir: string;
let html: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'growlm-report-'));
  runDir = join(tmp, 'run');
  writeSyntheticRun(runDir);
  const r = growlm('report', runDir, '--json');
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out.out).toBe(join(runDir, 'report.html'));
  expect(out.warnings).toEqual([expect.stringMatching(/staged growth \/ s3: skipped 1 unreadable line/)]);
  html = readFileSync(out.out, 'utf8');
});

describe('growlm report', () => {
  it('writes a self-contained page with the tables', () => {
    // no external resources: scripts and styles are inline
    expect(html).not.toMatch(/<script[^>]+src=|<link\b|<img\b|url\(\s*['"]?https?:|@import/i);
    expect(html).toContain('Chart.js v4');
    expect(html).toContain('1.25e-6'); // max |Δlogit| of the first growth
    expect(html).toContain('2.98e-7'); // relative: 1.25e-6 / 4.2
    expect(html).toContain('3.50e-7');
    expect(html).toContain('2.4312');
    // sample text is escaped
    expect(html).toContain('said the Hatter, &lt;looking&gt; at Alice &amp; &quot;smiling&quot;.');
    expect(html).not.toContain('<looking>');
    // loss spikes recorded in metrics.jsonl: series, stage, step, loss, z, first batch
    expect(html).toMatch(/<section id="spikes">.*<tr><td>staged growth<\/td><td>s2<\/td><td>30<\/td><td>\d\.\d{4}<\/td><td>5\.5<\/td><td>29<\/td><\/tr>/s);
  });

  it('--out writes elsewhere; bad run directories give one-line errors', () => {
    const other = join(tmp, 'other.html');
    const bad = join(tmp, 'bad');
    writeSyntheticRun(bad);
    const run = JSON.parse(readFileSync(join(bad, 'run.json'), 'utf8'));
    run.series[0].stages[1].parameters = 'many';
    writeFileSync(join(bad, 'run.json'), JSON.stringify(run));
    expect(growlm('report', runDir, '--out', other).code).toBe(0);
    expect(existsSync(other)).toBe(true);
    expectOneLineError(growlm('report', bad), /run.json: \.series\[0\]\.stages\[1\]\.parameters must be a finite number/);
    expect(() => writeReport(tmp)).toThrow(/is not a run directory \(cannot read run.json\)/);
    writeFileSync(join(bad, 'run.json'), '{"name": ');
    expect(() => writeReport(bad)).toThrow(/run.json: not valid JSON/);
  });

  it('validates run.json and decimates long curves', () => {
    expect(() => parseRunRecord({ name: 'x', kind: 'sweep', series: [] })).toThrow(/kind must be "plan" or "experiment"/);
    expect(() => parseRunRecord({ name: 'x', kind: 'plan', series: [], growth: [{ series: 'nope', from_stage: 'a', to_stage: 'b', max_abs_logit_diff: 0, max_abs_logit: 1, loss_before: 1, loss_after: 1, seconds: 0 }] })).toThrow(/names no series/);
    const g = { series: 'a', from_stage: 'x', to_stage: 'y', max_abs_logit_diff: null, max_abs_logit: 2, loss_before: null, loss_after: 1, seconds: 0.5, method: 'msg' };
    const r = parseRunRecord({ name: 'x', kind: 'plan', series: [{ label: 'a', stages: [] }], growth: [g] });
    expect(r.growth[0]!.max_abs_logit_diff).toBeNaN(); // not measured: shown as –
    expect(r.samples).toEqual([]);
    const pts = Array.from({ length: 10_000 }, (_, i) => ({ tokens: i, loss: i % 2 }));
    const d = decimate(pts, 100);
    expect(d).toHaveLength(100);
    expect(d[0]).toEqual({ tokens: 49.5, loss: 0.5 });
  });

  describe.skipIf(!HAVE_CHROMIUM)(`in headless Chromium (${CHROMIUM})`, () => {
    let browser: import('playwright-core').Browser | undefined;
    afterAll(async () => { await browser?.close(); });

    it('draws every chart with data and shows no errors', async () => {
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
      await page.goto(pathToFileURL(join(runDir, 'report.html')).href, { waitUntil: 'load' });

      const charts = await page.evaluate(() => {
        const C = (window as unknown as { Chart: { getChart(c: HTMLCanvasElement): any } }).Chart;
        return Array.from(document.querySelectorAll('canvas')).map((c) => {
          const chart = C.getChart(c);
          // count painted pixels: a drawn chart is far from blank
          const ctx = c.getContext('2d')!;
          const px = ctx.getImageData(0, 0, c.width, c.height).data;
          let painted = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) painted++;
          return {
            id: c.id, type: chart?.config.type, painted, width: c.width,
            points: chart ? chart.data.datasets.map((d: { data: unknown[] }) => d.data.length) : [],
            xScale: chart?.scales.x.type,
          };
        });
      });
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      expect(charts.map((c) => c.id)).toEqual(['chart-loss-tokens', 'chart-val-flops', 'chart-params', 'chart-throughput']);
      for (const c of charts) {
        expect(c.type, c.id).toBeDefined();
        expect(c.points.length, c.id).toBeGreaterThan(0);
        for (const n of c.points) expect(n, c.id).toBeGreaterThan(0);
        expect(c.painted, c.id).toBeGreaterThan(c.width * 20);
      }
      const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
      // train + val for each of the two series; 180 steps → 180 train points, val every 10 steps
      expect(byId['chart-loss-tokens']!.points).toEqual([180, 18, 180, 18]);
      expect(byId['chart-val-flops']!.xScale).toBe('logarithmic');
      expect(byId['chart-val-flops']!.points).toEqual([18, 18]);
      expect(byId['chart-params']!.points).toEqual([4]);

      const growthText = await page.locator('table.growth').innerText();
      expect(growthText).toContain('s1 → s2');
      expect(growthText).toContain('1.25e-6');
      expect(growthText).toContain('msg depth');
      const stageText = await page.locator('table.stages').innerText();
      expect(stageText).toContain('from scratch / s3');
      expect(stageText).toContain('4,600');
      const samples = await page.locator('#samples').innerText();
      expect(samples).toContain(`"Have some wine,"${SAMPLE_TEXT}`);
      if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
    });
  });
});
