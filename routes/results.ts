import { Router, type Request, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import type { ResultsImporter } from '../src/results/results-import';
import type { ResultMedia } from '../src/results/result-file';
import { idempotencyKeyHeader, rowCountHeader } from './params';

export interface ResultsRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  results: Pick<ResultsImporter, 'import'>;
}

function media(req: Request): ResultMedia {
  if (req.is('text/csv')) return 'csv';
  if (req.is('application/json')) return 'json';
  throw new AppError('unsupported_media_type', 'Send the results as text/csv or application/json.');
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
    const key = idempotencyKeyHeader(req);
    const count = rowCountHeader(req);
    // Applying a large file takes longer than the server's idle-socket limit; the storage calls have their own deadlines.
    req.setTimeout(0);
    const { summary, replayed } = await d.results.import({ body: req, media: kind, key, declaredCount: count, by: req.principal!.name });
    if (replayed) res.set('Idempotent-Replayed', 'true');
    res.set('Cache-Control', 'no-store').json(summary);
  });
  return r;
}
