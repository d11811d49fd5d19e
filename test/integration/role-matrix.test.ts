import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createApp } from '../../src/app';
import { ROUTE_ROLES } from '../../src/auth/route-roles';
import { ROLES, type Role } from '../../src/auth/users';
import type { Services } from '../../src/services';
import { rolesFor, specRoutes } from '../support/routes';
import { testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';
import { blobTarget, seedDay } from '../support/delivery';

/**
 * Walks every operation in openapi.yaml, for each role and for an anonymous
 * caller, and checks the outcome against ROUTE_ROLES: 2xx when allowed, 401
 * without credentials, 403 with a role that is not enough.
 */
let s: Services;
let app: ReturnType<typeof createApp>;
let expenseId: string;
/** An expense left submitted: the one a correction (PUT) may change. */
let submittedId: string;

const body = {
  employee: 'Grace Hopper',
  costCenter: 'CC-1',
  reimbursementMethod: 'check',
  items: [{ description: 'Compiler manual', amount: '42.00' }],
};

beforeAll(async () => {
  s = await testServices({
    users: await testUsers(),
    config: { deliveryTargets: [blobTarget({ name: 'drop' })], DELIVERY_LOOKBACK_DAYS: 366 },
  });
  app = createApp(s);
  // A day delivered to a target, so that a redelivery has something to repeat.
  await seedDay(s, '2026-11-23', 2);
  await s.exportTable.close('2026-11-23', new Date());
  await s.deliveries.runDue();
  const created = await request(app).post('/expenses').set('Authorization', basic('admin')).send(body);
  expenseId = created.body.id;
  await request(app).post(`/expenses/${expenseId}/approve`).set('Authorization', basic('admin')).expect(200);
  submittedId = (await request(app).post('/expenses').set('Authorization', basic('admin')).send(body)).body.id as string;
});

function send(op: string, auth?: string) {
  const [method, template] = op.split(' ') as [string, string];
  const path = template
    .replace('{id}', method === 'PUT' ? submittedId : expenseId)
    .replace('{date}', '2026-11-23')
    .replace('{asset}', 'swagger-ui.css')
    .replace('{name}', 'v1')
    .replace('{target}', 'drop');
  const query = op === 'GET /exports' ? '?from=2026-11-01&to=2026-11-30' : '';
  const agent = request(app);
  let req =
    method === 'GET'
      ? agent.get(path + query)
      : method === 'HEAD'
        ? agent.head(path)
        : method === 'PUT'
          ? agent.put(path)
          : agent.post(path);
  if (auth) req = req.set('Authorization', auth);
  if (op === 'POST /results') {
    // An empty results file (the header alone): allowed roles get 200 with nothing applied.
    return req
      .set('Content-Type', 'text/csv')
      .set('Idempotency-Key', `matrix-${randomUUID()}`)
      .send('expense_id,status,amount,currency,status_at,reference,message\r\n');
  }
  const bodies: Record<string, object> = {
    'POST /expenses': body,
    'PUT /expenses/{id}': body,
    'POST /admin/poison/replay': { max: 1 },
    'POST /admin/poison/discard': { messageIds: ['no-such-poison-id'] },
    'POST /exports/{date}/acknowledgements': { through: 0 },
  };
  if (bodies[op]) req = req.send(bodies[op]);
  return req;
}

const cases = specRoutes().flatMap((op) => [
  ...ROLES.map((role) => [op, role] as [string, Role | 'anonymous']),
  [op, 'anonymous'] as [string, Role | 'anonymous'],
]);

test.each(cases)('%s as %s', async (op, who) => {
  const roles = rolesFor(op);
  expect(roles).toBeDefined(); // an operation without declared roles is a gap in the table
  const res = await send(op, who === 'anonymous' ? undefined : basic(who));
  if (roles === null || (who !== 'anonymous' && roles!.includes(who))) {
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
  } else if (who === 'anonymous') {
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="expense-export", charset="UTF-8"');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  } else {
    expect(res.status).toBe(403);
    if (!op.startsWith('HEAD ')) expect(res.body.code).toBe('forbidden'); // HEAD answers carry no body
  }
});

test('the matrix covers every operation', () => {
  expect(new Set(cases.map((c) => c[0])).size).toBe(Object.keys(ROUTE_ROLES).length);
});
