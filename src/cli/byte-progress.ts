/**
 * Progress of a long byte-counted job on stderr: a redrawn bar (done / total, MB/s, ETA) when the
 * stream is a terminal, otherwise a plain line every `intervalMs` so logs stay readable.
 */
export interface ProgressOptions {
  label: string;
  total: number;
  stream?: NodeJS.WriteStream;
  /** Override terminal detection (tests). */
  tty?: boolean;
  /** Minimum time between plain lines when not a terminal. */
  intervalMs?: number;
  /** When the job started (performance.now()); default: now. */
  startedAt?: number;
}

function mb(n: number): string {
  return (n / 1e6).toFixed(n >= 1e8 ? 0 : 1);
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly start: number;
  private last = -Infinity;
  private drawn = false;

  constructor(private readonly opts: ProgressOptions) {
    this.start = opts.startedAt ?? performance.now();
    this.stream = opts.stream ?? process.stderr;
    this.tty = opts.tty ?? Boolean(this.stream.isTTY);
    // Plain lines start after the first interval: short jobs print none.
    if (!this.tty) this.last = this.start;
  }

  /** `done` bytes of `total`; `extra` is appended (e.g. a token count). */
  update(done: number, extra = '', force = false): void {
    const now = performance.now();
    const interval = this.tty ? 100 : (this.opts.intervalMs ?? 5000);
    if (!force && now - this.last < interval) return;
    this.last = now;
    const total = this.opts.total;
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const stats = `${mb(done)}/${mb(total)} MB  ${(rate / 1e6).toFixed(1)} MB/s  ETA ${duration(eta)}${extra ? '  ' + extra : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      const line = `${this.opts.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${stats}`;
      this.stream.write(`\r${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.stream.write(`${this.opts.label}: ${(frac * 100).toFixed(0)}%  ${stats}\n`);
    }
  }

  /** Final state; ends the redrawn line. */
  finish(done: number, extra = ''): void {
    if (!this.tty) return;
    this.update(done, extra, true);
    if (this.drawn) this.stream.write('\n');
  }

  /** Clear a redrawn line (before an error message). */
  clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
