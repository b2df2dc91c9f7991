/**
 * `growlm report RUN_DIR`: read RUN_DIR/run.json (see run-record.ts) and the stages'
 * metrics.jsonl, write a self-contained report.html (Chart.js inlined from node_modules). A model
 * directory trained by hand (no run.json) is reported from its own metrics.jsonl.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { GrowlmError } from '../util/errors.js';
import { packageRoot } from '../util/paths.js';
import { renderReport } from './html.js';
import { buildReportData } from './report-data.js';
import { loadRunRecord } from './run-record.js';

export const REPORT_FILE = 'report.html';

const require = createRequire(import.meta.url);

/** Chart.js's minified UMD build, which defines the global `Chart`. */
export function chartJsSource(): { source: string; version: string } {
  let dist: string;
  try {
    dist = dirname(require.resolve('chart.js')); // …/chart.js/dist/chart.cjs
  } catch {
    throw new GrowlmError('the chart.js package is not installed (run npm install in the growlm folder)');
  }
  try {
    const source = readFileSync(join(dist, 'chart.umd.min.js'), 'utf8');
    const version = (JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
    return { source, version };
  } catch {
    throw new GrowlmError(`chart.js's UMD build is missing from ${dist} (reinstall the chart.js package)`);
  }
}

function growlmVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export interface ReportResult {
  out: string;
  bytes: number;
  warnings: string[];
}

export function writeReport(runDir: string, out = join(runDir, REPORT_FILE)): ReportResult {
  const run = loadRunRecord(runDir);
  const data = buildReportData(runDir, run);
  const chart = chartJsSource();
  const html = renderReport(data, {
    chartJs: chart.source,
    generator: `growlm ${growlmVersion()} report, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Chart.js ${chart.version}`,
  });
  writeFileAtomic(out, [html]);
  return { out, bytes: Buffer.byteLength(html), warnings: data.warnings };
}
