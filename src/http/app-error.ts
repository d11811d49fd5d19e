/**
 * Every problem code the API answers with, its HTTP status and its title:
 * the one list (openapi.yaml documents them). `code` is stable and becomes the
 * problem+json `type` (https://expense-export.dev/problems/<code>) and `code`.
 */
export const PROBLEMS = {
  bad_request: { status: 400, title: 'Bad request' },
  unknown_layout: { status: 400, title: 'Unknown layout' },
  invalid_date: { status: 400, title: 'Invalid date' },
  invalid_range: { status: 400, title: 'Invalid range' },
  validation_failed: { status: 400, title: 'Request validation failed' },
  undecodable_body: { status: 400, title: 'Body is not UTF-8' },
  bad_header: { status: 400, title: 'Not a results file' },
  malformed_file: { status: 400, title: 'Malformed file' },
  idempotency_key_required: { status: 400, title: 'Idempotency-Key required' },
  unauthorized: { status: 401, title: 'Authentication required' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  import_in_progress: { status: 409, title: 'Import in progress' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  seq_out_of_range: { status: 422, title: "Beyond the day's last seq" },
  row_count_mismatch: { status: 422, title: 'Row count mismatch' },
  value_too_wide: { status: 422, title: 'Value wider than its column' },
  idempotency_key_reused: { status: 422, title: 'Idempotency-Key reused' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  too_many_requests: { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  storage_unavailable: { status: 503, title: 'Storage unavailable' },
  day_upgrading: { status: 503, title: 'Day being upgraded' },
  shutting_down: { status: 503, title: 'Shutting down' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof PROBLEMS;

/** The one error type that crosses into HTTP; domain errors are mapped to it in error-middleware.ts. */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: {
      headers?: Record<string, string | string[]>;
      errors?: unknown[];
      /** RFC 9457 extension members, beside `code` (e.g. an upgrade's progress). */
      members?: Record<string, unknown>;
      cause?: unknown;
    } = {},
  ) {
    super(message, { cause: extra.cause });
    this.name = 'AppError';
    this.status = PROBLEMS[code].status;
  }
}

export const PROBLEM_BASE = 'https://expense-export.dev/problems/';
