import { approvalMessageSchema, type ApprovalMessage } from '../expenses/model';

/**
 * We write base64(JSON), the Azure Functions/WebJobs default, and read both
 * base64 (wrapped in lines or not) and raw JSON so a producer using either
 * convention works.
 */
export function encodeApproval(msg: ApprovalMessage): string {
  return Buffer.from(JSON.stringify(msg), 'utf8').toString('base64');
}

export type DecodeResult =
  { ok: true; message: ApprovalMessage } | { ok: false; code: 'bad_encoding' | 'bad_json' | 'bad_schema'; reason: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// Line breaks, which .NET's and Python's decoders skip too: coreutils `base64` without -w0 and .NET's
// Base64FormattingOptions.InsertLineBreaks wrap at 76 columns. Not spaces: with them, plain words would pass for base64.
const LINE_BREAKS = /\r?\n/g;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

type Failure = Extract<DecodeResult, { ok: false }>;
const fail = (code: Failure['code'], reason: string): Failure => ({ ok: false, code, reason });

export function decodeApproval(text: string): DecodeResult {
  const trimmed = text.trim();
  const compact = trimmed.replace(LINE_BREAKS, '');
  let raw: unknown;
  if (/^[{["]/.test(trimmed)) {
    raw = parseJson(trimmed);
    if (raw === NOT_JSON) return fail('bad_json', 'message body is not valid JSON');
  } else if (compact.length % 4 === 0 && BASE64.test(compact)) {
    let json: string;
    try {
      json = UTF8.decode(Buffer.from(compact, 'base64'));
    } catch {
      return fail('bad_encoding', 'base64 payload is not UTF-8');
    }
    raw = parseJson(json);
    if (raw === NOT_JSON) return fail('bad_json', 'message body is base64, but what it decodes to is not valid JSON');
  } else {
    raw = parseJson(trimmed); // a JSON scalar (which the schema refuses), or neither format
    if (raw === NOT_JSON) return fail('bad_json', 'message body is neither JSON nor base64');
  }
  const parsed = approvalMessageSchema.safeParse(raw);
  if (!parsed.success) {
    return fail('bad_schema', parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  return { ok: true, message: parsed.data };
}

const NOT_JSON = Symbol('not JSON');
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_JSON;
  }
}
