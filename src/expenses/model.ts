import { z } from 'zod';
import { isCurrency, parseAmount } from '../money/money';
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
