import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, PROBLEMS, PROBLEM_BASE, type ErrorCode } from './app-error';
import { AuthError } from '../auth/errors';
import { isTransientStorageError } from '../storage/errors';
import { ConcurrentChangeError, ExpenseNotFoundError, StateConflictError, TransitionRefusedError } from '../expenses/errors';
import { DayUpgradingError, SeqOutOfRangeError } from '../export/errors';
import { LayoutOptionError, LayoutRefusedError, UnknownLayoutError } from '../layouts/errors';
import { ResultFileError } from '../results/result-file';
import { IdempotencyError } from '../results/results-import';

/** The code a framework error (body-parser, the OpenAPI validator) gets from its status alone. */
const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
};

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  errors?: Array<{ path?: string; message?: string }>;
  expose?: boolean;
}

/** Maps anything thrown (ours, body-parser's, the OpenAPI validator's, the SDK's) to one problem shape. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const domain = fromDomainError(err);
  if (domain) return domain;
  if (isTransientStorageError(err)) {
    return new AppError('storage_unavailable', 'Storage is unreachable; try again shortly.', {
      headers: { 'Retry-After': '5' },
      cause: err,
    });
  }
  const e = (err ?? {}) as HttpLikeError;
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ErrorCode = status === 400 && e.errors ? 'validation_failed' : (BY_STATUS[status] ?? 'bad_request');
    const errors = e.errors?.map((x) => ({ path: x.path, message: x.message }));
    const message =
      e.type === 'entity.parse.failed'
        ? 'Request body is not valid JSON.'
        : code === 'validation_failed'
          ? 'The request does not match the API schema.'
          : (errors?.[0]?.message ?? PROBLEMS[code].title);
    return new AppError(code, message, errors ? { errors } : {});
  }
  return new AppError('internal', 'An unexpected error occurred.', { cause: err });
}

/** Domain errors carry no HTTP; this is where they get their status and stable code. */
function fromDomainError(err: unknown): AppError | undefined {
  if (err instanceof AuthError) return new AppError(err.code, err.message, { headers: { ...err.headers } });
  if (err instanceof ExpenseNotFoundError) return new AppError('not_found', err.message);
  if (err instanceof TransitionRefusedError || err instanceof ConcurrentChangeError || err instanceof StateConflictError) {
    return new AppError('conflict', err.message);
  }
  if (err instanceof SeqOutOfRangeError) return new AppError('seq_out_of_range', err.message);
  if (err instanceof DayUpgradingError) {
    // Numbering runs at hundreds to thousands of rows a second: a few seconds is the right pace to ask again.
    return new AppError('day_upgrading', err.message, { headers: { 'Retry-After': '5' }, members: { progress: err.progress } });
  }
  if (err instanceof UnknownLayoutError)
    return new AppError('unknown_layout', err.message, { errors: err.known.map((layout) => ({ layout })) });
  if (err instanceof LayoutOptionError) return new AppError('bad_request', err.message);
  if (err instanceof LayoutRefusedError) return new AppError('value_too_wide', err.message);
  if (err instanceof ResultFileError) return new AppError(err.code, err.message);
  if (err instanceof IdempotencyError) {
    return new AppError(err.code, err.message, err.retryAfterSec ? { headers: { 'Retry-After': String(err.retryAfterSec) } } : {});
  }
  return undefined;
}

export function sendProblem(res: Parameters<RequestHandler>[1], err: AppError, instance?: string): void {
  for (const [k, v] of Object.entries(err.extra.headers ?? {})) res.setHeader(k, v);
  res
    .status(err.status)
    .type('application/problem+json')
    .json({
      type: PROBLEM_BASE + err.code,
      title: PROBLEMS[err.code].title,
      status: err.status,
      code: err.code,
      detail: err.message,
      ...(instance ? { instance } : {}),
      ...(err.extra.errors ? { errors: err.extra.errors } : {}),
      ...err.extra.members,
    });
}

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError('not_found', `No route for ${req.method} ${req.path}`));
};

export const errorMiddleware: ErrorRequestHandler = (err, req, res, _next) => {
  const appErr = toAppError(err);
  if (appErr.status >= 500) req.log?.error({ err: appErr.extra.cause ?? err, code: appErr.code }, 'request failed');
  if (res.headersSent) {
    // Mid-stream failure: a clean end would hand the client a truncated file that looks complete.
    res.destroy(appErr);
    return;
  }
  sendProblem(res, appErr, req.originalUrl.split('?')[0]);
};
