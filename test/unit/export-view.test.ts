import type { Snapshot } from '../../src/export/export-table';
import { dayListView, dayRangeProblem, manifestView, MAX_LIST_DAYS, snapshotHeaders } from '../../src/export/export-view';
import { emptyManifest, FORMAT_VERSION, withRow, type Manifest } from '../../src/export/manifest';

const day = '2026-03-14';
const v = `v${FORMAT_VERSION}`;

/** A snapshot as the table would name it: only the figures the headers are made of. */
function snapshot(over: Partial<Snapshot>): Snapshot {
  return {
    date: day,
    after: 0,
    through: 0,
    rowCount: 0,
    totals: {},
    state: 'open',
    manifest: emptyManifest(day),
    pages: undefined as never,
    ...over,
  };
}

describe('export-view: the headers of a file response', () => {
  test.each<[string, Partial<Snapshot>, string[], Record<string, string>]>([
    ['an empty open day', {}, [], { ETag: `"${day}.0-0.${v}"`, 'Export-Seq': '0', 'Export-Row-Count': '0', 'Export-State': 'open' }],
    [
      'the whole day, closed, two currencies',
      { through: 3, rowCount: 3, state: 'closed', totals: { USD: 1250n, EUR: 5n } },
      [],
      {
        ETag: `"${day}.0-3.${v}"`,
        'Export-Seq': '3',
        'Export-Row-Count': '3',
        'Export-State': 'closed',
        'Export-Totals': 'eur="0.05", usd="12.50"',
      },
    ],
    [
      'an increment, late, with a BOM and gzip',
      { after: 3, through: 5, rowCount: 2, state: 'late', totals: { JPY: 300n } },
      ['bom', 'gzip'],
      {
        ETag: `"${day}.3-5.${v}.bom.gzip"`,
        'Export-Seq': '5',
        'Export-Row-Count': '2',
        'Export-State': 'late',
        'Export-Totals': 'jpy="300"',
      },
    ],
  ])('%s', (_name, over, variant, headers) => {
    expect(snapshotHeaders(snapshot(over), variant)).toEqual(headers);
  });

  test('the ETag changes with every figure that changes the bytes, and only with them', () => {
    const tags = [
      snapshotHeaders(snapshot({ through: 3 }), []).ETag,
      snapshotHeaders(snapshot({ through: 4 }), []).ETag,
      snapshotHeaders(snapshot({ after: 1, through: 4 }), []).ETag,
      snapshotHeaders(snapshot({ through: 3 }), ['gzip']).ETag,
      snapshotHeaders(snapshot({ through: 3, date: '2026-03-15' }), []).ETag,
    ];
    expect(new Set(tags).size).toBe(tags.length);
    // The day's state is a figure, not part of the bytes' name: closing a day keeps its files' ETags.
    expect(snapshotHeaders(snapshot({ through: 3, state: 'closed' }), []).ETag).toBe(tags[0]);
  });
});

describe('export-view: a manifest as JSON', () => {
  const rows = (m: Manifest, n: number) =>
    Array.from({ length: n }).reduce<Manifest>((acc) => withRow(acc, { currency: 'USD', amount: '1.10' }), m);

  test.each<[string, Partial<Manifest>, number, Record<string, unknown>]>([
    [
      'an empty day',
      {},
      0,
      {
        state: 'open',
        seq: 0,
        rowCount: 0,
        totals: {},
        etag: `"${day}.0-0.${v}"`,
        closedSeq: null,
        acknowledgedThrough: 0,
        exportedThrough: 0,
      },
    ],
    [
      'a closed, acknowledged day',
      { closedSeq: 2, closedAt: '2026-03-15T00:30:00.000Z', acknowledgedThrough: 2, acknowledgedBy: 'onprem', exportedThrough: 1 },
      2,
      {
        state: 'closed',
        seq: 2,
        rowCount: 2,
        totals: { USD: '2.20' },
        etag: `"${day}.0-2.${v}"`,
        closedSeq: 2,
        closedAt: '2026-03-15T00:30:00.000Z',
        acknowledgedThrough: 2,
        acknowledgedBy: 'onprem',
        exportedThrough: 1,
      },
    ],
    ['a late day', { closedSeq: 1 }, 3, { state: 'late', seq: 3, etag: `"${day}.0-3.${v}"` }],
  ])('%s', (_name, over, n, expected) => {
    expect(manifestView(rows({ ...emptyManifest(day), ...over }, n))).toMatchObject({ date: day, ...expected });
  });
});

describe('export-view: the list of days', () => {
  test.each([
    { from: day, to: day, problem: undefined },
    { from: '2026-03-15', to: day, problem: 'to (2026-03-14) is before from (2026-03-15).' },
    { from: '2025-01-01', to: '2025-12-31', problem: undefined },
    { from: '2024-01-01', to: '2025-01-01', problem: `At most ${MAX_LIST_DAYS} days per call; 2024-01-01..2025-01-01 is 367.` },
  ])('$from..$to: $problem', ({ from, to, problem }) => {
    expect(dayRangeProblem(from, to)).toBe(problem);
  });

  test('unacknowledged only: the days with rows not acknowledged', () => {
    const done = { ...withRow(emptyManifest('2026-03-13'), { currency: 'USD', amount: '1.00' }), acknowledgedThrough: 1 };
    const open = withRow(emptyManifest(day), { currency: 'USD', amount: '1.00' });
    expect(dayListView('2026-03-13', day, false, [done, open]).days.map((d) => d.date)).toEqual(['2026-03-13', day]);
    expect(dayListView('2026-03-13', day, true, [done, open])).toMatchObject({ unacknowledged: true, days: [{ date: day }] });
  });
});
