import { isTransientStorageError } from '../storage/errors';

/**
 * Retry later: the message may succeed on another delivery (data that may
 * still arrive, a state not reached yet). Counts toward the dequeue limit.
 */
export class RetryableError extends Error {
  override name = 'RetryableError';
}
/** Never succeeds, however often it is retried: poison at once. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

/**
 * How the consumer treats a failed attempt:
 * - permanent: can never succeed → poison now;
 * - outage: storage unreachable (5xx/408/429, timeouts, refused or reset
 *   connections) → another delivery after a backoff, and the consumer
 *   pauses new handlers, since they would fail the same way;
 * - transient: data that may still arrive → another delivery after a backoff;
 * - unknown: anything else (an unexpected 4xx, a bug) → also retried, since
 *   a fix or a deploy may cure it, but only up to the dequeue limit, like WebJobs.
 * Every kind but permanent is poisoned once it reaches the dequeue limit.
 */
export type FailureKind = 'permanent' | 'outage' | 'transient' | 'unknown';

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof PermanentError) return 'permanent';
  if (err instanceof RetryableError) return 'transient';
  if (isTransientStorageError(err)) return 'outage';
  return 'unknown';
}

/** An expected condition (retry later, give up) is worth one line; a stack trace is for the unexpected. */
export function isExpectedFailure(kind: FailureKind): boolean {
  return kind === 'permanent' || kind === 'transient';
}
