import type { ExpenseStore } from '../expenses/expense-store';
import { systemClock, type Clock } from '../clock';
import { hasExportRow, moveTo, resultDecision } from '../expenses/lifecycle';
import type { ExportTable } from '../export/export-table';
import { rowKeyFor } from '../export/export-row';
import { minorOf } from '../export/manifest';
import { isConflict } from '../storage/errors';
import { CONFLICTS, retryOnRace } from '../storage/optimistic';
import { lineAmount, type ResultLine } from './result-line';

/** How one line ended. `applied` and `noop` are success; the rest are listed back to the sender. */
export type LineOutcome = 'applied' | 'noop' | 'unknown_expense' | 'invalid_transition' | 'amount_mismatch' | 'bad_row';
export const LINE_OUTCOMES: readonly LineOutcome[] = [
  'applied',
  'noop',
  'unknown_expense',
  'invalid_transition',
  'amount_mismatch',
  'bad_row',
];

export interface LineResult {
  outcome: LineOutcome;
  message?: string;
}

export interface ApplyDeps {
  store: ExpenseStore;
  exportTable: Pick<ExportTable, 'approvalRow'>;
  clock?: Clock;
}

/**
 * Judges one result line against the expense it names, and applies it:
 * the expense's new state and the result's record in one transaction,
 * conditional on the expense's ETag. Safe to run twice, and against
 * competing imports: each status is recorded once per approval (a second
 * writer gets a 409 and finds it done), and a changed expense (412) is read
 * and judged again.
 */
export async function applyResultLine(d: ApplyDeps, line: ResultLine, importId: string, signal?: AbortSignal): Promise<LineResult> {
  return retryOnRace(CONFLICTS.EXPENSE, () => applyOnce(d, line, importId, signal), { signal });
}

/** One read-judge-write of a line; a changed expense (412) or a record written by another import (409) is judged again. */
async function applyOnce(d: ApplyDeps, line: ResultLine, importId: string, signal?: AbortSignal): Promise<LineResult> {
  const found = await d.store.get(line.expenseId, signal);
  if (!found) return { outcome: 'unknown_expense', message: `Expense ${line.expenseId} does not exist.` };
  const { value: e, etag } = found;
  const approval = e.approvalAttempt ?? 1;
  if (!hasExportRow(e.state) || !e.approvalDate) {
    return {
      outcome: 'invalid_transition',
      message: `Expense ${e.id} is ${e.state}: it has not been exported, so it can have no result.`,
    };
  }
  const row = await d.exportTable.approvalRow(e.approvalDate, rowKeyFor(e.id, approval), signal);
  if (!row) return { outcome: 'invalid_transition', message: `Expense ${e.id} has no export row for its approval of ${e.approvalDate}.` };
  if (row.currency !== line.currency || minorOf(row.amount, row.currency) !== line.amountMinor) {
    return {
      outcome: 'amount_mismatch',
      message: `Exported as ${row.amount} ${row.currency}; the line says ${lineAmount(line)} ${line.currency}.`,
    };
  }

  const decision = resultDecision(e.state, line.status);
  if (decision === 'noop') return { outcome: 'noop' };
  if (decision === 'refuse') {
    // A step this approval went through already (a re-sent file that also holds an earlier line): harmless.
    if (await d.store.result(e.id, approval, line.status, signal)) return { outcome: 'noop' };
    // A line answering an earlier approval of the expense (before a rejection and a new approval).
    if (approval > 1 && e.approvedAt && line.statusAtMs < Date.parse(e.approvedAt)) {
      for (let a = approval - 1; a >= 1; a--) if (await d.store.result(e.id, a, line.status, signal)) return { outcome: 'noop' };
    }
    return {
      outcome: 'invalid_transition',
      message: `Expense ${e.id} is ${e.state}; it cannot become ${line.status} (a status never moves backwards).`,
    };
  }

  try {
    await d.store.applyResult(
      moveTo(e, line.status),
      etag,
      {
        attempt: approval,
        status: line.status,
        statusAt: line.statusAt,
        reference: line.reference,
        message: line.message,
        amount: lineAmount(line),
        currency: line.currency,
        appliedAt: new Date((d.clock ?? systemClock).now()).toISOString(),
        importId,
      },
      signal,
    );
    return { outcome: 'applied' };
  } catch (err) {
    if (isConflict(err)) {
      // Recorded already: by this very import before a crash (then it is ours, applied), or by another one.
      const record = await d.store.result(e.id, approval, line.status, signal);
      if (record?.importId === importId) return { outcome: 'applied' };
    }
    throw err; // a 409 of another import's record, or a 412 (the expense changed): retryOnRace judges again
  }
}
