import express, { type Express, type RequestHandler } from 'express';
import helmet from 'helmet';
import * as OpenApiValidator from 'express-openapi-validator';
import { pinoHttp } from 'pino-http';
import { randomUUID } from 'node:crypto';
import { createGuard } from './auth/guard';
import { errorMiddleware, notFoundHandler } from './http/error-middleware';
import { loadOpenApi } from './http/openapi';
import { methodNotAllowed } from './http/method-not-allowed';
import type { Services } from './services';
import { healthRouter } from '../routes/health';
import { docsRouter } from '../routes/docs';
import { expensesRouter } from '../routes/expenses';
import { exportsRouter } from '../routes/exports';
import { exportDaysRouter } from '../routes/export-days';
import { layoutsRouter } from '../routes/layouts';
import { resultsRouter } from '../routes/results';
import { adminRouter } from '../routes/admin';
import { deliveriesRouter } from '../routes/deliveries';
import { metricsRouter } from '../routes/metrics';

export interface AppOptions {
  /** Express "trust proxy" (TRUST_PROXY), for req.ip and req.protocol behind a TLS-terminating proxy. */
  trustProxy?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Builds the Express app from its dependencies. Never listens: server.ts does. */
export function createApp(s: Services, opts: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (opts.trustProxy) app.set('trust proxy', parseTrustProxy(opts.trustProxy));

  app.use(
    helmet({
      contentSecurityPolicy: {
        // Swagger UI's assets are served from here; its bundle sets inline styles.
        directives: { 'img-src': ["'self'", 'data:'], 'style-src': ["'self'", "'unsafe-inline'"] },
      },
    }),
  );
  app.use(
    pinoHttp({
      logger: s.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Who made the request (a Basic user, or `app:<client id>/<object id>` for a token), never the credential.
      customProps: (req) => (req.principal ? { principal: req.principal.name } : {}),
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    }),
  );
  app.use((req, res, next) => {
    const end = s.metrics.httpDuration.startTimer();
    res.on('close', () => {
      // Label by route template, never by raw path: raw paths would explode cardinality.
      const template = (req.route as { path?: string } | undefined)?.path;
      const route = template ? `${req.baseUrl}${template}` : 'unmatched';
      s.metrics.httpRequests.inc({ method: req.method, route, status: res.statusCode });
      end({ method: req.method, route });
    });
    next();
  });

  const guard = createGuard({ authenticator: s.authenticator, metricsToken: s.config.METRICS_TOKEN, bearer: s.bearer });
  const validate = OpenApiValidator.middleware({
    // A deep copy: the validator mutates the document it is given.
    apiSpec: structuredClone(loadOpenApi().doc) as never,
    validateRequests: { allowUnknownQueryParameters: false },
    validateResponses: false,
    validateSecurity: false, // guard() does auth, before validation, so anonymous callers learn nothing about the schema
    ignoreUndocumented: true,
  }) as unknown as RequestHandler[];

  app.use(healthRouter({ probe: s.probe, consumer: s.consumer, bearer: s.bearer }));
  app.use(docsRouter());
  app.use(metricsRouter({ guard, registry: s.metrics.registry }));
  app.use(resultsRouter({ guard, results: s.results })); // before the JSON parser: it streams its own body
  app.use(express.json({ limit: '64kb', strict: true }));
  app.use(expensesRouter({ guard, validate, store: s.store, approvals: s.approvals }));
  app.use(
    exportsRouter({
      guard,
      validate,
      exportTable: s.exportTable,
      metrics: s.metrics,
      limits: { total: s.config.EXPORT_MAX_CONCURRENT, perUser: s.config.EXPORT_MAX_CONCURRENT_PER_USER },
      layouts: s.layouts,
      defaultLayout: s.defaultLayout,
    }),
  );
  app.use(layoutsRouter({ guard, validate, layouts: s.layouts }));
  app.use(exportDaysRouter({ guard, validate, exportTable: s.exportTable, acknowledgements: s.acknowledgements, dayCloser: s.dayCloser }));
  app.use(
    adminRouter({
      guard,
      validate,
      version: s.version,
      timeZone: s.config.EXPORT_TIMEZONE,
      consumer: s.consumer,
      depths: s.depths,
      sweeper: s.sweeper,
      poison: s.poison,
      approvals: s.approvals,
      exportTable: s.exportTable,
    }),
  );
  app.use(deliveriesRouter({ guard, validate, deliveries: s.deliveries }));
  app.use(methodNotAllowed(loadOpenApi().doc));
  app.use(notFoundHandler);
  app.use(errorMiddleware);
  return app;
}

function parseTrustProxy(v: string): boolean | number | string {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return v; // "loopback", "10.0.0.0/8", ... as Express understands them
}
