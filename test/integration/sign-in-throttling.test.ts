import request from 'supertest';
import { createApp } from '../../src/app';
import type { StorageClients } from '../../src/storage/clients';
import type { User } from '../../src/auth/users';
import { testClients, testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';

/**
 * Sign-in throttling through the real app, against Azurite: brute force meets
 * 429, and nobody else's failures (under other names, or from other addresses)
 * refuse a correct password. Client addresses come from X-Forwarded-For
 * (trust proxy on), as behind the production proxy.
 */

// Small budgets so each case needs few requests: 3 failures per (name, address), 10 per address.
const BUDGETS = { AUTH_MAX_FAILURES: 3, AUTH_MAX_FAILURES_PER_ADDRESS: 10, AUTH_FAILURE_WINDOW_S: 900 };
const EXPENSE = { employee: 'Ada', costCenter: 'CC-1', reimbursementMethod: 'cash', items: [{ description: 'x', amount: '1.00' }] };

let users: User[];
let clients: StorageClients;
beforeAll(async () => {
  users = await testUsers();
  clients = await testClients();
});

/** A new app per case: its authenticator starts with no counters and an empty cache. */
async function freshApp() {
  const app = createApp(await testServices({ users, clients, config: BUDGETS }), { trustProxy: 'true' });
  const pull = (from: string, auth: string) =>
    request(app).get('/exports/2026-01-01').set('X-Forwarded-For', from).set('Authorization', auth);
  const submit = (from: string, auth: string) =>
    request(app).post('/expenses').set('X-Forwarded-For', from).set('Authorization', auth).send(EXPENSE);
  return { app, pull, submit };
}

/** Statuses of `n` pulls with wrong passwords, one after another. */
async function failures(
  pull: (from: string, auth: string) => request.Test,
  from: string,
  name: string | ((i: number) => string),
  n: number,
) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await pull(from, basic(typeof name === 'string' ? name : name(i), `wrong-${i}`))).status);
  return statuses;
}

const expectTooMany = (res: request.Response) => {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe('too_many_requests');
  const wait = Number(res.headers['retry-after']);
  expect(wait).toBeGreaterThan(0);
  expect(wait).toBeLessThanOrEqual(BUDGETS.AUTH_FAILURE_WINDOW_S);
};

test('NAT: a broken script failing as a non-existent user does not stop the exporter or an approver behind the same address', async () => {
  const { app, pull, submit } = await freshApp();
  const NAT = '198.51.100.7';
  const statuses = await failures(pull, NAT, 'ghost', 12);
  expect(statuses).toEqual([401, 401, 401, ...Array<number>(9).fill(429)]);

  const res = await pull(NAT, basic('exporter'));
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
  const created = await submit(NAT, basic('approver')).expect(201);
  await request(app).get(`/expenses/${created.body.id}`).set('X-Forwarded-For', NAT).set('Authorization', basic('approver')).expect(200);
});

test('lockout attempt: failing on purpose as the exporter from one address does not lock it out from another', async () => {
  const { pull } = await freshApp();
  const ATTACKER = '203.0.113.66';
  const statuses = await failures(pull, ATTACKER, 'exporter', 20);
  expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 429]);
  expect(new Set(statuses.slice(3))).toEqual(new Set([429]));

  // Never verified before in this process, so this is the limits' doing, not the cache's.
  await pull('192.0.2.10', basic('exporter')).expect(200);
  await pull('192.0.2.10', basic('exporter')).expect(200);
});

test('brute force still meets 429 with Retry-After: one name from one address, and many names from one address', async () => {
  const { pull } = await freshApp();
  const GUESSER = '203.0.113.5';
  expect(await failures(pull, GUESSER, 'approver', 3)).toEqual([401, 401, 401]);
  expectTooMany(await pull(GUESSER, basic('approver', 'yet-another-guess')));
  // A lucky guess is not confirmed while blocked: the right password from the guesser's address gets 429 too.
  expectTooMany(await pull(GUESSER, basic('approver')));

  const SPRAYER = '203.0.113.6';
  expect(await failures(pull, SPRAYER, (i) => `user-${i}`, 10)).toEqual(Array<number>(10).fill(401));
  expectTooMany(await pull(SPRAYER, basic('someone-new', 'guess')));
});

test('an address past its budget still lets credentials verified there recently through, and only those', async () => {
  const { pull, submit } = await freshApp();
  const NAT = '198.51.100.8';
  await pull(NAT, basic('exporter')).expect(200);
  expect(await failures(pull, NAT, (i) => `typo-${i}`, 11)).toEqual([...Array<number>(10).fill(401), 429]);

  await pull(NAT, basic('exporter')).expect(200);
  expectTooMany(await submit(NAT, basic('approver')));
});
