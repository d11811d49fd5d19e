/**
 * The export table's owner against a real Azurite: seqs and the manifest in
 * one entity-group transaction, the 409 and 412 paths, group commit and its
 * fallback and competing writers (the upgrade of rows without seq: legacy-upgrade.test.ts).
 */
import type { TableClient } from '@azure/data-tables';
import pino from 'pino';
import { ExportTable } from '../../src/export/export-table';
import { dayState } from '../../src/export/manifest';
import { mapLimit } from '../../src/map-limit';
import { testClients, testExportRow } from '../support/storage';

const silent = pino({ level: 'silent' });
const row = testExportRow;

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
