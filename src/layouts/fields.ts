import type { FileRecord } from '../export/export-table';
import { decodeItems, type RowItem } from '../export/export-row';
import { CATEGORY_MAX, EMPLOYEE_NUMBER_MAX } from '../expenses/model';

/**
 * The documented catalogue of what a layout column can show (docs/layouts.md).
 * `user` text (typed or picked by a person) always gets the formula guard;
 * `maxChars` bounds the rendered value where its validation bounds it
 * (undefined: user text that transliteration may lengthen, so no bound).
 */
export type FieldKind = 'text' | 'int' | 'amount' | 'timestamp' | 'date' | 'account';

/** What a record is made from: the row, the day, and in item grain one item and its 1-based line number. */
export interface RecordSource {
  row: FileRecord;
  date: string;
  item?: RowItem;
  line?: number;
  /** Item grain: the row's number of items (expense grain counts them when asked). */
  itemCount?: number;
}

export interface FieldDef {
  grain: 'expense' | 'item';
  kind: FieldKind;
  user: boolean;
  maxChars?: number;
  description: string;
  /** Text and int fields: the value. Amount fields read their own source (see render.ts). */
  text?: (s: RecordSource) => string;
}

const AMOUNT_MAX = { decimal: 16, minor: 15 }; // 100 items of at most 10^9 major units, 3 minor digits

export const FIELDS = {
  'expense.id': { grain: 'expense', kind: 'text', user: false, maxChars: 128, description: 'The expense id.', text: (s) => s.row.expenseId },
  'expense.seq': { grain: 'expense', kind: 'int', user: false, maxChars: 10, description: "The row's number in its day (1, 2, 3 …).", text: (s) => String(s.row.seq ?? '') },
  'expense.approvedAt': { grain: 'expense', kind: 'timestamp', user: false, description: 'When the expense was approved (a timestamp; any date or time format, or iso8601).' },
  'expense.approver': { grain: 'expense', kind: 'text', user: true, description: 'Who approved it.', text: (s) => s.row.approver },
  'expense.employee': { grain: 'expense', kind: 'text', user: true, description: "The employee's name.", text: (s) => s.row.employee },
  'expense.employeeNumber': { grain: 'expense', kind: 'text', user: true, maxChars: EMPLOYEE_NUMBER_MAX, description: "The employee's payroll number (printable ASCII; empty when the expense has none).", text: (s) => s.row.employeeNumber ?? '' },
  'expense.costCenter': { grain: 'expense', kind: 'text', user: true, description: 'The cost center.', text: (s) => s.row.costCenter },
  'expense.reimbursementMethod': { grain: 'expense', kind: 'text', user: true, maxChars: 14, description: 'direct_deposit, check or cash.', text: (s) => s.row.reimbursementMethod },
  'expense.currency': { grain: 'expense', kind: 'text', user: true, maxChars: 3, description: 'ISO 4217 code.', text: (s) => s.row.currency },
  'expense.amount': { grain: 'expense', kind: 'amount', user: false, maxChars: AMOUNT_MAX.decimal, description: "The expense's exact total (format decimal or minor)." },
  'expense.itemCount': { grain: 'expense', kind: 'int', user: false, maxChars: 3, description: 'How many line items it has (1 for a row written before items were exported).', text: (s) => String(s.itemCount ?? (decodeItems(s.row.items)?.length ?? 1)) },
  'export.date': { grain: 'expense', kind: 'date', user: false, description: 'The export day (the approval date in EXPORT_TIMEZONE).' },
  'item.line': { grain: 'item', kind: 'int', user: false, maxChars: 3, description: "The item's line number in its expense, from 1.", text: (s) => String(s.line) },
  'item.category': { grain: 'item', kind: 'text', user: true, maxChars: undefined, description: `The item's expense-type code (at most ${CATEGORY_MAX}; empty when none).`, text: (s) => s.item!.category },
  'item.amount': { grain: 'item', kind: 'amount', user: false, maxChars: AMOUNT_MAX.decimal, description: "The item's exact amount (format decimal or minor)." },
  'item.account': { grain: 'item', kind: 'account', user: false, description: "The GL account the layout's `accounts` maps the item's category to (its default otherwise)." },
} as const satisfies Record<string, FieldDef>; // prettier-ignore

export type FieldName = keyof typeof FIELDS;
export const FIELD_NAMES = Object.keys(FIELDS) as FieldName[];
export const fieldDef = (name: FieldName): FieldDef => FIELDS[name];
export { AMOUNT_MAX };
