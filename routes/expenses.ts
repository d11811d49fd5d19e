import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ApprovalService } from '../src/expenses/approval';
import type { ExpenseStore } from '../src/expenses/expense-store';
import { expenseView } from '../src/expenses/expense-view';
import { newExpenseSchema, type NewExpense } from '../src/expenses/model';
import { ExpenseNotFoundError } from '../src/expenses/errors';
import { correctExpense } from '../src/expenses/correction';
import { expenseIdParam } from './params';

export interface ExpensesRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  store: Pick<ExpenseStore, 'create' | 'get' | 'items' | 'results' | 'correct'>;
  approvals: Pick<ApprovalService, 'approve'>;
}

function parseNewExpense(body: unknown): NewExpense {
  const parsed = newExpenseSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new AppError('validation_failed', 'The expense is not valid.', {
    errors: parsed.error.issues.map((i) => ({ path: `/body/${i.path.join('/')}`, message: i.message })),
  });
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
    const id = expenseIdParam(req);
    const found = await d.store.get(id);
    if (!found) throw new ExpenseNotFoundError(id);
    const [items, results] = await Promise.all([d.store.items(id), d.store.results(id)]);
    res.json(expenseView(found.value, items, results));
  });

  // A correction: the expense's content and items replaced, while it is submitted or after a rejection.
  r.put('/expenses/:id', d.guard('PUT /expenses/{id}'), ...d.validate, async (req, res) => {
    const id = expenseIdParam(req);
    const input = parseNewExpense(req.body);
    const corrected = await correctExpense(d.store, id, input);
    res.json(expenseView(corrected, input.items, await d.store.results(id)));
  });

  r.post('/expenses/:id/approve', d.guard('POST /expenses/{id}/approve'), ...d.validate, async (req, res) => {
    const id = expenseIdParam(req);
    const { expense } = await d.approvals.approve(id, req.principal!.name);
    res.json(expenseView(expense, await d.store.items(id)));
  });

  return r;
}
