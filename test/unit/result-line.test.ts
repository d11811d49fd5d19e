import {
  headerProblem,
  lineAmount,
  MAX_MESSAGE,
  MAX_REFERENCE,
  parseResultLine,
  RESULT_COLUMNS,
  type ResultCells,
} from '../../src/results/result-line';

const good: ResultCells = {
  expense_id: 'exp-1',
  status: 'paid',
  amount: '12.50',
  currency: 'USD',
  status_at: '2026-11-30T17:05:00Z',
  reference: 'PAY-77',
  message: 'paid with the November run',
};
const line = (over: ResultCells) => parseResultLine({ ...good, ...over }, 7);

describe('parseResultLine: a good line', () => {
  test('becomes a ResultLine with exact minor units and its instant', () => {
    expect(parseResultLine(good, 7)).toEqual({
      ok: true,
      value: {
        line: 7,
        expenseId: 'exp-1',
        status: 'paid',
        currency: 'USD',
        amountMinor: 1250n,
        statusAt: '2026-11-30T17:05:00Z',
        statusAtMs: Date.parse('2026-11-30T17:05:00Z'),
        reference: 'PAY-77',
        message: 'paid with the November run',
      },
    });
  });

  test.each<[string, ResultCells, Record<string, unknown>]>([
    [
      'cells are trimmed',
      { expense_id: ' exp-1 ', status: ' paid ', reference: ' r ' },
      { expenseId: 'exp-1', status: 'paid', reference: 'r' },
    ],
    ['a JSON number amount', { amount: 12.5 }, { amountMinor: 1250n }],
    ['a whole amount', { amount: '12' }, { amountMinor: 1200n }],
    ['no reference and no message (missing, null)', { reference: undefined, message: null }, { reference: '', message: '' }],
    ['a calendar date alone', { status_at: '2026-11-30' }, { statusAt: '2026-11-30' }],
    [
      'a zone offset with and without colon',
      { status_at: '2026-11-30T17:05:00+01:00' },
      { statusAtMs: Date.parse('2026-11-30T16:05:00Z') },
    ],
    ['fractional seconds', { status_at: '2026-11-30T17:05:00.123456Z' }, { statusAtMs: Date.parse('2026-11-30T17:05:00.123Z') }],
    ['every result status: posted', { status: 'posted' }, { status: 'posted' }],
    ['every result status: rejected', { status: 'rejected' }, { status: 'rejected' }],
    ['a currency with three minor digits', { currency: 'BHD', amount: '1.234' }, { amountMinor: 1234n }],
    ['a reference of exactly the maximum', { reference: 'r'.repeat(MAX_REFERENCE) }, { reference: 'r'.repeat(MAX_REFERENCE) }],
    ['a message of exactly the maximum', { message: 'm'.repeat(MAX_MESSAGE) }, { message: 'm'.repeat(MAX_MESSAGE) }],
  ])('%s', (_name, over, expected) => {
    const r = line(over);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.value).toMatchObject(expected);
  });

  test('the amount it reads back is the exact decimal', () => {
    const r = line({ amount: '0.10' });
    expect(r.ok && lineAmount(r.value)).toBe('0.10');
  });
});

describe('parseResultLine: every line rule', () => {
  // [rule, cells, the message's start, whether the bad line still names its expense]
  test.each<[string, ResultCells, string, boolean]>([
    ['a cell that is an object', { reference: { a: 1 } }, 'reference: must be a string', false],
    ['a cell that is a boolean', { message: true }, 'message: must be a string', false],
    ['a number that is not finite', { amount: Number.NaN }, 'amount: must be a string', false],
    ['a control character', { message: 'line\nbreak' }, 'message: must not contain control characters', true],
    ['a control character in the id', { expense_id: 'exp\u00001' }, 'expense_id: must not contain control characters', false],
    ['a formula start (=)', { reference: '=HYPERLINK("x")' }, 'reference: starts with a spreadsheet formula character', true],
    ['a formula start (+)', { message: '+1' }, 'message: starts with a spreadsheet formula character', true],
    ['a formula start (@)', { message: '@SUM(A1)' }, 'message: starts with a spreadsheet formula character', true],
    ['a formula start (-) in the amount', { amount: '-5.00' }, 'amount: starts with a spreadsheet formula character', true],
    ['an expense id a table key cannot hold', { expense_id: 'exp/1' }, 'expense_id: must be 1-128 of A-Z a-z 0-9 _ -', false],
    ['no expense id', { expense_id: '' }, 'expense_id: must be 1-128', false],
    ['an expense id too long', { expense_id: 'e'.repeat(129) }, 'expense_id: must be 1-128', false],
    ['a status that is not a result', { status: 'approved' }, 'status: must be posted, paid or rejected', true],
    ['a status in another case', { status: 'PAID' }, 'status: must be posted, paid or rejected', true],
    ['no status', { status: '' }, 'status: must be posted, paid or rejected', true],
    ['a currency that is not ISO 4217', { currency: 'XYZ' }, 'currency: must be an ISO 4217 code', true],
    ['a currency in lower case', { currency: 'usd' }, 'currency: must be an ISO 4217 code', true],
    ['an amount with too many decimals', { amount: '1.001' }, 'amount: USD allows at most 2 decimal places', true],
    ['an amount of zero', { amount: '0.00' }, 'amount: must be greater than zero', true],
    ['an amount that is not a number', { amount: 'ten' }, 'amount: must be a positive decimal', true],
    ['no amount', { amount: '' }, 'amount: ', true],
    ['a date-time without a zone', { status_at: '2026-11-30T17:05:00' }, 'status_at: must be an ISO 8601 date', true],
    ['not a date', { status_at: 'yesterday' }, 'status_at: must be an ISO 8601 date', true],
    ['no status_at', { status_at: '' }, 'status_at: must be an ISO 8601 date', true],
    ['a reference too long', { reference: 'r'.repeat(MAX_REFERENCE + 1) }, `reference: at most ${MAX_REFERENCE} characters`, true],
    ['a message too long', { message: 'm'.repeat(MAX_MESSAGE + 1) }, `message: at most ${MAX_MESSAGE} characters`, true],
  ])('%s', (_name, over, message, namesExpense) => {
    const r = line(over);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.line).toBe(7);
    expect(r.message.startsWith(message)).toBe(true);
    expect(r.expenseId).toBe(namesExpense ? good.expense_id : undefined);
  });
});

describe('parseResultLine: status_at names a real moment', () => {
  // Date.parse alone rolls 2026-02-30 over to 2026-03-02, so an impossible status_at would be taken as another day.
  test.each(['2026-02-30T10:00:00Z', '2026-02-29', '2025-04-31T00:00:00+02:00', '2026-01-01T24:00:00Z', '2026-01-01T23:60:00Z'])(
    'a status_at that names no real moment (%s) is refused, not rolled over',
    (statusAt) => {
      expect(line({ status_at: statusAt })).toMatchObject({ ok: false, message: expect.stringMatching(/^status_at:/) });
    },
  );

  test.each(['2028-02-29', '2026-12-31T23:59:59.999Z', '2026-06-30T00:00+05:30'])('a real one (%s) is taken', (statusAt) => {
    expect(line({ status_at: statusAt }).ok).toBe(true);
  });
});

describe('headerProblem', () => {
  test.each([
    ['the columns in order', [...RESULT_COLUMNS]],
    ['the columns in another order', [...RESULT_COLUMNS].reverse()],
    ['the columns with spaces around', RESULT_COLUMNS.map((c) => ` ${c} `)],
  ])('%s: no problem', (_name, header) => {
    expect(headerProblem(header)).toBeUndefined();
  });

  test.each([
    ['a column missing', RESULT_COLUMNS.filter((c) => c !== 'amount'), 'missing "amount"'],
    ['an unknown column', [...RESULT_COLUMNS, 'note'], 'unknown "note"'],
    ['a column twice', [...RESULT_COLUMNS, 'status'], 'twice "status"'],
    ['a column in another case', RESULT_COLUMNS.map((c) => (c === 'status' ? 'Status' : c)), 'missing "status"; unknown "Status"'],
    ['no header at all', [], 'missing "expense_id"'],
  ])('%s', (_name, header, problem) => {
    expect(headerProblem(header)).toContain(problem);
  });
});
