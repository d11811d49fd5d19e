import fc from 'fast-check';
import { decodeWireXml, encodeWireXml, fromQueueText, toQueueText } from '../../src/storage/queue-text';

/** Where the SDK's text meets the wire; the round trip through a real service is test/integration/queue-text.test.ts. */
const el = (t: string) => `<?xml version="1.0"?><QueueMessage><MessageText>${t}</MessageText></QueueMessage>`;

describe('queue message text on the wire', () => {
  test('CR and LF leave as character references, which every XML parser reads back as CR and LF', () => {
    expect(encodeWireXml(el(toQueueText('a\r\nb\rc\nd')))).toBe(el('a&#xD;&#xA;b&#xD;c&#xA;d'));
  });

  test('character references, hex or decimal, arrive as what the SDK parser passes through', () => {
    // CR and LF as sentinels; & < > as the named entities the parser does decode; anything else as itself.
    expect(decodeWireXml(el('&#xD;&#13;&#xA;&#10;&#x3C;&#60;&#38;&#x3E;&#x41;&#233;&#x1F600;&#9;'))).toBe(
      el('\u0001\u0001\u0002\u0002&lt;&lt;&amp;&gt;A\u00e9\u{1F600}\t'),
    );
    expect(fromQueueText('\u0001\u0002')).toBe('\r\n');
  });

  test('escaped text that looks like a reference stays text; so does a reference to a character XML forbids', () => {
    expect(decodeWireXml(el('&amp;#xD; &amp;#13;'))).toBe(el('&amp;#xD; &amp;#13;'));
    expect(decodeWireXml(el('&#x1;&#2;&#xFFFE;&#x110000;'))).toBe(el('&#x1;&#2;&#xFFFE;&#x110000;'));
  });

  test('a raw CR from the wire is kept as CR (an XML parser would make it LF)', () => {
    expect(decodeWireXml(el('a\r\nb'))).toBe(el('a\u0001\nb'));
  });

  test('only message text is touched', () => {
    const xml =
      '<QueueMessagesList><QueueMessage><MessageId>&#x41;</MessageId><MessageText>&#x41;</MessageText></QueueMessage></QueueMessagesList>';
    expect(decodeWireXml(xml)).toBe(
      '<QueueMessagesList><QueueMessage><MessageId>&#x41;</MessageId><MessageText>A</MessageText></QueueMessage></QueueMessagesList>',
    );
  });

  test('the sentinels are refused in text to send, as is every character XML 1.0 forbids', () => {
    for (const bad of ['\u0001', '\u0002', '\u0000', '\u001f', '\ufffe', '\ud800', 'x\udc00'])
      expect(() => toQueueText(bad)).toThrow(RangeError);
    expect(toQueueText('\u{1F600}\t')).toBe('\u{1F600}\t'); // a surrogate pair is one legal character
  });

  test('property: a text the service can hold survives send-side and receive-side encoding', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('\r', '\n', '\t', '&', '<', '>', ';', '#', 'x', 'D', '1', '3', 'é') }), (t) => {
        const xmlEscaped = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
        // What the service returns for what we sent: the SDK escapes & < >, our policy writes references, the service echoes them.
        const wire = encodeWireXml(el(xmlEscaped(toQueueText(t))));
        const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
        const parsed = unescape(/<MessageText>([^<]*)</.exec(decodeWireXml(wire))![1]); // as the SDK parser reads it
        expect(fromQueueText(parsed)).toBe(t);
      }),
      { numRuns: 300 },
    );
  });
});
