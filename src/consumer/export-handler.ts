import type { TableClient } from '@azure/data-tables';
import type { ExpenseStore } from '../expenses/expense-store';
import type { ApprovalMessage } from '../expenses/model';
import { toExportRow, NotExportableError } from '../export/export-row';
import { withDeadline } from '../storage/deadline';
import { isConflict, isPreconditionFailed, isTransientStorageError } from '../storage/errors';
import type { CrashHook } from '../faults';

/**
 * Retry later: the message may succeed on another delivery (missing data
 * that may still arrive, a storage blip). Counts toward the dequeue limit.
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
 * - permanent: can never succeed (the expense cannot be flattened into a row) → poison now;
 * - transient: storage 5xx/408/429, timeouts, refused or reset connections, or data
 *   that may still arrive → another delivery after a backoff;
 * - unknown: anything else (an unexpected 4xx, a bug) → also retried, since a fix or
 *   a deploy may cure it, but only up to the dequeue limit, like WebJobs.
 * Transient and unknown failures that reach the dequeue limit are poisoned too, so
 * "the expense does not exist" becomes permanent after the retries.
 */
export type FailureKind = 'permanent' | 'transient' | 'unknown';

export function classifyFailure(err: unknown): FailureKind {
  if (err instanceof PermanentError) return 'permanent';
  if (err instanceof RetryableError || isTransientStorageError(err)) return 'transient';
  return 'unknown';
}

export interface HandlerDeps {
  store: ExpenseStore;
  exports: TableClient;
  timeoutMs: number;
  crash: CrashHook;
}

export interface HandlerResult {
  exported: 'inserted' | 'already-present';
  transitioned: boolean;
  approvedAt: string;
}

/**
 * Steps 2-5 of the design note; the caller deletes the message (step 6).
 * Every step is safe to repeat, which is what turns at-least-once delivery
 * into an exactly-once effect: the row key makes the insert idempotent, and
 * the state move is conditional on the ETag we read.
 */
export async function handleApproval(d: HandlerDeps, msg: ApprovalMessage, signal: AbortSignal): Promise<HandlerResult> {
  const found = await d.store.get(msg.expenseId, signal);
  if (!found) throw new RetryableError(`expense ${msg.expenseId} does not exist`);
  let { value: expense, etag } = found;
  if (expense.state === 'submitted') throw new RetryableError(`expense ${msg.expenseId} is not approved`);
  const items = await d.store.items(msg.expenseId, signal);

  let row;
  try {
    row = toExportRow(expense, items);
  } catch (err) {
    if (err instanceof NotExportableError) throw new PermanentError(err.message);
    throw err;
  }

  let exported: HandlerResult['exported'] = 'inserted';
  try {
    await withDeadline(d.timeoutMs, signal, (abortSignal) => d.exports.createEntity(row, { abortSignal }));
  } catch (err) {
    if (!isConflict(err)) throw err;
    exported = 'already-present'; // an earlier attempt got this far
  }
  d.crash('after-insert');

  let transitioned = false;
  for (let attempt = 0; expense.state === 'approved'; attempt++) {
    try {
      await d.store.replace({ ...expense, state: 'processing' }, etag, signal);
      transitioned = true;
      break;
    } catch (err) {
      if (!isPreconditionFailed(err) || attempt >= 2) throw err;
      const again = await d.store.get(msg.expenseId, signal);
      if (!again) throw new RetryableError(`expense ${msg.expenseId} vanished during processing`);
      ({ value: expense, etag } = again);
    }
  }
  d.crash('after-update');
  return { exported, transitioned, approvedAt: expense.approvedAt! };
}
