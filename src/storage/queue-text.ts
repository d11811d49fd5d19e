import type { QueueClient, QueueServiceClient } from '@azure/storage-queue';

/**
 * Message text through the queue SDK, byte for byte. The SDK alone loses
 * line ends both ways (verified with @azure/storage-queue 12.30 and Azurite):
 * - send: its XML serializer deletes every LF in the request body, and writes
 *   CR raw, which a conforming XML parser (a real queue service) reads as LF;
 * - receive/peek: the service returns CR as the character reference `&#xD;`,
 *   and the SDK's parser decodes only the named entities, so `&#xD;` reaches
 *   us as five characters of text, indistinguishable from a body that really
 *   contains the text `&#xD;` (which is sent and returned as `&amp;#xD;`).
 *
 * The fix sits on both sides of the SDK's (de)serialization: the adapter
 * (AzureQueue) hands the SDK text with CR and LF replaced by two sentinels,
 * and a pipeline policy, which sees the serialized request and the raw
 * response, turns the sentinels into character references on the wire and
 * character references from the wire back into their characters (CR and LF
 * as sentinels, since the parser would normalise a raw CR to LF). The
 * sentinels U+0001 and U+0002 are unambiguous: XML 1.0 forbids them, so no
 * queue message can contain them; a text with them is refused before sending.
 */
const CR = '\u0001';
const LF = '\u0002';

/** Text for the SDK's sendMessage: CR and LF as sentinels (see above). */
export function toQueueText(text: string): string {
  const bad = XML_FORBIDDEN.exec(text);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new RangeError(`a queue message cannot contain U+${code} (XML 1.0 forbids it)`);
  }
  return text.replaceAll('\r', CR).replaceAll('\n', LF);
}

/** Text from the SDK's receive/peek, with the sentinels the policy put in turned back into CR and LF. */
export function fromQueueText(text: string): string {
  return text.replaceAll(CR, '\r').replaceAll(LF, '\n');
}

// Exactly the code points XML 1.0 forbids, lone surrogates included.
const XML_FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- control characters are what this pattern is about
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const MESSAGE_TEXT = /(<MessageText>)([^<]*)(<\/MessageText>)/g;
const inMessageText = (xml: string, f: (text: string) => string) =>
  xml.replace(MESSAGE_TEXT, (_m, open: string, t: string, close: string) => open + f(t) + close);

/** Request side: the serialized body's sentinels as character references, which every XML parser reads as CR and LF. */
export function encodeWireXml(xml: string): string {
  return inMessageText(xml, (t) => t.replaceAll(CR, '&#xD;').replaceAll(LF, '&#xA;'));
}

const isXmlChar = (c: number) =>
  c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
const NAMED: Record<number, string> = { 0x26: '&amp;', 0x3c: '&lt;', 0x3e: '&gt;' };

/**
 * Response side: each character reference as what the SDK's parser passes
 * through unchanged (the character itself; `&`, `<`, `>` as the named entity
 * it does decode; CR and LF as sentinels), and a raw CR as a sentinel too.
 * A reference to a character XML forbids is left as it is (no sentinel can
 * come of it).
 */
export function decodeWireXml(xml: string): string {
  return inMessageText(xml, (t) =>
    t.replace(/\r/g, CR).replace(/&#(x[0-9A-Fa-f]{1,8}|[0-9]{1,10});/g, (ref, n: string) => {
      const c = n.startsWith('x') ? parseInt(n.slice(1), 16) : parseInt(n, 10);
      if (!isXmlChar(c)) return ref;
      if (c === 0xd) return CR;
      if (c === 0xa) return LF;
      return NAMED[c] ?? String.fromCodePoint(c);
    }),
  );
}

/** The parts of core-rest-pipeline the policy uses (the package is the SDK's dependency, not ours). */
interface WireRequest {
  body?: unknown;
  headers: { set(name: string, value: string | number): void };
}
interface WireResponse {
  bodyAsText?: string | null;
}
interface WirePolicy {
  name: string;
  sendRequest(request: WireRequest, next: (request: WireRequest) => Promise<WireResponse>): Promise<WireResponse>;
}
interface CorePipeline {
  addPolicy(policy: WirePolicy, options: { afterPolicies: string[] }): void;
  getOrderedPolicies(): Array<{ name: string }>;
}

export const QUEUE_TEXT_POLICY = 'expenseExportQueueText';

const policy: WirePolicy = {
  name: QUEUE_TEXT_POLICY,
  async sendRequest(request, next) {
    if (typeof request.body === 'string' && request.body.includes('<MessageText>')) {
      const body = encodeWireXml(request.body);
      request.body = body;
      // The SDK set Content-Length before us; shared-key signing, after us, signs the corrected one.
      request.headers.set('Content-Length', Buffer.byteLength(body));
    }
    const response = await next(request);
    if (response.bodyAsText?.includes('<MessageText>')) response.bodyAsText = decodeWireXml(response.bodyAsText);
    return response;
  },
};

/**
 * Installs the policy once per SDK pipeline. Clients from one
 * QueueServiceClient share its pipeline, so installing it on the service
 * client covers every queue client it hands out. After deserializationPolicy
 * means nearer the wire: the request is already serialized, the response not
 * yet parsed; and before signing, which covers the Content-Length we fix.
 */
export function installQueueTextPolicy(client: QueueClient | QueueServiceClient): void {
  // storageClientContext is protected in the SDK's typings: the SDK has no public hook at this position.
  const pipeline = (client as unknown as { storageClientContext?: { pipeline?: CorePipeline } }).storageClientContext?.pipeline;
  if (!pipeline?.addPolicy) throw new Error('@azure/storage-queue changed: no pipeline to install the queue text policy on');
  if (pipeline.getOrderedPolicies().some((p) => p.name === QUEUE_TEXT_POLICY)) return;
  pipeline.addPolicy(policy, { afterPolicies: ['deserializationPolicy'] });
  pipeline.getOrderedPolicies(); // throws now, not at the first message, if the SDK has no deserializationPolicy
}
