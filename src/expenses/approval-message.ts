import { z } from 'zod';
import { isCalendarDate } from './dates';
import { KEY_PATTERN } from './model';

/*
 * The approval message: the contract between the expense app (or our own
 * approval, src/expenses/approval.ts) that writes it and the consumer that
 * reads it (src/consumer/export-handler.ts). Its schema, its encoding and
 * its decoding live here, together.
 */

/**
 * An approval message's date as producers write it: YYYY-MM-DD, or an ISO
 * 8601 date-time (.NET serializers write a DateTime so). Only its date part
 * is ever compared, and the stored approval date wins anyway.
 */
const ISO_DATE_TIME =
  /^(\d{4}-\d{2}-\d{2})(?:T(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)?)?$/;
export const messageDatePart = (value: string): string | undefined => {
  const date = ISO_DATE_TIME.exec(value)?.[1];
  return date !== undefined && isCalendarDate(date) ? date : undefined;
};

const APPROVAL_FIELDS = ['expenseId', 'approvalDate'] as const;

/**
 * Field names in any case (Newtonsoft's default writes ExpenseId and
 * ApprovalDate), as their canonical names. A field given twice in different
 * cases is refused: which one the producer meant is a guess.
 */
function canonicalFieldNames(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  const seen: Record<string, string[]> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = APPROVAL_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
    if (!field) continue;
    (seen[field] ??= []).push(key);
    out[field] = v;
  }
  for (const [field, keys] of Object.entries(seen)) {
    if (keys.length > 1) ctx.addIssue({ code: 'custom', path: [field], message: `given more than once (${keys.join(', ')})` });
  }
  return out;
}

/** The approval message: small, and everything else is read from the tables. */
export const approvalMessageSchema = z.preprocess(
  canonicalFieldNames,
  z.object({
    expenseId: z.string().regex(KEY_PATTERN, 'expenseId violates table key rules'),
    approvalDate: z
      .string()
      .refine((v) => messageDatePart(v) !== undefined, 'approvalDate must be a real YYYY-MM-DD date or an ISO 8601 date-time'),
  }),
);
// Unknown extra fields are ignored (not poisoned) so the producer can add fields without a lockstep deploy.
export type ApprovalMessage = z.infer<typeof approvalMessageSchema>;

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
