import fc from 'fast-check';
import { decodeApproval, encodeApproval } from '../../src/consumer/message-codec';

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

  test.each([
    ['not json at all', 'bad_json'],
    ['{"expenseId": ', 'bad_json'],
    [Buffer.from('{oops').toString('base64'), 'bad_json'],
    [Buffer.from([0xff, 0xfe, 0xfd]).toString('base64'), 'bad_encoding'],
    [JSON.stringify({ expenseId: 'a' }), 'bad_schema'],
    [JSON.stringify({ expenseId: 'a/b', approvalDate: '2026-11-23' }), 'bad_schema'],
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
