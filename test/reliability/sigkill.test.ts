// The crash harness, short version (the long run is tools/sigkill.ts): growlm train, a staged plan run
// with a growth and data prepare are SIGKILLed at pause points (during a checkpoint write, during
// growth, while a dataset is committed) and after random delays, rerun each time, and must end with
// files bitwise equal to an uninterrupted run's, no orphaned child and no temporary files left.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScenario } from '../../tools/sigkill-harness.js';
import { parsePauseSpec, pausePoint } from '../../src/util/pause-point.js';

const work = mkdtempSync(join(tmpdir(), 'growlm-sigkill-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SIGKILL harness (short)', () => {
  it('train: 4 kills (one during a checkpoint write), resumed with --resume, final weights and moments bitwise equal', async () => {
    const r = await runScenario('train', work, { kills: 4, seed: 11, steps: 24, maxDelayMs: 3000 });
    expect(r.kills).toBe(4);
    expect(r.at['checkpoint-write']).toBeGreaterThanOrEqual(1);
    expect(r.differing).toEqual([]);
    expect(r.compared).toBeGreaterThanOrEqual(3);
    expect(r.errors).toEqual([]);
    expect(r.orphans).toBe(0);
    expect(r.leftovers).toEqual([]);
  }, 180_000);

  it('plan run: 4 kills (during data preparation and during growth), rerun, every stage bitwise equal', async () => {
    const r = await runScenario('plan', work, { kills: 4, seed: 12, steps: 6, maxDelayMs: 4000 });
    expect(r.kills).toBe(4);
    expect(r.at['data-commit']).toBe(1);
    expect(r.at['grow-write']).toBe(1);
    expect(r.differing).toEqual([]);
    expect(r.compared).toBeGreaterThanOrEqual(6);
    expect(r.errors).toEqual([]);
    expect(r.orphans).toBe(0);
    expect(r.leftovers).toEqual([]);
  }, 180_000);

  it('data prepare --force: 3 kills (before and during the commit), rerun, same shards and meta', async () => {
    const r = await runScenario('data', work, { kills: 3, seed: 13, steps: 0, maxDelayMs: 1500 });
    expect(r.kills).toBe(3);
    expect(r.at['data-commit']).toBe(1);
    expect(r.at['data-replace']).toBe(1);
    expect(r.differing).toEqual([]);
    expect(r.errors).toEqual([]);
    expect(r.leftovers).toEqual([]);
  }, 180_000);
});

describe('pause points', () => {
  it('parse NAME[:K]; anything else is no pause; without the variable nothing happens', () => {
    expect(parsePauseSpec('checkpoint-write')).toEqual({ name: 'checkpoint-write', nth: 1 });
    expect(parsePauseSpec('grow-write:3')).toEqual({ name: 'grow-write', nth: 3 });
    for (const bad of [undefined, '', 'x:0', 'x:-1', 'X', 'a b']) expect(parsePauseSpec(bad)).toBeUndefined();
    const t0 = performance.now();
    pausePoint('checkpoint-write', {});
    pausePoint('checkpoint-write', { GROWLM_PAUSE_AT: 'grow-write' });
    expect(performance.now() - t0).toBeLessThan(50);
  });
});
