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

/**
 * One row as an export read returns it: the v1 file's cells, every one a
 * string, and what other layouts need besides (see src/layouts/). A row an
 * earlier release wrote has neither `employeeNumber` nor `items`.
 */
export type ExportRecord = Record<ColumnProp, string> & {
  /** The payroll key (printable ASCII, at most 20 characters); absent when the expense has none. */
  employeeNumber?: string;
  /** The line items, encodeItems' JSON: `[[category, amountMinor], …]` in item order. */
  items?: string;
};

/**
 * What the consumer writes for one approval: the record, the partition (the
 * approval date, YYYY-MM-DD) and the approval attempt it belongs to. The
 * table row adds `seq` (and the day's running totals) when it is appended.
 */
export type ExportRow = ExportRecord & { partitionKey: string; rowKey: string; attempt: number };

/** The table's names for the properties the file needs: the `$select` of every export read. */
export const EXPORT_SELECT: readonly string[] = [...EXPORT_COLUMNS.map((c) => c.prop), 'employeeNumber', 'items'];

/** One line item as the export row carries it: its category ('' when none) and its exact amount. */
export interface RowItem {
  category: string;
  amountMinor: bigint;
}

/**
 * The row's items in one string property: `[["TRAVEL","1250"],["","99"]]`.
 * Only the category and the amount: that keeps the property inside the
 * table's 64 KiB (32,768 UTF-16 units) per string even at MAX_ITEMS (100)
 * items with 64-character categories all escaped (about 15,000 units),
 * where the descriptions (200 characters each) would not fit. Amounts are
 * decimal strings of minor units: exact, as a bigint has no JSON form.
 */
export function encodeItems(items: readonly ExpenseItem[]): string {
  return JSON.stringify(items.map((i) => [i.category ?? '', i.amountMinor.toString()]));
}

/** The row's items; undefined for a row an earlier release wrote (it has none). A malformed property is a bug worth stopping for. */
export function decodeItems(text: string | undefined): RowItem[] | undefined {
  if (text === undefined || text === '') return undefined;
  const raw = JSON.parse(text) as unknown;
  if (!Array.isArray(raw)) throw new Error('export row items are not a JSON array');
  return raw.map((e: unknown) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string' || !/^\d+$/.test(e[1]))
      throw new Error('export row item is not [category, amountMinor]');
    return { category: e[0], amountMinor: BigInt(e[1]) };
  });
}

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
    ...(expense.employeeNumber ? { employeeNumber: expense.employeeNumber } : {}),
    items: encodeItems(items),
  };
}
