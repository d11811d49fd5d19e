/**
 * Which storage failures are worth retrying. Transient: the service or the
 * network may recover (5xx, 408, 429, timeouts, refused/reset connections).
 * Everything else (4xx) is permanent for the request that caused it.
 */
interface StorageErrorLike {
  name?: string;
  statusCode?: number;
  code?: string;
  cause?: unknown;
}

const NETWORK_CODES = new Set([
  'REQUEST_SEND_ERROR',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'StorageUnavailable',
]);

export function statusOf(err: unknown): number | undefined {
  const s = (err as StorageErrorLike | undefined)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

export function isTransientStorageError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as StorageErrorLike;
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 408 || status === 429;
  if (e.name === 'RestError' || (e.code && NETWORK_CODES.has(e.code))) return true;
  return false;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;
export const isPreconditionFailed = (err: unknown): boolean => statusOf(err) === 412;

/** 404 or PopReceiptMismatch (400) on update/delete: another consumer owns the message now. */
export function isLostLease(err: unknown): boolean {
  const status = statusOf(err);
  const code = (err as StorageErrorLike).code ?? '';
  return (
    status === 404 ||
    code === 'PopReceiptMismatch' ||
    code === 'MessageNotFound' ||
    (status === 400 && /PopReceipt/i.test(String((err as Error).message)))
  );
}
