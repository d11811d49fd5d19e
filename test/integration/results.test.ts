/**
 * Results coming back (POST /results), against a real Azurite: every
 * outcome and transition, the Idempotency-Key rules, a re-sent file, a
 * truncated upload, hostile files, competing imports, and an expense
 * rejected, corrected and approved again on the same day.
 */
import request from 'supertest';
import { parse } from 'csv-parse/sync';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { approvedExpenses } from '../support/approved';
import { testServices } from '../support/storage';
import { asUser } from '../support/http';
import { testUsers } from '../support/users';
import { waitFor } from '../support/wait';

let s: Services;
let as: ReturnType<typeof asUser>;
const HEADER = 'expense_id,status,amount,currency,status_at,reference,message';
const AT = '2026-11-30T17:05:00Z';

beforeAll(async () => {
  const users = await testUsers();
  s = await testServices({ users: [...users, { ...users[0], name: 'importer', roles: ['importer'] }] });
  as = asUser(createApp(s));
  s.consumer.start();
});
afterAll(() => s.consumer.stop(2000));

/** `n` expenses approved and exported (processing); their ids and exported totals. */
async function exported(n: number): Promise<Array<{ id: string; total: string; date: string }>> {
  const ids = await approvedExpenses(s, n, 5);
  return waitFor(async () => {
    const all = await Promise.all(ids.map((id) => as('approver').get(`/expenses/${id}`)));
    if (!all.every((r) => r.body.state === 'processing')) return undefined;
    return all.map((r) => ({ id: r.body.id as string, total: r.body.total as string, date: r.body.approvalDate as string }));
  }, 20_000);
}

const csv = (...lines: string[]) => [HEADER, ...lines].join('\r\n') + '\r\n';
const post = (body: string, key: string, type = 'text/csv', extra: Record<string, string> = {}) => {
  let r = as('importer').post('/results').set('Content-Type', type);
  if (key) r = r.set('Idempotency-Key', key);
  for (const [k, v] of Object.entries(extra)) r = r.set(k, v);
  return r.send(body);
};
const stateOf = async (id: string) => (await s.store.get(id))!.value.state;
const historyOf = (id: string) => s.store.results(id);

describe('a file of results', () => {
  let e: Array<{ id: string; total: string; date: string }>;
  let file: string;
  let first: request.Response;

  beforeAll(async () => {
    e = await exported(5);
    await s.exportTable.acknowledge(e[1].date, (await s.exportTable.manifest(e[1].date))!.manifest.seq, 'test', new Date());
    const submitted = await s.store.create(
      { employee: 'Sub', costCenter: 'C', reimbursementMethod: 'cash', currency: 'USD', items: [{ description: 'x', amountMinor: 100n }] },
      new Date(),
    );
    file = csv(
      `${e[0].id},paid,${e[0].total},USD,${AT},CHQ-1,`,
      `${e[1].id},posted,${e[1].total},USD,${AT},DOC-77,posted to GL`,
      `${e[2].id},rejected,${e[2].total},USD,${AT},,"wrong cost center, fix and resend"`,
      `ghost-expense,paid,1.00,USD,${AT},X,`,
      `${submitted.id},paid,1.00,USD,${AT},X,`,
      `${e[3].id},paid,999.99,USD,${AT},X,`,
      `${e[4].id},refunded,${e[4].total},USD,${AT},X,`,
      `${e[1].id},paid,${e[1].total},USD,2026-11-30T18:00:00+01:00,TRF-9,`,
    );
    first = await post(file, 'file-1');
  }, 60_000);

  test('each line is judged on its own: applied, unknown_expense, invalid_transition, amount_mismatch, bad_row', () => {
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      received: 8,
      counts: { applied: 4, noop: 0, unknown_expense: 1, invalid_transition: 1, amount_mismatch: 1, bad_row: 1 },
    });
    expect(first.body.errors).toEqual([
      { line: 5, expenseId: 'ghost-expense', code: 'unknown_expense', message: expect.any(String) },
      { line: 6, expenseId: expect.any(String), code: 'invalid_transition', message: expect.stringMatching(/submitted/) },
      { line: 7, expenseId: e[3].id, code: 'amount_mismatch', message: expect.stringMatching(/999\.99/) },
      { line: 8, expenseId: e[4].id, code: 'bad_row', message: expect.stringMatching(/^status/) },
    ]);
  });

  test('states move as the lines say (processing or exported → posted → paid, → rejected), and every applied result is kept', async () => {
    expect(await Promise.all(e.map((x) => stateOf(x.id)))).toEqual(['paid', 'paid', 'rejected', 'processing', 'processing']);
    const view = await as('approver').get(`/expenses/${e[1].id}`);
    expect(view.body.results).toEqual([
      expect.objectContaining({ approvalAttempt: 1, status: 'paid', statusAt: '2026-11-30T18:00:00+01:00', reference: 'TRF-9' }),
      expect.objectContaining({ approvalAttempt: 1, status: 'posted', statusAt: AT, reference: 'DOC-77', message: 'posted to GL' }),
    ]);
    expect((await historyOf(e[2].id))[0]).toMatchObject({ status: 'rejected', message: 'wrong cost center, fix and resend' });
  });

  test('the same key and file: the stored response, and nothing applied twice', async () => {
    const again = await post(file, 'file-1');
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await historyOf(e[1].id)).toHaveLength(2);
  });

  test('the same file under a new key: the results already there are no-ops, the failures fail again', async () => {
    const resent = await post(file, 'file-1-resent');
    expect(resent.body.counts).toEqual({ applied: 0, noop: 4, unknown_expense: 1, invalid_transition: 1, amount_mismatch: 1, bad_row: 1 });
    expect(await historyOf(e[1].id)).toHaveLength(2);
  });

  test('the same key with another file is a 422, and applies nothing', async () => {
    const other = await post(csv(`${e[3].id},paid,${e[3].total},USD,${AT},X,`), 'file-1');
    expect(other.status).toBe(422);
    expect(other.body.code).toBe('idempotency_key_reused');
    expect(await stateOf(e[3].id)).toBe('processing');
  });

  test('a status never moves backwards, and paid is final', async () => {
    const r = await post(
      csv(
        `${e[0].id},posted,${e[0].total},USD,${AT},X,`,
        `${e[0].id},rejected,${e[0].total},USD,${AT},X,`,
        `${e[0].id},paid,${e[0].total},USD,${AT},OTHER,`,
      ),
      'backwards',
    );
    expect(r.body.counts).toMatchObject({ invalid_transition: 2, noop: 1 });
    expect(await stateOf(e[0].id)).toBe('paid');
  });

  test('JSON works too: an array of the same fields', async () => {
    const [x] = await exported(1); // its own: the other tests expect e[3] still processing
    const r = await post(
      JSON.stringify([
        { expense_id: x.id, status: 'posted', amount: x.total, currency: 'USD', status_at: AT, reference: 'J-1', message: '' },
      ]),
      'json-1',
      'application/json',
    );
    expect(r.status).toBe(200);
    expect(r.body.counts.applied).toBe(1);
    expect(await stateOf(x.id)).toBe('posted');
    const notArray = await post(JSON.stringify({ expense_id: 'x' }), 'json-2', 'application/json');
    expect(notArray.status).toBe(400);
  });
});

describe('whole-file problems: a 4xx problem, and nothing applied', () => {
  let e: { id: string; total: string };
  const good = () => `${e.id},paid,${e.total},USD,${AT},X,`;
  const untouched = async () => expect(await stateOf(e.id)).toBe('processing');
  beforeAll(async () => {
    e = (await exported(1))[0]!;
  }, 30_000);

  test('no Idempotency-Key: 400; another media type: 415', async () => {
    expect((await post(csv(good()), '')).body.code).toBe('idempotency_key_required');
    expect((await post(csv(good()), 'k-415', 'text/plain')).status).toBe(415);
    await untouched();
  });

  test('a truncated upload: Result-Row-Count names more lines than arrived (422); the key can be used again for the whole file', async () => {
    const [t] = await exported(1); // its own: this test applies the whole file at the end, the others expect e untouched
    const line = `${t.id},paid,${t.total},USD,${AT},X,`;
    const r = await post(csv(line), 'cut-1', 'text/csv', { 'Result-Row-Count': '2' });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('row_count_mismatch');
    expect(await stateOf(t.id)).toBe('processing');
    const cutMidQuote = await post(`${HEADER}\r\n${t.id},paid,"${t.total}`, 'cut-2');
    expect(cutMidQuote.status).toBe(400);
    expect(cutMidQuote.body.code).toBe('malformed_file');
    expect(await stateOf(t.id)).toBe('processing');
    expect((await post(csv(line), 'cut-1', 'text/csv', { 'Result-Row-Count': '1' })).body.counts.applied).toBe(1);
    expect(await stateOf(t.id)).toBe('paid');
  }, 30_000);

  test.each([
    [
      'a header of formula cells',
      `"=HYPERLINK(""http://evil"")",@SUM(A1),+1,-1,=2,=3,=4\r\nx,paid,1.00,USD,${AT},,\r\n`,
      400,
      'bad_header',
    ],
    ['formula cells that are not even CSV', `=HYPERLINK("http://evil"),@SUM(A1)\r\n`, 400, 'malformed_file'],
    ['a huge line', `${HEADER}\r\nx,paid,1.00,USD,${AT},${'R'.repeat(70_000)},\r\n`, 400, 'malformed_file'],
    [
      'bad UTF-8',
      Buffer.concat([Buffer.from(`${HEADER}\r\nx,paid,1.00,USD,${AT},caf`), Buffer.from([0xe9, 0x0d, 0x0a])]),
      400,
      'undecodable_body',
    ],
    ['10 MB of garbage in lines', Buffer.alloc(10 * 1024 * 1024, 'garbage, and then some;\n'), 400, 'bad_header'],
    ['10 MB of garbage in one line', Buffer.alloc(10 * 1024 * 1024, 'garbage, and then some;'), 400, 'malformed_file'],
    ['an empty body', '', 400, 'bad_header'],
  ])('%s', async (_what, body, status, code) => {
    const before = await stateOf(e.id);
    const res = await as('importer')
      .post('/results')
      .set('Content-Type', 'text/csv')
      .set('Idempotency-Key', `hostile-${code}-${String(body.length)}`)
      .send(body);
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(await stateOf(e.id)).toBe(before);
  });

  test('formula cells in a data line make that line a bad_row; the other lines apply', async () => {
    const [x, y] = await exported(2);
    const r = await post(
      csv(`${x.id},posted,${x.total},USD,${AT},=cmd|' /C calc'!A0,`, `${y.id},posted,${y.total},USD,${AT},DOC-1,`),
      'formula-line',
    );
    expect(r.body.counts).toMatchObject({ applied: 1, bad_row: 1 });
    expect(r.body.errors[0]).toMatchObject({ line: 2, code: 'bad_row', message: expect.stringMatching(/formula/) });
    expect([await stateOf(x.id), await stateOf(y.id)]).toEqual(['processing', 'posted']);
  }, 30_000);
});

test('competing imports of overlapping files: each expense ends in one state, each result stored once', async () => {
  const e = await exported(4);
  const line = (x: (typeof e)[number], status: string) => `${x.id},${status},${x.total},USD,${AT},R-${status},`;
  const a = csv(line(e[0], 'paid'), line(e[1], 'rejected'), line(e[2], 'posted'), line(e[3], 'paid'));
  const b = csv(line(e[0], 'rejected'), line(e[1], 'paid'), line(e[2], 'posted'), line(e[3], 'paid'));
  const [ra, rb] = await Promise.all([post(a, 'compete-a'), post(b, 'compete-b')]);
  expect([ra.status, rb.status]).toEqual([200, 200]);
  for (const x of e) {
    const history = await historyOf(x.id);
    expect(history).toHaveLength(1); // one result won; the other was refused or found done
    expect(await stateOf(x.id)).toBe(history[0].status);
  }
  // Across both answers, every line was accounted for once: applied, a no-op, or refused.
  const total = (r: request.Response) => Object.values(r.body.counts as Record<string, number>).reduce((p, q) => p + q, 0);
  expect(total(ra) + total(rb)).toBe(8);
  expect(ra.body.counts.applied + rb.body.counts.applied).toBe(4);
}, 60_000);

test('rejected, corrected and approved again on the same day: its new row is in the next pull exactly once, the old file unchanged', async () => {
  const [x] = await exported(1);
  const day = x.date;
  const before = (await s.exportTable.manifest(day))!.manifest.seq;
  const oldFile = await as('exporter').pull(`/exports/${day}?through=${before}`);
  expect((await post(csv(`${x.id},rejected,${x.total},USD,${AT},,amount too high`), 'reject-x')).body.counts.applied).toBe(1);

  const corrected = await as('approver').put(`/expenses/${x.id}`, {
    employee: 'Ada Lovelace',
    costCenter: 'CC-9',
    reimbursementMethod: 'check',
    currency: 'USD',
    items: [{ description: 'Taxi, corrected', amount: '7.50' }],
  });
  expect(corrected.status).toBe(200);
  expect(corrected.body).toMatchObject({ state: 'rejected', total: '7.50', costCenter: 'CC-9' });
  const approved = await as('approver').post(`/expenses/${x.id}/approve`);
  expect(approved.body).toMatchObject({ state: 'approved', approvalAttempt: 2, approvalDate: day });
  await waitFor(async () => (await stateOf(x.id)) === 'processing', 15_000);

  const next = await as('exporter').pull(`/exports/${day}?after=${before}`);
  const rows = parse<Record<string, string>>(next.text, { columns: true }).filter((r) => r.expense_id === x.id);
  expect(rows).toEqual([expect.objectContaining({ expense_id: x.id, amount: '7.50', cost_center: 'CC-9' })]);
  const sameOld = await as('exporter').pull(`/exports/${day}?through=${before}`);
  expect(sameOld.text).toBe(oldFile.text);
  // Approving again while approved is still a no-op; results now answer the new approval.
  expect((await post(csv(`${x.id},paid,7.50,USD,${new Date().toISOString()},CHQ-2,`), 'paid-x2')).body.counts.applied).toBe(1);
  expect((await historyOf(x.id)).map((r) => [r.attempt, r.status])).toEqual([
    [1, 'rejected'],
    [2, 'paid'],
  ]);
}, 60_000);
