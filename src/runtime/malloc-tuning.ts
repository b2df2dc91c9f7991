/**
 * glibc malloc settings for training throughput.
 *
 * Every training step hands onnxruntime's outputs (all the gradients: 49 MB on bench-small) to
 * JavaScript as new ArrayBuffers. With glibc's defaults these come from fresh mmap()s or from heap
 * space just trimmed back to the kernel, so every step page-faults them in again: measured here
 * 13,500 minor faults and ≈150 ms of an ≈880 ms bench-small step (a fault costs ≈12 µs on these VMs;
 * filling a fresh 100 MB buffer took 330 ms, a reused one 11 ms). Keeping freed memory in the heap
 * (no trimming, no mmap for big blocks) removes those faults. (Transparent huge pages for the heap,
 * glibc.malloc.hugetlb=1, made the first step 1 s faster but raised peak RSS by 40–70 MB: left out.)
 *
 * glibc reads its tunables once, at process start, so the CLI re-executes itself with them set
 * (see relaunchWithTunedMalloc); programs using growlm as a library start node with
 * `GLIBC_TUNABLES=${MALLOC_TUNABLES}` to get the same effect. The variable is ignored by other C
 * libraries and platforms.
 */
import { spawn } from 'node:child_process';

export const MALLOC_TUNABLES = 'glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=2147483648';

/** Set by the relaunch so that the child never relaunches again; set it to 1 to opt out. */
const GUARD = 'GROWLM_MALLOC_TUNED';

/** True when this process should re-execute itself with tuned malloc settings. */
export function needsMallocTuning(env: NodeJS.ProcessEnv = process.env, platform: string = process.platform): boolean {
  if (platform !== 'linux' || env[GUARD]) return false;
  return !(env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.'); // the user chose malloc settings
}

/** The environment for the child: GLIBC_TUNABLES with growlm's malloc settings appended. */
export function tunedEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ? `${env.GLIBC_TUNABLES}:${MALLOC_TUNABLES}` : MALLOC_TUNABLES;
  return { ...env, GLIBC_TUNABLES: tunables, [GUARD]: '1', [PARENT]: String(process.pid) };
}

/** Set by the relaunch to the parent's pid: the child watches that parent (exitWithParent). */
const PARENT = 'GROWLM_RELAUNCH_PARENT';

/**
 * In the relaunched child: end this process when the parent that relaunched it is gone. Without
 * this a SIGKILL sent to the growlm pid a user sees (which cannot be forwarded) would leave the
 * child running on, holding the directory lock. Polls process.ppid twice a second; the timer does
 * not keep the process alive.
 */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env): void {
  const parent = Number(env[PARENT]);
  if (!parent) return; // not a relaunched child
  const check = () => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); // (the parent may die before the child starts)
  };
  check();
  setInterval(check, 500).unref();
}

/**
 * Run this same script again in a child node with tuned malloc, passing stdio through; resolves
 * to the child's exit code (130/143 when a signal ended it). The child runs in its own process
 * group, so a signal reaches it exactly once, from this process: a Ctrl-C from the terminal (sent
 * to the foreground group, i.e. here) and a kill sent to this pid alike. (In the same group the
 * child would get a terminal Ctrl-C twice, and a second SIGINT cuts short a graceful stop.)
 */
export function relaunchWithTunedMalloc(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: tunedEnv(process.env), detached: true });
    const forward = (signal: NodeJS.Signals) => () => { child.kill(signal); };
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    child.on('error', (e) => {
      console.error(`growlm: error: could not start node: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      for (const [s, h] of handlers) process.off(s, h);
      resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  });
}
