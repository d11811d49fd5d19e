import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import type { QueueConsumer } from '../src/consumer/consumer';
import { POISON_DISCARDED_LOG, type PoisonQueue } from '../src/consumer/poison';
import type { ApprovalService } from '../src/expenses/approval';
import type { ApprovalSweeper } from '../src/expenses/approval-sweeper';
import { dateInZone, dateMinusDays } from '../src/expenses/dates';
import type { ExportTable } from '../src/export/export-table';
import { manifestView } from '../src/export/export-view';
import { unacknowledgedRows } from '../src/export/manifest';
import type { QueueDepthMonitor } from '../src/observability/queue-depth';
import { expenseIdParam } from './params';

export interface AdminRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  version: string;
  timeZone: string;
  consumer: Pick<QueueConsumer<unknown, unknown>, 'state' | 'inFlight' | 'lastError'>;
  depths: Pick<QueueDepthMonitor, 'depths' | 'refresh'>;
  sweeper: Pick<ApprovalSweeper, 'lastRun'>;
  poison: Pick<PoisonQueue, 'list' | 'replay' | 'discard'>;
  approvals: Pick<ApprovalService, 'reexport'>;
  exportTable: Pick<ExportTable, 'days'>;
}

/** How far back /admin/status looks for days with rows the on-premises system has not acknowledged. */
const STATUS_DAYS = 31;

export async function adminStatus(s: Omit<AdminRouterDeps, 'guard' | 'validate' | 'poison' | 'approvals'>) {
  const today = dateInZone(new Date(), s.timeZone);
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

  r.get('/admin/status', d.guard('GET /admin/status'), ...d.validate, async (_req, res) => {
    await d.depths.refresh().catch(() => undefined); // show fresh depths if storage answers; cached ones otherwise
    res.set('Cache-Control', 'no-store').json(await adminStatus(d));
  });

  r.get('/admin/poison', d.guard('GET /admin/poison'), ...d.validate, async (req, res) => {
    const limit = Number(req.query.limit ?? 32);
    const { entries, approximateCount } = await d.poison.list(limit);
    res.set('Cache-Control', 'no-store').json({ approximateCount, messages: entries });
  });

  r.post('/admin/poison/replay', d.guard('POST /admin/poison/replay'), ...d.validate, async (req, res) => {
    const body = (req.body ?? {}) as { max?: number; messageIds?: string[] };
    const ids = body.messageIds ? new Set(body.messageIds) : undefined;
    const result = await d.poison.replay(body.max ?? ids?.size ?? 32, ids);
    req.log.info({ replayed: result.replayed.length }, 'poison messages replayed');
    res.json(result);
  });

  r.post('/admin/poison/discard', d.guard('POST /admin/poison/discard'), ...d.validate, async (req, res) => {
    const { messageIds } = req.body as { messageIds: string[] };
    const result = await d.poison.discard(new Set(messageIds));
    // The audit record: who removed what for good. The hash identifies a body without copying it into the logs.
    req.log.info({ principal: req.principal!.name, discarded: result.discarded, notFound: result.notFound }, POISON_DISCARDED_LOG);
    res.json(result);
  });

  r.post('/admin/expenses/:id/reexport', d.guard('POST /admin/expenses/{id}/reexport'), ...d.validate, async (req, res) => {
    const { expenseId, approvalDate } = await d.approvals.reexport(expenseIdParam(req));
    res.status(202).json({ expenseId, approvalDate, enqueued: true });
  });

  return r;
}
