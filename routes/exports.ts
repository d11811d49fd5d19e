import { Router, type RequestHandler } from 'express';
import { pipeline } from 'node:stream/promises';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { isCalendarDate } from '../src/expenses/dates';
import { csvStringifier, pageStream } from '../src/export/csv';
import type { ExportTable } from '../src/export/export-table';
import type { Metrics } from '../src/observability/metrics';
import { ConcurrencyLimit } from '../src/http/concurrency-limit';

export interface ExportsRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  exportTable: Pick<ExportTable, 'pages'>;
  metrics: Metrics;
  limits: { total: number; perUser: number };
}

/** GET /exports/:date — the day's partition as CSV, streamed from the table with back-pressure. */
export function exportsRouter(d: ExportsRouterDeps): Router {
  const r = Router();
  const limit = new ConcurrencyLimit(d.limits.total, d.limits.perUser);

  r.get('/exports/:date', d.guard('GET /exports/{date}'), ...d.validate, async (req, res) => {
    const date = req.params.date as string;
    if (!isCalendarDate(date))
      throw new AppError('invalid_date', `"${String(date).slice(0, 40)}" is not a real calendar date in YYYY-MM-DD form.`);
    const release = limit.acquire(req.principal!.name);
    if (!release) throw new AppError('too_many_requests', 'Too many exports running; retry shortly.', { headers: { 'Retry-After': '5' } });
    const controller = new AbortController();
    res.once('close', () => {
      release();
      // Client gone mid-stream: stop reading the table. After a complete response there is nothing to
      // stop, and an abort would still cost an AbortError (with its stack) on every request.
      if (!res.writableFinished) controller.abort();
    });
    const pages = d.exportTable.pages(date, controller.signal);
    // The first page is read before any byte is sent, so a storage failure here is still a clean 503.
    const first = await pages.next();
    res.status(200).set({
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="expenses-${date}.csv"`,
      'Cache-Control': 'no-store',
    });
    try {
      await pipeline(
        pageStream(pages, first),
        csvStringifier((n) => d.metrics.exportRows.inc(n)),
        res,
      );
    } catch (err) {
      // After the first byte, a failure must not look like a complete file: cut the connection
      // (pipeline has destroyed the response already; this states the intent).
      req.log.warn({ err }, 'export stream aborted');
      res.destroy();
    }
  });

  return r;
}
