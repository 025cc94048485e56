// The one file that imports onnxruntime-node (everything else talks to ONNX Runtime through the worker that owns
// these sessions). Keeping the native runtime behind one door means one place chooses execution providers,
// reports which one is in use, and turns native errors into messages a user can act on.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { ExpgenError } from '@expgen/contract';
import ort from 'onnxruntime-node';
import type { HostTensor, HostTensorType } from './host-tensor.js';

export type ExecutionProviderName = 'cpu' | 'webgpu' | 'cuda';

export interface SessionSettings {
  readonly provider: ExecutionProviderName;
  /** GPU index for `cuda`. */
  readonly deviceId?: number;
  /** Threads one operator may use on the CPU; default: ONNX Runtime's choice (one per physical core). */
  readonly intraOpThreads?: number;
}

export interface SessionDescription {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** The execution provider the session was created with: never a silent fallback. */
  readonly provider: ExecutionProviderName;
}

/** How ONNX Runtime's CPU, CUDA and WebGPU allocators report exhaustion; callers retry with smaller batches. */
const OUT_OF_MEMORY =
  /out of memory|failed to allocate|bad_alloc|CUDNN_STATUS_ALLOC_FAILED|CUBLAS_STATUS_ALLOC_FAILED/i;

const CUDA_PROVIDER_LIBRARY = 'libonnxruntime_providers_cuda.so';

function ortBinaryFolder(): string {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('onnxruntime-node/package.json'));
  return join(packageRoot, 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Fails early, with the install step, when the provider's native library is absent: onnxruntime-node bundles the
 * CPU and WebGPU providers, but its installer downloads the CUDA provider at install time from outside npm.
 */
export function checkProviderInstalled(provider: ExecutionProviderName): void {
  if (provider === 'cpu') return;
  const supported = ort.listSupportedBackends?.() ?? [];
  if (provider === 'webgpu') {
    if (!supported.some((backend) => backend.name === 'webgpu')) {
      throw new ExpgenError(
        `execution provider "webgpu" is not in this build of onnxruntime-node (${process.platform}/${process.arch}); use provider "cpu" or "cuda"`,
      );
    }
    return;
  }
  if (process.platform !== 'linux' && process.platform !== 'win32') {
    throw new ExpgenError(
      `execution provider "cuda" is not available on ${process.platform}; use provider "cpu" or "webgpu"`,
    );
  }
  const library = process.platform === 'linux' ? CUDA_PROVIDER_LIBRARY : 'onnxruntime_providers_cuda.dll';
  const folder = ortBinaryFolder();
  if (!existsSync(join(folder, library))) {
    throw new ExpgenError(
      `execution provider "cuda" is not installed: ${join(folder, library)} is missing (onnxruntime-node downloads it at install time); ` +
        `with network access run onnxruntime-node's installer with its CUDA option, ` +
        `\`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js\`, or use provider "cpu" or "webgpu"`,
    );
  }
}

function sessionOptions(settings: SessionSettings): ort.InferenceSession.SessionOptions {
  const executionProviders: ort.InferenceSession.ExecutionProviderConfig[] =
    settings.provider === 'cuda'
      ? [{ name: 'cuda', deviceId: settings.deviceId ?? 0 }]
      : settings.provider === 'webgpu'
        ? [{ name: 'webgpu' }]
        : [{ name: 'cpu' }];
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: true,
    // Warnings about nodes placed on the CPU next to a GPU provider are expected for shape arithmetic.
    logSeverityLevel: 3,
  };
  if (settings.intraOpThreads !== undefined) options.intraOpNumThreads = settings.intraOpThreads;
  return options;
}

/** An ONNX Runtime session on one provider. Methods block the calling thread: use it inside the worker only. */
export class OnnxSession implements SessionDescription {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly provider: ExecutionProviderName,
    private readonly modelPath: string,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  static async create(modelPath: string, settings: SessionSettings): Promise<OnnxSession> {
    checkProviderInstalled(settings.provider);
    try {
      return new OnnxSession(
        await ort.InferenceSession.create(modelPath, sessionOptions(settings)),
        settings.provider,
        modelPath,
      );
    } catch (error) {
      const message = oneLine(error);
      const hint =
        settings.provider === 'cuda'
          ? `; check that the CUDA 12 runtime and cuDNN 9 libraries are on the library path and that device ${settings.deviceId ?? 0} exists`
          : settings.provider === 'webgpu'
            ? '; check that a Vulkan (Linux) or D3D12 (Windows) GPU driver is installed'
            : '';
      throw new ExpgenError(
        `ONNX Runtime could not load ${modelPath} on provider "${settings.provider}": ${message}${hint}`,
        { cause: error },
      );
    }
  }

  /** Runs the graph; `feeds` may mix host tensors and tensors kept from earlier runs (see `keep`). */
  async run(
    feeds: Readonly<Record<string, HostTensor | OrtValue>>,
    outputs: readonly string[],
  ): Promise<Record<string, OrtValue>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds))
      ortFeeds[name] = feed instanceof ort.Tensor ? feed : toOrtTensor(feed as HostTensor);
    try {
      return (await this.session.run(ortFeeds, [...outputs])) as Record<string, OrtValue>;
    } catch (error) {
      const message = oneLine(error);
      if (OUT_OF_MEMORY.test(message)) {
        throw new ExpgenError(
          `out of memory running ${basename(this.modelPath)} on provider "${this.provider}": use a smaller batch (${message})`,
          { cause: error },
        );
      }
      throw new ExpgenError(
        `ONNX Runtime failed running ${this.modelPath} on provider "${this.provider}": ${message}`,
        { cause: error },
      );
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A tensor owned by ONNX Runtime's JavaScript layer, kept in the worker between runs. */
export type OrtValue = ort.Tensor;

export function toOrtTensor(tensor: HostTensor): ort.Tensor {
  return new ort.Tensor(tensor.type, tensor.data as never, [...tensor.dims]);
}

/**
 * An output as a plain host tensor. Output data owns its ArrayBuffer, so it is transferred to the main thread as
 * is; a view into a larger buffer is copied first (only whole buffers can be transferred).
 */
export function toHostTensor(value: OrtValue, keptInWorker = false): HostTensor {
  const type = value.type as HostTensorType;
  const source = value.data as HostTensor['data'];
  const whole =
    !keptInWorker &&
    source.buffer instanceof ArrayBuffer &&
    source.byteOffset === 0 &&
    source.byteLength === source.buffer.byteLength;
  return { type, dims: [...value.dims], data: whole ? source : (source.slice() as HostTensor['data']) };
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}
