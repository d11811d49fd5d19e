import { QueueSASPermissions, type QueueClient } from '@azure/storage-queue';

/**
 * A producer that is not this service: raw HTTP against the queue's REST
 * API, so what reaches the queue is exactly the XML other SDKs write, not
 * what our SDK and its policy would make of it. Two styles:
 * - 'raw': CR and LF as raw characters, which is what `az storage message
 *   put` (Python's ElementTree) sends; seen on the wire through a logging
 *   proxy with Azure CLI 2.45 against Azurite;
 * - 'refs': CR and LF as the character references `&#xD;` and `&#xA;`, which
 *   is what an XML writer that keeps them through a conforming parser must
 *   send (.NET's entitizing writers).
 * `&`, `<` and `>` are escaped as every XML writer does.
 */
export type LineEnds = 'raw' | 'refs';

export async function putForeign(queue: QueueClient, text: string, lineEnds: LineEnds = 'raw'): Promise<void> {
  let xmlText = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  if (lineEnds === 'refs') xmlText = xmlText.replace(/\r/g, '&#xD;').replace(/\n/g, '&#xA;');
  await putXml(queue, xmlText);
}

/** A message whose MessageText element holds exactly `xmlText` (already XML: references and entities as written). */
export async function putXml(queue: QueueClient, xmlText: string): Promise<void> {
  const body = `<?xml version='1.0' encoding='utf-8'?>\n<QueueMessage><MessageText>${xmlText}</MessageText></QueueMessage>`;
  const res = await fetch(sasUrl(queue, 'messages', 'a'), { method: 'POST', body, headers: { 'Content-Type': 'application/xml' } });
  if (res.status !== 201) throw new Error(`put ${res.status}: ${await res.text()}`);
}

/** The queue's answer to a peek as raw XML, before any SDK parses it: what is really stored. */
export async function peekRawXml(queue: QueueClient): Promise<string> {
  const res = await fetch(sasUrl(queue, 'messages', 'r', 'peekonly=true&numofmessages=32'));
  if (res.status !== 200) throw new Error(`peek ${res.status}: ${await res.text()}`);
  return res.text();
}

/** The MessageText elements of a raw answer, as they are on the wire (escaped). */
export const wireTexts = (xml: string): string[] => [...xml.matchAll(/<MessageText>([^<]*)<\/MessageText>/g)].map((m) => m[1]);

function sasUrl(queue: QueueClient, path: string, permissions: string, query = ''): string {
  const sas = new URL(
    queue.generateSasUrl({ permissions: QueueSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + 3600_000) }),
  );
  sas.pathname += `/${path}`;
  return `${sas.toString()}${query ? `&${query}` : ''}`;
}
