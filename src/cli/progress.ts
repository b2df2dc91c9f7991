/**
 * A one-line progress display on stderr: redrawn in place on a terminal, printed every few seconds
 * otherwise (CI logs), silent with --json.
 */
export class Progress {
  private lastPrint = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly total: number, private readonly enabled = true, private readonly everyMs = 5000) {}

  update(done: number, text: string, force = false): void {
    if (!this.enabled) return;
    const frac = Math.min(1, done / this.total);
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    const line = `${bar} ${String(done).padStart(String(this.total).length)}/${this.total} ${text}`;
    if (this.tty) {
      process.stderr.write(`\r\x1b[2K${line}`);
      if (done >= this.total) process.stderr.write('\n');
    } else {
      const now = Date.now();
      if (force || done >= this.total || now - this.lastPrint >= this.everyMs) {
        process.stderr.write(line + '\n');
        this.lastPrint = now;
      }
    }
  }

  /** End a progress line left open on a terminal (a run that stopped before its last step). */
  end(): void {
    if (this.enabled && this.tty) process.stderr.write('\n');
  }

  /** A line that should stay visible (e.g. a validation result). */
  log(text: string): void {
    if (!this.enabled) return;
    process.stderr.write(this.tty ? `\r\x1b[2K${text}\n` : text + '\n');
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}
