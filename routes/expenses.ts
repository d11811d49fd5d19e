import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ApprovalService } from '../src/expenses/approval';
import type { ExpenseStore } from '../src/expenses/expense-store';
import { expenseView } from '../src/expenses/expense-view';
import { isValidKey, newExpenseSchema } from '../src/expenses/model';

export interface ExpensesRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  store: ExpenseStore;
  approvals: ApprovalService;
}

function expenseId(raw: string): string {
  if (!isValidKey(raw)) throw new AppError('bad_request', 'Expense id may contain only A-Z a-z 0-9 _ - (1-128 characters).');
  return raw;
}

/** The expense app's part, so the whole flow runs and is tested here. */
export function expensesRouter(d: ExpensesRouterDeps): Router {
  const r = Router();

  r.post('/expenses', d.guard('POST /expenses'), ...d.validate, async (req, res) => {
    const parsed = newExpenseSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new AppError('validation_failed', 'The expense is not valid.', {
        errors: parsed.error.issues.map((i) => ({ path: `/body/${i.path.join('/')}`, message: i.message })),
      });
    }
    const expense = await d.store.create(parsed.data, new Date());
    res.status(201).location(`/expenses/${expense.id}`).json(expenseView(expense, parsed.data.items));
  });

  r.get('/expenses/:id', d.guard('GET /expenses/{id}'), ...d.validate, async (req, res) => {
    const id = expenseId(req.params.id as string);
    const found = await d.store.get(id);
    if (!found) throw new AppError('not_found', `Expense ${id} does not exist.`);
    res.json(expenseView(found.value, await d.store.items(id)));
  });

  r.post('/expenses/:id/approve', d.guard('POST /expenses/{id}/approve'), ...d.validate, async (req, res) => {
    const id = expenseId(req.params.id as string);
    const { expense } = await d.approvals.approve(id, req.principal!.name);
    res.json(expenseView(expense, await d.store.items(id)));
  });

  return r;
}
