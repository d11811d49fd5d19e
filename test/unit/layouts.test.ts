import fc from 'fast-check';
import iconv from 'iconv-lite';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { v1PageText } from '../../src/export/csv';
import { toExportRow } from '../../src/export/export-row';
import type { FileRecord } from '../../src/export/export-table';
import { emptyManifest, matchesSnapshot, snapshotEtag, withRow } from '../../src/export/manifest';
import type { Expense } from '../../src/expenses/model';
import { formatMinor } from '../../src/money/money';
import { Charset } from '../../src/layouts/encoding';
import { builtInLayouts, compileLayout, loadLayouts } from '../../src/layouts/registry';
import { ValueTooWideError } from '../../src/layouts/render';

const layouts = builtInLayouts('Europe/Berlin');
const get = (name: string) => layouts.get(name)!;

const rec = (over: Partial<FileRecord> = {}): FileRecord => ({
  expenseId: 'e1',
  approvedAt: '2026-11-23T09:00:00.000Z',
  approver: 'boss',
  employee: 'Ada',
  costCenter: 'CC-1',
  reimbursementMethod: 'cash',
  currency: 'EUR',
  amount: '1234.50',
  seq: 1,
  ...over,
});

const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }).filter((s) => !/\p{Cc}/u.test(s));
const record = fc.record({
  expenseId: fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
  approver: text,
  employee: text,
  costCenter: text,
  reimbursementMethod: fc.constantFrom('cash', 'check', 'direct_deposit'),
  currency: fc.constantFrom('EUR', 'JPY', 'BHD'),
  minor: fc.bigInt({ min: 1n, max: 10n ** 8n }),
});

describe('v1 as a declarative layout', () => {
  test('the generic engine writes exactly the bytes of the v1 writer, formula guard and quoting included', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), fc.boolean(), (rs, first) => {
        const rows = rs.map((r, i) => {
          const items = [{ description: 'x', amountMinor: r.minor }];
          const expense = {
            ...r,
            id: r.expenseId,
            approvedAt: '2026-11-23T09:00:00.000Z',
            approvalDate: '2026-11-23',
            state: 'approved',
            createdAt: '',
          } as unknown as Expense;
          return { ...toExportRow(expense, items), seq: i + 1 };
        });
        const engine = get('v1').renderer.page(rows, '2026-11-23', first).bytes.toString('utf8');
        expect(engine).toBe(v1PageText(rows, first));
      }),
    );
  });
});

describe('excel-de', () => {
  test('semicolons, a decimal comma that changes no digit, DD.MM.YYYY in EXPORT_TIMEZONE, Windows-1252', () => {
    const out = get('excel-de').renderer.page([rec({ approvedAt: '2026-11-23T23:30:00.000Z', employeeNumber: 'P-7' })], '2026-11-24', true);
    const lines = iconv.decode(out.bytes, 'windows-1252').split('\r\n');
    expect(lines[0]).toBe('Belegnummer;Datum;Personalnummer;Mitarbeiter;Kostenstelle;Genehmigt von;Erstattung;Währung;Betrag');
    expect(lines[1]).toBe('e1;24.11.2026;P-7;Ada;CC-1;boss;cash;EUR;1234,50'); // 00:30 in Berlin
    expect(out.bytes.includes(Buffer.from([0xe4]))).toBe(true); // ä of Währung as one Windows-1252 byte
  });

  test.each([
    ['Łukasz Żółć', 'Lukasz Zólc', 4],
    ['Dvořák', 'Dvorák', 1],
    ['José Müller-Øst', 'José Müller-Øst', 0],
    ['王 Wang', '[U+738B] Wang', 1],
  ])('%s is written as %s, %i characters transliterated, never a ? or a dropped one', (name, written, changed) => {
    const out = get('excel-de').renderer.page([rec({ employee: name })], '2026-11-23', false);
    expect(iconv.decode(out.bytes, 'windows-1252').split(';')[3]).toBe(written);
    expect(out.transliterated).toBe(changed);
    expect(out.bytes.includes(0x3f)).toBe(false); // no '?'
  });

  test('a decomposed é (e + U+0301) is composed to the é Windows-1252 has: the same character, not a change', () => {
    expect(new Charset('windows-1252').fold('Jose\u0301')).toEqual({ text: 'José', changed: 0 });
  });
});

describe('the formula guard holds in every layout', () => {
  test.each(['v1', 'excel-de', 'fixed-width-payroll', 'gl-lines'])('%s', (name) => {
    const hostile = rec({
      employee: '=HYPERLINK("x")',
      costCenter: '+1',
      approver: '@SUM(A1)',
      employeeNumber: 'P1',
      items: '[["-2+3","100"]]',
      amount: '1.00',
    });
    const l = get(name);
    const cells = l.renderer
      .page([hostile], '2026-11-23', false)
      .bytes.toString('latin1')
      .split(/[\r\n;,]+/)
      .filter(Boolean);
    for (const c of cells) expect(c.replace(/^"/, '')).not.toMatch(/^[=+\-@]/);
  });
});

describe('fixed-width-payroll', () => {
  test('documented widths: employee number 20, date 8, amount in minor units 15 zero-padded, currency 3, seq 10', () => {
    const out = get('fixed-width-payroll').renderer.page([rec({ employeeNumber: 'P-0042', seq: 7 })], '2026-11-23', true);
    expect(out.bytes.toString('latin1')).toBe(`${'P-0042'.padEnd(20)}20261123${'123450'.padStart(15, '0')}EUR${'7'.padStart(10, '0')}\r\n`);
    expect(get('fixed-width-payroll').prepass).toBe(false); // every value fits its column by validation
  });

  test('amounts in minor units are exact for every currency, without leading zeros', () => {
    const r = get('fixed-width-payroll').renderer;
    const amount = (a: string, currency: string) =>
      r
        .page([rec({ amount: a, currency })], '2026-11-23', false)
        .bytes.toString('latin1')
        .slice(28, 43)
        .replace(/^0+(?=\d)/, '');
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.constantFrom('EUR', 'JPY', 'BHD'), (minor, currency) => {
        expect(amount(formatMinor(minor, currency), currency)).toBe(minor.toString());
      }),
    );
    expect(amount('1.5', 'EUR')).toBe('150'); // not the form we write: read the strict way, still exact
    expect(() => amount('1,5', 'EUR')).toThrow(/not exact money/); // not money at all: refused, never guessed
  });

  test('a value wider than its column is refused, never cut; such a layout checks the file before its headers', () => {
    const narrow = compileLayout(
      {
        name: 'narrow',
        version: 1,
        kind: 'fixed',
        encoding: 'iso-8859-1',
        header: false,
        columns: [{ header: 'N', field: 'expense.employee', width: 5, align: 'left', pad: ' ' }],
      },
      'test',
      'UTC',
    ).layout!;
    expect(narrow.prepass).toBe(true);
    expect(narrow.renderer.page([rec({ employee: 'Ada' })], '2026-11-23', false).bytes.toString('latin1')).toBe('Ada  \r\n');
    expect(() => narrow.renderer.page([rec({ employee: 'Grace Hopper' })], '2026-11-23', false)).toThrow(ValueTooWideError);
    // The read before the headers counts without rendering, and refuses the same value the same way.
    expect(narrow.renderer.count([rec({ employee: 'Ada' })], '2026-11-23')).toBe(1);
    expect(() => narrow.renderer.count([rec({ seq: 7, employee: 'Grace Hopper' })], '2026-11-23')).toThrow(
      expect.objectContaining({ name: 'ValueTooWideError', seq: 7, column: 'N', width: 5, length: 12 }),
    );
  });
});

describe('counting records without rendering them (the read before the headers)', () => {
  test('count(rows) is the records page(rows) makes, in every built-in layout, items and rows without items alike', () => {
    const items = fc.option(
      fc.array(fc.tuple(fc.constantFrom('TRAVEL', 'MEALS', ''), fc.bigInt({ min: 1n, max: 10n ** 6n })), { maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(items, { maxLength: 25 }), (rs) => {
        const rows = rs.map((it, i) =>
          rec({ seq: i + 1, items: it === null ? undefined : JSON.stringify(it.map(([c, m]) => [c, String(m)])) }),
        );
        for (const name of layouts.names()) {
          const r = get(name).renderer;
          expect(r.count(rows, '2026-11-23')).toBe(r.page(rows, '2026-11-23', false).records);
        }
      }),
    );
  });
});

describe('gl-lines (item grain)', () => {
  const expense = (id: string, currency: string) =>
    ({
      id,
      employee: 'Ada',
      costCenter: 'CC',
      reimbursementMethod: 'cash',
      currency,
      state: 'approved',
      createdAt: '',
      approvedAt: '2026-11-23T09:00:00.000Z',
      approver: 'b',
      approvalDate: '2026-11-23',
    }) as Expense;

  test("a day's item amounts sum exactly to the manifest's totals, per currency", () => {
    const item = fc.record({
      amountMinor: fc.bigInt({ min: 1n, max: 10n ** 8n }),
      category: fc.constantFrom(undefined, 'TRAVEL', 'MEALS', 'X'),
    });
    const row = fc.record({
      currency: fc.constantFrom('EUR', 'JPY', 'BHD'),
      items: fc.array(item, { minLength: 1, maxLength: 8 }),
      legacy: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), (rs) => {
        let m = emptyManifest('2026-11-23');
        const rows: FileRecord[] = rs.map((r, i) => {
          const exportRow = toExportRow(
            expense(`e${i}`, r.currency),
            r.items.map((x) => ({ description: 'd', ...x })),
          );
          m = withRow(m, exportRow);
          const { items, ...withoutItems } = exportRow;
          return { ...(r.legacy ? withoutItems : { ...withoutItems, items }), seq: i + 1 }; // legacy: written before rows had items
        });
        const out = get('gl-lines').renderer.page(rows, '2026-11-23', true);
        const lines = out.bytes.toString('utf8').split('\r\n').slice(1, -1);
        expect(out.records).toBe(lines.length);
        const sums: Record<string, bigint> = {};
        for (const l of lines) {
          const cells = l.split(',');
          const [cur, amount] = [cells[6], cells[7]];
          const [whole, frac = ''] = amount.split('.');
          sums[cur] = (sums[cur] ?? 0n) + BigInt(whole + frac);
        }
        expect(sums).toEqual(m.totals);
      }),
    );
  });

  test('a row written before rows carried items is one line with the expense total, line 1, the default account', () => {
    const out = get('gl-lines').renderer.page([rec({ amount: '12.30' })], '2026-11-23', false);
    expect(out.bytes.toString('utf8')).toBe('6999,e1,1,,CC-1,,EUR,12.30,2026-11-23\r\n');
  });

  test('one line per item, the account from the category', () => {
    const out = get('gl-lines').renderer.page(
      [rec({ amount: '12.30', employeeNumber: 'P1', items: '[["TRAVEL","1000"],["OTHER","230"]]' })],
      '2026-11-23',
      false,
    );
    expect(out.bytes.toString('utf8')).toBe(
      '6100,e1,1,P1,CC-1,TRAVEL,EUR,10.00,2026-11-23\r\n6999,e1,2,P1,CC-1,OTHER,EUR,2.30,2026-11-23\r\n',
    );
  });
});

describe('validation', () => {
  test('reports every problem at once, each with its field', () => {
    const r = compileLayout(
      {
        name: 'Bad Name',
        version: 0,
        delimiter: ':',
        encoding: 'ebcdic',
        columns: [{ header: '=x', field: 'expense.salary' }],
      },
      'f',
      'UTC',
    );
    expect(r.layout).toBeUndefined();
    const fields = r.problems.map((p) => p.split(':')[0]);
    expect(fields).toEqual(expect.arrayContaining(['name', 'version', 'delimiter', 'encoding', 'columns.0.header', 'columns.0.field']));
    // Rules across fields are reported with the others, not only once those are fixed.
    const both = compileLayout(
      {
        name: 'x',
        version: 1,
        delimiter: ':',
        kind: 'fixed',
        columns: [{ header: 'a', field: 'expense.amount', format: 'DD.MM.YYYY', width: 5, align: 'left', pad: ' ' }],
      },
      'f',
      'UTC',
    );
    expect(both.problems).toEqual(
      expect.arrayContaining([
        'delimiter: must be one of , ; TAB |',
        'encoding: fixed width needs a single-byte encoding, so that a width counts bytes',
        'columns.0.format: for expense.amount must be one of: decimal, minor',
      ]),
    );
  });

  test('rules across fields: fixed width needs widths and a single-byte encoding, item fields need item grain, constants fit the encoding', () => {
    const r = compileLayout(
      {
        name: 'x',
        version: 1,
        kind: 'fixed',
        columns: [
          { header: 'A', field: 'item.amount' },
          { header: 'B', value: 'x', format: 'minor', width: 1, align: 'left', pad: ' ' },
        ],
      },
      'f',
      'UTC',
    );
    expect(r.problems).toEqual(
      expect.arrayContaining([
        'encoding: fixed width needs a single-byte encoding, so that a width counts bytes',
        'columns.0.width: is required in a fixed-width layout',
        'columns.0.field: item.amount needs grain: item',
        'columns.1.format: applies to a field, not to a constant value',
      ]),
    );
    const euro = compileLayout(
      { name: 'x', version: 1, encoding: 'iso-8859-1', columns: [{ header: 'Betrag €', field: 'expense.amount' }] },
      'f',
      'UTC',
    );
    expect(euro.problems).toEqual(['columns.0.header: "Betrag €" has characters iso-8859-1 cannot hold']);
  });

  test('a layouts directory: a bad file stops the load naming the file; a name is taken once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'layouts-'));
    try {
      writeFileSync(join(dir, 'good.yaml'), 'name: mine\nversion: 2\ndelimiter: TAB\ncolumns:\n  - { header: id, field: expense.id }\n');
      expect(loadLayouts(dir, 'UTC')).toMatchObject({ ok: true });
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'v1', version: 1, columns: [{ header: 'a', field: 'nope' }] }));
      writeFileSync(
        join(dir, 'taken.json'),
        JSON.stringify({ name: 'excel-de', version: 1, columns: [{ header: 'a', field: 'expense.id' }] }),
      );
      const r = loadLayouts(dir, 'UTC');
      expect(r.ok).toBe(false);
      const problems = (r as { problems: string[] }).problems;
      expect(problems.some((p) => p.startsWith(`${join(dir, 'bad.json')}: columns.0.field: must be one of`))).toBe(true);
      expect(problems).toContain(`${join(dir, 'taken.json')}: name: "excel-de" is already the name of a built-in layout`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ETags name the layout', () => {
  const tag = get('excel-de').tag;
  test("v1's ETags are unchanged; another layout's carry its tag, and a changed definition changes it", () => {
    expect(snapshotEtag('2026-11-23', 0, 5)).toBe('"2026-11-23.0-5.v1"');
    expect(tag).toMatch(/^excel-de@1~[0-9a-f]{8}$/);
    const changed = compileLayout({ ...get('excel-de').layout, delimiter: ',' }, 'f', 'Europe/Berlin').layout!;
    expect(changed.tag).not.toBe(tag);
    expect(compileLayout(get('excel-de').layout, 'f', 'UTC').layout!.tag).not.toBe(tag); // it renders in EXPORT_TIMEZONE
  });

  test('If-None-Match matches the same layout in any coding, never another layout', () => {
    const excel = snapshotEtag('2026-11-23', 0, 5, [tag, 'gzip']);
    expect(matchesSnapshot(excel, '2026-11-23', 0, 5, tag)).toBe(true);
    expect(matchesSnapshot(excel, '2026-11-23', 0, 5)).toBe(false); // v1
    expect(matchesSnapshot('"2026-11-23.0-5.v1.gzip"', '2026-11-23', 0, 5)).toBe(true);
    expect(matchesSnapshot('"2026-11-23.0-5.v1"', '2026-11-23', 0, 5, tag)).toBe(false);
  });
});
