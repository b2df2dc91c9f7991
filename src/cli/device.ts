/** The --device option of the commands that run onnxruntime sessions. */
import type { Args, OptionSpec } from './command.js';
import { type Provider, pickProvider } from '../runtime/session.js';
import { note } from './output.js';

export const DEVICE_OPTION: OptionSpec = {
  kind: 'enum', choices: ['cpu', 'cuda', 'webgpu', 'auto'], default: 'cpu',
  description: 'execution provider; auto: cuda when installed, else cpu (cuda needs ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci, see README)',
};

/**
 * The provider --device names. A named provider that is missing fails later with one line naming
 * the fix (no fallback); `auto` says on stderr what it picked and why.
 */
export async function device(args: Args): Promise<Provider> {
  const asked = args.need('device');
  if (asked !== 'auto') return asked as Provider;
  const { provider, reason } = await pickProvider();
  note(`--device auto: using ${provider} (${reason})`);
  return provider;
}
