import { dateInZone, dateMinusDays, daysBetween, isCalendarDate, nextDate, startOfDayInZone } from '../../src/expenses/dates';
import { decodeItems, encodeItems, rowKeyFor, toExportRow, NotExportableError } from '../../src/export/export-row';
import { CATEGORY_MAX, MAX_ITEMS, type Expense } from '../../src/expenses/model';

describe('dates', () => {
  test.each(['2026-11-23', '2024-02-29', '1970-01-01'])('%s is a calendar date', (d) => expect(isCalendarDate(d)).toBe(true));
  test.each(['2026-02-30', '2025-02-29', '26-1-1', '../x', '2026-13-01', '2026-1-01', '', '2026-11-23T00:00', ' 2026-11-23'])(
    '%p is not',
    (d) => expect(isCalendarDate(d)).toBe(false),
  );

  test('approval date is the calendar date in the configured zone', () => {
    const instant = new Date('2026-11-23T23:30:00Z');
    expect(dateInZone(instant, 'UTC')).toBe('2026-11-23');
    expect(dateInZone(instant, 'Europe/Berlin')).toBe('2026-11-24');
    expect(dateInZone(instant, 'America/Los_Angeles')).toBe('2026-11-23');
  });
});

describe('toExportRow (pure)', () => {
  const expense: Expense = {
    id: 'e1',
    employee: 'Ada',
    costCenter: 'CC-1',
    reimbursementMethod: 'cash',
    currency: 'JPY',
    state: 'approved',
    createdAt: '2026-11-23T08:00:00.000Z',
    approvedAt: '2026-11-23T09:00:00.000Z',
    approver: 'boss',
    approvalDate: '2026-11-23',
  };

  test('a later approval attempt gets its own row key; the file still says the expense id', () => {
    const second = toExportRow({ ...expense, approvalAttempt: 2 }, [{ description: 'a', amountMinor: 5n }]);
    expect(second).toMatchObject({ rowKey: 'e1.2', expenseId: 'e1', attempt: 2 });
    expect(rowKeyFor('e1', 1)).toBe('e1');
    expect(rowKeyFor('e1', 3) < '~').toBe(true); // below the day's manifest, as every row key
  });

  test('flattens to one row keyed by approval date and id, with the exact total', () => {
    expect(
      toExportRow(expense, [
        { description: 'a', amountMinor: 1000n },
        { description: 'b', amountMinor: 200n },
      ]),
    ).toEqual({
      partitionKey: '2026-11-23',
      rowKey: 'e1',
      attempt: 1,
      expenseId: 'e1',
      approvedAt: '2026-11-23T09:00:00.000Z',
      approver: 'boss',
      employee: 'Ada',
      costCenter: 'CC-1',
      reimbursementMethod: 'cash',
      currency: 'JPY',
      amount: '1200',
      items: '[["","1000"],["","200"]]',
    });
  });

  test("carries the employee number and each item's category and exact amount", () => {
    const row = toExportRow({ ...expense, employeeNumber: 'P-0042' }, [
      { description: 'a', amountMinor: 1000n, category: 'TRAVEL' },
      { description: 'b', amountMinor: 200n },
    ]);
    expect(row.employeeNumber).toBe('P-0042');
    expect(decodeItems(row.items)).toEqual([
      { category: 'TRAVEL', amountMinor: 1000n },
      { category: '', amountMinor: 200n },
    ]);
    expect(decodeItems(undefined)).toBeUndefined(); // a row an earlier release wrote
  });

  test("the items property fits the table's 64 KiB string limit at the most items, longest categories", () => {
    const worst = Array.from({ length: MAX_ITEMS }, () => ({
      description: 'x'.repeat(200),
      amountMinor: 10n ** 15n,
      category: '"'.repeat(CATEGORY_MAX),
    }));
    expect(encodeItems(worst).length * 2).toBeLessThanOrEqual(64 * 1024);
  });

  test('refuses an expense without an approval or without items', () => {
    expect(() => toExportRow({ ...expense, approvedAt: undefined }, [{ description: 'a', amountMinor: 1n }])).toThrow(NotExportableError);
    expect(() => toExportRow(expense, [])).toThrow(NotExportableError);
  });
});

describe('days in a time zone', () => {
  test('startOfDayInZone finds the first instant of a date, across DST changes', () => {
    expect(new Date(startOfDayInZone('2026-02-06', 'Europe/Berlin')).toISOString()).toBe('2026-02-05T23:00:00.000Z');
    expect(new Date(startOfDayInZone('2026-07-06', 'Europe/Berlin')).toISOString()).toBe('2026-07-05T22:00:00.000Z');
    expect(new Date(startOfDayInZone('2026-03-29', 'Europe/Berlin')).toISOString()).toBe('2026-03-28T23:00:00.000Z'); // DST starts that day
    expect(new Date(startOfDayInZone('2026-11-23', 'UTC')).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(new Date(startOfDayInZone('2026-11-23', 'Pacific/Kiritimati')).toISOString()).toBe('2026-11-22T10:00:00.000Z'); // UTC+14
  });

  test('nextDate, dateMinusDays and daysBetween count calendar days', () => {
    expect(nextDate('2026-02-28')).toBe('2026-03-01');
    expect(nextDate('2028-02-28')).toBe('2028-02-29');
    expect(dateMinusDays('2026-03-01', 1)).toBe('2026-02-28');
    expect(daysBetween('2026-01-01', '2026-12-31')).toBe(365);
    expect(daysBetween('2026-01-02', '2026-01-01')).toBe(0);
  });
});
