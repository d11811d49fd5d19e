import { parse } from 'csv-parse/sync';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { dateInZone } from '../../src/expenses/dates';
import { queueDepth, testServices } from '../support/storage';
import { asUser } from '../support/http';
import { testUsers } from '../support/users';
import { waitFor } from '../support/wait';

let s: Services;
let as: ReturnType<typeof asUser>;

beforeAll(async () => {
  s = await testServices({ users: await testUsers() });
  as = asUser(createApp(s));
  s.consumer.start();
});
afterAll(async () => {
  await s.consumer.stop(2000);
});

const newExpense = (items: Array<{ description: string; amount: string | number }>, extra: Record<string, unknown> = {}) => ({
  employee: 'Ada Lovelace',
  costCenter: 'CC-100',
  reimbursementMethod: 'direct_deposit',
  items,
  ...extra,
});

async function create(body: object) {
  const res = await as('approver').post('/expenses', body);
  expect(res.status).toBe(201);
  return res.body as { id: string; total: string; state: string };
}

async function exportCsv(date: string) {
  const res = await as('exporter').get(`/exports/${date}`);
  expect(res.status).toBe(200);
  return { res, rows: parse<Record<string, string>>(res.text, { columns: true }) };
}

describe('approve → queue → ExportTable → GET /exports/:date', () => {
  test('an approved expense appears in the export with its exact total, and ends up processing', async () => {
    const created = await create(
      newExpense([
        { description: 'Taxi', amount: 0.1 },
        { description: 'Tip', amount: '0.20' },
      ]),
    );
    expect(created).toMatchObject({ state: 'submitted', total: '0.30' });

    const approved = await as('approver').post(`/expenses/${created.id}/approve`);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ state: 'approved', approver: 'approver' });
    expect(approved.body.approvedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);

    const today = dateInZone(new Date(approved.body.approvedAt), 'UTC');
    const row = await waitFor(async () => (await exportCsv(today)).rows.find((r) => r.expense_id === created.id), 5000);
    expect(row).toEqual({
      expense_id: created.id,
      approved_at: approved.body.approvedAt,
      approver: 'approver',
      employee: 'Ada Lovelace',
      cost_center: 'CC-100',
      reimbursement_method: 'direct_deposit',
      currency: 'USD',
      amount: '0.30',
    });
    const after = await waitFor(async () => {
      const r = await as('approver').get(`/expenses/${created.id}`);
      return r.body.state === 'processing' ? r.body : undefined;
    });
    expect(after.total).toBe('0.30');

    // Once exported, approving again is a conflict, not a silent second export.
    const late = await as('approver').post(`/expenses/${created.id}/approve`);
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('conflict');
  });

  test('approving twice returns the same result and enqueues nothing new', async () => {
    await s.consumer.stop(2000); // hold messages in the queue so we can count them
    const { id } = await create(newExpense([{ description: 'Hotel', amount: '100.00' }]));
    const before = await queueDepth(s.clients.queue);
    const first = await as('approver').post(`/expenses/${id}/approve`);
    const second = await as('admin').post(`/expenses/${id}/approve`);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await queueDepth(s.clients.queue)).toBe(before + 1);
  });

  test('approving an unknown expense is 404, a malformed id 400', async () => {
    const missing = await as('approver').post('/expenses/nope-123/approve');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
    const bad = await as('approver').post('/expenses/a%23b/approve');
    expect(bad.status).toBe(400);
  });
});
