/**
 * A tiny command framework over node:util parseArgs: each subcommand declares its options once —
 * kind (int, number, enum, path, string, boolean), range or choices, and ONE default — and gets
 * strict parsing, validated typed values and a generated --help (with its examples) from that
 * declaration. The declared default is the value the command passes to the library.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export type OptionKind = 'int' | 'number' | 'enum' | 'path' | 'string' | 'boolean';

interface OptionBase {
  description: string;
  /** Placeholder shown in help, e.g. DIR (default: N for int, X for number, the choices for enum, PATH, VALUE). */
  arg?: string;
  required?: boolean;
  /** Shown as the default in help when the library computes it (e.g. "the model's max_position_embeddings"). */
  defaultText?: string;
}

export type OptionSpec =
  /** min defaults to 1. */
  | (OptionBase & { kind: 'int'; default?: number; min?: number; max?: number })
  | (OptionBase & { kind: 'number'; default?: number; min?: number; max?: number; /** min itself is not allowed */ exclusiveMin?: boolean })
  | (OptionBase & { kind: 'enum'; choices: readonly string[]; default?: string })
  | (OptionBase & { kind: 'path' | 'string'; default?: string })
  | (OptionBase & { kind: 'boolean'; default?: undefined });

export type OptionValue = string | number | boolean;

export interface Command {
  /** One or two words, e.g. 'init' or 'bench train'. */
  name: string;
  summary: string;
  /** Extra help text shown under the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  positionals?: { name: string; description: string; required: boolean }[];
  /** 1–3 working command lines, shown at the end of --help. */
  examples: string[];
  run(args: Args): Promise<number | void>;
}

/** Parsed and validated arguments: declared defaults applied, numbers already numbers. */
export class Args {
  constructor(readonly values: Record<string, OptionValue | undefined>, readonly positionals: string[], private readonly specs: Record<string, OptionSpec> = {}) {}

  /** The option has a value (given, or a declared default); a boolean only when set. */
  has(name: string): boolean {
    return this.values[name] !== undefined && this.values[name] !== false;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  need(name: string): string {
    const v = this.str(name);
    if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
    return v;
  }

  /** An int option's value; its default when not given; a usage error when it has neither. */
  int(name: string): number {
    return this.required(name, 'int');
  }

  optInt(name: string): number | undefined {
    return this.optional(name, 'int');
  }

  num(name: string): number {
    return this.required(name, 'number');
  }

  optNum(name: string): number | undefined {
    return this.optional(name, 'number');
  }

  private optional(name: string, kind: OptionKind): number | undefined {
    const spec = this.specs[name];
    if (spec && spec.kind !== kind) throw new Error(`option --${name} is declared as ${spec.kind}, read as ${kind}`);
    const v = this.values[name];
    return typeof v === 'number' ? v : undefined;
  }

  private required(name: string, kind: OptionKind): number {
    const v = this.optional(name, kind);
    if (v === undefined) throw new UsageError(`--${name} is required`);
    return v;
  }
}

const COMMON: Record<string, OptionSpec> = {
  help: { kind: 'boolean', description: 'show this help' },
};

const NUMERIC = new Set<OptionKind>(['int', 'number']);
const NEGATIVE = /^-(\d|\.\d|Infinity$)/;

/**
 * node's parseArgs reads `--steps -5` as two options; join a value that looks like a negative
 * number to the numeric option before it (`--steps=-5`), so that it gets a range error instead.
 */
export function joinNegativeValues(argv: string[], options: Record<string, OptionSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!, next = argv[i + 1];
    const spec = a.startsWith('--') && !a.includes('=') ? options[a.slice(2)] : undefined;
    if (spec && NUMERIC.has(spec.kind) && next !== undefined && NEGATIVE.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

const orList = (xs: readonly string[]) => (xs.length > 1 ? `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)}` : xs[0] ?? '');

/** The range an int or number option accepts, in words: "≥ 1", "in (0, 1]". */
function rangeText(spec: OptionSpec): string {
  if (spec.kind !== 'int' && spec.kind !== 'number') return '';
  const min = spec.kind === 'int' ? (spec.min ?? 1) : spec.min;
  const open = spec.kind === 'number' && spec.exclusiveMin;
  if (min !== undefined && spec.max !== undefined) return `in ${open ? '(' : '['}${min}, ${spec.max}]`;
  if (min !== undefined) return `${open ? '>' : '≥'} ${min}`;
  return spec.max !== undefined ? `≤ ${spec.max}` : '';
}

/** Validate one given value against its declaration; returns the typed value. */
export function optionValue(name: string, spec: OptionSpec, raw: string | boolean): OptionValue {
  if (spec.kind === 'boolean' || typeof raw === 'boolean') return raw;
  if (spec.kind === 'enum') {
    if (!spec.choices.includes(raw)) throw new UsageError(`--${name} must be ${orList(spec.choices)}, got "${raw}"`);
    return raw;
  }
  if (spec.kind === 'path' || spec.kind === 'string') {
    if (spec.kind === 'path' && raw === '') throw new UsageError(`--${name} must be a path, got ""`);
    return raw;
  }
  const n = Number(raw);
  const range = rangeText(spec);
  if (spec.kind === 'int') {
    if (!/^\s*-?\d+\s*$/.test(raw) || !Number.isSafeInteger(n)) throw new UsageError(`--${name} must be an integer ${range}, got "${raw}"`);
    if (n < (spec.min ?? 1) || (spec.max !== undefined && n > spec.max)) throw new UsageError(`--${name} must be an integer ${range}, got ${raw}`);
    return n;
  }
  if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number${range ? ' ' + range : ''}, got "${raw}"`);
  const { min, max, exclusiveMin } = spec as Extract<OptionSpec, { kind: 'number' }>;
  const low = min !== undefined && (exclusiveMin ? n <= min : n < min);
  if (low || (max !== undefined && n > max)) throw new UsageError(`--${name} must be ${range}, got ${raw}`);
  return n;
}

export function parseCommandArgs(cmd: Command, argv: string[]): Args {
  const options = { ...COMMON, ...cmd.options };
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options: Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.kind === 'boolean' ? 'boolean' as const : 'string' as const }])),
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message.split(/\n|\. /)[0]} (see growlm ${cmd.name} --help)`);
  }
  const given = parsed.values as Record<string, string | boolean | undefined>;
  if (given.help === true) return new Args({ help: true }, parsed.positionals, options);
  const values: Record<string, OptionValue | undefined> = {};
  for (const [k, o] of Object.entries(options)) {
    const raw = given[k];
    values[k] = raw !== undefined ? optionValue(k, o, raw) : o.default;
  }
  const pos = cmd.positionals ?? [];
  if (parsed.positionals.length > pos.length) throw new UsageError(`unexpected argument "${parsed.positionals[pos.length]}" (see growlm ${cmd.name} --help)`);
  pos.forEach((p, i) => {
    if (p.required && parsed.positionals[i] === undefined) throw new UsageError(`missing ${p.name} (see growlm ${cmd.name} --help)`);
  });
  for (const [k, o] of Object.entries(cmd.options)) {
    if (o.required && values[k] === undefined) throw new UsageError(`--${k} is required (see growlm ${cmd.name} --help)`);
  }
  return new Args(values, parsed.positionals, options);
}

function placeholder(o: OptionSpec): string {
  if (o.arg) return o.arg;
  switch (o.kind) {
    case 'int': return 'N';
    case 'number': return 'X';
    case 'enum': return o.choices.join('|');
    case 'path': return 'PATH';
    default: return 'VALUE';
  }
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
    const flag = `--${k}${o.kind === 'boolean' ? '' : ' ' + placeholder(o)}`;
    const range = rangeText(o);
    const notes = [
      ...(range && !(o.kind === 'int' && (o.min ?? 1) === 1 && o.max === undefined) ? [range] : []),
      ...(o.required ? ['required'] : o.default !== undefined ? [`default: ${o.default}`] : o.defaultText ? [`default: ${o.defaultText}`] : []),
    ];
    lines.push(`  ${flag.padEnd(24)} ${o.description}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  }
  lines.push('', 'examples:', ...cmd.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}
