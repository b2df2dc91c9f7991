/**
 * The server's metrics in Prometheus' text exposition format (version 0.0.4), written by hand:
 * requests by endpoint and status, tokens generated, queue length, active sequences, and a
 * histogram of request latency.
 */

/** Upper bounds (seconds) of the latency histogram's buckets. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface Gauges {
  tokensGenerated: number;
  queueLength: number;
  activeSequences: number;
}

export class Metrics {
  private requests = new Map<string, number>();
  private buckets = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  private latencySum = 0;
  private latencyCount = 0;

  /** Count one finished request (endpoint as routed, e.g. /v1/completions; `other` for unknown paths; `(unparsed)` for requests the HTTP parser rejected or that timed out). */
  request(endpoint: string, status: number, seconds: number): void {
    const key = `${endpoint}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    LATENCY_BUCKETS.forEach((b, i) => { if (seconds <= b) this.buckets[i]!++; });
    this.latencySum += seconds;
    this.latencyCount++;
  }

  render(g: Gauges): string {
    const lines = [
      '# HELP growlm_requests_total HTTP requests answered, by endpoint and status.',
      '# TYPE growlm_requests_total counter',
    ];
    for (const [key, n] of [...this.requests].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const [endpoint, status] = key.split('\u0000');
      lines.push(`growlm_requests_total{endpoint="${escapeLabel(endpoint!)}",status="${status}"} ${n}`);
    }
    lines.push(
      '# HELP growlm_tokens_generated_total Tokens generated, all sequences.',
      '# TYPE growlm_tokens_generated_total counter',
      `growlm_tokens_generated_total ${g.tokensGenerated}`,
      '# HELP growlm_queue_length Requests waiting for a decoding slot.',
      '# TYPE growlm_queue_length gauge',
      `growlm_queue_length ${g.queueLength}`,
      '# HELP growlm_active_sequences Sequences being decoded.',
      '# TYPE growlm_active_sequences gauge',
      `growlm_active_sequences ${g.activeSequences}`,
      '# HELP growlm_request_duration_seconds Time from request to the end of its response.',
      '# TYPE growlm_request_duration_seconds histogram',
    );
    LATENCY_BUCKETS.forEach((b, i) => lines.push(`growlm_request_duration_seconds_bucket{le="${b}"} ${this.buckets[i]}`));
    lines.push(
      `growlm_request_duration_seconds_bucket{le="+Inf"} ${this.latencyCount}`,
      `growlm_request_duration_seconds_sum ${this.latencySum}`,
      `growlm_request_duration_seconds_count ${this.latencyCount}`,
    );
    return lines.join('\n') + '\n';
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
