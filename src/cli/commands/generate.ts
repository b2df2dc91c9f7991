import type { Command } from '../command.js';
import { generate, openModel } from '../../generate/generate.js';
import { UsageError } from '../../util/errors.js';
import { note, printJson } from '../output.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Sample text from a model: continue a prompt with temperature / top-k / top-p sampling.',
  details: 'Uses the tokenizer the model was trained with (recorded in its config.json by train). Prints the prompt and\n' +
    'streams the continuation to stdout as it is sampled; a summary line goes to stderr. Generation stops after\n' +
    '--max-tokens tokens, at the tokenizer\'s end-of-text token or at --stop. --temperature 0 is greedy decoding.',
  options: {
    model: { type: 'string', arg: 'DIR', description: 'model directory', required: true },
    prompt: { type: 'string', arg: 'TEXT', description: 'text to continue', required: true },
    'max-tokens': { type: 'string', arg: 'N', description: 'tokens to generate at most', default: '200' },
    temperature: { type: 'string', arg: 'T', description: 'softmax temperature, ≥ 0 (0 = greedy)', default: '0.8' },
    'top-k': { type: 'string', arg: 'K', description: 'sample from the K most likely tokens (0 = all)', default: '40' },
    'top-p': { type: 'string', arg: 'P', description: 'nucleus sampling: smallest set of tokens with probability ≥ P, in (0, 1]', default: '1' },
    seed: { type: 'string', arg: 'N', description: 'random seed (default: a random one, printed in the summary)' },
    stop: { type: 'string', arg: 'STRING', description: 'stop when the text contains STRING (left out of the output)' },
    'repetition-penalty': { type: 'string', arg: 'R', description: 'divide the logits of tokens already in the context by R (> 0; 1 = none)', default: '1' },
    tokenizer: { type: 'string', arg: 'SPEC', description: 'byte, gpt2 or a tokenizer.json path, for a model with no recorded tokenizer' },
    threads: { type: 'string', arg: 'N', description: 'intra-op threads' },
    json: { type: 'boolean', description: 'print one JSON object at the end instead of streaming' },
  },
  async run(args) {
    const maxTokens = args.int('max-tokens', 200);
    const temperature = args.num('temperature', 0.8);
    if (temperature < 0) throw new UsageError(`--temperature must be ≥ 0 (0 = greedy), got "${args.str('temperature')}"`);
    const topK = args.int('top-k', 40, 0);
    const topP = args.num('top-p', 1);
    if (!(topP > 0 && topP <= 1)) throw new UsageError(`--top-p must be in (0, 1], got "${args.str('top-p')}"`);
    const repetitionPenalty = args.num('repetition-penalty', 1);
    if (!(repetitionPenalty > 0)) throw new UsageError(`--repetition-penalty must be > 0 (1 = none), got "${args.str('repetition-penalty')}"`);
    const stop = args.has('stop') ? [args.str('stop')!] : undefined;
    if (stop?.[0] === '') throw new UsageError('--stop is empty');
    const seed = args.has('seed') ? args.int('seed', 0, 0) : Math.floor(Math.random() * 2 ** 31);
    const threads = args.has('threads') ? args.int('threads') : undefined;
    const prompt = args.str('prompt') ?? '';
    if (prompt === '') throw new UsageError('--prompt is empty: give some text to continue');
    const json = args.flag('json');
    const dir = args.need('model');
    const model = await openModel(dir, { tokenizer: args.str('tokenizer'), threads });
    try {
      let started = false;
      const r = await generate(model, prompt, {
        maxTokens, temperature, topK, topP, seed, stop, repetitionPenalty,
        onText: json ? undefined : (piece) => {
          if (!started) { process.stdout.write(prompt); started = true; }
          process.stdout.write(piece);
        },
      });
      if (json) {
        printJson({
          model: dir, prompt, text: r.text, tokens: r.tokens, prompt_tokens: r.promptTokens, generated_tokens: r.tokens.length,
          stop_reason: r.stopReason, tokens_per_s: r.tokensPerS, seconds: r.seconds,
          seed, temperature, top_k: topK, top_p: topP, tokenizer: model.tokenizer.kind,
        });
      } else {
        if (!started) process.stdout.write(prompt);
        process.stdout.write('\n');
        note(`[${r.tokens.length} tokens${r.stopReason === 'eot' ? ', stopped at end-of-text' : r.stopReason === 'stop' ? ', stopped at --stop' : ''}, ${r.tokensPerS.toFixed(1)} tokens/s, seed ${seed}]`);
      }
    } finally {
      await model.release();
    }
    return 0;
  },
};
