import { Router, type Request, type RequestHandler, type Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Readable, type Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ExportTable } from '../src/export/export-table';
import { fileHeaders } from '../src/export/export-view';
import type { LayoutRegistry } from '../src/layouts/registry';
import { nameLayoutFile, openNamedFile, type NamedLayoutFile } from '../src/layouts/open-file';
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
  layouts: LayoutRegistry;
  /** The layout a user gets when the request names none (AUTH_USERS); undefined: v1. */
  defaultLayout: (user: string | undefined) => string | undefined;
}

interface Negotiated {
  gzip: boolean;
  bom: boolean;
  layout: string;
  /** The layout is the user's default (AUTH_USERS), not named in the request: the response varies by who asks. */
  byUser: boolean;
}

function negotiate(req: Request, defaultLayout: (user: string | undefined) => string | undefined): Negotiated {
  const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
  const bom = (req.query.bom as unknown) === 'true' || (req.query.bom as unknown) === true; // the validator may have coerced it
  const named = typeof req.query.layout === 'string' && req.query.layout !== '' ? req.query.layout : undefined;
  const users = named === undefined ? defaultLayout(req.principal?.name) : undefined;
  return { gzip, bom, layout: named ?? users ?? 'v1', byUser: users !== undefined };
}

/** The response's headers: the snapshot's names and figures, and how the bytes come. */
function describe(res: Response, f: NamedLayoutFile, n: Negotiated, rowCount: number | undefined): void {
  res.set({
    ...fileHeaders(f, rowCount, n.gzip ? ['gzip'] : []),
    'Content-Type': f.contentType,
    'Content-Disposition': `attachment; filename="${f.fileName}"`,
    'Cache-Control': 'no-store',
    Vary: n.byUser ? 'Accept-Encoding, Authorization' : 'Accept-Encoding',
    ...(n.gzip ? { 'Content-Encoding': 'gzip' } : {}),
  });
}

/**
 * GET and HEAD /exports/:date: a named snapshot of the day's file, in a
 * layout (`?layout=`, else the user's default, else v1). The manifest is
 * read first (one point read); its ETag answers If-None-Match with a 304
 * without touching the rows, HEAD stops there (unless the layout needs the
 * rows counted, see openNamedFile), and GET streams exactly the records its
 * headers name, page by page, with back-pressure. The body comes from
 * openNamedFile, as delivery's does (openLayoutFile).
 */
export function exportsRouter(d: ExportsRouterDeps): Router {
  const r = Router();
  const limit = new ConcurrencyLimit(d.limits.total, d.limits.perUser);
  const files = { exportTable: d.exportTable, layouts: d.layouts };

  /** Names the file; answers a conditional request that names it too with a 304 (then returns undefined). */
  const named = async (req: Request, res: Response): Promise<{ f: NamedLayoutFile; n: Negotiated } | undefined> => {
    const date = calendarDateParam(req);
    const n = negotiate(req, d.defaultLayout);
    const f = await nameLayoutFile(files, date, { through: seqParam(req, 'through'), after: seqParam(req, 'after') }, n.layout, {
      bom: n.bom,
    });
    if (!matchesSnapshot(req.get('If-None-Match'), date, f.snapshot.after, f.snapshot.through, f.layoutTag)) return { f, n };
    describe(res, f, n, f.knownRowCount);
    res.removeHeader('Content-Disposition');
    res.status(304).end();
    return undefined;
  };

  /** An export slot for work that reads the rows; released when the response closes. */
  const slot = (req: Request, res: Response): AbortSignal => {
    const release = limit.acquire(req.principal!.name);
    if (!release) throw new AppError('too_many_requests', 'Too many exports running; retry shortly.', { headers: { 'Retry-After': '5' } });
    const controller = new AbortController();
    res.once('close', () => {
      release();
      // Client gone mid-stream: stop reading the table. After a complete response there is nothing to
      // stop, and an abort would still cost an AbortError (with its stack) on every request.
      if (!res.writableFinished) controller.abort();
    });
    return controller.signal;
  };

  // Registered before GET, which would otherwise answer HEAD by streaming the whole day to send no body.
  r.head('/exports/:date', d.guard('HEAD /exports/{date}'), ...d.validate, async (req, res) => {
    const found = await named(req, res);
    if (!found || res.destroyed) return;
    const { f, n } = found;
    // A layout that reads the rows before its headers (item lines to count, values to fit) does so for HEAD
    // too, so that HEAD says what GET would, refusals included; that takes an export slot, as a GET does.
    const rowCount = f.layout.prepass ? (await openNamedFile(f, {}, slot(req, res))).rowCount : f.knownRowCount;
    describe(res, f, n, rowCount);
    res.status(200).end();
  });

  r.get('/exports/:date', d.guard('GET /exports/{date}'), ...d.validate, async (req, res) => {
    // A conditional request answered 304 is one manifest read: it takes no export slot.
    const found = await named(req, res);
    // The client may have gone while the manifest was read: its 'close' has fired and would never release a slot.
    if (!found || res.destroyed) return;
    const { f, n } = found;
    const signal = slot(req, res);
    const file = await openNamedFile(f, { bom: n.bom, onRecords: (k) => d.metrics.exportRows.inc(k) }, signal);
    const body = file.body()[Symbol.asyncIterator]();
    // The first page is read before any header is set, so a storage failure here is still a clean 503 problem.
    const first = await body.next();
    describe(res, f, n, file.rowCount);
    if (file.transliteration) res.set('Trailer', 'Export-Transliterated');
    res.status(200);
    async function* all(): AsyncGenerator<Buffer> {
      try {
        for (let next = first; !next.done; next = await body.next()) yield next.value;
        // Known only at the end: how many characters the encoding could not hold and the rules replaced.
        if (file.transliteration) res.addTrailers({ 'Export-Transliterated': String(file.transliterated()) });
      } finally {
        await body.return?.(undefined);
      }
    }
    const stages: Transform[] = n.gzip ? [createGzip()] : [];
    try {
      await pipeline([Readable.from(all(), { objectMode: false, highWaterMark: 1 }), ...stages, res]);
    } catch (err) {
      // After the first byte, a failure (storage, or rows that do not add up to the headers) must not look
      // like a complete file: cut the connection (pipeline has destroyed the response already; this states it).
      req.log.warn({ err }, 'export stream aborted');
      res.destroy();
    }
  });

  return r;
}
