import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ApprovalService } from '../src/expenses/approval';
import type { ExpenseStore } from '../src/expenses/expense-store';
import { expenseView } from '../src/expenses/expense-view';
import { isValidKey, newExpenseSchema, type NewExpense } from '../src/expenses/model';
import { ConcurrentChangeError, ExpenseNotFoundError } from '../src/expenses/errors';
import { isEditable } from '../src/expenses/lifecycle';
import { isPreconditionFailed } from '../src/storage/errors';

export interface ExpensesRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  store: ExpenseStore;
  approvals: ApprovalService;
}

function parseNewExpense(body: unknown): NewExpense {
  const parsed = newExpenseSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new AppError('validation_failed', 'The expense is not valid.', {
    errors: parsed.error.issues.map((i) => ({ path: `/body/${i.path.join('/')}`, message: i.message })),
  });
}

function expenseId(raw: string): string {
  if (!isValidKey(raw)) throw new AppError('bad_request', 'Expense id may contain only A-Z a-z 0-9 _ - (1-128 characters).');
  return raw;
}

/** The expense app's part, so the whole flow runs and is tested here. */
export function expensesRouter(d: ExpensesRouterDeps): Router {
  const r = Router();

  r.post('/expenses', d.guard('POST /expenses'), ...d.validate, async (req, res) => {
    const input = parseNewExpense(req.body);
    const expense = await d.store.create(input, new Date());
    res.status(201).location(`/expenses/${expense.id}`).json(expenseView(expense, input.items));
  });

  r.get('/expenses/:id', d.guard('GET /expenses/{id}'), ...d.validate, async (req, res) => {
    const id = expenseId(req.params.id as string);
    const found = await d.store.get(id);
    if (!found) throw new ExpenseNotFoundError(id);
    const [items, results] = await Promise.all([d.store.items(id), d.store.results(id)]);
    res.json(expenseView(found.value, items, results));
  });

  // A correction: the expense's content and items replaced, while it is submitted or after a rejection.
  r.put('/expenses/:id', d.guard('PUT /expenses/{id}'), ...d.validate, async (req, res) => {
    const id = expenseId(req.params.id as string);
    const input = parseNewExpense(req.body);
    const found = await d.store.get(id);
    if (!found) throw new ExpenseNotFoundError(id);
    const { value: current, etag } = found;
    if (!isEditable(current.state))
      throw new AppError('conflict', `Expense ${id} is ${current.state}; only a submitted or rejected expense can be corrected.`);
    const corrected = {
      ...current,
      employee: input.employee,
      costCenter: input.costCenter,
      reimbursementMethod: input.reimbursementMethod,
      currency: input.currency,
      description: input.description,
      employeeNumber: input.employeeNumber,
    };
    try {
      await d.store.correct(corrected, input.items, etag);
    } catch (err) {
      if (isPreconditionFailed(err)) throw new ConcurrentChangeError(id);
      throw err;
    }
    res.json(expenseView(corrected, input.items, await d.store.results(id)));
  });

  r.post('/expenses/:id/approve', d.guard('POST /expenses/{id}/approve'), ...d.validate, async (req, res) => {
    const id = expenseId(req.params.id as string);
    const { expense } = await d.approvals.approve(id, req.principal!.name);
    res.json(expenseView(expense, await d.store.items(id)));
  });

  return r;
}
