/**
 * Named points where a crash harness (tools/sigkill.ts) can make a SIGKILL land deterministically:
 * with `GROWLM_PAUSE_AT=NAME:K` in the environment, the K-th time this process reaches point NAME it
 * prints `growlm-pause NAME PID` on stderr and blocks (up to 60 s, then carries on), so the harness
 * kills it exactly there. Without the variable a pause point does nothing.
 */
import { writeSync } from 'node:fs';

const reached = new Map<string, number>();

/** Parse `NAME:K` (K defaults to 1); undefined when the value is empty or malformed. */
export function parsePauseSpec(spec: string | undefined): { name: string; nth: number } | undefined {
  const m = /^([a-z-]+)(?::(\d+))?$/.exec(spec ?? '');
  if (!m) return undefined;
  const nth = m[2] === undefined ? 1 : Number(m[2]);
  return nth >= 1 ? { name: m[1]!, nth } : undefined;
}

export function pausePoint(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const spec = parsePauseSpec(env.GROWLM_PAUSE_AT);
  if (!spec || spec.name !== name) return;
  const n = (reached.get(name) ?? 0) + 1;
  reached.set(name, n);
  if (n !== spec.nth) return;
  writeSync(2, `growlm-pause ${name} ${process.pid}\n`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}
