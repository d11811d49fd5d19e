import request from 'supertest';
import type { StorageClients } from '../../src/storage/clients';
import { testClients } from '../support/storage';
import { rolesFor, specRoutes } from '../support/routes';
import { CLIENTS, startTestIssuer, type TestIssuer } from '../support/oidc';
import { appWith, bearer, challenges } from '../support/bearer';

/**
 * Every operation in openapi.yaml, for a client-credentials token of each
 * app role and for no credentials, against ROUTE_ROLES: the token's mapped
 * role gets past the guard (whatever the operation then says about the
 * empty request), a missing one gets 403 insufficient_scope, and nobody gets
 * 401 with only one challenge.
 */

const ROLE_OF: Record<keyof typeof CLIENTS, string | undefined> = {
  'exporter-app': 'exporter',
  'importer-app': 'importer',
  'approver-app': 'approver',
  'admin-app': 'admin',
  'norole-app': undefined,
};

let issuer: TestIssuer;
let clients: StorageClients;
let app: Awaited<ReturnType<typeof appWith>>;
const tokens: Partial<Record<keyof typeof CLIENTS, string>> = {};

beforeAll(async () => {
  [issuer, clients] = await Promise.all([startTestIssuer(), testClients()]);
  app = await appWith({ issuer, users: [], clients });
  for (const c of Object.keys(CLIENTS) as (keyof typeof CLIENTS)[]) tokens[c] = await issuer.token(c);
});
afterAll(async () => {
  await issuer?.stop();
});

function send(op: string, auth?: string) {
  const [method, template] = op.split(' ') as [string, string];
  const path = template.replace('{id}', 'no-such-expense').replace('{date}', '2026-11-23').replace('{asset}', 'swagger-ui.css');
  const req = request(app)[method.toLowerCase() as 'get' | 'head' | 'post' | 'put'](path);
  return auth ? req.set('Authorization', auth) : req;
}

const protectedOps = specRoutes().filter((op) => rolesFor(op) !== null);

test.each(protectedOps.flatMap((op) => Object.keys(CLIENTS).map((c) => [op, c] as [string, keyof typeof CLIENTS])))(
  '%s with a token of %s',
  async (op, client) => {
    const res = await send(op, bearer(tokens[client]!));
    const role = ROLE_OF[client];
    if (role && rolesFor(op)!.includes(role as never)) {
      expect([401, 403]).not.toContain(res.status);
    } else {
      expect(res.status).toBe(403);
      expect(challenges(res)).toEqual([expect.stringMatching(/^Bearer realm="expense-export", error="insufficient_scope", /)]);
    }
  },
);

test.each(protectedOps)('%s without credentials offers both schemes', async (op) => {
  const res = await send(op);
  expect(res.status).toBe(401);
  expect(challenges(res)).toEqual(['Basic realm="expense-export", charset="UTF-8"', 'Bearer realm="expense-export"']);
});
