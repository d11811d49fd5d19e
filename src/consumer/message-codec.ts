import { approvalMessageSchema, type ApprovalMessage } from '../expenses/model';

/**
 * We write base64(JSON), the Azure Functions/WebJobs default, and read both
 * base64 and raw JSON so a producer using either convention works.
 */
export function encodeApproval(msg: ApprovalMessage): string {
  return Buffer.from(JSON.stringify(msg), 'utf8').toString('base64');
}

export type DecodeResult =
  { ok: true; message: ApprovalMessage } | { ok: false; code: 'bad_encoding' | 'bad_json' | 'bad_schema'; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function decodeApproval(text: string): DecodeResult {
  let json: string;
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && trimmed.length % 4 === 0 && BASE64.test(trimmed)) {
    try {
      json = UTF8.decode(Buffer.from(trimmed, 'base64'));
    } catch {
      return { ok: false, code: 'bad_encoding', reason: 'base64 payload is not UTF-8' };
    }
  } else {
    json = trimmed; // raw JSON (or garbage, which JSON.parse will name)
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return { ok: false, code: 'bad_json', reason: 'message body is not valid JSON' };
  }
  const parsed = approvalMessageSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      code: 'bad_schema',
      reason: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, message: parsed.data };
}
