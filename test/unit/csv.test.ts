import fc from 'fast-check';
import { parse } from 'csv-parse/sync';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import { csvStringifier, neutralizeCell, pageStream, unneutralizeCell } from '../../src/export/csv';
import type { ExportRecord } from '../../src/export/export-row';
import type { ExportPage } from '../../src/export/export-table';

const row = (over: Partial<ExportRecord> = {}): ExportRecord => ({
  expenseId: 'e1',
  approvedAt: '2026-11-23T09:00:00.000Z',
  approver: 'boss',
  employee: 'Ada',
  costCenter: 'CC-1',
  reimbursementMethod: 'cash',
  currency: 'USD',
  amount: '0.30',
  ...over,
});

// One page per chunk, as the reader delivers them; empty input means a partition with no rows.
const render = (rows: ExportRecord[]) => text(Readable.from(rows.length ? [rows] : []).pipe(csvStringifier()));
const records = (csv: string, opts: { relax_quotes?: boolean } = {}) => parse<Record<string, string>>(csv, { columns: true, ...opts });

describe('CSV', () => {
  test('exact header, CRLF line ends, one line per row', async () => {
    const out = await render([row(), row({ expenseId: 'e2' })]);
    expect(out).toBe(
      'expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount\r\n' +
        'e1,2026-11-23T09:00:00.000Z,boss,Ada,CC-1,cash,USD,0.30\r\n' +
        'e2,2026-11-23T09:00:00.000Z,boss,Ada,CC-1,cash,USD,0.30\r\n',
    );
  });

  test('header alone when there are no rows', async () => {
    expect(await render([])).toBe('expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount\r\n');
  });

  test('RFC 4180 quoting of commas, quotes and line breaks', async () => {
    const out = await render([row({ employee: 'Smith, "Jay"\nJr' })]);
    expect(out).toContain('"Smith, ""Jay""\nJr"');
    expect(records(out)[0].employee).toBe('Smith, "Jay"\nJr');
  });

  test.each(['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '＝1', '＋1', '－1', '＠x', "'quoted"])('%p is neutralized', async (value) => {
    const out = await render([row({ employee: value, approver: value, costCenter: value })]);
    const parsed = records(out, { relax_quotes: true })[0];
    for (const k of ['employee', 'approver', 'cost_center']) {
      expect(parsed[k]).toBe(`'${value}`);
      expect(unneutralizeCell(parsed[k])).toBe(value);
    }
  });

  test('server-formatted numbers are left as numbers', async () => {
    const parsed = records(await render([row({ amount: '1200' })]))[0];
    expect(parsed.amount).toBe('1200');
    expect(parsed.approved_at).toBe('2026-11-23T09:00:00.000Z');
  });

  test('property: any text survives CSV + neutralization round-trip through a real parser', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { minLength: 1, maxLength: 5 }), async (names) => {
        const rows = names.map((n, i) => row({ expenseId: `e${i}`, employee: n, approver: n }));
        const parsed = parse<Record<string, string>>(await render(rows), { columns: true });
        expect(parsed.map((p) => unneutralizeCell(p.employee))).toEqual(names);
        for (const p of parsed) expect(p.employee).not.toMatch(/^[=+\-@\t\r＝＋－＠]/);
      }),
      { numRuns: 200 },
    );
  });

  test('neutralizeCell leaves ordinary text alone', () => {
    expect(neutralizeCell('Ada Lovelace')).toBe('Ada Lovelace');
    expect(neutralizeCell('')).toBe('');
  });

  test('lone CR or LF inside a field is quoted, so a parser never sees a new record', async () => {
    const out = await render([row({ employee: 'a\nb', approver: 'c\rd' })]);
    expect(out.split('\r\n')).toHaveLength(3); // header, the row, and the empty tail
    expect(records(out)[0]).toMatchObject({ employee: 'a\nb', approver: 'c\rd' });
  });

  test('a file of several pages has one header, every row in order, and counts each page', async () => {
    const counted: number[] = [];
    const pages = [[row({ expenseId: 'a' }), row({ expenseId: 'b' })], [], [row({ expenseId: 'c' })]];
    const parsed = records(await text(Readable.from(pages).pipe(csvStringifier({ onPage: (n) => counted.push(n) }))));
    expect(parsed.map((p) => p.expense_id)).toEqual(['a', 'b', 'c']);
    expect(counted).toEqual([2, 0, 1]);
  });
});

// A page reader over in-memory pages, counting how often it is asked: the pure part of the reader.
function pagesOf(...sizes: number[]) {
  let calls = 0;
  let returned = false;
  async function* reader(): AsyncGenerator<ExportPage> {
    try {
      for (const [p, n] of sizes.entries()) {
        calls++;
        yield Object.assign(
          Array.from({ length: n }, (_, i) => row({ expenseId: `p${p}r${i}` })),
          p < sizes.length - 1 ? { continuationToken: `t${p}` } : {},
        );
      }
    } finally {
      returned = true;
    }
  }
  return { reader: reader(), calls: () => calls, returned: () => returned };
}

describe('pageStream', () => {
  test('every page, in order, after the one read beforehand', async () => {
    const src = pagesOf(2, 0, 1);
    const first = await src.reader.next();
    const pages = (await pageStream(src.reader, first).toArray()) as ExportPage[];
    expect(pages.map((p) => p.map((r) => r.expenseId))).toEqual([['p0r0', 'p0r1'], [], ['p2r0']]);
  });

  test('a reader that was already done gives an empty stream, and the CSV is the header alone', async () => {
    const src = pagesOf();
    const first = await src.reader.next();
    expect(first.done).toBe(true);
    const csv = await text(pageStream(src.reader, first).pipe(csvStringifier()));
    expect(csv).toBe('expense_id,approved_at,approver,employee,cost_center,reimbursement_method,currency,amount\r\n');
  });

  test('a consumer that stops reading stops the page reads (back-pressure)', async () => {
    const src = pagesOf(...Array.from({ length: 50 }, () => 1000));
    const stalled = new Writable({ highWaterMark: 1024, write: () => {} }); // never calls back
    void pipeline(pageStream(src.reader), csvStringifier(), stalled).catch(() => {});
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // It did start (the first page reached the stalled consumer, and the buffers between took their one page
    // each), and then it stopped: 50 pages were there to read.
    expect(src.calls()).toBeGreaterThanOrEqual(2);
    expect(src.calls()).toBeLessThanOrEqual(4);
    stalled.destroy();
  });

  test('a stream destroyed before it asked for a page still ends the page reader', async () => {
    const src = pagesOf(1000, 1000);
    const ended = jest.spyOn(src.reader, 'return');
    const stream = pageStream(src.reader);
    stream.destroy();
    await new Promise((r) => stream.once('close', r));
    expect(ended).toHaveBeenCalled();
    expect(src.calls()).toBe(0);
  });

  test('destroying the stream ends the page reader', async () => {
    const src = pagesOf(1000, 1000, 1000);
    const stream = pageStream(src.reader);
    stream.read();
    await new Promise((r) => setImmediate(r));
    stream.destroy();
    await new Promise((r) => stream.once('close', r));
    expect(src.returned()).toBe(true);
  });
});
