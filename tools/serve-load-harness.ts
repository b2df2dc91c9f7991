/**
 * Loopback checks of `growlm serve` under hostile use (tools/serve-load.ts runs the long version,
 * test/reliability/serve-load.test.ts a short one):
 * - load: N clients in a loop for S seconds, half streaming, half not; every answer must be a 200
 *   with a well-formed body (a JSON completion, or server-sent events ending with [DONE]) or a 429
 *   (the queue limit); latency percentiles and throughput;
 * - slowloris: sockets that send their headers (or their body) a byte at a time must be closed by the
 *   server's timeouts while other clients are served;
 * - body fuzzing (fast-check): random and malformed bodies, wrong types, huge fields, invalid UTF-8,
 *   garbage chunked framing; each must get an answer (a 4xx with a JSON error, or a 200) in time, and
 *   the server must still answer /health afterwards.
 */
import { connect } from 'node:net';
import fc from 'fast-check';

export interface LoadResult {
  clients: number;
  seconds: number;
  requests: number;
  ok: number;
  tooBusy: number;
  /** Answers other than 200 and 429, or bodies that are not well-formed (with a sample). */
  bad: number;
  badSamples: string[];
  serverErrors: number;
  p50Ms: number;
  p99Ms: number;
  requestsPerS: number;
  tokensPerS: number;
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};

/** Is `text` a complete server-sent-event stream of completion chunks ending with [DONE]? */
export function wellFormedStream(text: string): boolean {
  const events = text.split('\n\n').filter((e) => e !== '');
  if (events.at(-1) !== 'data: [DONE]') return false;
  return events.slice(0, -1).every((e) => {
    if (!e.startsWith('data: ')) return false;
    try {
      const o = JSON.parse(e.slice(6)) as { choices?: unknown; error?: unknown };
      return Array.isArray(o.choices) && o.error === undefined;
    } catch {
      return false;
    }
  });
}

export async function loadTest(url: string, model: string, o: { clients: number; seconds: number; maxTokens: number }): Promise<LoadResult> {
  const end = Date.now() + o.seconds * 1000;
  const latencies: number[] = [];
  let requests = 0, ok = 0, tooBusy = 0, bad = 0, serverErrors = 0, tokens = 0;
  const badSamples: string[] = [];
  const fail = (s: string) => {
    bad++;
    if (badSamples.length < 5) badSamples.push(s.slice(0, 200));
  };
  const t0 = performance.now();
  const client = async (c: number) => {
    for (let i = 0; Date.now() < end; i++) {
      const stream = (c + i) % 2 === 0;
      const body = { model, prompt: `Client ${c} request ${i}: the quick`, max_tokens: o.maxTokens, temperature: 0.8, seed: c * 100_000 + i, stream };
      const t = performance.now();
      requests++;
      let res: Response, text: string;
      try {
        res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
        text = await res.text();
      } catch (e) {
        fail(`fetch failed: ${(e as Error).message}`);
        continue;
      }
      if (res.status === 429) {
        tooBusy++;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      if (res.status >= 500) serverErrors++;
      if (res.status !== 200) {
        fail(`${res.status}: ${text}`);
        continue;
      }
      if (stream) {
        if (!wellFormedStream(text)) { fail(`malformed stream: ${text}`); continue; }
      } else {
        try {
          const j = JSON.parse(text) as { choices: { text: string }[]; usage: { completion_tokens: number } };
          if (typeof j.choices[0]!.text !== 'string') throw new Error('no text');
          tokens += j.usage.completion_tokens;
        } catch {
          fail(`malformed JSON: ${text}`);
          continue;
        }
      }
      ok++;
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  const seconds = (performance.now() - t0) / 1000;
  return {
    clients: o.clients, seconds, requests, ok, tooBusy, bad, badSamples, serverErrors,
    p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99), requestsPerS: ok / seconds, tokensPerS: tokens / seconds,
  };
}

/** The server's counters and gauges from /metrics. */
export async function serverGauges(url: string): Promise<{ tokensGenerated: number; active: number; queued: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (name: string) => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    if (!m) throw new Error(`/metrics has no ${name}`);
    return Number(m[1]);
  };
  return { tokensGenerated: read('growlm_tokens_generated_total'), active: read('growlm_active_sequences'), queued: read('growlm_queue_length') };
}

export interface DisconnectResult {
  /** Streaming requests opened, and how many were answered 200 / 429 (queue full) / otherwise. */
  streams: number;
  ok200: number;
  tooBusy: number;
  /** Streams that got neither (another status, no answer, a socket error before the cut), with the first 10. */
  failed: number;
  failures: string[];
  /** Streams the client cut (socket destroyed) after 0–3 events, and streams that ended ([DONE]) before their cut came. */
  aborted: number;
  finishedFirst: number;
  /** Tokens the server generated during the phase (its counter), and what the answered streams would have generated uncut (max_tokens each). */
  tokensGenerated: number;
  tokensUncut: number;
  maxTokens: number;
  /** After the last cut: the time until no sequence was active or queued (undefined: not within 10 s), and the gauges then. */
  drainMs?: number;
  activeAfter: number;
  queuedAfter: number;
  /** A normal request afterwards got its full answer (200, max_tokens tokens). */
  servedAfter: boolean;
}

/**
 * Clients that go away mid-stream: each of `clients` clients opens `streams` streaming requests one
 * after the other (completions and chat completions in turn, `max_tokens` of generation each) over
 * raw sockets and destroys the socket after 0, 1, 2 or 3 server-sent events (0: right after the
 * response head, i.e. often while queued). Afterwards every slot and queue place must come free,
 * the cut sequences must have stopped early (tokens generated far below what the answered streams
 * would have generated uncut) and the server must still answer.
 */
export async function disconnectingClients(host: string, port: number, url: string, model: string, o: { clients: number; streams: number; maxTokens: number }): Promise<DisconnectResult> {
  const before = await serverGauges(url);
  let streams = 0, ok200 = 0, tooBusy = 0, aborted = 0, finishedFirst = 0, failed = 0;
  const failures: string[] = [];
  const one = (c: number, i: number) => new Promise<void>((resolve) => {
    const chat = (c + i) % 2 === 1;
    const cutAfter = (c * 7 + i) % 4;
    const body = JSON.stringify(chat
      ? { model, messages: [{ role: 'user', content: `c${c} s${i}` }], max_tokens: o.maxTokens, temperature: 1, seed: c * 1000 + i, stream: true }
      : { model, prompt: `c${c} s${i}:`, max_tokens: o.maxTokens, temperature: 1, seed: c * 1000 + i, stream: true });
    const s = connect(port, host);
    let text = '';
    let status: number | undefined;
    let done = false;
    const finish = (what?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (what) {
        failed++;
        if (failures.length < 10) failures.push(what);
      }
      s.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish(`no answer within 30 s (${chat ? 'chat' : 'completion'})`), 30_000);
    s.on('connect', () => s.write(`POST /v1/${chat ? 'chat/' : ''}completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`));
    s.on('data', (b: Buffer) => {
      text += b.toString('latin1');
      const headEnd = text.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      if (status === undefined) {
        status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        if (status === 200) ok200++;
        else if (status === 429) { tooBusy++; finish(); return; }
        else { finish(`status ${status}: ${text.slice(headEnd + 4, headEnd + 200)}`); return; }
      }
      const rest = text.slice(headEnd + 4);
      if (rest.includes('data: [DONE]')) { finishedFirst++; finish(); return; }
      const events = rest.split('\n\n').length - 1; // complete events (chunked framing lines aside, each ends with a blank line)
      if (events >= cutAfter) { aborted++; finish(); }
    });
    s.on('error', () => finish(`socket error before the cut (${chat ? 'chat' : 'completion'})`));
    s.on('close', () => finish(status === undefined ? 'connection closed without an answer' : undefined));
  });
  await Promise.all(Array.from({ length: o.clients }, async (_, c) => {
    for (let i = 0; i < o.streams; i++) {
      streams++;
      await one(c, i);
    }
  }));
  const t0 = performance.now();
  let drainMs: number | undefined;
  let g = await serverGauges(url);
  while (performance.now() - t0 < 10_000) {
    if (g.active === 0 && g.queued === 0) { drainMs = performance.now() - t0; break; }
    await new Promise((r) => setTimeout(r, 20));
    g = await serverGauges(url);
  }
  let servedAfter = false;
  try {
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model, prompt: 'still there?', max_tokens: 3 }) });
    const j = (await r.json()) as { usage?: { completion_tokens?: number } };
    servedAfter = r.status === 200 && j.usage?.completion_tokens === 3;
  } catch { /* not served */ }
  return {
    streams, ok200, tooBusy, failed, failures, aborted, finishedFirst,
    tokensGenerated: g.tokensGenerated - before.tokensGenerated, tokensUncut: ok200 * o.maxTokens, maxTokens: o.maxTokens,
    drainMs, activeAfter: g.active, queuedAfter: g.queued, servedAfter,
  };
}

export interface SlowlorisResult {
  sockets: number;
  /** Sockets the server closed, and the longest time it took (ms). */
  closed: number;
  maxCloseMs: number;
  /** Normal requests made while the slow sockets were open, and how many succeeded. */
  served: number;
  servedOk: number;
}

/**
 * Open `sockets` slow connections (half send their headers a byte at a time, half send full headers
 * and then their body a byte at a time) and keep feeding them every `dripMs` until the server closes
 * them or `giveUpMs` passes; meanwhile make normal requests.
 */
export async function slowloris(host: string, port: number, url: string, o: { sockets: number; dripMs: number; giveUpMs: number }): Promise<SlowlorisResult> {
  const t0 = performance.now();
  const closes = await Promise.all([
    Promise.all(Array.from({ length: o.sockets }, (_, i) => new Promise<number | undefined>((resolve) => {
      const s = connect(port, host);
      const headers = i % 2 === 0;
      const text = headers
        ? 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Padding: ' + 'a'.repeat(10_000)
        : '{"model":"m","prompt":"' + 'a'.repeat(10_000);
      let at = 0;
      let timer: NodeJS.Timeout | undefined;
      const giveUp = setTimeout(() => { s.destroy(); resolve(undefined); }, o.giveUpMs);
      s.on('connect', () => {
        if (!headers) s.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 20000\r\n\r\n');
        timer = setInterval(() => { if (!s.destroyed) s.write(text[at++ % text.length]!); }, o.dripMs);
      });
      s.on('data', () => {});
      s.on('error', () => {});
      s.on('close', () => { clearInterval(timer); clearTimeout(giveUp); resolve(performance.now() - t0); });
    }))),
    (async () => {
      let served = 0, servedOk = 0;
      const until = Date.now() + o.giveUpMs / 2;
      while (Date.now() < until) {
        served++;
        try {
          const r = await fetch(`${url}/health`);
          if (r.status === 200) servedOk++;
          await r.text();
        } catch { /* counted as not served */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { served, servedOk };
    })(),
  ]);
  const times = closes[0].filter((t): t is number => t !== undefined);
  return { sockets: o.sockets, closed: times.length, maxCloseMs: Math.max(0, ...times), ...closes[1] };
}

/**
 * One raw HTTP exchange over a fresh socket: the status and the body (undefined status: the server
 * closed the connection without an answer; timedOut: no answer in time). The client keeps its side
 * open until the server closes the connection (the request says `Connection: close`), as HTTP
 * clients do. With `halfClose` it shuts down its sending side after the body instead (a TCP
 * half-close): the server takes that for a client that went away (node's HTTP server ends the
 * connection, and a generation under way is cancelled), so such a request gets no answer unless it
 * was answered before the server read the end of the stream.
 */
export function rawRequest(host: string, port: number, head: string, body: Uint8Array, timeoutMs: number, o: { halfClose?: boolean } = {}): Promise<{ status?: number; body: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); resolve({ body: '', timedOut: true }); }, timeoutMs);
    s.on('connect', () => { s.write(head); if (o.halfClose) s.end(body); else s.write(body); });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : undefined, body: text.slice(text.indexOf('\r\n\r\n') + 4), timedOut: false });
    });
  });
}

/** Bodies a hostile or broken client might send. */
export function hostileBody(model: string): fc.Arbitrary<{ bytes: Uint8Array; chunked: boolean }> {
  const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.string({ maxLength: 50 }), fc.integer(), fc.double(), fc.constant(2 ** 60), fc.constant(-1));
  const fields = fc.record({
    model: fc.oneof(fc.constant(model), anyValue), prompt: fc.oneof(fc.string({ maxLength: 40 }), anyValue, fc.array(anyValue, { maxLength: 4 })),
    messages: fc.oneof(anyValue, fc.array(fc.record({ role: fc.oneof(fc.constantFrom('user', 'system', 'assistant'), anyValue), content: anyValue }), { maxLength: 3 })),
    max_tokens: fc.oneof(fc.integer({ min: -5, max: 40 }), anyValue), temperature: anyValue, top_p: anyValue, stream: anyValue, stop: anyValue, seed: anyValue,
  }, { requiredKeys: [] });
  const body = fc.oneof(
    fields.map(enc),
    fc.uint8Array({ maxLength: 300 }), // random bytes, mostly invalid UTF-8
    fc.string({ maxLength: 200 }).map((s) => new TextEncoder().encode(s)),
    fields.map((f) => { const b = enc(f); return b.slice(0, Math.floor(b.length / 2)); }), // truncated JSON
    fc.tuple(fields, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([f, junk]) => { const b = enc(f); const out = new Uint8Array(b.length + junk.length); out.set(b); out.set(junk, Math.floor(b.length / 2)); return out; }),
    fc.integer({ min: 1, max: 200_000 }).map((n) => enc({ model, prompt: 'x'.repeat(n), max_tokens: 1 })), // huge fields
    fc.constant(enc({ model, prompt: 'a', stop: Array.from({ length: 10_000 }, () => 'z') })),
  );
  return fc.record({ bytes: body, chunked: fc.boolean() });
}

export interface FuzzHttpResult {
  inputs: number;
  ok200: number;
  clientErrors: number;
  /** 400s for requests node's HTTP parser rejected (broken framing), answered by the server's clientError handler (JSON error `invalid_http_request`). */
  framingErrors: number;
  /** Failures: 5xx, no answer in time, a connection closed without an answer, a 4xx without a JSON error, an unexpected status. */
  failures: string[];
  /** The inputs that failed (the first 10), whole, to replay them: route, framing and the body in base64. */
  failedInputs: { path: string; chunked: boolean; garbledChunks: boolean; body_base64: string }[];
}

/** `halfClose`: send every input the way this harness did before (shutting down the sending side after the body: see rawRequest). */
export async function fuzzBodies(host: string, port: number, model: string, o: { runs: number; seed: number; timeoutMs: number; halfClose?: boolean }): Promise<FuzzHttpResult> {
  const r: FuzzHttpResult = { inputs: 0, ok200: 0, clientErrors: 0, framingErrors: 0, failures: [], failedInputs: [] };
  const path = ['/v1/completions', '/v1/chat/completions'];
  await fc.assert(fc.asyncProperty(hostileBody(model), fc.nat(1), fc.boolean(), async (b, which, garbleChunks) => {
    r.inputs++;
    let payload: Uint8Array = b.bytes;
    let framing = `Content-Length: ${b.bytes.length}`;
    if (b.chunked) {
      framing = 'Transfer-Encoding: chunked';
      const size = garbleChunks ? 'zz' : b.bytes.length.toString(16); // a chunk size that is not hex
      payload = Buffer.concat([Buffer.from(`${size}\r\n`), b.bytes, Buffer.from(b.bytes.length > 0 ? '\r\n0\r\n\r\n' : '\r\n')]);
    }
    const head = `POST ${path[which]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${framing}\r\nConnection: close\r\n\r\n`;
    const a = await rawRequest(host, port, head, payload, o.timeoutMs, { halfClose: o.halfClose });
    const sample = Buffer.from(b.bytes.slice(0, 80)).toString('hex');
    const failed = (what: string) => {
      r.failures.push(`${what} (${path[which]}${b.chunked ? ', chunked' : ''}${b.chunked && garbleChunks ? ' with a non-hex size' : ''}): ${sample}`);
      if (r.failedInputs.length < 10) r.failedInputs.push({ path: path[which]!, chunked: b.chunked, garbledChunks: b.chunked && garbleChunks, body_base64: Buffer.from(b.bytes).toString('base64') });
    };
    if (a.timedOut) { failed(`no answer within ${o.timeoutMs} ms`); return; }
    if (a.status === 200) { r.ok200++; return; }
    if (a.status === undefined) { failed('connection closed without an answer'); return; }
    if (a.status >= 500 || a.status < 400) { failed(`status ${a.status}: ${a.body.slice(0, 100)}`); return; }
    try {
      const e = JSON.parse(a.body) as { error?: { message?: unknown; code?: unknown } };
      if (typeof e.error?.message !== 'string') throw new Error('no message');
      if (a.status === 400 && e.error.code === 'invalid_http_request') r.framingErrors++;
      else r.clientErrors++;
    } catch {
      failed(`${a.status} without a JSON error: ${a.body.slice(0, 100)}`);
    }
  }), { numRuns: o.runs, seed: o.seed });
  return r;
}
