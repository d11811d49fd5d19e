import { Router, type RequestHandler } from 'express';
import type { Registry } from 'prom-client';
import type { RouteKey } from '../src/auth/route-roles';

export function metricsRouter(d: { guard: (k: RouteKey) => RequestHandler; registry: Registry }): Router {
  const r = Router();
  r.get('/metrics', d.guard('GET /metrics'), async (_req, res) => {
    res
      .set('Content-Type', d.registry.contentType)
      .set('Cache-Control', 'no-store')
      .send(await d.registry.metrics());
  });
  return r;
}
