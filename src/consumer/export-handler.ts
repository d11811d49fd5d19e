import type { ExpenseStore } from '../expenses/expense-store';
import { exportDecision, moveTo } from '../expenses/lifecycle';
import { messageDatePart, type ApprovalMessage } from '../expenses/approval-message';
import type { ExportTable } from '../export/export-table';
import { toExportRow, NotExportableError } from '../export/export-row';
import { isPreconditionFailed } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import { PermanentError, RetryableError } from './errors';

export interface HandlerDeps {
  store: ExpenseStore;
  exports: Pick<ExportTable, 'append'>;
  /** Something worth an operator's look that does not stop the export: the message's logger, which names it already. */
  warn?: (fields: Record<string, unknown>, msg: string) => void;
}

export interface HandlerResult {
  exported: 'inserted' | 'already-present';
  /** The row's seq in its day, when this delivery wrote it. */
  seq?: number;
  transitioned: boolean;
  approvedAt: string;
}

/**
 * Steps 2-5 of the design note; the consumer deletes the message (step 6).
 * Every step is safe to repeat, which is what turns at-least-once delivery
 * into an exactly-once effect: the row key makes the insert idempotent, and
 * the state move is conditional on the ETag we read.
 */
export async function handleApproval(d: HandlerDeps, msg: ApprovalMessage, signal: AbortSignal): Promise<HandlerResult> {
  const found = await d.store.get(msg.expenseId, signal);
  if (!found) throw new RetryableError(`expense ${msg.expenseId} does not exist`);
  let { value: expense, etag } = found;
  if (exportDecision(expense.state) === 'wait') throw new RetryableError(`expense ${msg.expenseId} is not approved`);
  // The stored approval date is the one approval's record, so it wins; a message that disagrees is a producer to look at.
  if (expense.approvalDate && messageDatePart(msg.approvalDate) !== expense.approvalDate) {
    d.warn?.(
      { messageApprovalDate: msg.approvalDate, storedApprovalDate: expense.approvalDate },
      'approval date in the message differs from the stored one; exporting with the stored date',
    );
  }
  const items = await d.store.items(msg.expenseId, signal);

  let row;
  try {
    row = toExportRow(expense, items);
  } catch (err) {
    if (err instanceof NotExportableError) throw new PermanentError(err.message);
    throw err;
  }

  const appended = await d.exports.append(row, signal); // 'already-present': an earlier attempt got this far

  const transitioned = await retryOnRace(
    CONFLICTS.EXPENSE,
    async (n) => {
      if (n > 0) {
        // Someone else changed the expense meanwhile (a 412): read it again and decide again.
        const again = await d.store.get(msg.expenseId, signal);
        if (!again) throw new RetryableError(`expense ${msg.expenseId} vanished during processing`);
        ({ value: expense, etag } = again);
      }
      if (exportDecision(expense.state) !== 'export') return false;
      await d.store.replace(moveTo(expense, 'processing'), etag, signal);
      return true;
    },
    { retryOn: isPreconditionFailed, signal },
  );
  return {
    exported: appended.outcome,
    seq: appended.outcome === 'inserted' ? appended.seq : undefined,
    transitioned,
    approvedAt: expense.approvedAt!,
  };
}
