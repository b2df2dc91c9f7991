/**
 * The long server check (tools/serve-load-harness.ts) against `growlm serve` run as a user would,
 * on a small random-weight model, loopback only; it stops by itself:
 *   npm run build && node dist/tools/serve-load.js [--clients 32] [--seconds 60] [--warmup 10] [--max-tokens 16]
 *     [--disconnect-clients 32] [--disconnect-streams 16] [--fuzz-runs 2000] [--fuzz-seed 1] [--fuzz-half-close] [--slow-sockets 64] [--json]
 * --fuzz-half-close sends each fuzzed request the way this tool did before: the client shuts down its
 * sending side after the body (a TCP half-close), which node's HTTP server, and so growlm serve, take
 * for a client that went away (requests not answered by then get no answer).
 * Phases: warm-up load, measured load (RSS of the server process sampled every second), clients
 * that cut their streams after a few events, slowloris, body fuzzing, RSS again. Exit status 1 on
 * any 5xx, malformed answer, fuzz failure, slow socket left open, slot or queue place not freed by a
 * cut stream (or cut streams generating more than a quarter of what they would have uncut), or RSS
 * after the load more than 10% above RSS after the warm-up.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/model/config.js';
import { saveModelDir } from '../src/model/model-dir.js';
import { initWeights } from '../src/model/weights.js';
import { disconnectingClients, fuzzBodies, loadTest, slowloris } from './serve-load-harness.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '32' }, seconds: { type: 'string', default: '60' }, warmup: { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '16' }, 'fuzz-runs': { type: 'string', default: '2000' }, 'fuzz-seed': { type: 'string', default: '1' },
    'slow-sockets': { type: 'string', default: '64' }, 'disconnect-clients': { type: 'string', default: '32' }, 'disconnect-streams': { type: 'string', default: '16' },
    'fuzz-half-close': { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);
const MAIN = join(import.meta.dirname, '..', 'src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'growlm-serve-load-'));
const config = parseConfig({
  vocab_size: 256, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 128,
  growlm: { tokenizer: { kind: 'byte', vocab_size: 256 } },
});
saveModelDir(join(tmp, 'small'), { config, weights: initWeights(config, 1) });
const cli = spawn(process.execPath, [MAIN, 'serve', '--model', join(tmp, 'small'), '--port', '0', '--threads', '1', '--max-concurrent', '8', '--max-queue', '32'], { stdio: ['ignore', 'ignore', 'pipe'] });
let stderr = '';
const say = (s: string) => { if (!values.json) process.stderr.write(s + '\n'); };
try {
  const url = await new Promise<string>((ok, fail) => {
    cli.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(stderr);
      if (m) ok(m[1]!);
    });
    cli.on('exit', () => fail(new Error(`growlm serve exited: ${stderr}`)));
  });
  const port = Number(new URL(url).port);
  // the server is the CLI's relaunched child (tuned malloc) when there is one
  const serverPid = (() => {
    try {
      return Number(readFileSync(`/proc/${cli.pid}/task/${cli.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || cli.pid!;
    } catch {
      return cli.pid!;
    }
  })();
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${serverPid}/status`, 'utf8'))![1]) / 1024;
  const modelId = 'small';
  say(`warm-up: ${values.clients} clients × ${values.warmup} s`);
  await loadTest(url, modelId, { clients: num('clients'), seconds: num('warmup'), maxTokens: num('max-tokens') });
  const rssWarm = rss();
  const samples: number[] = [];
  const sampler = setInterval(() => samples.push(rss()), 1000);
  say(`load: ${values.clients} clients × ${values.seconds} s`);
  const load = await loadTest(url, modelId, { clients: num('clients'), seconds: num('seconds'), maxTokens: num('max-tokens') });
  clearInterval(sampler);
  const rssAfterLoad = rss();
  say(`disconnects: ${values['disconnect-clients']} clients × ${values['disconnect-streams']} streams cut after 0–3 events`);
  const cut = await disconnectingClients('127.0.0.1', port, url, modelId, { clients: num('disconnect-clients'), streams: num('disconnect-streams'), maxTokens: 64 });
  const rssAfterCuts = rss();
  say(`slowloris: ${values['slow-sockets']} slow sockets`);
  const slow = await slowloris('127.0.0.1', port, url, { sockets: num('slow-sockets'), dripMs: 500, giveUpMs: 60_000 });
  say(`fuzz: ${values['fuzz-runs']} bodies`);
  const fuzz = await fuzzBodies('127.0.0.1', port, modelId, { runs: num('fuzz-runs'), seed: num('fuzz-seed'), timeoutMs: 10_000, halfClose: values['fuzz-half-close'] });
  const rssEnd = rss();
  const growth = rssAfterLoad / rssWarm - 1;
  const cutOk = cut.failed === 0 && cut.drainMs !== undefined && cut.servedAfter && cut.aborted + cut.finishedFirst === cut.ok200 && cut.tokensGenerated <= cut.tokensUncut / 4;
  const ok = load.serverErrors === 0 && load.bad === 0 && cutOk && fuzz.failures.length === 0 && slow.closed === slow.sockets && slow.servedOk === slow.served && growth <= 0.1;
  const summary = {
    load: { ...load, badSamples: load.badSamples },
    rss_mib: { after_warmup: rssWarm, min: Math.min(...samples), max: Math.max(...samples), after_load: rssAfterLoad, load_growth: growth, after_disconnects: rssAfterCuts, after_slowloris_and_fuzz: rssEnd },
    disconnects: cut, slowloris: slow, fuzz, ok, node: process.version,
  };
  if (values.json) console.log(JSON.stringify(summary, null, 1));
  else {
    const f = (x: number, d = 0) => x.toFixed(d);
    console.log(`load: ${load.clients} clients × ${f(load.seconds)} s: ${load.requests} requests, ${load.ok} ok, ${load.tooBusy} × 429, ${load.serverErrors} × 5xx, ${load.bad} malformed/other; p50 ${f(load.p50Ms)} ms, p99 ${f(load.p99Ms)} ms; ${f(load.requestsPerS, 1)} req/s, ${f(load.tokensPerS)} tokens/s (non-streamed)`);
    console.log(`RSS (MiB): after warm-up ${f(rssWarm, 1)}, during load ${f(Math.min(...samples), 1)}–${f(Math.max(...samples), 1)}, after the load ${f(rssAfterLoad, 1)} (${(growth * 100).toFixed(1)}%), after slowloris and fuzzing ${f(rssEnd, 1)}`);
    console.log(`disconnects: ${cut.streams} streams, ${cut.ok200} answered (${cut.tooBusy} × 429), ${cut.aborted} cut after 0–3 events, ${cut.finishedFirst} ended first, ${cut.failed} failed; ${cut.tokensGenerated} tokens generated of ${cut.tokensUncut} uncut (${f(cut.tokensGenerated / Math.max(1, cut.aborted), 1)} per cut stream); slots free ${cut.drainMs === undefined ? 'NOT within 10 s' : `${f(cut.drainMs)} ms after the last cut`} (active ${cut.activeAfter}, queued ${cut.queuedAfter}); served afterwards: ${cut.servedAfter}; RSS ${f(rssAfterCuts, 1)} MiB`);
    console.log(`slowloris: ${slow.closed}/${slow.sockets} slow sockets closed by the server (last after ${f(slow.maxCloseMs)} ms); ${slow.servedOk}/${slow.served} other requests served meanwhile`);
    console.log(`fuzz: ${fuzz.inputs} bodies: ${fuzz.ok200} × 200, ${fuzz.clientErrors} × 4xx JSON error, ${fuzz.framingErrors} × 400 from the HTTP parser, ${fuzz.failures.length} failures`);
    for (const s of [...load.badSamples, ...cut.failures, ...fuzz.failures.slice(0, 5)]) console.log(`  ${s}`);
  }
  process.exitCode = ok ? 0 : 1;
} finally {
  cli.kill('SIGTERM');
  await new Promise((r) => cli.once('exit', r));
  rmSync(tmp, { recursive: true, force: true });
}
