import type { Role } from './users';

/**
 * Who may call what, in one place. Keys are "METHOD /openapi/path". `null`
 * means public. A test walks openapi.yaml and checks each operation's
 * security against this table for every role and for anonymous callers.
 */
export const ROUTE_ROLES = {
  'GET /healthz': null,
  'GET /readyz': null,
  'GET /openapi.yaml': null,
  'GET /docs': null,
  'GET /docs/{asset}': null,
  'GET /metrics': ['admin'],
  'POST /expenses': ['approver', 'admin'],
  'GET /expenses/{id}': ['approver', 'admin'],
  'PUT /expenses/{id}': ['approver', 'admin'],
  'POST /expenses/{id}/approve': ['approver', 'admin'],
  'POST /results': ['importer', 'admin'],
  'GET /exports/{date}': ['exporter', 'admin'],
  'HEAD /exports/{date}': ['exporter', 'admin'],
  'GET /exports/{date}/manifest': ['exporter', 'admin'],
  'GET /exports': ['exporter', 'admin'],
  'GET /layouts': ['exporter', 'admin'],
  'GET /layouts/{name}': ['exporter', 'admin'],
  'POST /exports/{date}/acknowledgements': ['exporter', 'admin'],
  'POST /exports/{date}/close': ['admin'],
  'GET /admin/status': ['admin'],
  'GET /admin/poison': ['admin'],
  'POST /admin/poison/replay': ['admin'],
  'POST /admin/poison/discard': ['admin'],
  'POST /admin/expenses/{id}/reexport': ['admin'],
  'GET /deliveries': ['exporter', 'admin'],
  'POST /deliveries/{target}/{date}/redeliver': ['admin'],
} as const satisfies Record<string, readonly Role[] | null>;

/** A route's key: a typo in one is a compile error. */
export type RouteKey = keyof typeof ROUTE_ROLES;

export const rolesOf = (key: RouteKey): readonly Role[] | null => ROUTE_ROLES[key];
