import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { AcknowledgementService } from '../src/export/acknowledgements';
import type { DayCloser } from '../src/export/day-closer';
import type { ExportTable } from '../src/export/export-table';
import { dayListView, dayRangeProblem, manifestView } from '../src/export/export-view';
import { emptyManifest } from '../src/export/manifest';
import { calendarDate, calendarDateParam } from './params';

export interface ExportDaysRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  exportTable: Pick<ExportTable, 'manifest' | 'days'>;
  acknowledgements: Pick<AcknowledgementService, 'acknowledge'>;
  /** Closing goes through the closer, which tells delivery at once. */
  dayCloser: Pick<DayCloser, 'closeNow'>;
}

/** The days behind the files: manifests, the list of days, acknowledgements and closing. */
export function exportDaysRouter(d: ExportDaysRouterDeps): Router {
  const r = Router();

  r.get('/exports', d.guard('GET /exports'), ...d.validate, async (req, res) => {
    // The validator has checked both are single strings.
    const from = calendarDate(req.query.from);
    const to = calendarDate(req.query.to);
    const problem = dayRangeProblem(from, to);
    if (problem) throw new AppError('invalid_range', problem);
    const unacknowledgedOnly = req.query.unacknowledged === 'true';
    res.set('Cache-Control', 'no-store').json(dayListView(from, to, unacknowledgedOnly, await d.exportTable.days(from, to)));
  });

  r.get('/exports/:date/manifest', d.guard('GET /exports/{date}/manifest'), ...d.validate, async (req, res) => {
    const date = calendarDateParam(req);
    const stored = await d.exportTable.manifest(date);
    res.set('Cache-Control', 'no-store').json(manifestView(stored?.manifest ?? emptyManifest(date)));
  });

  r.post('/exports/:date/acknowledgements', d.guard('POST /exports/{date}/acknowledgements'), ...d.validate, async (req, res) => {
    const date = calendarDateParam(req);
    const { through } = req.body as { through: number };
    const { manifest, newlyAcknowledged } = await d.acknowledgements.acknowledge(date, through, req.principal!.name);
    req.log.info({ date, through, newlyAcknowledged }, 'export acknowledged');
    res.json({ ...manifestView(manifest), newlyAcknowledged });
  });

  r.post('/exports/:date/close', d.guard('POST /exports/{date}/close'), ...d.validate, async (req, res) => {
    const date = calendarDateParam(req);
    const { manifest, closedNow } = await d.dayCloser.closeNow(date);
    if (closedNow) req.log.info({ date, closedSeq: manifest.closedSeq }, 'day closed by an admin');
    res.json({ ...manifestView(manifest), closedNow });
  });

  return r;
}
