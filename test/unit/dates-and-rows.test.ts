import { dateInZone, isCalendarDate } from '../../src/expenses/dates';
import { toExportRow, NotExportableError } from '../../src/export/export-row';
import type { Expense } from '../../src/expenses/model';

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

  test('flattens to one row keyed by approval date and id, with the exact total', () => {
    expect(
      toExportRow(expense, [
        { description: 'a', amountMinor: 1000n },
        { description: 'b', amountMinor: 200n },
      ]),
    ).toEqual({
      partitionKey: '2026-11-23',
      rowKey: 'e1',
      approvedAt: '2026-11-23T09:00:00.000Z',
      approver: 'boss',
      employee: 'Ada',
      costCenter: 'CC-1',
      reimbursementMethod: 'cash',
      currency: 'JPY',
      amount: '1200',
    });
  });

  test('refuses an expense without an approval or without items', () => {
    expect(() => toExportRow({ ...expense, approvedAt: undefined }, [{ description: 'a', amountMinor: 1n }])).toThrow(NotExportableError);
    expect(() => toExportRow(expense, [])).toThrow(NotExportableError);
  });
});
