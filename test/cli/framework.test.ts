/** The command framework (option kinds, one default, negative numbers, help, examples) and the CLI's error contract. */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Command, commandHelp, joinNegativeValues, parseCommandArgs } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { UsageError } from '../../src/cli/errors.js';
import { writeTokenFile } from '../../src/data/token-file.js';
import { DEFAULT_TRAIN } from '../../src/train/train-model-dir.js';
import { expectOneLineError, growlm } from './run.js';

const cmd = (name: string) => COMMANDS.find((c) => c.name === name)!;
const usage = (c: Command, argv: string[]) => {
  try {
    parseCommandArgs(c, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`${c.name} ${argv.join(' ')} parsed`);
};

describe('option kinds', () => {
  it('negative numbers after numeric options get a range error, not "ambiguous"', () => {
    expect(joinNegativeValues(['--steps', '-5', '--json'], cmd('train').options)).toEqual(['--steps=-5', '--json']);
    expect(joinNegativeValues(['--prompt', '-5'], cmd('generate').options)).toEqual(['--prompt', '-5']); // a string option keeps its value as is
    expect(usage(cmd('train'), ['--model', 'm', '--data', 'd', '--steps', '-5'])).toBe('--steps must be an integer ≥ 1, got -5');
    expect(usage(cmd('generate'), ['--model', 'm', '--prompt', 'x', '--temperature', '-1'])).toBe('--temperature must be ≥ 0, got -1');
    expect(usage(cmd('generate'), ['--model', 'm', '--prompt', 'x', '--top-p', '0'])).toBe('--top-p must be in (0, 1], got 0');
    expect(usage(cmd('train'), ['--model', 'm', '--data', 'd', '--steps', '2.5'])).toBe('--steps must be an integer ≥ 1, got "2.5"');
    expect(usage(cmd('train'), ['--model', 'm', '--data', 'd', '--lr', 'fast'])).toBe('--lr must be a number > 0, got "fast"');
    expect(usage(cmd('train'), ['--model', 'm', '--data', 'd', '--schedule', 'linear'])).toBe('--schedule must be cosine, wsd or constant, got "linear"');
  });

  it('one declared default: typed, shown in --help, and the value the command reads', () => {
    const train = cmd('train');
    const a = parseCommandArgs(train, ['--model', 'm', '--data', 'd', '--steps', '3']);
    expect(a.int('batch')).toBe(DEFAULT_TRAIN.batch);
    expect(a.num('min-lr-ratio')).toBe(DEFAULT_TRAIN.minLrRatio);
    expect(a.need('schedule')).toBe(DEFAULT_TRAIN.schedule);
    expect(a.optInt('seq')).toBeUndefined();
    expect(commandHelp(train)).toMatch(new RegExp(`--batch N +sequences per micro-batch \\(default: ${DEFAULT_TRAIN.batch}\\)`));
    expect(() => a.num('batch')).toThrow(/declared as int/);
    for (const c of COMMANDS) {
      for (const [k, o] of Object.entries(c.options)) {
        if (o.default === undefined) continue;
        expect(typeof o.default, `${c.name} --${k}`).toBe(o.kind === 'int' || o.kind === 'number' ? 'number' : 'string');
        expect(o.description, `${c.name} --${k} states its default twice`).not.toMatch(/default/);
      }
    }
  });

  it('every command has 1–3 examples that parse with its own options, at the end of its --help', () => {
    for (const c of COMMANDS) {
      expect(c.examples.length, c.name).toBeGreaterThanOrEqual(1);
      expect(c.examples.length, c.name).toBeLessThanOrEqual(3);
      for (const ex of c.examples) {
        expect(ex.startsWith(`growlm ${c.name} `) || ex === `growlm ${c.name}`, ex).toBe(true);
        const argv = (ex.slice(`growlm ${c.name}`.length).match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"|"$/g, ''));
        expect(() => parseCommandArgs(c, argv), ex).not.toThrow();
      }
      expect(commandHelp(c).endsWith(['examples:', ...c.examples.map((e) => `  ${e}`)].join('\n')), c.name).toBe(true);
    }
  });
});

describe('growlm CLI framework', () => {
  let tmp: string;
  let model: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'growlm-framework-'));
    model = join(tmp, 'm');
    const config = join(tmp, 'small.json');
    writeFileSync(config, JSON.stringify({ vocab_size: 256, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 32 }));
    expect(growlm('init', '--config', config, '--out', model).code).toBe(0);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('help CMD is CMD --help; groups list their subcommands; --version is listed; usage errors go to stderr', () => {
    expect(growlm('help', 'train').stdout).toBe(growlm('train', '--help').stdout);
    const bench = growlm('help', 'bench', 'train');
    expect(bench.code).toBe(0);
    expect(bench.stdout).toBe(growlm('bench', 'train', '--help').stdout);
    const data = growlm('data');
    expect(data.code).toBe(2);
    expect(data.stdout).toBe('');
    expect(data.stderr).toContain('data prepare');
    const dataHelp = growlm('data', '--help');
    expect(dataHelp.code).toBe(0);
    expect(dataHelp.stdout).toContain('data prepare');
    expect(growlm('--help').stdout).toMatch(/--version/);
    const neg = growlm('train', '--model', model, '--data', tmp, '--steps', '-5');
    expectOneLineError(neg, /^growlm: --steps must be an integer ≥ 1, got -5$/m, 2);
    expect(neg.stdout).toBe('');
  }, 300_000);

  it('--device cuda without the CUDA provider: one line naming the install command, nothing written', () => {
    const before = readdirSync(model).sort();
    const tok = join(tmp, 't.tok');
    writeTokenFile(tok, Buffer.from('It was the best of times. '.repeat(4), 'latin1'), 256);
    expectOneLineError(growlm('eval', '--model', model, '--tokens', tok, '--device', 'cuda'), /--device cuda: .*ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci/);
    expect(readdirSync(model).sort()).toEqual(before);
  }, 300_000);

  it('export refuses to overwrite without --force, and a directory as the output file; no temp files', () => {
    const out = join(tmp, 'm.onnx');
    expect(growlm('export', '--model', model, '--out', out).code).toBe(0);
    const first = readFileSync(out);
    expectOneLineError(growlm('export', '--model', model, '--out', out), /already holds a file \(use --force to overwrite\)/);
    expect(growlm('export', '--model', model, '--out', out, '--force').code).toBe(0);
    expect(readFileSync(out)).toEqual(first);
    const dir = join(tmp, 'dir.onnx');
    mkdirSync(dir);
    expectOneLineError(growlm('export', '--model', model, '--out', dir, '--force'), /dir\.onnx is a directory/);
    expect(readdirSync(dir)).toEqual([]);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(existsSync(`${out}.data`)).toBe(false);
  }, 300_000);
});
