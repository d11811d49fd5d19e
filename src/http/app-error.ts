/**
 * The one error type that crosses layers. `code` is stable and becomes the
 * problem+json `type` (https://expense-export.dev/problems/<code>) and `code`.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  unknown_layout: 400,
  invalid_date: 400,
  invalid_range: 400,
  validation_failed: 400,
  undecodable_body: 400,
  bad_header: 400,
  malformed_file: 400,
  idempotency_key_required: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  import_in_progress: 409,
  payload_too_large: 413,
  seq_out_of_range: 422,
  row_count_mismatch: 422,
  value_too_wide: 422,
  idempotency_key_reused: 422,
  unsupported_media_type: 415,
  too_many_requests: 429,
  internal: 500,
  storage_unavailable: 503,
  shutting_down: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { headers?: Record<string, string>; errors?: unknown[]; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.name = 'AppError';
    this.status = ERROR_STATUS[code];
  }
}

export const PROBLEM_BASE = 'https://expense-export.dev/problems/';
