import { formatMinor, sumMinor } from '../money/money';
import type { ResultRecord } from './result-history';
import type { Expense, ExpenseItem } from './model';

/** The JSON shape of an expense in the API: exact decimal strings, never floats; its results, when asked for. */
export function expenseView(expense: Expense, items: readonly ExpenseItem[], results?: readonly ResultRecord[]) {
  return {
    ...expense,
    items: items.map((i) => ({
      description: i.description,
      amount: formatMinor(i.amountMinor, expense.currency),
      ...(i.category ? { category: i.category } : {}),
    })),
    total: formatMinor(sumMinor(items.map((i) => i.amountMinor)), expense.currency),
    ...(results
      ? {
          results: results.map((r) => ({
            approvalAttempt: r.attempt,
            status: r.status,
            statusAt: r.statusAt,
            reference: r.reference,
            message: r.message,
            amount: r.amount,
            currency: r.currency,
            appliedAt: r.appliedAt,
          })),
        }
      : {}),
  };
}
