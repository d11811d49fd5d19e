import type { Expense, ExpenseItem } from '../expenses/model';
import { formatMinor, sumMinor } from '../money/money';

/** One row of the ExportTable: exactly one line of the flat file. */
export interface ExportRow {
  partitionKey: string; // approval date YYYY-MM-DD
  rowKey: string; // expense id
  approvedAt: string;
  approver: string;
  employee: string;
  costCenter: string;
  reimbursementMethod: string;
  currency: string;
  /** Exact decimal with the currency's minor digits, e.g. "0.30". */
  amount: string;
}

/** The properties the CSV needs: the `$select` of every export read. */
export const EXPORT_SELECT = [
  'RowKey',
  'approvedAt',
  'approver',
  'employee',
  'costCenter',
  'reimbursementMethod',
  'currency',
  'amount',
] as const;

export class NotExportableError extends Error {}

/** Pure: flattens an approved expense and its items into its export row. */
export function toExportRow(expense: Expense, items: readonly ExpenseItem[]): ExportRow {
  if (!expense.approvedAt || !expense.approver || !expense.approvalDate) {
    throw new NotExportableError(`expense ${expense.id} has no approval recorded`);
  }
  if (items.length === 0) throw new NotExportableError(`expense ${expense.id} has no line items`);
  return {
    partitionKey: expense.approvalDate,
    rowKey: expense.id,
    approvedAt: expense.approvedAt,
    approver: expense.approver,
    employee: expense.employee,
    costCenter: expense.costCenter,
    reimbursementMethod: expense.reimbursementMethod,
    currency: expense.currency,
    amount: formatMinor(sumMinor(items.map((i) => i.amountMinor)), expense.currency),
  };
}
