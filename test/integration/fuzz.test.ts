import fc from 'fast-check';
import request from 'supertest';
import type { Server } from 'node:http';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { testServices } from '../support/storage';
import { basic, testUsers } from '../support/users';

/** Hostile input never yields a 5xx or a crash; every rejection is a problem+json 4xx. */
let s: Services;
let server: Server;

beforeAll(async () => {
  s = await testServices({ users: await testUsers(), config: { AUTH_MAX_FAILURES: 10_000, AUTH_MAX_FAILURES_PER_ADDRESS: 10_000 } });
  server = createApp(s).listen(0);
});
afterAll(() => new Promise((r) => server.close(r)));

function expectClean(res: request.Response, allowed: number[]) {
  expect(allowed).toContain(res.status);
  if (res.status >= 400) {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toMatch(/\bat [\w.<>]+ \(|node_modules|\.ts:\d+/);
  }
}

test('the date parameter', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.date().map((d) => (isNaN(+d) ? 'x' : d.toISOString().slice(0, 10))),
      ),
      async (date) => {
        const res = await request(server)
          .get(`/exports/${encodeURIComponent(date)}`)
          .set('Authorization', basic('exporter'));
        expectClean(res, [200, 400, 404]);
      },
    ),
    { numRuns: 300 },
  );
});

test('the Authorization header', async () => {
  const header = fc.oneof(
    fc.string({ maxLength: 200 }).filter((h) => /^[\x20-\x7e]*$/.test(h)),
    fc.tuple(fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 })).map(([u, p]) => basic(u, p)),
    fc.string({ maxLength: 100 }).map((x) => `Basic ${Buffer.from(x).toString('base64')}`),
    fc
      .string({ maxLength: 50 })
      .filter((h) => /^[\x20-\x7e]*$/.test(h))
      .map((x) => `Basic ${x}`),
    fc.constant('Basic'),
    fc.constant('Bearer abc'),
  );
  await fc.assert(
    fc.asyncProperty(header, async (h) => {
      const res = await request(server).get('/exports/2026-01-01').set('Authorization', h);
      expectClean(res, [401, 429]);
    }),
    { numRuns: 300 },
  );
});

test('expense bodies', async () => {
  const item = fc.record(
    {
      description: fc.oneof(fc.string({ maxLength: 210 }), fc.integer()),
      amount: fc.oneof(fc.double(), fc.string({ maxLength: 20 }), fc.integer(), fc.constant('12.30')),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fc.record(
      {
        employee: fc.oneof(fc.string({ maxLength: 210 }), fc.constant('Ada')),
        costCenter: fc.string({ maxLength: 70 }),
        reimbursementMethod: fc.constantFrom('direct_deposit', 'check', 'cash', 'gold'),
        currency: fc.oneof(fc.constantFrom('USD', 'JPY', 'BHD', 'usd', 'XXX'), fc.string({ maxLength: 5 })),
        description: fc.string({ maxLength: 50 }),
        items: fc.array(item, { maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
    fc.anything(),
    fc.json(),
  );
  await fc.assert(
    fc.asyncProperty(body, async (b) => {
      const res = await request(server)
        .post('/expenses')
        .set('Authorization', basic('approver'))
        .set('Content-Type', 'application/json')
        .send(typeof b === 'string' ? b : (JSON.stringify(b) ?? 'null'));
      expectClean(res, [201, 400, 413]);
    }),
    { numRuns: 300 },
  );
});
