import { formatMinor, sumMinor } from '../money/money';
import type { Expense, ExpenseItem } from './model';

/** The JSON shape of an expense in the API: exact decimal strings, never floats. */
export function expenseView(expense: Expense, items: readonly ExpenseItem[]) {
  return {
    ...expense,
    items: items.map((i) => ({ description: i.description, amount: formatMinor(i.amountMinor, expense.currency) })),
    total: formatMinor(sumMinor(items.map((i) => i.amountMinor)), expense.currency),
  };
}
