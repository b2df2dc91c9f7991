// `growlm experiment sft-size --quick` end to end on a small real demo set (countries-list, 200
// WordNet definitions, and the bsdgames quiz files when installed): the base is pretrained, scored,
// fine-tuned on random and diverse subsets and on the whole pool, every model scored on the same
// held-out questions; results.jsonl and the report's curve; a rerun reuses everything; bad input.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoSet, writeDemoSet } from '../../tools/sft-demo/build.js';
import { QUIZ_DIR } from '../../tools/sft-demo/sources.js';
import { sftRuns, sftSizePoints } from '../../src/plan/sft-size.js';
import { parseSftSize, sftSizeSection } from '../../src/report/sft-size-chart.js';
import { expectOneLineError, growlm } from '../cli/run.js';

describe('sftRuns', () => {
  it('every mode at each size below the pool, then the whole pool once', () => {
    expect(sftRuns([300, 100, 100, 5000], ['random', 'diverse'], 1000).map((r) => r.name)).toEqual(['sft-random-100', 'sft-diverse-100', 'sft-random-300', 'sft-diverse-300', 'sft-all']);
    expect(sftRuns([10], ['diverse'], 5).map((r) => r.name)).toEqual(['sft-all']);
  });
});

describe('the report\'s size curve', () => {
  const result = (model: string, mode: 'random' | 'diverse' | 'all' | null, size: number | null, loss: number, em: number) => ({
    model, mode, size, train_samples: size ?? 500, steps: 10, epochs: 1, answer_loss: loss, exact_match: em, selection: null, train_seconds: 1, eval_seconds: 1, examples: [],
    sources: [{ source: 'quiz', samples: 4, answer_loss: loss, answer_tokens: 20, exact_match: em, generated: 4 }],
  });
  it('a line per mode ending at the pool, the base as a dashed level; bad records draw nothing', () => {
    const pts = sftSizePoints([result('base', null, null, 4, 0), result('sft-random-10', 'random', 10, 3, 0.25), result('sft-diverse-10', 'diverse', 10, 2.5, 0.5), result('sft-all', 'all', null, 2.8, 0.25)], 500);
    expect(pts.map((p) => [p.mode, p.size])).toEqual([['base', 0], ['random', 10], ['diverse', 10], ['all', 500]]);
    const html = sftSizeSection(parseSftSize({ pool: 500, points: pts }));
    expect(html.match(/<path d="M[^"]+"/g)).toHaveLength(4); // random and diverse, each panel, each with two points
    expect(html).toContain('stroke-dasharray'); // the base
    expect(html).toContain('<td>sft-diverse-10</td><td>diverse</td><td>10</td><td>2.5000</td><td>50.0%</td>');
    expect(parseSftSize({ pool: 'x', points: [] })).toBeNull();
    expect(sftSizeSection(parseSftSize(null))).toBe('');
    expect(sftSizeSection(parseSftSize({ pool: 5, points: [{ model: 'x' }] }))).toBe('');
  });
});

describe('growlm experiment sft-size --quick', () => {
  let tmp: string, data: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'growlm-sft-size-'));
    data = join(tmp, 'demo');
    writeDemoSet(data, buildDemoSet({ quizDir: existsSync(QUIZ_DIR) ? QUIZ_DIR : null, definitions: 200, maxAnswerChars: 60, heldout: 0.2, seed: 1 }));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('pretrains, fine-tunes random and diverse subsets and the pool, scores held-out answers; a rerun reuses it all', () => {
    const out = join(tmp, 'run');
    const r = growlm('experiment', 'sft-size', '--quick', '--data', data, '--out', out, '--threads', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { pool: number; results: { model: string; train_samples: number; steps: number; answer_loss: number; exact_match: number; sources: { source: string; samples: number }[]; selection: { removed: Record<string, number>; clusters?: number[] } | null }[]; base: { steps: number } };
    expect(j.results.map((x) => x.model)).toEqual(['base', 'sft-random-20', 'sft-diverse-20', 'sft-all']);
    const [base, rnd, div, all] = j.results as [typeof j.results[0], typeof j.results[0], typeof j.results[0], typeof j.results[0]];
    expect(rnd.train_samples).toBe(20);
    expect(div.train_samples).toBe(20);
    expect(div.selection!.clusters!.reduce((a, b) => a + b, 0)).toBe(20);
    expect(all.train_samples).toBeGreaterThan(j.pool * 0.9);
    expect(all.train_samples).toBeLessThanOrEqual(j.pool);
    for (const x of j.results) {
      expect(Number.isFinite(x.answer_loss)).toBe(true);
      expect(x.exact_match).toBeGreaterThanOrEqual(0);
      // the same held-out questions for every model, per source
      expect(x.sources).toEqual(base.sources.map((s) => expect.objectContaining({ source: s.source, samples: s.samples })));
    }
    expect(base.sources.map((s) => s.source)).toContain('definitions');
    // a few steps of fine-tuning on the whole pool already teach the answer format: the held-out answer loss falls
    expect(all.answer_loss).toBeLessThan(base.answer_loss - 0.05);
    expect(readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n')).toHaveLength(4);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toContain('<section id="sft-size">');
    expect(html).toContain('sft-diverse-20');

    const again = growlm('experiment', 'sft-size', '--quick', '--data', data, '--out', out, '--threads', '1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('base: trained (reused)');
    expect(again.stderr).not.toContain('fine-tuning');
    expect(again.stdout).toMatch(/sft-all\s+\d+\s+\d\.\d{4}/);
    // other settings in the same run directory would mix models: refused
    expectOneLineError(growlm('experiment', 'sft-size', '--quick', '--data', data, '--out', out, '--steps', '7'), /other settings \(sft_steps\)/);
  });

  it('bad input: no demo set, an unknown selection mode', () => {
    expectOneLineError(growlm('experiment', 'sft-size', '--quick', '--data', join(tmp, 'nothing'), '--out', join(tmp, 'bad')), /has no train\.jsonl: build the SFT demo set first/);
    expect(existsSync(join(tmp, 'bad'))).toBe(false);
    expectOneLineError(growlm('experiment', 'sft-size', '--quick', '--data', data, '--modes', 'random,best', '--out', join(tmp, 'bad')), /unknown selection "best"/, 2);
  });
});
