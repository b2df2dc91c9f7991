/**
 * A tiny command framework over node:util parseArgs: each subcommand declares its options once, and
 * gets strict parsing, typed accessors and a generated --help from that declaration.
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../util/errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Placeholder shown in help, e.g. DIR. */
  arg?: string;
  default?: string;
  required?: boolean;
}

export type ParsedOptions = Record<string, string | boolean | undefined>;

export interface Command {
  /** One or two words, e.g. 'init' or 'bench train'. */
  name: string;
  summary: string;
  /** Extra help text shown under the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  positionals?: { name: string; description: string; required: boolean }[];
  run(args: Args): Promise<number | void>;
}

/** Parsed arguments with typed, validating accessors. */
export class Args {
  constructor(readonly opts: ParsedOptions, readonly positionals: string[]) {}

  has(name: string): boolean {
    return this.opts[name] !== undefined && this.opts[name] !== false;
  }

  flag(name: string): boolean {
    return this.opts[name] === true;
  }

  str(name: string): string | undefined {
    const v = this.opts[name];
    return typeof v === 'string' ? v : undefined;
  }

  need(name: string): string {
    const v = this.str(name);
    if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
    return v;
  }

  int(name: string, fallback?: number, min = 1): number {
    const v = this.str(name);
    if (v === undefined) {
      if (fallback === undefined) throw new UsageError(`--${name} is required`);
      return fallback;
    }
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
    return n;
  }

  num(name: string, fallback?: number): number {
    const v = this.str(name);
    if (v === undefined) {
      if (fallback === undefined) throw new UsageError(`--${name} is required`);
      return fallback;
    }
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
    return n;
  }
}

const COMMON: Record<string, OptionSpec> = {
  help: { type: 'boolean', description: 'show this help' },
};

export function parseCommandArgs(cmd: Command, argv: string[]): Args {
  const options = { ...COMMON, ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type }])),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split(/\n|\. /)[0]} (see growlm ${cmd.name} --help)`);
  }
  const values = parsed.values as ParsedOptions;
  for (const [k, o] of Object.entries(cmd.options)) if (values[k] === undefined && o.default !== undefined) values[k] = o.default;
  const args = new Args(values, parsed.positionals);
  if (args.flag('help')) return args;
  const pos = cmd.positionals ?? [];
  if (parsed.positionals.length > pos.length) throw new UsageError(`unexpected argument "${parsed.positionals[pos.length]}" (see growlm ${cmd.name} --help)`);
  pos.forEach((p, i) => {
    if (p.required && parsed.positionals[i] === undefined) throw new UsageError(`missing ${p.name} (see growlm ${cmd.name} --help)`);
  });
  for (const [k, o] of Object.entries(cmd.options)) {
    if (o.required && values[k] === undefined) throw new UsageError(`--${k} is required (see growlm ${cmd.name} --help)`);
  }
  return args;
}

export function commandHelp(cmd: Command): string {
  const pos = (cmd.positionals ?? []).map((p) => (p.required ? p.name : `[${p.name}]`)).join(' ');
  const lines = [`usage: growlm ${cmd.name}${pos ? ' ' + pos : ''} [options]`, '', cmd.summary];
  if (cmd.details) lines.push('', cmd.details);
  if (cmd.positionals?.length) {
    lines.push('', 'arguments:');
    for (const p of cmd.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.description}`);
  }
  lines.push('', 'options:');
  for (const [k, o] of Object.entries({ ...cmd.options, ...COMMON })) {
    const flag = `--${k}${o.type === 'string' ? ' ' + (o.arg ?? 'VALUE') : ''}`;
    const extra = o.required ? ' (required)' : o.default !== undefined ? ` (default: ${o.default})` : '';
    lines.push(`  ${flag.padEnd(24)} ${o.description}${extra}`);
  }
  return lines.join('\n');
}
