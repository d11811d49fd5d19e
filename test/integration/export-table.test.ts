/**
 * The export table's owner against a real Azurite: seqs and the manifest in
 * one entity-group transaction, the 409 and 412 paths, group commit and its
 * fallback, competing writers, and the upgrade of rows without seq.
 */
import type { TableClient } from '@azure/data-tables';
import pino from 'pino';
import { ExportTable } from '../../src/export/export-table';
import { dayState } from '../../src/export/manifest';
import { mapLimit } from '../../src/map-limit';
import { seedLegacyRows, testClients, testExportRow, type TestRow } from '../support/storage';

const silent = pino({ level: 'silent' });
const row = testExportRow;
const legacy =
  (date: string) =>
  (i: number): TestRow => ({ ...row(date, `legacy-${String(i).padStart(4, '0')}`, `${i + 1}.00`) });

let table: TableClient;
let conflicts = 0;
const late: Array<{ date: string; seq: number }> = [];
const owner = () =>
  new ExportTable(table, 5000, {
    logger: silent,
    events: { conflict: () => void conflicts++, late: (date, rows) => late.push(...rows.map((r) => ({ date, seq: r.seq }))) },
  });
let t: ExportTable;

beforeAll(async () => {
  table = (await testClients()).exports;
  t = owner();
});

/** Every row of the day as stored: seq, running totals, and the key. */
async function stored(date: string) {
  const out = [];
  for await (const r of t.storedRows(date)) out.push(r);
  return out;
}

describe('append: rows and manifest in one transaction', () => {
  test('seqs are dense in arrival order and the manifest counts and totals them exactly, per currency', async () => {
    const date = '2026-01-10';
    const results = [];
    for (const [id, amount, currency] of [
      ['c', '0.10', 'USD'],
      ['a', '0.20', 'USD'],
      ['b', '1200', 'JPY'],
    ] as const)
      results.push(await t.append(row(date, id, amount, currency)));
    expect(results).toEqual([1, 2, 3].map((seq) => ({ outcome: 'inserted', seq, late: false })));
    const m = (await t.manifest(date))!.manifest;
    expect(m).toMatchObject({ seq: 3, rowCount: 3, totals: { USD: 30n, JPY: 1200n }, acknowledgedThrough: 0 });
    expect(dayState(m)).toBe('open');
    // RowKey order in the table, seq in arrival order; each row carries the day's running totals after it.
    expect((await stored(date)).map((r) => [r.rowKey, r.seq, r.totalsThrough])).toEqual([
      ['a', 2, '{"USD":"30"}'],
      ['b', 3, '{"USD":"30","JPY":"1200"}'],
      ['c', 1, '{"USD":"10"}'],
    ]);
  });

  test('409: a row that is there already is reported, and the manifest does not move', async () => {
    const date = '2026-01-11';
    await t.append(row(date, 'x'));
    const before = await t.manifest(date);
    expect(await t.append(row(date, 'x'))).toEqual({ outcome: 'already-present' });
    expect(await owner().append(row(date, 'x'))).toEqual({ outcome: 'already-present' }); // a writer with no cached manifest, too
    expect((await t.manifest(date))!.manifest.seq).toBe(1);
    expect((await t.manifest(date))!.etag).toBe(before!.etag);
  });

  test('a batch holding a row that exists falls back to one row at a time: the rest are written, nothing twice', async () => {
    const date = '2026-01-12';
    await t.append(row(date, 'm'));
    // Appended together, they go in one transaction, which the duplicate fails as a whole.
    const results = await Promise.all(['k', 'm', 'n', 'm'].map((id) => t.append(row(date, id))));
    expect(results.map((r) => r.outcome)).toEqual(['inserted', 'already-present', 'inserted', 'already-present']);
    const rows = await stored(date);
    expect(rows.map((r) => r.seq).sort()).toEqual([1, 2, 3]);
    expect((await t.manifest(date))!.manifest).toMatchObject({ seq: 3, rowCount: 3, totals: { USD: 300n } });
  });

  test('group commit: rows arriving together share transactions of at most 99 rows plus the manifest', async () => {
    const date = '2026-01-13';
    const transactions: number[] = [];
    table.pipeline.addPolicy({
      name: 'count-batches',
      async sendRequest(req, next) {
        if (req.url.endsWith('/$batch')) transactions.push(1);
        return next(req);
      },
    });
    try {
      await Promise.all(Array.from({ length: 250 }, (_, i) => t.append(row(date, `g${String(i).padStart(3, '0')}`))));
    } finally {
      table.pipeline.removePolicy({ name: 'count-batches' });
    }
    expect(transactions.length).toBeGreaterThanOrEqual(3); // 250 rows need three transactions at least
    expect(transactions.length).toBeLessThan(20); // and far fewer than one per row
    const seqs = (await stored(date)).map((r) => r.seq!).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
  });

  test('412: competing writers on one date (separate instances) all land, with dense unique seqs and exact totals', async () => {
    const date = '2026-01-14';
    const writers = [owner(), owner(), owner()];
    const before = conflicts;
    await mapLimit(
      Array.from({ length: 90 }, (_, i) => i),
      12,
      (i) => writers[i % 3].append(row(date, `w${String(i).padStart(3, '0')}`, '0.01')),
    );
    const rows = await stored(date);
    expect(rows).toHaveLength(90);
    expect(rows.map((r) => r.seq!).sort((a, b) => a - b)).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expect((await t.manifest(date))!.manifest).toMatchObject({ seq: 90, rowCount: 90, totals: { USD: 90n } });
    expect(conflicts).toBeGreaterThan(before); // they did race for the manifest, and retried
  });
});

describe('entity-group transactions fail whole (Azurite had bugs here: asserted on status codes)', () => {
  test('a duplicate row in the middle: 409, and neither the new row nor the manifest change is written', async () => {
    const date = '2026-01-15';
    await t.append(row(date, 'dup'));
    const m = (await t.manifest(date))!;
    const err = await table
      .submitTransaction([
        ['create', { ...row(date, 'fresh'), seq: 2 }],
        ['create', { ...row(date, 'dup'), seq: 3 }],
        ['update', { partitionKey: date, rowKey: '~manifest', seq: 3 }, 'Merge', { etag: m.etag }],
      ])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 409 });
    expect((await stored(date)).map((r) => r.rowKey)).toEqual(['dup']);
    expect((await t.manifest(date))!).toEqual(m);
  });

  test('a stale manifest ETag: 412, and the row in the same transaction is not written', async () => {
    const date = '2026-01-16';
    await t.append(row(date, 'first'));
    const stale = (await t.manifest(date))!;
    await owner().append(row(date, 'second')); // another writer moves the manifest
    const err = await table
      .submitTransaction([
        ['create', { ...row(date, 'third'), seq: 2 }],
        ['update', { partitionKey: date, rowKey: '~manifest', seq: 2 }, 'Merge', { etag: stale.etag }],
      ])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ statusCode: 412 });
    expect((await stored(date)).map((r) => r.rowKey)).toEqual(['first', 'second']);
  });
});

describe('upgrade of rows without seq (written by the previous release)', () => {
  test('the first touch numbers them in RowKey order and builds the manifest; three instances at once number each row once', async () => {
    const date = '2026-01-20';
    await seedLegacyRows(table, date, 250, legacy(date));
    const results = await Promise.all([owner(), owner(), owner()].map((o) => o.manifest(date)));
    for (const r of results) expect(r?.manifest.seq).toBe(250);
    const rows = await stored(date);
    expect(rows.map((r) => [r.rowKey, r.seq, r.expenseId])).toEqual(
      Array.from({ length: 250 }, (_, i) => [`legacy-${String(i).padStart(4, '0')}`, i + 1, `legacy-${String(i).padStart(4, '0')}`]),
    );
    // 1.00 + 2.00 + … + 250.00
    expect((await t.manifest(date))!.manifest).toMatchObject({ rowCount: 250, totals: { USD: 3_137_500n } });
    expect(await t.sequence(date)).toBe(0); // twice is harmless
  });

  test('rows an old instance writes after the new release took over (rolling upgrade) are numbered next, never lost', async () => {
    const date = '2026-01-21';
    await t.append(row(date, 'new-1'));
    await seedLegacyRows(table, date, 2, (i) => ({ ...legacy(date)(i), expenseId: `old-${i}` }));
    // A full pull finds them and numbers them for the next one.
    const snap = await t.snapshot(date, {});
    let streamed = 0;
    for await (const page of snap.pages()) streamed += page.length;
    expect(streamed).toBe(1);
    const numbered = await waitForSeq(date, 3);
    expect(numbered.map((r) => [r.rowKey, r.seq])).toEqual([
      ['new-1', 1],
      ['old-0', 2],
      ['old-1', 3],
    ]);
  });

  test('a consumer whose row an old instance wrote already (409) numbers that row at once', async () => {
    const date = '2026-01-22';
    await t.append(row(date, 'n1'));
    await seedLegacyRows(table, date, 1, () => ({ ...legacy(date)(0), expenseId: 'shared' }));
    expect(await t.append(row(date, 'shared'))).toEqual({ outcome: 'already-present' });
    expect((await stored(date)).find((r) => r.rowKey === 'shared')?.seq).toBe(2);
  });

  test('the start-up step finds the days of the previous release with one scan, once', async () => {
    const clients = await testClients();
    const fresh = new ExportTable(clients.exports, 5000, { logger: silent });
    await seedLegacyRows(clients.exports, '2025-12-30', 3, legacy('2025-12-30'));
    await seedLegacyRows(clients.exports, '2025-12-31', 2, legacy('2025-12-31'));
    await fresh.append(row('2026-01-01', 'already-new'));
    expect(await fresh.upgrade()).toEqual({ scanned: true, days: 2, numbered: 5 });
    expect((await fresh.days('2025-12-01', '2026-01-31')).map((m) => [m.date, m.seq])).toEqual([
      ['2025-12-30', 3],
      ['2025-12-31', 2],
      ['2026-01-01', 1],
    ]);
    expect(await fresh.upgrade()).toEqual({ scanned: false, days: 0, numbered: 0 });
  });
});

async function waitForSeq(date: string, seq: number) {
  for (let i = 0; i < 100; i++) {
    if ((await t.manifest(date))?.manifest.seq === seq) return stored(date);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${date} never reached seq ${seq}`);
}
