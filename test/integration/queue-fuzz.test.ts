import fc from 'fast-check';
import { decodeApproval } from '../../src/expenses/approval-message';
import type { Services } from '../../src/services';
import { readPoison } from '../../harness/invariants';
import { queueDepth, testServices } from '../support/storage';
import { waitFor } from '../support/wait';
import { expectLoopTurning } from '../support/consumer-probe';

/**
 * Hostile queue bodies: the consumer poisons each one with a reason, keeps
 * its original body, drops nothing, and keeps running.
 */
let s: Services;
beforeAll(async () => {
  s = await testServices({ config: { CONSUMER_CONCURRENCY: 16 } });
});
afterAll(() => s.consumer.stop(2000));

test('a few hundred random message bodies all end in the poison queue, each with its reason', async () => {
  const bodies = fc
    .sample(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.json(),
        fc.string({ maxLength: 60 }).map((x) => Buffer.from(x).toString('base64')),
        fc.record({ expenseId: fc.string({ maxLength: 20 }), approvalDate: fc.string({ maxLength: 12 }) }).map((o) => JSON.stringify(o)),
        // Line breaks where producers put them: JSON with CRLF, base64 wrapped in lines, and both mangled.
        fc.string({
          unit: fc.constantFrom('\r', '\n', '\r\n', '{', '}', '"', ':', ',', ' ', 'a', 'Z', '0', '+', '/', '=', '&', '#', ';'),
          maxLength: 60,
        }),
        fc.tuple(fc.string({ minLength: 24, maxLength: 90 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom('\n', '\r\n')).map(
          ([x, width, eol]) =>
            Buffer.from(x)
              .toString('base64')
              .match(new RegExp(`.{1,${width}}`, 'g'))
              ?.join(eol) ?? '',
        ),
      ),
      { numRuns: 250, seed: 42 },
    )
    // Queue messages must be XML-safe text; a valid-looking message would wait for a missing expense instead.
    .filter(
      // eslint-disable-next-line no-control-regex -- XML 1.0 forbids exactly these code points in a queue message; the test leaves them out on purpose
      (b) => b.trim() !== '' && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ud800-\udfff]/.test(b) && !decodeApproval(b).ok,
    );
  const unique = [...new Set(bodies)];
  expect(unique.filter((b) => /[\r\n]/.test(b)).length).toBeGreaterThan(50); // the line-break cases are really there
  // Through the service's adapter, which keeps CR and LF (the SDK alone drops LF on send).
  for (const b of unique) await s.queues.main.send(b);

  s.consumer.start();
  await waitFor(async () => (await queueDepth(s.clients.queue)) === 0, 60000, 200);
  await expectLoopTurning(s.consumer); // neither crashed (stopped) nor stuck

  const poisoned = await readPoison(s.clients);
  const seen = new Map(poisoned.map((p) => [p.body, p]));
  expect(poisoned).toHaveLength(unique.length); // nothing dropped, nothing poisoned twice
  expect(seen.size).toBe(unique.length);
  for (const b of unique) {
    expect(seen.get(b)).toBeDefined();
    expect(seen.get(b)!.reason.length).toBeGreaterThan(0);
    expect(['bad_encoding', 'bad_json', 'bad_schema']).toContain(seen.get(b)!.code);
  }
}, 90000);
