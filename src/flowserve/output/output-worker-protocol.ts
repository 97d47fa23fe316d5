/**
 * Messages between a DP group's engine thread and its output worker (paper notes §2.5.1: each DP
 * master forks an output child that detokenizes and parses the stream and sends results straight
 * to the frontend). Plain records with a `kind`, so they cross a thread or a process unchanged.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { EngineEvent } from '../engine-types.js';
import type { OutputProcessorOptions } from './output-processor.js';
import type { OutputMessage } from './request-output.js';

/** OutputProcessorOptions that can cross a thread: no tokenizer object, no functions. */
export type PortableOutputOptions = Omit<OutputProcessorOptions, 'tokenizer' | 'newToolCallId'>;

export interface OutputWorkerData {
  readonly kind: 'output-worker';
  /** Folder with tokenizer.json (+ tokenizer_config.json), loaded once by the worker. */
  readonly tokenizerDir: string;
}

/** Engine thread → output worker. */
export type ToOutputWorker =
  | { readonly kind: 'open'; readonly requestId: string; readonly options: PortableOutputOptions }
  | { readonly kind: 'event'; readonly event: EngineEvent }
  | { readonly kind: 'close' };

/** Output worker → engine thread (then the gateway). */
export type FromOutputWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly requestId: string | null; readonly code: ErrorCode; readonly message: string }
  | OutputMessage;
