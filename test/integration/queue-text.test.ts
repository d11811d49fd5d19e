/**
 * Message text through the queue, byte for byte, against a real Azurite:
 * what the service sends comes back the same, and what other producers put
 * on the queue reads as they meant it. (Without src/storage/queue-text.ts,
 * the SDK drops LF on send and hands CR back as the text `&#xD;`.)
 */
import fc from 'fast-check';
import { AzureQueue } from '../../src/storage/azure-queue';
import type { StorageClients } from '../../src/storage/clients';
import { peekRawXml, putForeign, putXml, wireTexts } from '../support/foreign-producer';
import { testClients } from '../support/storage';

let clients: StorageClients;
let queue: AzureQueue;
beforeAll(async () => {
  clients = await testClients();
  queue = new AzureQueue(clients.queue, 5000);
});
beforeEach(() => clients.queue.clearMessages());

/** Every message on the queue, received (so more than a peek's 32) and deleted. */
async function drain(): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const batch = await queue.receive(32, 30, AbortSignal.timeout(5000));
    if (batch.length === 0) return out;
    for (const m of batch) {
      out.push(m.messageText);
      await queue.delete(m.messageId, m.popReceipt, AbortSignal.timeout(5000));
    }
  }
}

const TRICKY = [
  '{\r\n  "expenseId": "a"\r\n}',
  'wrapped\nbase64\n',
  'lone\rCR',
  '\r\n\r\nleading and trailing\n\n',
  'the text &#xD; and &#13; and &#xA; and &amp; are text, not references',
  '<MessageText>x</MessageText> & "quotes" \'too\'',
  'tab\there, é, 😀',
];

test('what the service sends comes back exactly, on peek and on receive; CR and LF are stored as CR and LF', async () => {
  for (const t of TRICKY) await queue.send(t);
  expect((await queue.peek(32)).map((m) => m.messageText)).toEqual(TRICKY);
  // On the wire: a real CR (the service's &#xD;) and LF, and text that looks like a reference stays escaped text.
  const wire = wireTexts(await peekRawXml(clients.queue));
  expect(wire[0]).toBe('{&#xD;\n  "expenseId": "a"&#xD;\n}');
  expect(wire[4]).toBe('the text &amp;#xD; and &amp;#13; and &amp;#xA; and &amp;amp; are text, not references');
  expect(await drain()).toEqual(TRICKY);
});

test.each(['raw', 'refs'] as const)('what another producer puts (line ends %s) reads as it was meant', async (lineEnds) => {
  for (const t of TRICKY) await putForeign(clients.queue, t, lineEnds);
  expect((await queue.peek(32)).map((m) => m.messageText)).toEqual(TRICKY);
  expect(await drain()).toEqual(TRICKY);
});

test('character references of other characters read as those characters', async () => {
  // Written by hand: an XML writer may escape any character this way, in hex or decimal.
  await putXml(clients.queue, '&#x41;&#233;&#x1F600;&#x3C;&#38;&#x3e;&#9;&#13;&#10;');
  expect(await drain()).toEqual(['A\u00e9\u{1F600}<&>\t\r\n']);
});

test('text XML cannot carry is refused before it is sent, never turned into something else', async () => {
  await expect(queue.send('a\u0001b')).rejects.toThrow(/U\+0001/);
  await expect(queue.send('a\u0002b')).rejects.toThrow(/U\+0002/);
  await expect(queue.send('lone \ud800 surrogate')).rejects.toThrow(/U\+D800/);
  expect(await drain()).toEqual([]);
});

test('property: any XML-safe text round-trips through the service', async () => {
  const char = fc.oneof(
    fc.constantFrom('\r', '\n', '\t', '&', '<', '>', ';', '#', 'x', 'D', 'A', '1', '3'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  );
  const xmlSafe = fc
    .array(char, { maxLength: 40 })
    .map((cs) => cs.join(''))
    // eslint-disable-next-line no-control-regex -- XML 1.0 forbids exactly these (lone surrogates too); the service cannot store them
    .filter((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\ud800-\udfff]/u.test(s));
  const texts = fc.sample(xmlSafe, { numRuns: 100, seed: 7 });
  for (const t of texts) await queue.send(t);
  expect((await drain()).sort()).toEqual([...texts].sort());
}, 60_000);
