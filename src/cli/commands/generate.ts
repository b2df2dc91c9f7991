import type { Command } from '../command.js';
import { DEFAULT_MAX_TOKENS, generateText } from '../../generate/generate.js';
import { chatPrompt, chatStops } from '../../generate/chat.js';
import { resolveTemplate } from '../../data/chat-template.js';
import type { ChatMessage } from '../../data/sft-format.js';
import { DEFAULT_SAMPLING } from '../../generate/sample.js';
import { UsageError } from '../errors.js';
import { DEVICE_OPTION, device } from '../device.js';
import { note, printJson } from '../output.js';

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Sample text from a model: continue a prompt with temperature / top-k / top-p sampling.',
  details: 'Uses the tokenizer the model was trained with (recorded in its config.json by train). Prints the prompt and\n' +
    'streams the continuation to stdout as it is sampled; a summary line goes to stderr. Generation stops after\n' +
    '--max-tokens tokens, at the tokenizer\'s end-of-text token or at --stop. --temperature 0 is greedy decoding.',
  options: {
    model: { kind: 'path', arg: 'DIR', description: 'model directory', required: true },
    prompt: { kind: 'string', arg: 'TEXT', description: 'text to continue (with --chat: the user\'s message)', required: true },
    chat: { kind: 'boolean', description: 'chat: render the prompt as a user turn with the model\'s chat template and print the reply (stops at the end of the turn)' },
    system: { kind: 'string', arg: 'TEXT', description: 'with --chat: a system prompt' },
    template: { kind: 'string', arg: 'NAME|FILE', description: 'with --chat: chat template (chatml, llama3, mistral or a file)', defaultText: 'the model\'s, else chatml' },
    'max-tokens': { kind: 'int', description: 'tokens to generate at most', default: DEFAULT_MAX_TOKENS },
    temperature: { kind: 'number', arg: 'T', min: 0, description: 'softmax temperature (0 = greedy)', default: DEFAULT_SAMPLING.temperature },
    'top-k': { kind: 'int', arg: 'K', min: 0, description: 'sample from the K most likely tokens (0 = all)', default: DEFAULT_SAMPLING.topK },
    'top-p': { kind: 'number', arg: 'P', min: 0, exclusiveMin: true, max: 1, description: 'nucleus sampling: smallest set of tokens with probability ≥ P', default: DEFAULT_SAMPLING.topP },
    seed: { kind: 'int', min: 0, description: 'random seed', defaultText: 'a random one, printed in the summary' },
    stop: { kind: 'string', arg: 'STRING', description: 'stop when the text contains STRING (left out of the output)' },
    'repetition-penalty': { kind: 'number', arg: 'R', min: 0, exclusiveMin: true, description: 'divide the logits of tokens already in the context by R (1 = none)', default: 1 },
    tokenizer: { kind: 'string', arg: 'SPEC', description: 'byte, gpt2 or a tokenizer.json path, for a model with no recorded tokenizer' },
    threads: { kind: 'int', description: 'intra-op threads' },
    spinning: { kind: 'boolean', description: 'let onnxruntime threads spin between kernels (faster decoding on an idle machine, slower on a busy one)' },
    device: DEVICE_OPTION,
    json: { kind: 'boolean', description: 'print one JSON object at the end instead of streaming' },
  },
  examples: [
    'growlm generate --model m --prompt "It was a dark and stormy night"',
    'growlm generate --model m --prompt "Once" --temperature 0 --max-tokens 50 --json',
    'growlm generate --model m-chat --chat --prompt "What is the capital of Peru?" --temperature 0',
  ],
  async run(args) {
    const maxTokens = args.int('max-tokens'), temperature = args.num('temperature'), topK = args.int('top-k'), topP = args.num('top-p');
    const seed = args.optInt('seed') ?? Math.floor(Math.random() * 2 ** 31);
    const repetitionPenalty = args.num('repetition-penalty');
    const stop = args.has('stop') ? [args.str('stop')!] : undefined;
    if (stop?.[0] === '') throw new UsageError('--stop is empty');
    const prompt = args.str('prompt') ?? '';
    if (prompt === '') throw new UsageError('--prompt is empty: give some text to continue');
    const json = args.flag('json');
    const dir = args.need('model');
    const chat = args.flag('chat');
    if (!chat && (args.has('system') || args.has('template'))) throw new UsageError('--system and --template go with --chat');
    let text = prompt, stops = stop, shown = prompt;
    if (chat) {
      const template = resolveTemplate(args.str('template'), dir);
      const messages: ChatMessage[] = [...(args.has('system') ? [{ role: 'system' as const, content: args.str('system')! }] : []), { role: 'user', content: prompt }];
      text = chatPrompt(template, messages);
      stops = chatStops(template, stop);
      shown = ''; // a chat prints the reply only
    }
    let started = false;
    const r = await generateText(dir, text, {
      tokenizer: args.str('tokenizer'), threads: args.optInt('threads'), spinning: args.flag('spinning'), provider: await device(args),
      maxTokens, temperature, topK, topP, seed, stop: stops, repetitionPenalty,
      onText: json ? undefined : (piece) => {
        if (!started) { process.stdout.write(shown); started = true; }
        process.stdout.write(piece);
      },
    });
    if (json) {
      printJson({
        model: dir, prompt, ...(chat ? { chat_prompt: text } : {}), text: r.text, tokens: r.tokens, prompt_tokens: r.promptTokens, generated_tokens: r.tokens.length,
        stop_reason: r.stopReason, tokens_per_s: r.tokensPerS, seconds: r.seconds,
        seed, temperature, top_k: topK, top_p: topP, tokenizer: r.tokenizer,
      });
    } else {
      if (!started) process.stdout.write(shown);
      process.stdout.write('\n');
      note(`[${r.tokens.length} tokens${r.stopReason === 'eot' ? ', stopped at end-of-text' : r.stopReason === 'stop' ? (chat ? ', stopped at the end of the turn' : ', stopped at --stop') : ''}, ${r.tokensPerS.toFixed(1)} tokens/s, seed ${seed}]`);
    }
    return 0;
  },
};
