import request from 'supertest';
import { parse } from 'csv-parse/sync';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { unneutralizeCell } from '../../src/export/csv';
import { testServices } from '../support/storage';
import { asUser } from '../support/http';
import { basic, testUsers } from '../support/users';

let s: Services;
let app: ReturnType<typeof createApp>;
let as: ReturnType<typeof asUser>;
const DATE = '2026-03-04';
const HEADER = 'expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount';

const exportRow = (id: string, employee: string, amount = '1.00', currency = 'USD') => ({
  partitionKey: DATE,
  rowKey: id,
  approvedAt: '2026-03-04T10:00:00.000Z',
  approver: 'boss',
  employee,
  costCenter: 'CC-1',
  reimbursementMethod: 'check',
  currency,
  amount,
});

beforeAll(async () => {
  s = await testServices({ users: await testUsers() });
  app = createApp(s);
  as = asUser(app);
  const rows = [
    exportRow('b-2', '=HYPERLINK("http://evil","x")'),
    exportRow('a-1', 'Smith, "Jay"'),
    exportRow('c-3', '＠SUM(A1)', '1200', 'JPY'),
    exportRow('d-4', '-2+3'),
  ];
  // Written as the consumer writes them (numbered, with the manifest): this file is about the CSV.
  for (const r of rows) await s.exportTable.append({ ...r, expenseId: r.rowKey, attempt: 1 });
  // A neighbouring partition must not leak into the file.
  await s.exportTable.append({ ...exportRow('z-9', 'Other day'), partitionKey: '2026-03-05', expenseId: 'z-9', attempt: 1 });
});

describe('GET /exports/:date', () => {
  test('streams the partition as RFC 4180 CSV in RowKey order with the documented headers', async () => {
    const res = await as('exporter').get(`/exports/${DATE}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="expenses-${DATE}.csv"`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['content-security-policy']).toBeDefined();
    const lines = res.text.split('\r\n');
    expect(lines[0]).toBe(HEADER);
    expect(lines.at(-1)).toBe('');
    const rows = parse<Record<string, string>>(res.text, { columns: true });
    expect(rows.map((r) => r.expense_id)).toEqual(['a-1', 'b-2', 'c-3', 'd-4']);
    expect(rows.map((r) => r.amount)).toEqual(['1.00', '1.00', '1200', '1.00']);
  });

  test('formula-looking cells are neutralized and round-trip once the guard is removed', async () => {
    const res = await as('admin').get(`/exports/${DATE}`);
    const rows = parse<Record<string, string>>(res.text, { columns: true });
    const byId = Object.fromEntries(rows.map((r) => [r.expense_id, r.employee]));
    expect(byId['b-2']).toBe(`'=HYPERLINK("http://evil","x")`);
    expect(byId['c-3']).toBe("'＠SUM(A1)");
    expect(byId['d-4']).toBe("'-2+3");
    expect(byId['a-1']).toBe('Smith, "Jay"');
    expect(rows.map((r) => unneutralizeCell(r.employee))).toEqual(['Smith, "Jay"', '=HYPERLINK("http://evil","x")', '＠SUM(A1)', '-2+3']);
  });

  test('a valid date without rows gives the header row alone', async () => {
    const res = await as('exporter').get('/exports/2020-01-01');
    expect(res.status).toBe(200);
    expect(res.text).toBe(`${HEADER}\r\n`);
  });

  test.each(['2026-02-30', '26-1-1', '..%2Fx', '2026-1-1', '2026-11-23%00', 'x'.repeat(300), "2026-01-01'%20or%20'1'%3D'1"])(
    '%s is a 400 problem',
    async (date) => {
      const res = await as('exporter').get(`/exports/${date}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.type).toMatch(/\/problems\/(invalid_date|validation_failed)$/);
      expect(JSON.stringify(res.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    },
  );

  test('401 with a Basic challenge without credentials, 403 for a role that may not export', async () => {
    const anon = await request(app).get(`/exports/${DATE}`);
    expect(anon.status).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/^Basic realm="expense-export"/);
    const wrongPw = await request(app).get(`/exports/${DATE}`).set('Authorization', basic('exporter', 'nope'));
    expect(wrongPw.status).toBe(401);
    expect(wrongPw.body).toEqual({ ...anon.body });
    const approver = await as('approver').get(`/exports/${DATE}`);
    expect(approver.status).toBe(403);
  });
});

describe('expense input', () => {
  const post = (body: unknown, type = 'application/json') =>
    request(app)
      .post('/expenses')
      .set('Authorization', basic('approver'))
      .set('Content-Type', type)
      .send(typeof body === 'string' ? body : JSON.stringify(body));
  const valid = { employee: 'Ada', costCenter: 'CC-1', reimbursementMethod: 'cash', items: [{ description: 'x', amount: '1.00' }] };

  test.each([
    ['missing items', { ...valid, items: undefined }],
    ['no items', { ...valid, items: [] }],
    ['too many items', { ...valid, items: Array.from({ length: 101 }, () => ({ description: 'x', amount: '1.00' })) }],
    ['unknown method', { ...valid, reimbursementMethod: 'bitcoin' }],
    ['three decimals in USD', { ...valid, items: [{ description: 'x', amount: '1.001' }] }],
    ['decimals in JPY', { ...valid, currency: 'JPY', items: [{ description: 'x', amount: '10.5' }] }],
    ['unknown currency', { ...valid, currency: 'ABC' }],
    ['negative amount', { ...valid, items: [{ description: 'x', amount: -5 }] }],
    ['huge amount', { ...valid, items: [{ description: 'x', amount: '1000000000000' }] }],
    ['control characters', { ...valid, employee: 'Ada\u0000' }],
    ['overlong name', { ...valid, employee: 'x'.repeat(201) }],
    ['extra field', { ...valid, admin: true }],
    ['not an object', [1, 2]],
  ])('%s → 400 problem', async (_name, body) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toMatch(/^(validation_failed|bad_request)$/);
  });

  test('invalid JSON → 400, oversized body → 413, wrong media type → 415', async () => {
    expect((await post('{"employee":')).status).toBe(400);
    const big = await post({ ...valid, description: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe('payload_too_large');
    const text = await post('employee=Ada', 'text/plain');
    expect(text.status).toBe(415);
    expect(text.body.code).toBe('unsupported_media_type');
  });

  test('a JPY expense stores whole yen; an unknown route is a 404 problem', async () => {
    const res = await post({
      ...valid,
      currency: 'JPY',
      items: [
        { description: 'x', amount: 1200 },
        { description: 'y', amount: '300' },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.body.total).toBe('1500');
    const missing = await request(app).get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('not_found');
  });
});

describe('a route served with other methods', () => {
  test.each([
    ['DELETE', '/expenses', 'POST'],
    ['PUT', '/exports/2026-03-04', 'GET, HEAD'],
    ['GET', '/results', 'POST'],
    ['PATCH', '/expenses/abc', 'GET, PUT, HEAD'],
  ])('%s %s is a 405 problem with Allow: %s', async (method, path, allow) => {
    const res = await request(app)[method.toLowerCase() as 'get'](path).set('Authorization', basic('admin'));
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.body).toMatchObject({ code: 'method_not_allowed', status: 405 });
  });

  test('a path that does not exist is still a 404', async () => {
    expect((await request(app).delete('/nope').set('Authorization', basic('admin'))).status).toBe(404);
  });
});
