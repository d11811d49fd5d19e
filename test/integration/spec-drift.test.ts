import { createApp } from '../../src/app';
import { ROUTE_ROLES } from '../../src/auth/route-roles';
import { loadOpenApi } from '../../src/http/openapi';
import { testServices } from '../support/storage';
import { appRoutes, rolesFor, specRoutes } from '../support/routes';

describe('openapi.yaml stays true to the app', () => {
  let routes: string[];
  beforeAll(async () => {
    routes = appRoutes(createApp(await testServices()));
  });

  test('every route the app serves is in the spec, and every spec operation is served', () => {
    // /docs/{asset} is served by one route that also answers swagger-init.js.
    expect(routes).toEqual(specRoutes());
    expect(routes.length).toBeGreaterThan(10);
  });

  test('every operation has its roles declared in ROUTE_ROLES, and the spec marks public ones public', () => {
    const doc = loadOpenApi().doc;
    for (const op of specRoutes()) {
      expect(ROUTE_ROLES).toHaveProperty([op]);
      const [method, path] = op.split(' ') as [string, string];
      const security = doc.paths[path][method.toLowerCase()].security;
      if (rolesFor(op) === null) expect(security).toEqual([]);
      else expect(security === undefined || (Array.isArray(security) && security.length > 0)).toBe(true);
    }
    expect(Object.keys(ROUTE_ROLES).sort()).toEqual(specRoutes());
  });

  test('every protected operation documents 401 and 403, every parameterised one 400', () => {
    const doc = loadOpenApi().doc as unknown as {
      paths: Record<string, Record<string, { responses: Record<string, unknown>; parameters?: unknown[]; requestBody?: unknown }>>;
    };
    for (const op of specRoutes()) {
      const [method, path] = op.split(' ') as [string, string];
      const spec = doc.paths[path][method.toLowerCase()];
      if (rolesFor(op) !== null) expect(Object.keys(spec.responses)).toEqual(expect.arrayContaining(['401', '403']));
      if ((spec.parameters?.length || spec.requestBody) && rolesFor(op) !== null) expect(Object.keys(spec.responses)).toContain('400');
    }
  });
});
