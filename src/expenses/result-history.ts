import type { ResultStatus } from './lifecycle';

/**
 * One applied result, kept forever in its expense's partition of the
 * Expenses table (written in the same transaction as the state it moved).
 * Its key is the approval attempt and the status: each status is applied
 * at most once per approval, which is what makes a re-sent line a no-op.
 */
export interface ResultRecord {
  attempt: number;
  status: ResultStatus;
  /** When the payroll/ERP system says it happened (ISO 8601, as sent). */
  statusAt: string;
  reference: string;
  message: string;
  amount: string;
  currency: string;
  /** When we applied it, and the import that did. */
  appliedAt: string;
  importId: string;
}

/** Row keys of an expense's results: after its `expense` row, in attempt then status order. */
export const RESULT_ROW_PREFIX = 'result.';
export const resultRowKey = (attempt: number, status: ResultStatus): string =>
  `${RESULT_ROW_PREFIX}${String(attempt).padStart(4, '0')}.${status}`;
