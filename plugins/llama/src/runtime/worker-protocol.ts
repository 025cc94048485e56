import type { Feed, HostTensor } from './host-tensor.js';
import type { SessionDescription, SessionSettings } from './onnx-session.js';

/** Messages the main thread sends to the inference worker; each carries an id its reply repeats. */
export type WorkerRequest =
  | { readonly kind: 'check-provider'; readonly id: number; readonly settings: SessionSettings }
  | {
      readonly kind: 'open';
      readonly id: number;
      readonly session: string;
      readonly modelPath: string;
      readonly settings: SessionSettings;
    }
  | {
      readonly kind: 'run';
      readonly id: number;
      readonly session: string;
      readonly feeds: Readonly<Record<string, Feed>>;
      /** Outputs sent back to the main thread. */
      readonly fetch: readonly string[];
      /** Outputs kept in the worker under a handle, to be fed to a later run (KV caches never cross threads). */
      readonly retain?: Readonly<Record<string, string>>;
      /** Retained handles to free once this run is done. */
      readonly releaseAfter?: readonly string[];
    }
  | { readonly kind: 'release'; readonly id: number; readonly handles: readonly string[] }
  | { readonly kind: 'close'; readonly id: number; readonly session: string }
  | { readonly kind: 'dispose'; readonly id: number };

export type WorkerReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly session?: SessionDescription;
      readonly outputs?: Record<string, HostTensor>;
    }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: { readonly message: string; readonly expgen: boolean; readonly exitCode?: number };
    };
