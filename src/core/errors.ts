/**
 * The one error catalog (STYLE.md §9). Expected operational failures are `XdsError`s with a
 * stable code, an HTTP status and an OpenAI-style error type; the gateway maps them to JSON in
 * one place and the CLI prints `message` without a stack. Broken invariants use `assert` instead.
 */

export const ERROR_CATALOG = {
  // Input and configuration
  invalid_argument: { status: 400, type: 'invalid_request_error' },
  invalid_config: { status: 400, type: 'invalid_request_error' },
  unsupported_architecture: { status: 400, type: 'invalid_request_error' },
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  // Checkpoints and files
  checkpoint_missing: { status: 500, type: 'server_error' },
  checkpoint_corrupt: { status: 500, type: 'server_error' },
  unsupported_dtype: { status: 500, type: 'server_error' },
  // Serving
  overloaded: { status: 429, type: 'rate_limit_error' },
  request_aborted: { status: 499, type: 'invalid_request_error' },
  shutting_down: { status: 503, type: 'server_error' },
  // Communication (XCCL)
  xccl_timeout: { status: 504, type: 'server_error' },
  xccl_peer_gone: { status: 503, type: 'server_error' },
  xccl_event_mismatch: { status: 500, type: 'server_error' },
  xccl_buffer_too_small: { status: 500, type: 'server_error' },
  // Anything else
  internal: { status: 500, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface XdsErrorOptions {
  /** The request field or config key at fault, e.g. `messages[0].content` or `kv_lora_rank`. */
  param?: string;
  cause?: unknown;
}

export class XdsError extends Error {
  readonly code: ErrorCode;
  readonly param: string | undefined;

  constructor(code: ErrorCode, message: string, options: XdsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'XdsError';
    this.code = code;
    this.param = options.param;
  }

  get httpStatus(): number {
    return ERROR_CATALOG[this.code].status;
  }

  get type(): string {
    return ERROR_CATALOG[this.code].type;
  }

  /** OpenAI-style error body. */
  toJSON(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param ?? null, code: this.code } };
  }
}

export function isXdsError(e: unknown, code?: ErrorCode): e is XdsError {
  return e instanceof XdsError && (code === undefined || e.code === code);
}
