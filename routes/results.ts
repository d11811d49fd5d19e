import { Router, type Request, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ResultsImporter } from '../src/results/results-import';
import type { ResultMedia } from '../src/results/result-file';

export interface ResultsRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  results: Pick<ResultsImporter, 'import'>;
}

/** Printable ASCII, 1-255: what the IETF Idempotency-Key draft's keys look like (a UUID, a file's SHA-256 …). */
const KEY = /^[\x21-\x7e]{1,255}$/;

function media(req: Request): ResultMedia {
  if (req.is('text/csv')) return 'csv';
  if (req.is('application/json')) return 'json';
  throw new AppError('unsupported_media_type', 'Send the results as text/csv or application/json.');
}

function declaredCount(req: Request): number | undefined {
  const v = req.get('Result-Row-Count');
  if (v === undefined) return undefined;
  if (!/^\d{1,9}$/.test(v.trim())) throw new AppError('bad_request', 'Result-Row-Count must be a whole number of lines.');
  return Number(v);
}

/**
 * POST /results: the file payroll sends back. Mounted before the JSON body
 * parser: the body is streamed to a temporary file however large it is (up
 * to RESULTS_MAX_BYTES), never held in memory, and the request is checked
 * here rather than by the OpenAPI validator, which would want it parsed.
 */
export function resultsRouter(d: ResultsRouterDeps): Router {
  const r = Router();
  r.post('/results', d.guard('POST /results'), async (req, res) => {
    const kind = media(req);
    const key = req.get('Idempotency-Key');
    if (key === undefined)
      throw new AppError(
        'idempotency_key_required',
        "Send an Idempotency-Key header (a UUID, or the file's SHA-256): a retry with the same key is then harmless.",
      );
    if (!KEY.test(key)) throw new AppError('bad_request', 'Idempotency-Key must be 1-255 printable ASCII characters.');
    const count = declaredCount(req);
    // Applying a large file takes longer than the server's idle-socket limit; the storage calls have their own deadlines.
    req.setTimeout(0);
    const { summary, replayed } = await d.results.import({ body: req, media: kind, key, declaredCount: count, by: req.principal!.name });
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.set('Cache-Control', 'no-store').json(summary);
  });
  return r;
}
