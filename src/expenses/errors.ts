/**
 * Domain errors of the expenses feature. Domain code throws these; the HTTP
 * layer (src/http/error-middleware.ts) maps them to problem codes, and the
 * CLI prints their message. None of them knows about HTTP.
 */
export { TransitionRefusedError } from './lifecycle';

export class ExpenseNotFoundError extends Error {
  override name = 'ExpenseNotFoundError';
  constructor(readonly expenseId: string) {
    super(`Expense ${expenseId} does not exist.`);
  }
}

/** Someone else kept changing the expense while we tried to: the caller may simply retry. */
export class ConcurrentChangeError extends Error {
  override name = 'ConcurrentChangeError';
  constructor(readonly expenseId: string) {
    super(`Expense ${expenseId} is being changed concurrently; retry.`);
  }
}

/** The expense's state does not allow the operation: a correction once approved, a re-export before approval. */
export class StateConflictError extends Error {
  override name = 'StateConflictError';
  constructor(
    readonly expenseId: string,
    readonly state: string,
    message: string,
  ) {
    super(message);
  }
}
