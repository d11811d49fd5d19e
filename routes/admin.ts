import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { isValidKey } from '../src/expenses/model';
import { ExpenseNotFoundError } from '../src/expenses/errors';
import { isApprovedOrExported } from '../src/expenses/lifecycle';
import type { Services } from '../src/services';

export interface AdminRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  services: Pick<Services, 'consumer' | 'sweeper' | 'depths' | 'poison' | 'store' | 'approvals' | 'version'>;
}

export function adminStatus(s: AdminRouterDeps['services']) {
  return {
    version: s.version,
    consumer: { state: s.consumer.state, inFlight: s.consumer.inFlight, lastError: s.consumer.lastError ?? null },
    queues: { main: s.depths.depths.main ?? null, poison: s.depths.depths.poison ?? null, refreshedAt: s.depths.depths.at ?? null },
    sweeper: { lastRun: s.sweeper.lastRun ?? null },
  };
}

export function adminRouter(d: AdminRouterDeps): Router {
  const r = Router();
  const s = d.services;

  r.get('/admin/status', d.guard('GET /admin/status'), ...d.validate, async (_req, res) => {
    await s.depths.refresh().catch(() => undefined); // show fresh depths if storage answers; cached ones otherwise
    res.set('Cache-Control', 'no-store').json(adminStatus(s));
  });

  r.get('/admin/poison', d.guard('GET /admin/poison'), ...d.validate, async (req, res) => {
    const limit = Number(req.query.limit ?? 32);
    const { entries, approximateCount } = await s.poison.list(limit);
    res.set('Cache-Control', 'no-store').json({ approximateCount, messages: entries });
  });

  r.post('/admin/poison/replay', d.guard('POST /admin/poison/replay'), ...d.validate, async (req, res) => {
    const body = (req.body ?? {}) as { max?: number; messageIds?: string[] };
    const ids = body.messageIds ? new Set(body.messageIds) : undefined;
    const result = await s.poison.replay(body.max ?? ids?.size ?? 32, ids);
    req.log.info({ replayed: result.replayed.length }, 'poison messages replayed');
    res.json(result);
  });

  r.post('/admin/expenses/:id/reexport', d.guard('POST /admin/expenses/{id}/reexport'), ...d.validate, async (req, res) => {
    const id = req.params.id as string;
    if (!isValidKey(id)) throw new AppError('bad_request', 'Expense id may contain only A-Z a-z 0-9 _ - (1-128 characters).');
    const found = await s.store.get(id);
    if (!found) throw new ExpenseNotFoundError(id);
    const { state, approvalDate } = found.value;
    if (!isApprovedOrExported(state) || !approvalDate) {
      throw new AppError('conflict', `Expense ${id} is ${state}; only approved or processing expenses can be re-exported.`);
    }
    // The export row key is (approvalDate, id), so a re-export can never add a second row.
    await s.approvals.enqueue({ expenseId: id, approvalDate });
    res.status(202).json({ expenseId: id, approvalDate, enqueued: true });
  });

  return r;
}
