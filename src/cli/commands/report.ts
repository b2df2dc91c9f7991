import type { Command } from '../command.js';
import { writeReport } from '../../report/report.js';
import { note, printJson } from '../output.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'Render a run directory (run.json + the stages\' metrics.jsonl), or a trained model directory, as a self-contained report.html.',
  details: 'Shows training and validation loss against tokens, validation loss against training FLOPs for every series,\n' +
    'growth steps with their function-preservation figures, parameters and throughput per stage, and samples.\n' +
    'The page has no network references (Chart.js is inlined). run.json\'s layout is documented in src/report/run-record.ts.',
  positionals: [{ name: 'DIR', description: 'run directory holding run.json, or a model directory holding metrics.jsonl', required: true }],
  options: {
    out: { kind: 'path', arg: 'FILE', description: 'where to write the HTML', defaultText: 'RUN_DIR/report.html' },
    json: { kind: 'boolean', description: 'print JSON (keys out, bytes, warnings)' },
  },
  examples: ['growlm report runs/demo', 'growlm report runs/demo --out /tmp/demo.html'],
  async run(args) {
    const r = writeReport(args.positionals[0]!, args.str('out'));
    if (args.flag('json')) printJson(r);
    else {
      for (const w of r.warnings) note(`warning: ${w}`);
      console.log(`wrote ${r.out} (${(r.bytes / 1024).toFixed(0)} KiB)`);
    }
    return 0;
  },
};
