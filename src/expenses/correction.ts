import { isPreconditionFailed } from '../storage/errors';
import { ConcurrentChangeError, ExpenseNotFoundError, StateConflictError } from './errors';
import type { ExpenseStore } from './expense-store';
import { isEditable } from './lifecycle';
import type { Expense, NewExpense } from './model';

/**
 * A correction (PUT /expenses/:id): the expense's content and items
 * replaced, while it is submitted or after a rejection. Its state, approval
 * and history stay as they are; a concurrent change is refused, not merged.
 */
export async function correctExpense(
  store: Pick<ExpenseStore, 'get' | 'correct'>,
  id: string,
  input: NewExpense,
  signal?: AbortSignal,
): Promise<Expense> {
  const found = await store.get(id, signal);
  if (!found) throw new ExpenseNotFoundError(id);
  const { value: current, etag } = found;
  if (!isEditable(current.state)) {
    throw new StateConflictError(
      id,
      current.state,
      `Expense ${id} is ${current.state}; only a submitted or rejected expense can be corrected.`,
    );
  }
  const corrected: Expense = {
    ...current,
    employee: input.employee,
    costCenter: input.costCenter,
    reimbursementMethod: input.reimbursementMethod,
    currency: input.currency,
    description: input.description,
    employeeNumber: input.employeeNumber,
  };
  try {
    await store.correct(corrected, input.items, etag, signal);
  } catch (err) {
    if (isPreconditionFailed(err)) throw new ConcurrentChangeError(id);
    throw err;
  }
  return corrected;
}
