/**
 * Why a request was not let in. Auth knows nothing of HTTP status codes;
 * src/http/error-middleware.ts maps `code` to its problem code and status,
 * and sends `headers` (the Basic challenge, Retry-After) with it.
 */
export type AuthErrorCode = 'unauthorized' | 'forbidden' | 'too_many_requests';

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(
    readonly code: AuthErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string | string[]>> = {},
  ) {
    super(message);
  }
}
