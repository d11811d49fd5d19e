import type { Expense, ExpenseItem } from '../expenses/model';
import { formatMinor, sumMinor } from '../money/money';

/**
 * The columns of the flat file, in file order: the one list from which the
 * table row, the `$select` of every export read and the CSV header derive.
 * `prop` is the ExportTable property; `text` says who wrote the cell:
 * `user` text (typed or picked by a person) is guarded against formula
 * injection, `server` text (ids, timestamps, amounts we format) is left as
 * it is, so numbers stay numbers.
 */
export const EXPORT_COLUMNS = [
  { prop: 'expenseId', header: 'expense_id', text: 'server' },
  { prop: 'approvedAt', header: 'approved_at', text: 'server' },
  { prop: 'approver', header: 'approver', text: 'user' },
  { prop: 'employee', header: 'employee', text: 'user' },
  { prop: 'costCenter', header: 'cost_center', text: 'user' },
  { prop: 'reimbursementMethod', header: 'reimbursement_method', text: 'user' },
  { prop: 'currency', header: 'currency', text: 'user' },
  { prop: 'amount', header: 'amount', text: 'server' },
] as const satisfies ReadonlyArray<{ prop: string; header: string; text: 'user' | 'server' }>;

type ColumnProp = (typeof EXPORT_COLUMNS)[number]['prop'];

/** One line of the file, as an export read returns it: every cell a string. */
export type ExportRecord = Record<ColumnProp, string>;

/**
 * What the consumer writes for one approval: the record, the partition (the
 * approval date, YYYY-MM-DD) and the approval attempt it belongs to. The
 * table row adds `seq` (and the day's running totals) when it is appended.
 */
export type ExportRow = ExportRecord & { partitionKey: string; rowKey: string; attempt: number };

/** The table's names for the properties the file needs: the `$select` of every export read. */
export const EXPORT_SELECT: readonly string[] = EXPORT_COLUMNS.map((c) => c.prop);

/**
 * The row key of an approval: the expense id for its first approval (as the
 * rows of earlier releases have it), `<id>.<n>` for the n-th, after a
 * rejection and a new approval. `.` is not allowed in an id, so keys never
 * collide, and every key sorts before the day's `~manifest`.
 */
export function rowKeyFor(expenseId: string, attempt: number): string {
  return attempt <= 1 ? expenseId : `${expenseId}.${attempt}`;
}

export class NotExportableError extends Error {
  override name = 'NotExportableError';
}

/** Pure: flattens an approved expense and its items into its export row. `amount` is the exact sum with the currency's minor digits. */
export function toExportRow(expense: Expense, items: readonly ExpenseItem[]): ExportRow {
  if (!expense.approvedAt || !expense.approver || !expense.approvalDate) {
    throw new NotExportableError(`expense ${expense.id} has no approval recorded`);
  }
  if (items.length === 0) throw new NotExportableError(`expense ${expense.id} has no line items`);
  const attempt = expense.approvalAttempt ?? 1;
  return {
    partitionKey: expense.approvalDate,
    rowKey: rowKeyFor(expense.id, attempt),
    attempt,
    expenseId: expense.id,
    approvedAt: expense.approvedAt,
    approver: expense.approver,
    employee: expense.employee,
    costCenter: expense.costCenter,
    reimbursementMethod: expense.reimbursementMethod,
    currency: expense.currency,
    amount: formatMinor(sumMinor(items.map((i) => i.amountMinor)), expense.currency),
  };
}
