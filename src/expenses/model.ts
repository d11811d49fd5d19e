import { z } from 'zod';
import { isCurrency, parseAmount } from '../money/money';
import { isCalendarDate } from './dates';
import type { ExpenseState } from './lifecycle';

export const REIMBURSEMENT_METHODS = ['direct_deposit', 'check', 'cash'] as const;
export type ReimbursementMethod = (typeof REIMBURSEMENT_METHODS)[number];

/**
 * Table keys may not contain / \ # ? or control characters; we are stricter
 * and allow only what a generated id can contain. Anything that reaches a
 * table query or a URL is checked against this first.
 */
export const KEY_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const isValidKey = (id: unknown): id is string => typeof id === 'string' && KEY_PATTERN.test(id);

export const MAX_ITEMS = 100; // one entity-group transaction, so items are written atomically
export const MAX_TEXT = 200;

export interface ExpenseItem {
  description: string;
  /** Exact minor units of the expense's currency. */
  amountMinor: bigint;
  /** The expense-type code (what a layout's `accounts` maps to a GL account). */
  category?: string;
}

/** The payroll key: printable ASCII, so that no encoding or transliteration can ever change it (see docs/layouts.md). */
export const EMPLOYEE_NUMBER_MAX = 20;
export const CATEGORY_MAX = 64;

export interface Expense {
  id: string;
  employee: string;
  costCenter: string;
  reimbursementMethod: ReimbursementMethod;
  currency: string;
  description?: string;
  /** The employee's payroll number, when the expense app knows it. */
  employeeNumber?: string;
  state: ExpenseState;
  createdAt: string;
  approvedAt?: string;
  approver?: string;
  /** Calendar date of approval in EXPORT_TIMEZONE: the export partition. */
  approvalDate?: string;
  /** 1 for the first approval, n after n-1 rejections and new approvals: each attempt has its own export row. */
  approvalAttempt?: number;
}

// Printable text only: control characters are refused rather than stored and exported.
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters');

/** Domain validation beyond the OpenAPI schema: currency-aware exact amounts. */
export const newExpenseSchema = z
  .object({
    employee: text(MAX_TEXT),
    costCenter: text(64),
    reimbursementMethod: z.enum(REIMBURSEMENT_METHODS),
    currency: z.string().default('USD').refine(isCurrency, 'must be an ISO 4217 currency code'),
    description: text(1000).optional(),
    employeeNumber: text(EMPLOYEE_NUMBER_MAX)
      .refine((s) => /^[\x20-\x7E]+$/.test(s), 'must be printable ASCII (a payroll key is never transliterated)')
      .refine((s) => !/^[=+\-@']/.test(s), "must not start with = + - @ or ' (a key a formula guard would change)")
      .optional(),
    items: z
      .array(
        z
          .object({
            description: text(MAX_TEXT),
            amount: z.union([z.string().max(32), z.number()]),
            category: text(CATEGORY_MAX).optional(),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_ITEMS),
  })
  .strict()
  .transform((body, ctx) => {
    const items: ExpenseItem[] = [];
    body.items.forEach((item, i) => {
      const parsed = parseAmount(item.amount, body.currency);
      if (parsed.ok)
        items.push({ description: item.description, amountMinor: parsed.minor, ...(item.category ? { category: item.category } : {}) });
      else ctx.addIssue({ code: 'custom', path: ['items', i, 'amount'], message: `amount ${parsed.reason}` });
    });
    return { ...body, items };
  });

export type NewExpense = z.output<typeof newExpenseSchema>;

/**
 * An approval message's date as producers write it: YYYY-MM-DD, or an ISO
 * 8601 date-time (.NET serializers write a DateTime so). Only its date part
 * is ever compared, and the stored approval date wins anyway.
 */
const ISO_DATE_TIME =
  /^(\d{4}-\d{2}-\d{2})(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$/;
export const messageDatePart = (value: string): string | undefined => {
  const date = ISO_DATE_TIME.exec(value)?.[1];
  return date !== undefined && isCalendarDate(date) ? date : undefined;
};

const APPROVAL_FIELDS = ['expenseId', 'approvalDate'] as const;

/**
 * Field names in any case (Newtonsoft's default writes ExpenseId and
 * ApprovalDate), as their canonical names. A field given twice in different
 * cases is refused: which one the producer meant is a guess.
 */
function canonicalFieldNames(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  const seen: Record<string, string[]> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = APPROVAL_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
    if (!field) continue;
    (seen[field] ??= []).push(key);
    out[field] = v;
  }
  for (const [field, keys] of Object.entries(seen)) {
    if (keys.length > 1) ctx.addIssue({ code: 'custom', path: [field], message: `given more than once (${keys.join(', ')})` });
  }
  return out;
}

/** The approval message: small, and everything else is read from the tables. */
export const approvalMessageSchema = z.preprocess(
  canonicalFieldNames,
  z.object({
    expenseId: z.string().regex(KEY_PATTERN, 'expenseId violates table key rules'),
    approvalDate: z
      .string()
      .refine((v) => messageDatePart(v) !== undefined, 'approvalDate must be a real YYYY-MM-DD date or an ISO 8601 date-time'),
  }),
);
// Unknown extra fields are ignored (not poisoned) so the producer can add fields without a lockstep deploy.
export type ApprovalMessage = z.infer<typeof approvalMessageSchema>;
