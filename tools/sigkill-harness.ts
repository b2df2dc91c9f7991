/**
 * The crash harness: runs `growlm train`, a staged `growlm plan run` (with a growth) and `growlm
 * data prepare` on small real data, SIGKILLs the process again and again, reruns the command a user
 * would type after each kill, and compares the final files with an uninterrupted run's (sha256).
 *
 * Kills land two ways, alternating: at a pause point (src/util/pause-point.ts: the child blocks
 * there and the harness kills it, so "during a checkpoint write", "during growth", "while a dataset
 * replaces the old one" are hit deterministically) and after a random delay (anywhere else). Each
 * kill goes to the pid a user sees (the CLI's parent, which relaunches itself with tuned malloc);
 * the harness then checks that the relaunched child is gone too (else it counts an orphan).
 * The random choices come from a seeded generator, so a run with the same seed kills at the same
 * points (the delays land wherever the process happens to be).
 *
 * Work lost per kill (train and plan run): `reached` is the last training step the killed process
 * had completed, read from its metrics.jsonl (the trainer appends a step's line when the step is
 * done, before that step's checkpoint is written; a partly computed step has no line and is not
 * counted); `resumed from` is the step of the newest checkpoint that loads and verifies after the
 * kill, which is where the rerun continues (checked against what the rerun prints: `resuming from
 * step N`, `resuming training from STAGE/checkpoints/step-N`). Lost = reached − resumed from, in the
 * stage being trained at the kill. The bound is the checkpoint interval: the trainer checkpoints
 * every `checkpoint_every` steps and at the last step, so at most `checkpoint_every` completed steps
 * follow the newest checkpoint (exactly that many only while the next checkpoint is being written;
 * otherwise at most `checkpoint_every` − 1, plus the step under way). A kill after the last
 * checkpoint (final weights, a stage's end) loses nothing; kills outside training (data
 * preparation, growth) lose no training step.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { listCheckpoints, loadCheckpoint } from '../src/train/checkpoint.js';
import { METRICS_FILE } from '../src/train/metrics.js';

const MAIN = join(import.meta.dirname, '..', import.meta.dirname.includes('/dist/') ? '' : 'dist', 'src/cli/main.js');

export type ScenarioName = 'train' | 'plan' | 'data';

export interface ScenarioResult {
  scenario: ScenarioName;
  /** SIGKILLs that landed (the process was still running). */
  kills: number;
  /** Of those, how many at each pause point, and after a random delay. */
  at: Record<string, number>;
  /** Runs that finished before their kill came (not counted as kills): each is compared, then the scenario starts over. */
  finishedEarly: number;
  /** Relaunched children still alive 3 s after their parent was killed. */
  orphans: number;
  /** File comparisons with the uninterrupted run (every finished run), and the files that differed. */
  compared: number;
  differing: string[];
  /** Non-zero exits of a rerun (other than by our kill), with their stderr. */
  errors: string[];
  /** Temporary files or folders left in the output after the final run. */
  leftovers: string[];
  seconds: number;
  /** Training steps lost per kill (train and plan run; empty for data prepare), the largest, and the bound (the checkpoint interval). */
  lostWork: LostWork[];
  maxLostSteps?: number;
  checkpointEvery?: number;
  /** Reruns that printed where they resumed: each must name the step found here (a mismatch is an error). */
  resumeChecks: number;
}

export interface LostWork {
  /** 1-based kill number and where it landed. */
  kill: number;
  at: string;
  /** The model directory being trained at the kill (relative to the output; '.' for train). */
  stage: string;
  /** Last step the killed process had completed (its line in metrics.jsonl), and the step the rerun continues from. */
  reached: number;
  resumedFrom: number;
  lost: number;
}

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every file under `dir` (relative paths), sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

const isTemp = (rel: string) => /\.tmp\b|\.tmp-\d|\.growing-\d|\.prepare-\d/.test(rel);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** Where the kill landed ('delay' or a pause point), undefined when the run was not killed. */
  killedAt?: string;
  orphan: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/** Run the CLI; kill it at pause point `pause` (NAME:K) or after `delayMs`, whichever is given. */
async function runCli(args: string[], kill: { pause?: string; delayMs?: number }): Promise<Run> {
  const env = { ...process.env, GROWLM_DEBUG: '', ...(kill.pause ? { GROWLM_PAUSE_AT: kill.pause } : {}) };
  delete (env as Record<string, string | undefined>).GROWLM_MALLOC_TUNED;
  const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let killedAt: string | undefined;
  let victims: number[] = [];
  const killNow = (where: string, paused?: number) => {
    if (killedAt || child.exitCode !== null) return;
    killedAt = where;
    victims = childrenOf(child.pid!);
    if (paused !== undefined && paused !== child.pid) process.kill(paused, 'SIGKILL'); // blocked: cannot watch its parent
    child.kill('SIGKILL');
  };
  child.stderr!.on('data', (b: Buffer) => {
    stderr += b.toString();
    const m = /growlm-pause ([a-z-]+) (\d+)/.exec(stderr);
    if (m) killNow(m[1]!, Number(m[2]));
  });
  const timer = kill.delayMs !== undefined ? setTimeout(() => killNow('delay'), kill.delayMs) : undefined;
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  clearTimeout(timer);
  let orphan = false;
  for (const v of victims) {
    for (let i = 0; i < 30 && alive(v); i++) await sleep(100);
    if (alive(v)) {
      orphan = true;
      process.kill(v, 'SIGKILL');
    }
  }
  return { code, signal, stderr, killedAt, orphan };
}

interface Scenario {
  /** The output whose files are compared. */
  out: string;
  /** The command line after a kill (the first run uses the same). */
  command(): string[];
  /**
   * Pause points this scenario passes in order of progress, and the largest K to pause at (a small K
   * keeps each killed process's progress small, so that the kills spread over the whole run). The
   * last `finals` points come only at the end of a run: they are used for the last kills only.
   */
  pauses: [string, number][];
  finals: number;
  /** Files to compare (relative to out), with a normaliser for run-dependent content. */
  compare(rel: string): boolean;
  normalise?(rel: string, text: Buffer): Buffer;
  /** Training: the model directory trained now (relative to out), and the checkpoint interval. */
  training?: { stage(): string; checkpointEvery: number };
}

/** The step of the newest checkpoint in `modelDir` that loads and verifies (what a resume continues from); 0 when none. */
export function resumableStep(modelDir: string): number {
  for (const dir of listCheckpoints(modelDir).reverse()) {
    try {
      return loadCheckpoint(dir).state.step;
    } catch {
      /* damaged: a resume passes over it */
    }
  }
  return 0;
}

/** The last step with a complete line in a metrics.jsonl (0 when there is none). */
function lastMetricsStep(path: string): number {
  if (!existsSync(path)) return 0;
  let last = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      const e = JSON.parse(line) as { step?: unknown };
      if (typeof e.step === 'number') last = e.step;
    } catch {
      /* a partial last line */
    }
  }
  return last;
}

/** Size and modification time of a file, to tell whether a run wrote it ('' when it does not exist). */
function stamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}

function corpus(dir: string, docs: number, repeat: number): void {
  mkdirSync(dir, { recursive: true });
  const text = 'The quick brown fox jumps over the lazy dog. A stitch in time saves nine. All that glitters is not gold.\n\n';
  for (let i = 0; i < docs; i++) writeFileSync(join(dir, `doc${i}.txt`), `Part ${i}. ` + text.repeat(repeat));
}

const SMALL = { vocab_size: 256, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, head_dim: 8, max_position_embeddings: 32 };
const BIG = { ...SMALL, hidden_size: 24, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 3 };

/** Set up a scenario in `dir` (twice: `ref` for the uninterrupted run, `out` for the killed one). */
async function makeScenario(name: ScenarioName, dir: string, which: 'ref' | 'run', steps: number): Promise<Scenario> {
  const shared = join(dir, 'shared');
  if (!existsSync(shared)) {
    corpus(join(shared, 'corpus'), 4, 40);
    writeFileSync(join(shared, 'small.json'), JSON.stringify(SMALL));
    writeFileSync(join(shared, 'big.json'), JSON.stringify(BIG));
    const r = await runCli(['data', 'prepare', '--input', join(shared, 'corpus'), '--tokenizer', 'byte', '--out', join(shared, 'data'), '--val-fraction', '0.25'], {});
    if (r.code !== 0) throw new Error(`data prepare failed: ${r.stderr}`);
    writeFileSync(join(shared, 'mini.plan.json'), JSON.stringify({
      name: 'mini', data: { input: 'corpus', tokenizer: 'byte', val_fraction: 0.25 },
      defaults: { batch: 2, seq: 16, eval_batches: 1, checkpoint_every: 2 },
      stages: [
        { name: 'small', model: 'small.json', train: { steps, lr: 1e-2 } },
        { name: 'big', model: 'big.json', grow: { method: 'msg', placement: 'interleave', ramp_steps: 3 }, train: { steps, lr: 5e-3 } },
      ],
    }));
  }
  const out = join(dir, `${name}-${which}`);
  if (name === 'train') {
    const r = await runCli(['init', '--config', join(shared, 'small.json'), '--out', out, '--seed', '3'], {});
    if (r.code !== 0) throw new Error(`init failed: ${r.stderr}`);
    const base = ['train', '--model', out, '--data', join(shared, 'data'), '--steps', String(steps), '--batch', '2', '--seq', '16', '--lr', '1e-2',
      '--checkpoint-every', '2', '--eval-every', '0', '--threads', '1'];
    return {
      out, pauses: [['checkpoint-write', 2], ['checkpoint-prune', 2], ['final-weights', 1]], finals: 1,
      training: { stage: () => '.', checkpointEvery: 2 },
      // after a kill a user types --resume when there is a checkpoint to resume from, else the same command again
      command: () => (existsSync(join(out, 'checkpoints')) && readdirSync(join(out, 'checkpoints')).some((d) => /^step-\d{8}$/.test(d)) ? [...base, '--resume'] : base),
      compare: (rel) => rel === 'model.safetensors' || rel === 'optimizer.safetensors' || rel === 'config.json',
    };
  }
  if (name === 'plan') {
    return {
      out, pauses: [['data-commit', 1], ['grow-write', 1], ['checkpoint-write', 2], ['checkpoint-prune', 2], ['final-weights', 1]], finals: 0,
      // the stage trained now: the first one plan-state.json does not mark done
      training: {
        stage: () => {
          const path = join(out, 'plan-state.json');
          const done = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { stages: Record<string, { status: string }> }).stages : {};
          return ['small', 'big'].find((st) => done[st]?.status !== 'done') ?? 'big';
        },
        checkpointEvery: 2,
      },
      command: () => ['plan', 'run', join(shared, 'mini.plan.json'), '--out', out, '--no-baselines', '--threads', '1'],
      compare: (rel) => /^(small|big)\/(model\.safetensors|optimizer\.safetensors|config\.json)$/.test(rel) || /^data\/.*\.tok$/.test(rel),
    };
  }
  corpus(join(dir, `corpus-${which}`), 24, 400);
  return {
    out, pauses: [['data-commit', 1], ['data-replace', 1]], finals: 0,
    command: () => ['data', 'prepare', '--input', join(dir, `corpus-${which}`), '--tokenizer', 'byte', '--out', out, '--val-fraction', '0.1', '--shard-tokens', '20000', '--force'],
    compare: (rel) => !isTemp(rel),
    // the input folder's path and the timing differ between the two runs
    normalise: (rel, b) => {
      if (rel !== 'meta.json') return b;
      const m = JSON.parse(b.toString()) as Record<string, unknown>;
      delete m.throughput;
      delete m.created;
      return Buffer.from(JSON.stringify(m).replaceAll(`corpus-${which}`, 'corpus'));
    },
  };
}

export interface HarnessOptions {
  kills: number;
  seed: number;
  /** Training steps per stage (more steps leave room for more kills). */
  steps: number;
  /** The longest random delay before a kill, ms. */
  maxDelayMs: number;
  log?: (line: string) => void;
}

/** Run one scenario: an uninterrupted reference, then a run killed `kills` times, and compare. */
export async function runScenario(name: ScenarioName, work: string, o: HarnessOptions): Promise<ScenarioResult> {
  const t0 = performance.now();
  const random = rng(o.seed);
  const ref = await makeScenario(name, work, 'ref', o.steps);
  const refRun = await runCli(ref.command(), {});
  if (refRun.code !== 0) throw new Error(`the uninterrupted ${name} run failed: ${refRun.stderr}`);
  let sc = await makeScenario(name, work, 'run', o.steps);
  const at: Record<string, number> = {};
  const errors: string[] = [];
  const differing = new Set<string>();
  let kills = 0, finishedEarly = 0, orphans = 0, pauseIndex = 0, compared = 0;
  const wanted = files(ref.out).filter((f) => ref.compare(f));
  const compare = () => {
    compared += wanted.length;
    for (const f of wanted) {
      const p = join(sc.out, f);
      if (!existsSync(p)) differing.add(f);
      else if (!sc.normalise ? sha256(p) !== sha256(join(ref.out, f)) : !sc.normalise(f, readFileSync(p)).equals(ref.normalise!(f, readFileSync(join(ref.out, f))))) differing.add(f);
    }
  };
  const lostWork: LostWork[] = [];
  /** A kill whose resume point is still to be checked against what the next run prints. */
  let pendingCheck: LostWork | undefined;
  let resumeChecks = 0;
  const checkResume = (stderr: string) => {
    const w = pendingCheck;
    pendingCheck = undefined;
    if (!w || /skipped a damaged checkpoint/.test(stderr)) return;
    // train prints `resuming from step N`, plan run `resuming training from STAGE/checkpoints/step-N` (a run killed before that prints nothing)
    const m = w.stage === '.' ? /resuming from step (\d+)/.exec(stderr) : new RegExp(`resuming training from ${w.stage}/checkpoints/step-(\\d+)`).exec(stderr);
    const said = m ? Number(m[1]) : undefined;
    if (said !== undefined) resumeChecks++;
    if (said !== undefined && said !== w.resumedFrom) errors.push(`kill ${w.kill}: the rerun resumed from step ${said}, the newest valid checkpoint is step ${w.resumedFrom}`);
  };
  for (let attempt = 0; kills < o.kills && attempt < o.kills * 4; attempt++) {
    const usePause = attempt % 2 === 0;
    const usable = kills >= o.kills - 2 ? sc.pauses : sc.pauses.slice(0, sc.pauses.length - sc.finals);
    const [point, reach] = usable[(usePause ? pauseIndex++ : pauseIndex) % usable.length]!;
    const kill = usePause ? { pause: `${point}:${1 + Math.floor(random() * reach)}` } : { delayMs: Math.round(random() * o.maxDelayMs) };
    // where this run starts: its stage, that stage's resume point and whether metrics.jsonl gets written
    const startStage = sc.training?.stage();
    const startStep = startStage !== undefined ? resumableStep(join(sc.out, startStage)) : 0;
    const metricsBefore = startStage !== undefined ? stamp(join(sc.out, startStage, METRICS_FILE)) : '';
    const r = await runCli(sc.command(), kill);
    checkResume(r.stderr);
    if (r.orphan) orphans++;
    if (r.killedAt) {
      kills++;
      at[r.killedAt] = (at[r.killedAt] ?? 0) + 1;
      if (sc.training) {
        const stage = sc.training.stage();
        const metrics = join(sc.out, stage, METRICS_FILE);
        // a process that never got to train leaves the metrics of the run before it: its progress is where it started
        const started = stage === startStage ? startStep : 0;
        const reached = stage === startStage && stamp(metrics) === metricsBefore ? started : Math.max(started, lastMetricsStep(metrics));
        const resumedFrom = resumableStep(join(sc.out, stage));
        const w: LostWork = { kill: kills, at: r.killedAt, stage, reached, resumedFrom, lost: reached - resumedFrom };
        lostWork.push(w);
        pendingCheck = w;
        if (w.lost > sc.training.checkpointEvery || w.lost < 0) errors.push(`kill ${kills} (${r.killedAt}, ${stage}): ${w.lost} steps lost (reached ${reached}, resumes from ${resumedFrom}), more than the checkpoint interval ${sc.training.checkpointEvery}`);
      }
      o.log?.(`${name}: kill ${kills} at ${r.killedAt}${kill.pause ? ` (${kill.pause})` : ` (${kill.delayMs} ms)`}${lostWork.at(-1)?.kill === kills ? `: ${lostWork.at(-1)!.stage} step ${lostWork.at(-1)!.reached} reached, resumes from ${lostWork.at(-1)!.resumedFrom}` : ''}`);
    } else if (r.code === 0) {
      // the run got to its end before the kill came: check it, then start the scenario over
      finishedEarly++;
      compare();
      rmSync(sc.out, { recursive: true, force: true });
      sc = await makeScenario(name, work, 'run', o.steps);
    } else {
      errors.push(`exit ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').at(-1)}`);
    }
  }
  const last = await runCli(sc.command(), {});
  checkResume(last.stderr);
  if (last.code !== 0) errors.push(`final run: exit ${last.code ?? last.signal}: ${last.stderr.trim().split('\n').at(-1)}`);
  compare();
  return {
    scenario: name, kills, at, finishedEarly, orphans, compared, differing: [...differing], errors,
    leftovers: files(sc.out).filter(isTemp), seconds: (performance.now() - t0) / 1000,
    lostWork, resumeChecks, ...(sc.training ? { maxLostSteps: Math.max(0, ...lostWork.map((w) => w.lost)), checkpointEvery: sc.training.checkpointEvery } : {}),
  };
}
