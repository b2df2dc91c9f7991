/** The --device option of the commands that run onnxruntime sessions. */
import type { Args, OptionSpec } from './command.js';
import type { Provider } from '../runtime/session.js';

export const DEVICE_OPTION: OptionSpec = {
  kind: 'enum', choices: ['cpu', 'cuda', 'webgpu'], default: 'cpu',
  description: 'execution provider (cuda needs ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci, see README)',
};

export function device(args: Args): Provider {
  return args.need('device') as Provider;
}
