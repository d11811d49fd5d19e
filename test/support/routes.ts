import type { Express } from 'express';
import { loadOpenApi } from '../../src/http/openapi';
import { ROUTE_ROLES } from '../../src/auth/route-roles';
import type { Role } from '../../src/auth/users';

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every "METHOD /path" the Express app answers, with :params written as OpenAPI {params}. */
export function appRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const path = layer.route.path.replace(/:(\w+)/g, '{$1}');
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${path}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return [...new Set(out)].sort();
}

/** Every "METHOD /path" in openapi.yaml. */
export function specRoutes(): string[] {
  const out: string[] = [];
  for (const [path, ops] of Object.entries(loadOpenApi().doc.paths)) {
    for (const m of Object.keys(ops))
      if (['get', 'head', 'post', 'put', 'patch', 'delete'].includes(m)) out.push(`${m.toUpperCase()} ${path}`);
  }
  return out.sort();
}

/** The roles ROUTE_ROLES gives an operation named by the spec (undefined: not declared at all). */
export const rolesFor = (op: string): readonly Role[] | null | undefined => (ROUTE_ROLES as Record<string, readonly Role[] | null>)[op];
