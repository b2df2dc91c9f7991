import type { Command } from '../command.js';
import { DEFAULT_SERVE, exposureWarning, serveModel } from '../../serve/server.js';
import { DEVICE_OPTION, device } from '../device.js';
import { note } from '../output.js';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve a model over an OpenAI-compatible HTTP API, batching concurrent requests.',
  details: 'Endpoints: GET /v1/models, POST /v1/completions, POST /v1/chat/completions (stream: true for server-sent\n' +
    'events), GET /health, GET /metrics (Prometheus). The decode steps of all active requests run as one batched\n' +
    'session call; beyond --max-concurrent active and --max-queue waiting requests the server answers 429.\n' +
    'With --api-key every route but /health needs "Authorization: Bearer KEY". Ctrl-C stops the server.',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory (its name is the model id in the API)', required: true },
    host: { kind: 'string', arg: 'ADDR', description: 'address to bind (0.0.0.0: all interfaces)', default: DEFAULT_SERVE.host },
    port: { kind: 'int', min: 0, max: 65535, description: 'port (0 = any free port)', default: DEFAULT_SERVE.port },
    'api-key': { kind: 'string', arg: 'KEY', description: 'require this bearer key' },
    'max-concurrent': { kind: 'int', description: 'sequences decoded together at most', default: DEFAULT_SERVE.maxConcurrent },
    'max-queue': { kind: 'int', min: 0, description: 'requests waiting for a slot at most', default: DEFAULT_SERVE.maxQueue },
    template: { kind: 'string', arg: 'NAME|FILE', description: 'chat template for /v1/chat/completions (chatml, llama3, mistral or a file)', defaultText: "the model's, else chatml" },
    ctx: { kind: 'int', min: 2, description: 'context length per request (prompt + max_tokens)', defaultText: "the model's max_position_embeddings" },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'byte, gpt2 or a tokenizer.json path, for a model with no recorded tokenizer' },
    threads: { kind: 'int', description: 'intra-op threads' },
    spinning: { kind: 'boolean', description: 'let onnxruntime threads spin between kernels (faster decoding on an idle machine, slower on a busy one)' },
    'header-timeout': { kind: 'number', min: 0, exclusiveMin: true, description: 'seconds a client may take to send its request headers (then 408, connection closed)', default: DEFAULT_SERVE.headersTimeoutMs / 1000 },
    'request-timeout': { kind: 'number', min: 0, exclusiveMin: true, description: 'seconds a client may take to send its whole request, headers and body', default: DEFAULT_SERVE.requestTimeoutMs / 1000 },
    device: DEVICE_OPTION,
  },
  examples: [
    'growlm serve --model m',
    'growlm serve --model m --host 0.0.0.0 --port 8000 --api-key "$KEY" --max-concurrent 16',
  ],
  async run(args) {
    const host = args.need('host'), apiKey = args.str('api-key');
    const warning = exposureWarning(host, apiKey);
    if (warning) note(`warning: ${warning} (set --api-key)`);
    const server = await serveModel(args.need('model'), {
      host, port: args.int('port'), apiKey, maxConcurrent: args.int('max-concurrent'), maxQueue: args.int('max-queue'),
      headersTimeoutMs: Math.round(args.num('header-timeout') * 1000), requestTimeoutMs: Math.round(args.num('request-timeout') * 1000),
      ctx: args.optInt('ctx'), template: args.str('template'), tokenizer: args.str('tokenizer'), threads: args.optInt('threads'), spinning: args.flag('spinning'), provider: await device(args),
    });
    note(`serving ${server.modelId} on ${server.url}/v1 (context ${server.ctx}; Ctrl-C stops)`);
    await new Promise<void>((done) => {
      const stop = () => { process.off('SIGINT', stop); process.off('SIGTERM', stop); done(); };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    note('stopping');
    await server.close();
    return 0;
  },
};
