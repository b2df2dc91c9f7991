// Plan files are validated against their schema on load: a typo is an error naming the field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlanError, loadPlan, validatePlanJson } from '../../src/plan/plan.js';
import { expectOneLineError, growlm } from '../cli/run.js';

const good = () => ({
  name: 'p', data: { builtin: 'gutenberg', tokenizer: 'byte' }, defaults: { batch: 2, schedule: 'cosine' },
  stages: [
    { name: 'a', model: 'tiny', train: { steps: 4, lr: 1e-2 } },
    { name: 'b', model: 'tiny', grow: { method: 'msg', placement: 'interleave', ramp_steps: 3 }, train: { steps: 4, lr_policy: 'keep' } },
  ],
  samples: { prompts: ['x'], max_tokens: 8 },
});

const error = (edit: (p: ReturnType<typeof good> & Record<string, any>) => void): string => {
  const p = good();
  edit(p);
  try {
    validatePlanJson(p);
  } catch (e) {
    expect(e).toBeInstanceOf(PlanError);
    return (e as Error).message;
  }
  throw new Error('expected a PlanError');
};

describe('plan schema', () => {
  it('accepts the plans shipped in models/', () => {
    expect(() => validatePlanJson(good())).not.toThrow();
    expect(loadPlan('tele-flm-analog').stages).toHaveLength(3);
    expect(loadPlan('tele-flm').stages).toHaveLength(3);
  });

  it('names the field of a wrong enumeration value, type, or unknown key', () => {
    expect(error((p) => { p.stages[1]!.grow!.method = 'msq'; })).toBe('plan.stages[1].grow.method: expected one of msg, mask-free, clone, got "msq"');
    expect(error((p) => { p.stages[1]!.grow!.placement = 'middle'; })).toBe('plan.stages[1].grow.placement: expected one of append, interleave, distance, got "middle"');
    expect(error((p) => { p.defaults.schedule = 'cosin'; })).toBe('plan.defaults.schedule: expected one of cosine, wsd, constant, got "cosin"');
    expect(error((p) => { (p.stages[1]!.train as Record<string, unknown>).lr_policy = 'rewnd'; })).toMatch(/^plan\.stages\[1\]\.train\.lr_policy: expected one of rewind, keep/);
    expect(error((p) => { (p.stages[0]!.train as Record<string, unknown>).steps = '4'; })).toBe('plan.stages[0].train.steps: expected an integer ≥ 1, got "4"');
    expect(error((p) => { (p.stages[0]!.train as Record<string, unknown>).lr = -1; })).toBe('plan.stages[0].train.lr: expected a positive number, got -1');
    expect(error((p) => { (p.stages[0]!.train as Record<string, unknown>).learning_rate = 1e-3; })).toMatch(/^plan\.stages\[0\]\.train\.learning_rate: unknown field \(known: steps, tokens, batch/);
    expect(error((p) => { p.stages[1]!.grow!.ramp = 3; })).toMatch(/^plan\.stages\[1\]\.grow\.ramp: unknown field/);
    expect(error((p) => { p.stage = []; })).toMatch(/^plan\.stage: unknown field/);
    expect(error((p) => { p.samples.prompts = 'x' as never; })).toBe('plan.samples.prompts: expected a list, got "x"');
    expect(error((p) => { p.data.val_fraction = 2; })).toBe('plan.data.val_fraction: expected a number in [0, 1], got 2');
  });

  it('the CLI reports a typo as one line naming the file and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'growlm-plan-schema-'));
    const p = good();
    (p.stages[1]!.grow as Record<string, unknown>).method = 'msq';
    const file = join(dir, 'typo.plan.json');
    writeFileSync(file, JSON.stringify(p));
    expectOneLineError(growlm('plan', 'show', file), /typo\.plan\.json: plan\.stages\[1\]\.grow\.method: expected one of msg, mask-free, clone, got "msq"/);
  });
});
