// The crash harness, short version (the long run is tools/sigkill.ts): growlm train, a staged plan run
// with a growth and data prepare are SIGKILLed at pause points (during a checkpoint write, during
// growth, while a dataset is committed) and after random delays, rerun each time, and must end with
// files bitwise equal to an uninterrupted run's, no orphaned child and no temporary files left; no
// kill may lose more training steps than the checkpoint interval.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ScenarioResult, runScenario } from '../../tools/sigkill-harness.js';
import { parsePauseSpec, pausePoint } from '../../src/util/pause-point.js';
import { growlm } from '../cli/run.js';

const work = mkdtempSync(join(tmpdir(), 'growlm-sigkill-test-'));

/**
 * Work lost per kill (reached − resumed from, tools/sigkill-harness.ts): one entry per kill, never
 * more than the checkpoint interval; a kill while a checkpoint is written loses exactly the interval
 * (the steps since the checkpoint before), one after a checkpoint is in place, after the last
 * checkpoint or outside training loses nothing.
 */
function expectLostWorkBounded(r: ScenarioResult): void {
  expect(r.lostWork.map((w) => w.kill)).toEqual(Array.from({ length: r.kills }, (_, i) => i + 1));
  expect(r.checkpointEvery).toBe(2);
  for (const w of r.lostWork) {
    expect(w.lost).toBe(w.reached - w.resumedFrom);
    expect(w.lost).toBeGreaterThanOrEqual(0);
    expect(w.lost).toBeLessThanOrEqual(r.checkpointEvery!);
    if (w.at === 'checkpoint-write') expect(w.lost, JSON.stringify(w)).toBe(r.checkpointEvery);
    if (['checkpoint-prune', 'final-weights', 'data-commit', 'grow-write'].includes(w.at)) expect(w.lost, JSON.stringify(w)).toBe(0);
  }
  expect(r.maxLostSteps).toBe(Math.max(...r.lostWork.map((w) => w.lost)));
}
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SIGKILL harness (short)', () => {
  it('train: 4 kills (one during a checkpoint write), resumed with --resume, final weights and moments bitwise equal', async () => {
    const r = await runScenario('train', work, { kills: 4, seed: 11, steps: 24, maxDelayMs: 3000 });
    expect(r.kills).toBe(4);
    expect(r.at['checkpoint-write']).toBeGreaterThanOrEqual(1);
    expect(r.differing).toEqual([]);
    expect(r.compared).toBeGreaterThanOrEqual(3);
    expectLostWorkBounded(r);
    expect(r.maxLostSteps).toBe(2);
    expect(r.resumeChecks).toBeGreaterThanOrEqual(1);
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
    expectLostWorkBounded(r);
    expect(r.lostWork.find((w) => w.at === 'grow-write')).toMatchObject({ stage: 'big', lost: 0 });
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
    expect(r.lostWork).toEqual([]); // no training
    expect(r.errors).toEqual([]);
    expect(r.leftovers).toEqual([]);
  }, 180_000);
});

describe('a crash after the last checkpoint', () => {
  it('--resume from a checkpoint at the last step rewrites the final weights and moments (it used to be refused)', () => {
    const dir = join(work, 'last');
    mkdirSync(join(dir, 'corpus'), { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(dir, 'corpus', `${i}.txt`), `Part ${i}. ` + 'The quick brown fox jumps over the lazy dog. '.repeat(60));
    const prep = growlm('data', 'prepare', '--input', join(dir, 'corpus'), '--tokenizer', 'byte', '--out', join(dir, 'data'), '--val-fraction', '0.25');
    expect(prep.code, prep.stderr).toBe(0);
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 }));
    const m = join(dir, 'm');
    expect(growlm('init', '--config', join(dir, 'c.json'), '--out', m, '--seed', '2').code).toBe(0);
    copyFileSync(join(m, 'model.safetensors'), join(dir, 'init.safetensors'));
    const train = (...extra: string[]) => growlm('train', '--model', m, '--data', join(dir, 'data'), '--steps', '4', '--batch', '2', '--checkpoint-every', '2', '--eval-every', '2', '--eval-batches', '1', '--threads', '1', '--json', ...extra);
    const first = train();
    expect(first.code, first.stderr).toBe(0);
    const done = { weights: readFileSync(join(m, 'model.safetensors')), moments: readFileSync(join(m, 'optimizer.safetensors')) };
    // as if killed after the last checkpoint, before the final files were written
    copyFileSync(join(dir, 'init.safetensors'), join(m, 'model.safetensors'));
    rmSync(join(m, 'optimizer.safetensors'));
    const again = train('--resume');
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(m, 'model.safetensors'))).toEqual(done.weights);
    expect(readFileSync(join(m, 'optimizer.safetensors'))).toEqual(done.moments);
    // the same figures as the run that finished: last loss and validation loss of step 4
    const [a, b] = [JSON.parse(first.stdout), JSON.parse(again.stdout)];
    expect(b.steps).toBe(4);
    expect(b.loss).toBe(a.loss);
    expect(b.val_loss).toBe(a.val_loss);
  }, 60_000);
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
