import { Router, type RequestHandler } from 'express';
import type { RouteKey } from '../src/auth/route-roles';
import { AppError } from '../src/http/app-error';
import { layoutView } from '../src/layouts/layout-view';
import type { LayoutRegistry } from '../src/layouts/registry';

export interface LayoutsRouterDeps {
  guard: (k: RouteKey) => RequestHandler;
  validate: RequestHandler[];
  layouts: LayoutRegistry;
}

/** GET /layouts and GET /layouts/:name: the definitions the day files can be pulled in. */
export function layoutsRouter(d: LayoutsRouterDeps): Router {
  const r = Router();
  r.get('/layouts', d.guard('GET /layouts'), ...d.validate, (_req, res) => {
    res.json({ layouts: d.layouts.list().map(layoutView) });
  });
  r.get('/layouts/:name', d.guard('GET /layouts/{name}'), ...d.validate, (req, res) => {
    const found = d.layouts.get(String(req.params.name));
    if (!found)
      throw new AppError(
        'not_found',
        `No layout "${String(req.params.name).slice(0, 40)}"; the layouts are: ${d.layouts.names().join(', ')}.`,
      );
    res.json(layoutView(found));
  });
  return r;
}
