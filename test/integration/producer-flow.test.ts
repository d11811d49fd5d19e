/**
 * Messages as other producers really write them, against a real Azurite,
 * put there by raw HTTP (test/support/foreign-producer.ts): wrapped base64
 * (coreutils `base64`, .NET InsertLineBreaks), JSON with CRLF line ends
 * (PowerShell ConvertTo-Json) and .NET field names with a DateTime
 * (Newtonsoft). Each is exported; and a poisoned message keeps its exact
 * bytes in the envelope, on replay, and back in poison.
 */
import { dateInZone } from '../../src/expenses/dates';
import { demoExpense } from '../../src/expenses/demo-data';
import type { Services } from '../../src/services';
import { failedChecks, readPoison, settleInvariants } from '../../harness/invariants';
import { peekRawXml, putForeign, wireTexts, type LineEnds } from '../support/foreign-producer';
import { queueDepth, testClients, testServices } from '../support/storage';
import { waitFor } from '../support/wait';

const running: Services[] = [];
afterAll(() => Promise.all(running.map((s) => s.consumer.stop(2000))));

const today = dateInZone(new Date(), 'UTC');

async function approvedWithoutMessage(s: Services, i: number): Promise<string> {
  const e = await s.store.create(demoExpense(i), new Date());
  const found = (await s.store.get(e.id))!;
  const approval = { state: 'approved' as const, approvedAt: new Date().toISOString(), approver: 'approver', approvalDate: today };
  await s.store.replace({ ...found.value, ...approval }, found.etag);
  return e.id;
}

/** Base64 in lines of 76, as coreutils `base64` (LF) and .NET's Base64FormattingOptions.InsertLineBreaks (CRLF) write it. */
const wrappedBase64 = (json: string, eol: '\n' | '\r\n') =>
  `${Buffer.from(json)
    .toString('base64')
    .match(/.{1,76}/g)!
    .join(eol)}${eol}`;
/** PowerShell's ConvertTo-Json on Windows: indented, CRLF line ends. */
const crlfJson = (o: object) => JSON.stringify(o, null, 4).replace(/\n/g, '\r\n');
/** A JSON long enough that its base64 spans lines. */
const padded = (o: object) => JSON.stringify({ ...o, source: 'payroll-bridge', comment: 'long enough to wrap at 76 columns' });

type Producer = [label: string, lineEnds: LineEnds, body: (expenseId: string) => string];
const PRODUCERS: Producer[] = [
  ['coreutils base64 (LF), as az CLI sends it', 'raw', (id) => wrappedBase64(padded({ expenseId: id, approvalDate: today }), '\n')],
  ['.NET InsertLineBreaks base64 (CRLF)', 'refs', (id) => wrappedBase64(padded({ expenseId: id, approvalDate: today }), '\r\n')],
  ['PowerShell ConvertTo-Json (CRLF), as az CLI sends it', 'raw', (id) => crlfJson({ expenseId: id, approvalDate: today })],
  ['PowerShell ConvertTo-Json (CRLF), as references', 'refs', (id) => crlfJson({ expenseId: id, approvalDate: today })],
  ['Newtonsoft names and a DateTime', 'refs', (id) => JSON.stringify({ ExpenseId: id, ApprovalDate: `${today}T14:05:00.1234567+00:00` })],
  [
    'Newtonsoft, indented with CRLF, base64',
    'raw',
    (id) => wrappedBase64(crlfJson({ ExpenseId: id, ApprovalDate: `${today}T00:00:00` }), '\n'),
  ],
];

test('each message as other producers write it is exported, and nothing is poisoned', async () => {
  expect(PRODUCERS.filter(([, , body]) => body('x').includes('\n'))).toHaveLength(PRODUCERS.length - 1); // all but one have line breaks
  const s = await testServices();
  running.push(s);
  const ids: string[] = [];
  for (const [i, [, lineEnds, body]] of PRODUCERS.entries()) {
    const id = await approvedWithoutMessage(s, i);
    ids.push(id);
    await putForeign(s.clients.queue, body(id), lineEnds);
  }
  s.consumer.start();
  const report = await settleInvariants(s.clients, ids, [], 20_000);
  const poisoned = report.poison.map((p) => `${p.code}: ${p.reason}`);
  expect({ failed: failedChecks(report), poisoned }).toEqual({ failed: [], poisoned: [] });
  expect(report.counts).toMatchObject({ approved: PRODUCERS.length, exportRows: PRODUCERS.length, processing: PRODUCERS.length });
});

test('a poisoned message keeps its bytes: in the envelope, on the approval queue after replay, and back in poison', async () => {
  const clients = await testClients();
  const first = await testServices({ clients });
  running.push(first);
  // Malformed in ways line breaks must not change: a CRLF JSON with an id that breaks the key rules, the same as wrapped
  // base64, and text that only looks like a character reference.
  const BODIES = [
    crlfJson({ ExpenseId: 'a/b', ApprovalDate: today }),
    wrappedBase64(padded({ expenseId: 'a/b', approvalDate: today }), '\r\n'),
    '{"expenseId": "x&#xD;y", "approvalDate": "&#13;"}\n',
  ];
  for (const b of BODIES) await putForeign(first.clients.queue, b, 'raw');
  first.consumer.start();
  const poisoned = await waitFor(async () => {
    const p = await readPoison(clients);
    return p.length === BODIES.length ? p : undefined;
  }, 15_000);
  await first.consumer.stop(2000);
  expect(poisoned.map((p) => p.body).sort()).toEqual([...BODIES].sort());
  expect(poisoned.map((p) => p.code)).toEqual(['bad_schema', 'bad_schema', 'bad_schema']);

  const { replayed } = await first.poison.replay(32, undefined);
  expect(replayed).toHaveLength(BODIES.length);
  expect((await first.queues.main.peek(32)).map((m) => m.messageText).sort()).toEqual([...BODIES].sort());
  // On the wire, the replayed CRs are CRs (the queue's &#xD;), not the five characters "&#xD;".
  const wire = wireTexts(await peekRawXml(clients.queue));
  expect(wire.filter((t) => t.includes('&#xD;\n'))).toHaveLength(2);
  expect(wire.some((t) => t.includes('&amp;#xD;'))).toBe(true);

  // A fresh consumer finds them just as malformed as before: same bodies, same codes.
  const second = await testServices({ clients });
  running.push(second);
  second.consumer.start();
  await waitFor(async () => (await queueDepth(clients.queue)) === 0 && (await readPoison(clients)).length === BODIES.length, 15_000);
  const again = await readPoison(clients);
  expect(again.map((p) => [p.body, p.code]).sort()).toEqual(poisoned.map((p) => [p.body, p.code]).sort());
});
