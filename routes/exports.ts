import { Router, type Request, type RequestHandler, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { csvStringifier, pageStream } from '../src/export/csv';
import type { ExportTable, Snapshot } from '../src/export/export-table';
import { snapshotHeaders } from '../src/export/export-view';
import { matchesSnapshot } from '../src/export/manifest';
import type { Metrics } from '../src/observability/metrics';
import { ConcurrencyLimit } from '../src/http/concurrency-limit';
import { calendarDateParam, seqParam } from './params';

export interface ExportsRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  exportTable: Pick<ExportTable, 'snapshot'>;
  metrics: Metrics;
  limits: { total: number; perUser: number };
}

interface Negotiated {
  gzip: boolean;
  bom: boolean;
  /** What changes the bytes beyond the rows: part of the ETag. */
  variant: string[];
}

function negotiate(req: Request): Negotiated {
  const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
  const bom = (req.query.bom as unknown) === 'true' || (req.query.bom as unknown) === true; // the validator may have coerced it
  return { gzip, bom, variant: [...(bom ? ['bom'] : []), ...(gzip ? ['gzip'] : [])] };
}

/** The response's headers: the snapshot's names and figures, and how the bytes come. */
function describe(res: Response, date: string, snap: Snapshot, n: Negotiated): void {
  res.set({
    ...snapshotHeaders(snap, n.variant),
    'Content-Type': 'text/csv; charset=utf-8',
    'Content-Disposition': `attachment; filename="expenses-${date}.csv"`,
    'Cache-Control': 'no-store',
    Vary: 'Accept-Encoding',
    ...(n.gzip ? { 'Content-Encoding': 'gzip' } : {}),
  });
}

/**
 * GET and HEAD /exports/:date: a named snapshot of the day's file. The
 * manifest is read first (one point read); its ETag answers If-None-Match
 * with a 304 without touching the rows, HEAD stops there, and GET streams
 * exactly the rows its headers name, page by page, with back-pressure.
 */
export function exportsRouter(d: ExportsRouterDeps): Router {
  const r = Router();
  const limit = new ConcurrencyLimit(d.limits.total, d.limits.perUser);

  /** Names the snapshot; answers a conditional request that names it too with a 304 (then returns undefined). */
  const named = async (req: Request, res: Response): Promise<{ date: string; snap: Snapshot; n: Negotiated } | undefined> => {
    const date = calendarDateParam(req);
    const snap = await d.exportTable.snapshot(date, { through: seqParam(req, 'through'), after: seqParam(req, 'after') });
    const n = negotiate(req);
    if (!matchesSnapshot(req.get('If-None-Match'), date, snap.after, snap.through)) return { date, snap, n };
    describe(res, date, snap, n);
    res.removeHeader('Content-Disposition');
    res.status(304).end();
    return undefined;
  };

  // Registered before GET, which would otherwise answer HEAD by streaming the whole day to send no body.
  r.head('/exports/:date', d.guard('HEAD /exports/{date}'), ...d.validate, async (req, res) => {
    const found = await named(req, res);
    if (!found) return;
    describe(res, found.date, found.snap, found.n);
    res.status(200).end();
  });

  r.get('/exports/:date', d.guard('GET /exports/{date}'), ...d.validate, async (req, res) => {
    // A conditional request answered 304 is one manifest read: it takes no export slot.
    const found = await named(req, res);
    // The client may have gone while the manifest was read: its 'close' has fired and would never release a slot.
    if (!found || res.destroyed) return;
    const release = limit.acquire(req.principal!.name);
    if (!release) throw new AppError('too_many_requests', 'Too many exports running; retry shortly.', { headers: { 'Retry-After': '5' } });
    const controller = new AbortController();
    res.once('close', () => {
      release();
      // Client gone mid-stream: stop reading the table. After a complete response there is nothing to
      // stop, and an abort would still cost an AbortError (with its stack) on every request.
      if (!res.writableFinished) controller.abort();
    });
    const { date, snap, n } = found;
    const pages = snap.pages(controller.signal);
    // The first page is read before any header is set, so a storage failure here is still a clean 503 problem.
    const first = await pages.next();
    describe(res, date, snap, n);
    res.status(200);
    const stages: Transform[] = [csvStringifier({ bom: n.bom, onPage: (k) => d.metrics.exportRows.inc(k) })];
    if (n.gzip) stages.push(createGzip());
    try {
      await pipeline([pageStream(pages, first), ...stages, res]);
    } catch (err) {
      // After the first byte, a failure (storage, or rows that do not add up to the headers) must not look
      // like a complete file: cut the connection (pipeline has destroyed the response already; this states it).
      req.log.warn({ err }, 'export stream aborted');
      res.destroy();
    }
  });

  return r;
}
