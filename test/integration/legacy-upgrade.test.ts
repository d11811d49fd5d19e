/**
 * The upgrade to numbered rows, against a real Azurite: days an earlier
 * release wrote (rows without seq, no manifest) are refused whole at once
 * (503 day_upgrading, never waited for, never served in part), numbered in
 * the background by one instance at a time, resumed after a crash, and found
 * again when an old instance goes on writing during a rolling upgrade.
 */
import type { TableClient } from '@azure/data-tables';
import request from 'supertest';
import { createApp } from '../../src/app';
import { ExportTable } from '../../src/export/export-table';
import { DayUpgradingError, SnapshotIncompleteError } from '../../src/export/errors';
import { LegacyUpgrade } from '../../src/export/legacy/legacy-upgrade';
import { systemClock } from '../../src/clock';
import type { Services } from '../../src/services';
import { seedLegacyRows, silentLogger, testClients, testExportRow, testServices, type TestRow } from '../support/storage';
import { basic, testUsers } from '../support/users';

const row = testExportRow;
const key = (i: number) => `legacy-${String(i).padStart(4, '0')}`;
const legacy =
  (date: string) =>
  (i: number): TestRow => ({ ...row(date, key(i), `${i + 1}.00`) });

let table: TableClient;
const owner = () => new ExportTable(table, 5000, { logger: silentLogger });
const taskOf = (t: ExportTable) =>
  new LegacyUpgrade({
    rows: t.legacy,
    finder: t.legacyFinder,
    openDays: (signal) => t.openDays('1970-01-01', '9999-12-31', signal),
    timeZone: 'UTC',
    clock: systemClock,
    logger: silentLogger,
  });
const signal = new AbortController().signal;

beforeAll(async () => {
  table = (await testClients()).exports;
});

async function stored(t: ExportTable, date: string) {
  const out = [];
  for await (const r of t.storedRows(date)) out.push(r);
  return out;
}

async function drain(t: ExportTable, date: string, through?: number) {
  const snap = await t.snapshot(date, through === undefined ? {} : { through });
  const rows = [];
  for await (const page of snap.pages()) rows.push(...page);
  return { snap, rows };
}

describe('a day of an earlier release', () => {
  test('the whole day is refused at once with its progress, never served in part, then numbered in RowKey order by one of three instances', async () => {
    const date = '2026-01-20';
    await seedLegacyRows(table, date, 250, legacy(date));
    const t = owner();
    const refused = await t.snapshot(date, {}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DayUpgradingError);
    expect((refused as DayUpgradingError).progress).toEqual({ numbered: 0, found: 0 });
    await expect(t.close(date, new Date())).rejects.toBeInstanceOf(DayUpgradingError);

    const counts = await Promise.all([owner(), owner(), owner()].map((o) => o.legacy.number(date)));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(250); // each row numbered once, whoever held the lease
    const rows = await stored(t, date);
    expect(rows.map((r) => [r.rowKey, r.seq, r.expenseId])).toEqual(Array.from({ length: 250 }, (_, i) => [key(i), i + 1, key(i)]));
    const m = (await t.manifest(date))!.manifest;
    expect(m).toMatchObject({ seq: 250, rowCount: 250, totals: { USD: 3_137_500n } }); // 1.00 + 2.00 + … + 250.00
    expect(m.upgrade).toBeUndefined();
    const whole = await drain(t, date);
    expect(whole.rows).toHaveLength(250);
    // Twice is harmless, and a look that finds nothing writes nothing: the whole day is never refused again.
    const etag = (await t.manifest(date))!.etag;
    expect(await t.legacy.number(date)).toBe(0);
    expect((await t.manifest(date))!.etag).toBe(etag);
  });

  test('an instance that died mid-way leaves a lease that runs out; the next one resumes from the rows still without seq', async () => {
    const date = '2026-01-23';
    await seedLegacyRows(table, date, 120, legacy(date));
    // An instance that stops for good after its first transaction (99 rows): its lease stays behind.
    const stop = new AbortController();
    const dying = new ExportTable(table, 5000, { logger: silentLogger, events: { numbered: () => stop.abort() } });
    await expect(dying.legacy.number(date, stop.signal)).rejects.toThrow();
    const t = owner();
    expect((await t.manifest(date))!.manifest).toMatchObject({ seq: 99, upgrade: { found: 120 } });
    await expect(t.snapshot(date, {})).rejects.toBeInstanceOf(DayUpgradingError);
    expect(await t.legacy.number(date)).toBe(0); // the lease still holds: not ours to take
    await table.updateEntity(
      { partitionKey: date, rowKey: '~manifest', upgradeLeaseUntil: new Date(Date.now() - 1).toISOString() },
      'Merge',
    );
    expect(await t.legacy.number(date)).toBe(21);
    expect((await t.manifest(date))!.manifest).toMatchObject({ seq: 120, rowCount: 120, totals: { USD: 726_000n } });
    expect((await stored(t, date)).map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect((await drain(t, date)).rows).toHaveLength(120);
  });

  test('the start-up round finds the days of an earlier release with one scan, once, and the unfinished ones every round', async () => {
    const clients = await testClients();
    const fresh = new ExportTable(clients.exports, 5000, { logger: silentLogger });
    await seedLegacyRows(clients.exports, '2025-12-30', 3, legacy('2025-12-30'));
    await seedLegacyRows(clients.exports, '2025-12-31', 2, legacy('2025-12-31'));
    await fresh.append(row('2026-01-01', 'already-new'));
    const task = taskOf(fresh);
    expect(Object.fromEntries(await task.work(signal))).toEqual({ '2025-12-30': 3, '2025-12-31': 2 });
    expect((await fresh.days('2025-12-01', '2026-01-31')).map((m) => [m.date, m.seq])).toEqual([
      ['2025-12-30', 3],
      ['2025-12-31', 2],
      ['2026-01-01', 1],
    ]);
    // A new process: the marker says the table was scanned; nothing is left to number.
    expect(
      [...(await taskOf(new ExportTable(clients.exports, 5000, { logger: silentLogger })).work(signal)).values()].every((n) => n === 0),
    ).toBe(true);
  });
});

describe('a rolling upgrade: an old instance still writes rows without seq', () => {
  test('a pull of the whole day that meets one is cut, not ended cleanly; they are numbered next and the old snapshot stays the same', async () => {
    const date = '2026-01-21';
    const t = owner();
    await t.append(row(date, 'new-1'));
    const before = await drain(t, date, 1);
    await seedLegacyRows(table, date, 2, (i) => ({ ...legacy(date)(i), expenseId: `old-${i}` }));
    await expect(drain(t, date)).rejects.toBeInstanceOf(SnapshotIncompleteError);
    expect((await drain(t, date, 1)).rows).toEqual(before.rows); // rows 1..1 named before: the same
    await taskOf(t).work(signal);
    expect((await stored(t, date)).map((r) => [r.rowKey, r.seq])).toEqual([
      ['new-1', 1],
      ['old-0', 2],
      ['old-1', 3],
    ]);
    expect((await drain(t, date)).rows).toHaveLength(3);
  });

  test('found without a pull: the round looks at the open days for rows written since its last look', async () => {
    const date = new Date().toISOString().slice(0, 10);
    const clients = await testClients();
    const t = new ExportTable(clients.exports, 5000, { logger: silentLogger });
    const task = taskOf(t);
    await t.append(row(date, 'n1'));
    await task.work(signal);
    await seedLegacyRows(clients.exports, date, 3, (i) => ({ ...legacy(date)(i), expenseId: `late-old-${i}` }));
    expect((await task.work(signal)).get(date)).toBe(3);
    expect((await t.manifest(date))!.manifest.seq).toBe(4);
  });

  test('a consumer whose row an old instance wrote already (409) answers already-present, and the row is numbered next', async () => {
    const date = '2026-01-22';
    const t = owner();
    await t.append(row(date, 'n1'));
    await seedLegacyRows(table, date, 1, () => ({ ...legacy(date)(0), expenseId: 'shared' }));
    expect(await t.append(row(date, 'shared'))).toEqual({ outcome: 'already-present' });
    expect(t.legacy.takePending()).toEqual([date]);
    await t.legacy.number(date);
    expect((await stored(t, date)).find((r) => r.rowKey === 'shared')?.seq).toBe(2);
  });
});

describe('over HTTP', () => {
  let s: Services;
  beforeAll(async () => {
    s = await testServices({ users: await testUsers() });
  });

  test('GET and HEAD of the whole day answer 503 day_upgrading at once, with Retry-After and progress; a named older range is served', async () => {
    const date = '2026-01-24';
    const app = createApp(s);
    await s.exportTable.append(row(date, 'numbered-1'));
    // The day is marked upgrading, as numbering marks it while it runs.
    await s.clients.exports.updateEntity({ partitionKey: date, rowKey: '~manifest', upgradeFound: 500 }, 'Merge');
    for (const method of ['get', 'head'] as const) {
      const res = await request(app)[method](`/exports/${date}`).set('Authorization', basic('exporter'));
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      if (method === 'get') expect(res.body).toMatchObject({ code: 'day_upgrading', progress: { numbered: 1, found: 500 } });
    }
    const named = await request(app)
      .get(`/exports/${date}?through=1`)
      .set('Authorization', basic('exporter'))
      .set('Accept-Encoding', 'identity');
    expect(named.status).toBe(200);
    expect(named.headers['export-row-count']).toBe('1');
    const manifest = await request(app).get(`/exports/${date}/manifest`).set('Authorization', basic('exporter'));
    expect(manifest.body).toMatchObject({ seq: 1, upgrading: { found: 500 } });
  });
});
