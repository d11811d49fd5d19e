import type { QueueClient } from '@azure/storage-queue';
import type { TableClient } from '@azure/data-tables';
import { AppError } from '../http/app-error';
import { withDeadline } from '../storage/deadline';
import { isNotFound, isPreconditionFailed } from '../storage/errors';
import { encodeApproval } from '../consumer/message-codec';
import type { CrashHook } from '../faults';
import { dateInZone } from './dates';
import type { ExpenseStore } from './expense-store';
import type { ApprovalMessage, Expense } from './model';

export const OUTBOX_PARTITION = 'pending';

export interface ApprovalDeps {
  store: ExpenseStore;
  outbox: TableClient;
  queue: QueueClient;
  timeoutMs: number;
  timeZone: string;
  crash: CrashHook;
  now?: () => Date;
}

/**
 * Approval with an outbox so that no approval is lost between "state saved"
 * and "message enqueued":
 *   1. upsert an outbox row (PK "pending", RK = id) — the intent;
 *   2. save state=approved, conditional on the ETag we read;
 *   3. enqueue the message;
 *   4. delete the outbox row.
 * A crash after 1 leaves the row behind; the sweeper finds it with one
 * partition query and re-enqueues if the expense is approved. Extra messages
 * are harmless because the consumer is idempotent (insert 409 → continue).
 */
export class ApprovalService {
  private readonly now: () => Date;
  constructor(private readonly d: ApprovalDeps) {
    this.now = d.now ?? (() => new Date());
  }

  async approve(id: string, approver: string, signal?: AbortSignal): Promise<{ expense: Expense; enqueued: boolean }> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await this.d.store.get(id, signal);
      if (!current) throw new AppError('not_found', `Expense ${id} does not exist.`);
      const { value: expense, etag } = current;
      // Re-approving is a no-op (a retried request must not queue twice); once exported it is a conflict.
      if (expense.state === 'approved') return { expense, enqueued: false };
      if (expense.state !== 'submitted') throw new AppError('conflict', `Expense ${id} is ${expense.state} and cannot be approved.`);

      const at = this.now();
      const approved: Expense = {
        ...expense,
        state: 'approved',
        approvedAt: at.toISOString(),
        approver,
        approvalDate: dateInZone(at, this.d.timeZone),
      };
      await this.call(signal, (abortSignal) =>
        this.d.outbox.upsertEntity({ partitionKey: OUTBOX_PARTITION, rowKey: id, approvalDate: approved.approvalDate }, 'Replace', {
          abortSignal,
        }),
      );
      try {
        await this.d.store.replace(approved, etag, signal);
      } catch (err) {
        if (isPreconditionFailed(err)) continue; // someone else changed it; re-read and decide again
        throw err;
      }
      this.d.crash('after-approve-save');
      await this.enqueue({ expenseId: id, approvalDate: approved.approvalDate! }, signal);
      await this.clearOutbox(id, undefined, signal);
      return { expense: approved, enqueued: true };
    }
    throw new AppError('conflict', `Expense ${id} is being changed concurrently; retry.`);
  }

  async enqueue(msg: ApprovalMessage, signal?: AbortSignal): Promise<void> {
    // TTL -1: an approval must never expire in the queue, however long an outage lasts.
    await this.call(signal, (abortSignal) => this.d.queue.sendMessage(encodeApproval(msg), { messageTimeToLive: -1, abortSignal }));
  }

  async clearOutbox(id: string, etag: string | undefined, signal?: AbortSignal): Promise<void> {
    try {
      await this.call(signal, (abortSignal) => this.d.outbox.deleteEntity(OUTBOX_PARTITION, id, { etag, abortSignal }));
    } catch (err) {
      // Already cleared, or re-written by a newer approval attempt: either way not ours to delete.
      if (!isNotFound(err) && !isPreconditionFailed(err)) throw err;
    }
  }

  private call<T>(signal: AbortSignal | undefined, fn: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return withDeadline(this.d.timeoutMs, signal, fn);
  }
}
