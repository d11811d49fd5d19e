import { systemClock, type Clock } from '../clock';
import { withDeadline } from '../storage/deadline';
import { isPreconditionFailed } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import { encodeApproval } from './approval-message';
import type { QueueSender } from '../storage/azure-queue';
import { dateInZone } from './dates';
import { ConcurrentChangeError, ExpenseNotFoundError, StateConflictError } from './errors';
import type { ExpenseStore } from './expense-store';
import { approvalDecision, isApprovedOrExported, moveTo, nextApprovalAttempt, TransitionRefusedError } from './lifecycle';
import type { ApprovalMessage } from './approval-message';
import type { Expense } from './model';
import type { Outbox } from './outbox';

export interface ApprovalDeps {
  store: ExpenseStore;
  outbox: Outbox;
  queue: QueueSender;
  timeoutMs: number;
  timeZone: string;
  clock?: Clock;
}

/**
 * Approval with an outbox so that no approval is lost between "state saved"
 * and "message enqueued":
 *   1. record an outbox row (the intent);
 *   2. save state=approved, conditional on the ETag we read;
 *   3. enqueue the message;
 *   4. clear the outbox row.
 * A crash after 1 leaves the row behind; the sweeper finds it with one
 * partition query and re-enqueues if the expense is approved. Extra messages
 * are harmless because the consumer is idempotent (insert 409 → continue).
 */
export class ApprovalService {
  private readonly clock: Clock;
  constructor(private readonly d: ApprovalDeps) {
    this.clock = d.clock ?? systemClock;
  }

  async approve(id: string, approver: string, signal?: AbortSignal): Promise<{ expense: Expense; enqueued: boolean }> {
    try {
      return await retryOnRace(CONFLICTS.EXPENSE, () => this.approveOnce(id, approver, signal), { retryOn: isPreconditionFailed, signal });
    } catch (err) {
      if (isPreconditionFailed(err)) throw new ConcurrentChangeError(id); // changed under us every time: the caller may retry
      throw err;
    }
  }

  /** One read-decide-write; a 412 (someone else changed it) is retried by approve(). */
  private async approveOnce(id: string, approver: string, signal?: AbortSignal): Promise<{ expense: Expense; enqueued: boolean }> {
    const current = await this.d.store.get(id, signal);
    if (!current) throw new ExpenseNotFoundError(id);
    const { value: expense, etag } = current;
    // Re-approving is a no-op (a retried request must not queue twice); once exported it is refused.
    const decision = approvalDecision(expense.state);
    if (decision === 'already-approved') return { expense, enqueued: false };
    if (decision === 'refuse') throw new TransitionRefusedError(id, expense.state, 'approved');

    const at = new Date(this.clock.now());
    const approved: Expense = {
      ...moveTo(expense, 'approved'),
      approvedAt: at.toISOString(),
      approver,
      approvalDate: dateInZone(at, this.d.timeZone),
      approvalAttempt: nextApprovalAttempt(expense.state, expense.approvalAttempt),
    };
    await this.d.outbox.record('approval', id, { approvalDate: approved.approvalDate! }, signal);
    await this.d.store.replace(approved, etag, signal);
    await this.enqueue({ expenseId: id, approvalDate: approved.approvalDate! }, signal);
    await this.d.outbox.clear('approval', id, undefined, signal);
    return { expense: approved, enqueued: true };
  }

  /**
   * Sends an approved or exported expense's approval message again (an
   * admin's re-export). The export row key is (approvalDate, id), so a
   * re-export can never add a second row.
   */
  async reexport(id: string, signal?: AbortSignal): Promise<ApprovalMessage> {
    const found = await this.d.store.get(id, signal);
    if (!found) throw new ExpenseNotFoundError(id);
    const { state, approvalDate } = found.value;
    if (!isApprovedOrExported(state) || !approvalDate) {
      throw new StateConflictError(id, state, `Expense ${id} is ${state}; only approved or processing expenses can be re-exported.`);
    }
    const msg = { expenseId: id, approvalDate };
    await this.enqueue(msg, signal);
    return msg;
  }

  async enqueue(msg: ApprovalMessage, signal?: AbortSignal): Promise<void> {
    // TTL -1: an approval must never expire in the queue, however long an outage lasts.
    await withDeadline(this.d.timeoutMs, signal, (abortSignal) =>
      this.d.queue.send(encodeApproval(msg), { messageTimeToLive: -1, abortSignal }),
    );
  }
}
