/**
 * The day-file contract over HTTP, against a real Azurite: named snapshots
 * (ETag, Export-* headers, 304, HEAD from the manifest alone), ?through and
 * ?after, a cut transfer when the rows do not add up, manifests and the
 * list of days, acknowledgements, closing and late rows.
 */
import { get } from 'node:http';
import { clockAt } from '../../src/clock';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'csv-parse/sync';
import { parseDictionary } from 'structured-headers';
import { createApp } from '../../src/app';
import type { Services } from '../../src/services';
import { DayCloser } from '../../src/export/day-closer';
import { dateInZone } from '../../src/expenses/dates';
import { approvedExpenses } from '../support/approved';
import { silentLogger, testExportRow, testServices } from '../support/storage';
import { asUser } from '../support/http';
import { basic, testUsers } from '../support/users';
import { waitFor } from '../support/wait';
import { demoExpense } from '../../src/expenses/demo-data';
import { toExportRow } from '../../src/export/export-row';
import { encodeApproval } from '../../src/expenses/approval-message';

let s: Services;
let app: ReturnType<typeof createApp>;
let as: ReturnType<typeof asUser>;
const HEADER = 'expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount';

beforeAll(async () => {
  s = await testServices({ users: await testUsers() });
  app = createApp(s);
  as = asUser(app);
});
afterAll(async () => {
  await Promise.all([s.consumer.stop(2000), s.ackApplier.stop(2000)]);
});

const row = testExportRow;
// identity: supertest asks for gzip by default, and a gzipped response is another representation (another ETag).
const pull = (path: string) => as('exporter').pull(path);
const rowsOf = (csv: string) => parse<Record<string, string>>(csv, { columns: true });

/** The body's own totals, per currency, as the client would add them up (decimal strings, exactly). */
function bodyTotals(csv: string): Record<string, string> {
  const sums: Record<string, bigint> = {};
  const digits: Record<string, number> = {};
  for (const r of rowsOf(csv)) {
    const [whole, frac = ''] = r.amount.split('.');
    digits[r.currency] = frac.length;
    sums[r.currency] = (sums[r.currency] ?? 0n) + BigInt(whole + frac);
  }
  return Object.fromEntries(
    Object.entries(sums).map(([c, v]) => {
      const d = digits[c];
      const t = v.toString().padStart(d + 1, '0');
      return [c.toLowerCase(), d ? `${t.slice(0, -d)}.${t.slice(-d)}` : t];
    }),
  );
}

/** Export-Totals read with an RFC 9651 parser, as a strict client would. */
function headerTotals(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  return Object.fromEntries([...parseDictionary(value)].map(([k, [v]]) => [k, String(v as string)]));
}

describe('GET and HEAD /exports/:date: named snapshots', () => {
  let days = 0;
  /** A day of each test's own (tests run alone or in any order): three rows in two currencies, and its first pull. */
  async function threeRowDay() {
    const date = `2025-02-${String(++days).padStart(2, '0')}`;
    for (const [id, amount, cur] of [
      ['c', '0.10', 'USD'],
      ['a', '0.20', 'USD'],
      ['b', '1200', 'JPY'],
    ] as const)
      await s.exportTable.append(row(date, id, amount, cur));
    return { date, first: await pull(`/exports/${date}`) };
  }

  test('the headers name the snapshot, and its count and totals are exactly the body', async () => {
    const { date, first } = await threeRowDay();
    expect(first.status).toBe(200);
    expect(first.headers).toMatchObject({
      etag: `"${date}.0-3.v1"`,
      'export-seq': '3',
      'export-row-count': '3',
      'export-state': 'open',
      'content-type': 'text/csv; charset=utf-8',
      'cache-control': 'no-store',
    });
    const rows = rowsOf(first.text);
    expect(rows.map((r) => r.expense_id)).toEqual(['a', 'b', 'c']); // expense-id order, as before
    expect(rows).toHaveLength(Number(first.headers['export-row-count']));
    expect(headerTotals(first.headers['export-totals'])).toEqual({ jpy: '1200', usd: '0.30' });
    expect(headerTotals(first.headers['export-totals'])).toEqual(bodyTotals(first.text));
    expect(first.text.startsWith(`${HEADER}\r\n`)).toBe(true);
    expect(rows[1].employee).toBe("'=SUM(A1)"); // the formula guard, as before
  });

  test('If-None-Match with the current ETag: 304 without a body; HEAD: the same headers from one manifest read', async () => {
    const { date, first } = await threeRowDay();
    const same = await pull(`/exports/${date}`).set('If-None-Match', first.headers.etag);
    expect(same.status).toBe(304);
    expect(same.text).toBe('');
    expect(same.headers.etag).toBe(first.headers.etag);

    const reads: string[] = [];
    s.clients.exports.pipeline.addPolicy({
      name: 'count-reads',
      async sendRequest(req, next) {
        reads.push(`${req.method} ${decodeURIComponent(new URL(req.url).pathname)}`);
        return next(req);
      },
    });
    const streamedBefore = (await s.metrics.exportRows.get()).values[0]?.value ?? 0;
    try {
      const head = await as('exporter').head(`/exports/${date}`).set('Accept-Encoding', 'identity');
      expect(head.status).toBe(200);
      for (const h of ['etag', 'export-seq', 'export-row-count', 'export-totals', 'export-state'])
        expect(head.headers[h]).toBe(first.headers[h]);
      const conditional = await pull(`/exports/${date}`).set('If-None-Match', first.headers.etag);
      expect(conditional.status).toBe(304);
    } finally {
      s.clients.exports.pipeline.removePolicy({ name: 'count-reads' });
    }
    // One point read of the manifest each; the rows were never read.
    expect(reads).toEqual([expect.stringMatching(/~manifest'\)$/), expect.stringMatching(/~manifest'\)$/)]);
    expect((await s.metrics.exportRows.get()).values[0]?.value ?? 0).toBe(streamedBefore);
  });

  test('rows that land later change the ETag; ?through=3 is the first file byte for byte; ?after=3 is exactly the new rows', async () => {
    const { date, first } = await threeRowDay();
    await s.exportTable.append(row(date, '0-early-key', '5.00'));
    await s.exportTable.append(row(date, 'z-late-key', '7.25'));
    const now = await pull(`/exports/${date}`).set('If-None-Match', first.headers.etag);
    expect(now.status).toBe(200);
    expect(now.headers).toMatchObject({ etag: `"${date}.0-5.v1"`, 'export-seq': '5', 'export-row-count': '5' });

    const again = await pull(`/exports/${date}?through=3`);
    expect(again.text).toBe(first.text);
    expect(again.headers).toMatchObject({
      etag: first.headers.etag,
      'export-seq': '3',
      'export-row-count': '3',
      'export-totals': first.headers['export-totals'],
    });

    const since = await pull(`/exports/${date}?after=3`);
    expect(since.headers).toMatchObject({ etag: `"${date}.3-5.v1"`, 'export-seq': '5', 'export-row-count': '2' });
    expect(rowsOf(since.text).map((r) => r.expense_id)).toEqual(['0-early-key', 'z-late-key']);
    expect(headerTotals(since.headers['export-totals'])).toEqual({ usd: '12.25' });
    expect(since.text.startsWith(`${HEADER}\r\n`)).toBe(true);
  });

  test('gzip on request: the same rows, compressed, under their own ETag; the plain ETag still answers 304', async () => {
    const { date } = await threeRowDay();
    const plain = await pull(`/exports/${date}?through=3`);
    const zipped = await as('exporter').get(`/exports/${date}?through=3`).set('Accept-Encoding', 'gzip');
    expect(zipped.headers).toMatchObject({ 'content-encoding': 'gzip', vary: 'Accept-Encoding', etag: `"${date}.0-3.v1.gzip"` });
    expect(zipped.text).toBe(plain.text); // supertest inflates it
    const again = await as('exporter')
      .get(`/exports/${date}?through=3`)
      .set('Accept-Encoding', 'gzip')
      .set('If-None-Match', plain.headers.etag);
    expect(again.status).toBe(304);
  });

  test('?bom=true: a UTF-8 byte order mark first, then the same bytes, under their own ETag', async () => {
    const { date } = await threeRowDay();
    const plain = await pull(`/exports/${date}?through=3`);
    const bom = await pull(`/exports/${date}?through=3&bom=true`)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    const body = bom.body as Buffer;
    expect([...body.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(body.subarray(3).toString('utf8')).toBe(plain.text);
    expect(bom.headers.etag).toBe(`"${date}.0-3.v1.bom"`);
  });

  test('a snapshot beyond the day is a 422 problem; so is after > through', async () => {
    const { date } = await threeRowDay();
    for (const q of ['through=99', 'after=99', 'after=4&through=2']) {
      const res = await pull(`/exports/${date}?${q}`);
      expect({ q, status: res.status, code: res.body.code }).toEqual({ q, status: 422, code: 'seq_out_of_range' });
    }
    expect((await pull(`/exports/${date}?through=-1`)).status).toBe(400);
  });

  test('an empty day: 200, the header row alone, Export-Seq 0, no Export-Totals', async () => {
    const res = await pull('/exports/2019-07-07');
    expect(res.status).toBe(200);
    expect(res.text).toBe(`${HEADER}\r\n`);
    expect(res.headers).toMatchObject({ 'export-seq': '0', 'export-row-count': '0', 'export-state': 'open', etag: '"2019-07-07.0-0.v1"' });
    expect(res.headers['export-totals']).toBeUndefined();
  });
});

test('rows that do not add up to the headers cut the connection instead of ending cleanly', async () => {
  const date = '2026-02-03';
  for (let i = 0; i < 5; i++) await s.exportTable.append(row(date, `r${i}`, '1.00'));
  await s.clients.exports.deleteEntity(date, 'r3'); // a row gone missing under the manifest (never happens on real storage)
  const server: Server = createServer(app).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const port = (server.address() as AddressInfo).port;
    const outcome = await new Promise<{ status: number; complete: boolean; error?: string }>((resolve) => {
      get(`http://127.0.0.1:${port}/exports/${date}`, { headers: { authorization: basic('exporter') } }, (res) => {
        let error: string | undefined;
        res.on('data', () => undefined);
        res.on('error', (e) => (error = e.message));
        res.on('close', () => resolve({ status: res.statusCode!, complete: res.complete, error }));
      });
    });
    expect(outcome).toMatchObject({ status: 200, complete: false });
  } finally {
    server.close();
  }
});

describe('manifests, days, acknowledgements, closing', () => {
  test('GET /exports/:date/manifest and GET /exports?from&to list days with rows; at most 366 days per call', async () => {
    const [date, other] = ['2026-02-04', '2026-02-09'];
    await s.exportTable.append(row(date, 'm1', '2.50'));
    await s.exportTable.append(row(other, 'm2', '1.00'));
    const m = await pull(`/exports/${date}/manifest`);
    expect(m.status).toBe(200);
    expect(m.body).toMatchObject({
      date,
      state: 'open',
      seq: 1,
      rowCount: 1,
      totals: { USD: '2.50' },
      acknowledgedThrough: 0,
      closedSeq: null,
      etag: `"${date}.0-1.v1"`,
    });
    expect(Date.parse(m.body.firstRowAt)).toBeGreaterThan(Date.now() - 60_000);

    const list = await pull('/exports?from=2026-02-01&to=2026-02-28');
    expect(list.status).toBe(200);
    expect(list.body.days.map((d: { date: string }) => d.date)).toEqual(expect.arrayContaining([date, other]));
    expect((await pull('/exports?from=2026-01-01&to=2027-01-02')).body.code).toBe('invalid_range');
    expect((await pull('/exports?from=2026-02-05&to=2026-02-01')).body.code).toBe('invalid_range');
    expect((await pull('/exports?from=2026-02-30&to=2026-03-01')).status).toBe(400);
  });

  test('acknowledging rows moves their expenses processing → exported in the background; repeats and smaller ones are no-ops; beyond seq is 422', async () => {
    const ids = await approvedExpenses(s, 3);
    s.consumer.start();
    await waitFor(async () => (await Promise.all(ids.map((id) => s.store.get(id)))).every((e) => e?.value.state === 'processing'), 15_000);
    const date = (await s.store.get(ids[0]))!.value.approvalDate!;
    const seq = (await pull(`/exports/${date}/manifest`)).body.seq as number;
    s.ackApplier.start();

    const ack = (through: unknown) => as('exporter').post(`/exports/${date}/acknowledgements`, { through });
    const first = await ack(seq);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ acknowledgedThrough: seq, newlyAcknowledged: seq, acknowledgedBy: 'exporter' });
    await waitFor(async () => (await Promise.all(ids.map((id) => s.store.get(id)))).every((e) => e?.value.state === 'exported'), 10_000);
    await waitFor(async () => (await pull(`/exports/${date}/manifest`)).body.exportedThrough === seq, 10_000);

    expect((await ack(seq)).body).toMatchObject({ acknowledgedThrough: seq, newlyAcknowledged: 0 });
    expect((await ack(1)).body).toMatchObject({ acknowledgedThrough: seq, newlyAcknowledged: 0 });
    const beyond = await ack(seq + 1);
    expect(beyond.status).toBe(422);
    expect(beyond.body.code).toBe('seq_out_of_range');
    expect((await ack('all')).status).toBe(400);
  }, 40_000);

  test('a row acknowledged before its expense left approved (its consumer died between the row and the move) still ends exported; the message that comes back moves nothing', async () => {
    // The state a SIGKILL between steps 4 and 5 leaves: approved, the row written, the message invisible for now.
    const created = await s.store.create(demoExpense(7), new Date());
    const date = '2026-06-15';
    const approved = { ...created, state: 'approved' as const, approvedAt: `${date}T09:00:00.000Z`, approver: 'boss', approvalDate: date };
    await s.store.replace(approved, (await s.store.get(created.id))!.etag);
    const appended = await s.exportTable.append(toExportRow(approved, await s.store.items(created.id)));
    if (appended.outcome !== 'inserted') throw new Error(`append: ${appended.outcome}`);
    const { seq } = appended;
    s.ackApplier.start();

    const ack = await as('exporter').post(`/exports/${date}/acknowledgements`, { through: seq });
    expect(ack.status).toBe(200);
    await waitFor(async () => (await s.store.get(created.id))?.value.state === 'exported', 10_000);

    // The message comes back after its visibility timeout: step 4 finds its row (409), step 5 finds it exported.
    s.consumer.start();
    await s.clients.queue.sendMessage(encodeApproval({ expenseId: created.id, approvalDate: date }));
    await waitFor(async () => (await s.clients.queue.getProperties()).approximateMessagesCount === 0, 15_000);
    await waitFor(async () => s.consumer.inFlight === 0, 5_000);
    expect((await s.store.get(created.id))?.value.state).toBe('exported');
    const manifest = (await pull(`/exports/${date}/manifest`)).body as { seq: number; rowCount: number };
    expect(manifest).toMatchObject({ seq, rowCount: seq });
    expect(rowsOf((await pull(`/exports/${date}`)).text).filter((r) => r.expense_id === created.id)).toHaveLength(1);
  }, 40_000);

  test('closing a day, then a late row: state late, export_late_rows_total, listed as unacknowledged again', async () => {
    const date = '2026-02-05';
    await s.exportTable.append(row(date, 'on-time', '1.00'));
    await s.exportTable.acknowledge(date, 1, 'test', new Date());
    expect((await pull(`/exports?from=${date}&to=${date}&unacknowledged=true`)).body.days).toEqual([]);

    const closed = await as('admin').post(`/exports/${date}/close`);
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ state: 'closed', closedSeq: 1, closedNow: true });
    expect((await as('admin').post(`/exports/${date}/close`)).body).toMatchObject({
      closedNow: false,
      closedSeq: 1,
    });
    expect((await as('exporter').post(`/exports/${date}/close`)).status).toBe(403);

    const lateBefore = (await s.metrics.lateRows.get()).values[0]?.value ?? 0;
    expect(await s.exportTable.append(row(date, 'after-the-close', '2.00'))).toEqual({ outcome: 'inserted', seq: 2, late: true });
    expect((await s.metrics.lateRows.get()).values[0]?.value).toBe(lateBefore + 1);
    const file = await pull(`/exports/${date}`);
    expect(file.headers['export-state']).toBe('late');
    const unacked = await pull(`/exports?from=${date}&to=${date}&unacknowledged=true`);
    expect(unacked.body.days).toEqual([expect.objectContaining({ date, state: 'late', seq: 2, closedSeq: 1, acknowledgedThrough: 1 })]);
  });

  test('the day closer closes a day once it has ended in EXPORT_TIMEZONE plus the grace, not before', async () => {
    const date = '2026-02-06';
    await s.exportTable.append(row(date, 'x', '1.00'));
    const closerAt = (iso: string) =>
      new DayCloser({
        exportTable: s.exportTable,
        timeZone: 'Europe/Berlin',
        graceMs: 30 * 60_000,
        intervalMs: 60_000,
        logger: silentLogger,
        clock: clockAt(new Date(iso)),
      });
    // Berlin's 2026-02-06 ends at 23:00 UTC; plus 30 minutes of grace.
    expect(await closerAt('2026-02-06T23:29:00Z').closeDue()).not.toContain(date);
    expect((await s.exportTable.manifest(date))!.manifest.closedSeq).toBeUndefined();
    expect(await closerAt('2026-02-06T23:30:00Z').closeDue()).toContain(date);
    expect((await s.exportTable.manifest(date))!.manifest).toMatchObject({ closedSeq: 1, closedAt: '2026-02-06T23:30:00.000Z' });
    expect(dateInZone(new Date('2026-02-06T23:00:00Z'), 'Europe/Berlin')).toBe('2026-02-07');
  });
});
