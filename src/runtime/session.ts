/**
 * onnxruntime-node sessions for growlm graphs. Weights are fed as graph inputs on every run (zero
 * copy, and ORT keeps no second copy of them: see docs/onnxruntime.md#weights-as-graph-inputs), so a session is built once per
 * model shape and can run any weights of that shape.
 */
import { GrowlmError } from '../util/errors.js';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/builder.js';
import { encodeModel } from '../onnx/serialize.js';
import type { Model, Tensor } from '../onnx/ir.js';

export type Provider = 'cpu' | 'cuda' | 'webgpu';

export interface SessionOptions {
  /** Intra-op threads (default: ORT's choice, all cores). */
  threads?: number;
  provider?: Provider;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Let idle ORT threads spin (faster GEMM handoff, busier cores); off by default. */
  spinning?: boolean;
  /**
   * ORT's memory pattern: one pre-planned block for all intermediates. On for inference; the
   * training step turns it off, which measured ≈1.1 GB instead of ≈1.85 GB peak RSS on bench-small
   * at no measurable cost in speed (alternating runs, noise ±15%).
   */
  memPattern?: boolean;
  /** onnxruntime graph optimizers to skip, by name (a graph built around one of them says so). */
  disabledOptimizers?: string[];
  /**
   * Initializers of at least this many bytes reach onnxruntime as in-memory external data rather
   * than inside the protobuf (default 1 GiB, which keeps models over 2 GB loadable). A graph with its
   * weights baked in sets it low: the protobuf then holds no copy of them (bench-medium peak RSS
   * 1.30 → 1.08 GB; onnxruntime keeps its own copy either way).
   */
  externalThreshold?: number;
  /**
   * Where onnxruntime leaves named outputs: 'gpu-buffer' keeps them in device memory (GPU providers),
   * so they can be fed to the next run without a copy; default: every output comes back to the host.
   */
  outputLocation?: Record<string, 'cpu' | 'gpu-buffer'>;
}

export class RuntimeError extends GrowlmError {}

/** How to get each execution provider that onnxruntime-node's default install lacks. */
export const PROVIDER_INSTALL: Record<Exclude<Provider, 'cpu'>, string> = {
  cuda: 'reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci (needs CUDA 12 + cuDNN 9 on the host)',
  webgpu: 'it needs a GPU and drivers that onnxruntime\'s WebGPU provider can use (Vulkan on Linux, D3D12 on Windows, Metal on macOS)',
};

/** The execution provider asked for is not in this onnxruntime-node install (onnxruntime has no fallback). */
export class ProviderUnavailableError extends RuntimeError {
  override name = 'ProviderUnavailableError';
  constructor(readonly provider: Exclude<Provider, 'cpu'>) {
    super(`the ${provider} execution provider is not available: ${PROVIDER_INSTALL[provider]}`);
  }
}

export async function createSession(model: Model, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const { model: bytes, external } = encodeModel(model, { externalThreshold: opts.externalThreshold ?? 1 << 30, location: 'weights.bin' });
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [opts.provider ?? 'cpu'],
    graphOptimizationLevel: opts.optimization ?? 'all',
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableMemPattern: opts.memPattern ?? true,
    extra: {
      session: { intra_op: { allow_spinning: opts.spinning ? '1' : '0' } },
      ...(opts.disabledOptimizers?.length ? { optimization: { disable_specified_optimizers: opts.disabledOptimizers.join(';') } } : {}),
    },
  };
  if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
  if (opts.outputLocation) options.preferredOutputLocation = opts.outputLocation;
  // onnxruntime logs a missing provider library on stderr before it throws; the error below says it in one line
  if (opts.provider && opts.provider !== 'cpu') ort.env.logLevel = 'fatal';
  if (external) options.externalData = [{ path: external.location, data: external.data }];
  try {
    return await ort.InferenceSession.create(bytes, options);
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    if (opts.provider && opts.provider !== 'cpu') throw new ProviderUnavailableError(opts.provider);
    throw new RuntimeError(`onnxruntime could not load the graph: ${msg}`);
  }
}

/**
 * Throw ProviderUnavailableError now, before anything is written, when `provider` is missing: a
 * one-node session on it (a few milliseconds).
 */
export async function checkProvider(provider: Provider | undefined): Promise<void> {
  if (provider === undefined || provider === 'cpu') return;
  const b = new GraphBuilder('provider_check');
  b.input('x', 'float32', [1]);
  b.output(b.op('Identity', ['x']), 'y', 'float32', [1]);
  const session = await createSession({ irVersion: 8, opsets: { '': 17 }, producerName: 'growlm', producerVersion: '', graph: b.graph, metadata: {} }, { provider });
  await session.release();
}

/**
 * The provider `auto` stands for: CUDA when this install has it (a one-node session loads), else
 * the CPU. WebGPU is never picked automatically (ask for it by name): its training kernels are
 * untested, and probing it on a machine without Vulkan prints the driver's complaint on stderr.
 */
export async function pickProvider(): Promise<{ provider: Provider; reason: string }> {
  try {
    await checkProvider('cuda');
    return { provider: 'cuda', reason: 'the CUDA execution provider loaded' };
  } catch (e) {
    if (!(e instanceof ProviderUnavailableError)) throw e;
    return { provider: 'cpu', reason: `no CUDA execution provider (for a GPU: ${PROVIDER_INSTALL.cuda})` };
  }
}

/** An ort.Tensor viewing a float32 IR tensor (no copy). */
export function ortFloat(t: Tensor): ort.Tensor {
  return new ort.Tensor('float32', t.data as Float32Array, t.dims);
}

export function ortInt64(data: BigInt64Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('int64', data, dims);
}
