import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { isValidKey } from '../src/expenses/model';
import { ExpenseNotFoundError } from '../src/expenses/errors';
import { isApprovedOrExported } from '../src/expenses/lifecycle';
import type { Services } from '../src/services';
import { dateInZone, dateMinusDays } from '../src/expenses/dates';
import { manifestView } from '../src/export/export-view';
import { unacknowledgedRows } from '../src/export/manifest';

export interface AdminRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  services: Pick<Services, 'consumer' | 'sweeper' | 'depths' | 'poison' | 'store' | 'approvals' | 'version' | 'exportTable' | 'config'>;
}

/** How far back /admin/status looks for days with rows the on-premises system has not acknowledged. */
const STATUS_DAYS = 31;

export async function adminStatus(s: AdminRouterDeps['services']) {
  const today = dateInZone(new Date(), s.config.EXPORT_TIMEZONE);
  // Storage may be what is wrong: the rest of the status is still worth showing.
  const days = await s.exportTable.days(dateMinusDays(today, STATUS_DAYS - 1), today).catch(() => undefined);
  return {
    version: s.version,
    consumer: { state: s.consumer.state, inFlight: s.consumer.inFlight, lastError: s.consumer.lastError ?? null },
    queues: { main: s.depths.depths.main ?? null, poison: s.depths.depths.poison ?? null, refreshedAt: s.depths.depths.at ?? null },
    sweeper: { lastRun: s.sweeper.lastRun ?? null },
    exports: {
      since: dateMinusDays(today, STATUS_DAYS - 1),
      unacknowledgedDays: days?.filter((m) => unacknowledgedRows(m) > 0).map(manifestView) ?? null,
    },
  };
}

export function adminRouter(d: AdminRouterDeps): Router {
  const r = Router();
  const s = d.services;

  r.get('/admin/status', d.guard('GET /admin/status'), ...d.validate, async (_req, res) => {
    await s.depths.refresh().catch(() => undefined); // show fresh depths if storage answers; cached ones otherwise
    res.set('Cache-Control', 'no-store').json(await adminStatus(s));
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

  r.post('/admin/poison/discard', d.guard('POST /admin/poison/discard'), ...d.validate, async (req, res) => {
    const { messageIds } = req.body as { messageIds: string[] };
    const result = await s.poison.discard(new Set(messageIds));
    // The audit record: who removed what for good. The hash identifies a body without copying it into the logs.
    req.log.info({ principal: req.principal!.name, discarded: result.discarded, notFound: result.notFound }, 'poison messages discarded');
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
