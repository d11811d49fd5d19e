import fc from 'fast-check';
import { decodeApproval, encodeApproval } from '../../src/expenses/approval-message';

describe('approval message codec', () => {
  const msg = { expenseId: 'abc-123', approvalDate: '2026-11-23' };

  test('we write base64 JSON and read it back', () => {
    const text = encodeApproval(msg);
    expect(text).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(decodeApproval(text)).toEqual({ ok: true, message: msg });
  });

  test('raw JSON is accepted too, and unknown extra fields are ignored', () => {
    expect(decodeApproval(JSON.stringify({ ...msg, source: 'expense-app' }))).toEqual({ ok: true, message: msg });
  });

  /** Base64 in lines of `width`, as coreutils `base64` (LF, 76) and .NET's InsertLineBreaks (CRLF, 76) write it. */
  const wrapped = (json: string, width: number, eol: string) =>
    Buffer.from(json)
      .toString('base64')
      .match(new RegExp(`.{1,${width}}`, 'g'))!
      .join(eol) + eol;

  test('base64 wrapped in lines is read like unwrapped base64', () => {
    const long = { ...msg, expenseId: 'x'.repeat(100), note: 'long enough for three lines of 76 columns' };
    const expected = { ok: true, message: { expenseId: long.expenseId, approvalDate: msg.approvalDate } };
    expect(wrapped(JSON.stringify(long), 76, '\n')).toContain('\n');
    expect(decodeApproval(wrapped(JSON.stringify(long), 76, '\n'))).toEqual(expected);
    expect(decodeApproval(wrapped(JSON.stringify(long), 76, '\r\n'))).toEqual(expected);
    // `echo '{…}' | base64`: the JSON's own newline is inside the payload.
    expect(decodeApproval(wrapped(`${JSON.stringify(long)}\n`, 76, '\n'))).toEqual(expected);
  });

  test('property: base64 of a message wrapped at any width, with LF or CRLF, decodes to the message', () => {
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 120 }), fc.constantFrom('\n', '\r\n'), (width, eol) => {
        expect(decodeApproval(wrapped(JSON.stringify(msg), width, eol))).toEqual({ ok: true, message: msg });
      }),
    );
  });

  test('field names in any case: .NET (Newtonsoft) writes ExpenseId and ApprovalDate', () => {
    for (const body of [
      { ExpenseId: 'abc-123', ApprovalDate: '2026-11-23' },
      { EXPENSEID: 'abc-123', approvaldate: '2026-11-23' },
      { expenseID: 'abc-123', approvalDate: '2026-11-23', Source: 'payroll-app' },
    ]) {
      expect(decodeApproval(JSON.stringify(body))).toEqual({ ok: true, message: msg });
    }
  });

  test('a field given twice in different cases is refused: which one was meant is a guess', () => {
    const r = decodeApproval('{"expenseId":"a","ExpenseId":"b","approvalDate":"2026-11-23"}');
    expect(r).toEqual({ ok: false, code: 'bad_schema', reason: 'expenseId: given more than once (expenseId, ExpenseId)' });
  });

  test.each([
    '2026-11-23T14:05:00Z',
    '2026-11-23T14:05:00.1234567+01:00',
    '2026-11-23T00:00:00',
    '2026-11-23T23:59',
    '2026-11-23T14:05:00-0500',
  ])('an ISO 8601 date-time %p is an approvalDate too (only the stored date is used)', (approvalDate) => {
    expect(decodeApproval(JSON.stringify({ ExpenseId: 'abc-123', ApprovalDate: approvalDate }))).toEqual({
      ok: true,
      message: { expenseId: 'abc-123', approvalDate },
    });
  });

  test.each([
    '2026-02-30T10:00:00Z',
    '2026-11-23T24:00:00Z',
    '2026-11-23 10:00',
    '2026-11-23T10:00:00Zjunk',
    'November 23, 2026',
    '1700000000000',
  ])('approvalDate %p is refused', (approvalDate) => {
    const r = decodeApproval(JSON.stringify({ expenseId: 'abc-123', approvalDate }));
    expect(r).toMatchObject({ ok: false, code: 'bad_schema', reason: expect.stringMatching(/^approvalDate: /) });
  });

  test('each reason names what the body is', () => {
    const reason = (text: string) => {
      const r = decodeApproval(text);
      return r.ok ? undefined : r.reason;
    };
    expect(reason('please export expense 42')).toBe('message body is neither JSON nor base64');
    expect(reason('{"expenseId": ')).toBe('message body is not valid JSON');
    expect(reason(Buffer.from('{oops').toString('base64'))).toBe('message body is base64, but what it decodes to is not valid JSON');
    expect(reason(Buffer.from([0xff, 0xfe]).toString('base64'))).toBe('base64 payload is not UTF-8');
  });

  test.each([
    ['not json at all', 'bad_json'],
    ['{"expenseId": ', 'bad_json'],
    [Buffer.from('{oops').toString('base64'), 'bad_json'],
    [Buffer.from([0xff, 0xfe, 0xfd]).toString('base64'), 'bad_encoding'],
    [JSON.stringify({ expenseId: 'a' }), 'bad_schema'],
    [JSON.stringify({ expenseId: 'a/b', approvalDate: '2026-11-23' }), 'bad_schema'],
    [JSON.stringify({ ExpenseId: 'a/b', ApprovalDate: '2026-11-23T10:00:00Z' }), 'bad_schema'],
    [JSON.stringify({ expenseId: "x' or PartitionKey ne '", approvalDate: '2026-11-23' }), 'bad_schema'],
    [JSON.stringify({ expenseId: 'a', approvalDate: '2026-02-30' }), 'bad_schema'],
    [JSON.stringify([msg]), 'bad_schema'],
    ['', 'bad_json'],
  ])('%p is refused as %s', (text, code) => {
    const r = decodeApproval(text);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.code).toBe(code);
  });

  test('property: any string decodes to a message or a reason, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.string().map((s) => Buffer.from(s).toString('base64')),
        ),
        (text) => {
          const r = decodeApproval(text);
          expect(typeof r.ok).toBe('boolean');
          if (!r.ok) expect(r.reason.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 500 },
    );
  });
});
