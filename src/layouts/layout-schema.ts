import { z } from 'zod';
import { FORMULA_START } from '../export/csv';
import { ENCODINGS, isSingleByte } from './encoding';
import { FIELDS, FIELD_NAMES, type FieldName } from './fields';
import { DATE_FORMATS, ISO8601, TIME_FORMATS } from './formats';

/**
 * A layout document (JSON or YAML): what it may say, with the defaults,
 * and every rule checked at load so that nothing about a layout can fail
 * while a file streams. Problems carry their path (`columns.2.width`).
 */
export const LAYOUT_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const DELIMITERS = { ',': ',', ';': ';', '\t': '\t', TAB: '\t', '|': '|' } as const;
const AMOUNT_FORMATS = ['decimal', 'minor'] as const;

// Text a layout author writes that lands in the file (headers, constants, accounts): printable, and never a formula.
const fileText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters')
    .refine((s) => !FORMULA_START.test(s) && !s.startsWith("'"), "must not start with = + - @ ' TAB or CR (a spreadsheet formula)");

const column = z
  .object({
    header: fileText(64),
    field: z.enum(FIELD_NAMES as [FieldName, ...FieldName[]], { message: `must be one of: ${FIELD_NAMES.join(', ')}` }).optional(),
    value: fileText(200).optional(),
    format: z.enum([...AMOUNT_FORMATS, ...DATE_FORMATS, ...TIME_FORMATS, ISO8601], { message: 'is not a known format' }).optional(),
    width: z.number().int().min(1).max(1000).optional(),
    align: z.enum(['left', 'right']).optional(),
    pad: z
      .string()
      .regex(/^[\x20-\x7E]$/, 'must be one printable ASCII character')
      .optional(),
  })
  .strict();

export const layoutSchema = z
  .object({
    name: z.string().regex(LAYOUT_NAME, 'must be 1-40 of a-z 0-9 -, starting with a letter or digit'),
    version: z.number().int().min(1).max(1_000_000),
    description: z.string().max(500).optional(),
    grain: z.enum(['expense', 'item']).default('expense'),
    kind: z.enum(['delimited', 'fixed']).default('delimited'),
    delimiter: z
      .enum(Object.keys(DELIMITERS) as [keyof typeof DELIMITERS], { message: 'must be one of , ; TAB |' })
      .default(',')
      .transform((d) => DELIMITERS[d]),
    quoting: z.enum(['as-needed', 'always']).default('as-needed'),
    header: z.boolean().default(true),
    recordEnd: z.enum(['CRLF', 'LF']).default('CRLF'),
    decimal: z.enum(['.', ',']).default('.'),
    dateFormat: z.enum(DATE_FORMATS).default('YYYY-MM-DD'),
    timeZone: z.enum(['UTC', 'export'], { message: 'must be UTC or export (EXPORT_TIMEZONE)' }).default('UTC'),
    encoding: z.enum(ENCODINGS).default('utf-8'),
    fileName: z
      .string()
      .regex(/^[A-Za-z0-9._-]*(\{(date|layout|seq)\}[A-Za-z0-9._-]*)*$/, 'may hold A-Z a-z 0-9 . _ - and {date} {layout} {seq}')
      .min(1)
      .max(120)
      .default('expenses-{date}-{layout}.csv'),
    accounts: z
      .object({
        map: z.record(z.string().min(1).max(64), fileText(64).pipe(z.string().min(1))).default({}),
        default: fileText(64).pipe(z.string().min(1)),
      })
      .strict()
      .optional(),
    columns: z.array(column).min(1).max(100),
  })
  .strict()
  .superRefine((l, ctx) => {
    for (const p of crossProblems(l)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/** The column as the cross-field rules read it: loosely, so that they also run on a document that failed elsewhere. */
interface LooseColumn {
  header?: unknown;
  field?: unknown;
  value?: unknown;
  format?: unknown;
  width?: unknown;
  align?: unknown;
  pad?: unknown;
}

/**
 * Rules across fields. They run on the raw document too when it has other
 * problems (zod skips refinements then), so one check reports them all.
 */
function crossProblems(doc: unknown): Array<{ path: (string | number)[]; message: string }> {
  const out: Array<{ path: (string | number)[]; message: string }> = [];
  if (typeof doc !== 'object' || doc === null) return out;
  const l = doc as { kind?: unknown; encoding?: unknown; grain?: unknown; header?: unknown; accounts?: unknown; columns?: unknown };
  const problem = (path: (string | number)[], message: string) => out.push({ path, message });
  const fixed = l.kind === 'fixed';
  const encoding = l.encoding ?? 'utf-8';
  if (fixed && (ENCODINGS as readonly unknown[]).includes(encoding) && !isSingleByte(encoding as (typeof ENCODINGS)[number]))
    problem(['encoding'], 'fixed width needs a single-byte encoding, so that a width counts bytes');
  if (!Array.isArray(l.columns)) return out;
  (l.columns as unknown[]).forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) return;
    const c = raw as LooseColumn;
    const at = (k: string) => ['columns', i, k];
    const width = typeof c.width === 'number' ? c.width : undefined;
    if ((c.field === undefined) === (c.value === undefined)) problem(['columns', i], 'needs exactly one of field or value');
    if (fixed) {
      if (c.width === undefined) problem(at('width'), 'is required in a fixed-width layout');
      if (c.align === undefined) problem(at('align'), 'is required in a fixed-width layout');
      if (c.pad === undefined) problem(at('pad'), 'is required in a fixed-width layout');
      if (l.header !== false && width !== undefined && typeof c.header === 'string' && c.header.length > width)
        problem(at('header'), `is wider than the column (${width})`);
      if (typeof c.value === 'string' && width !== undefined && c.value.length > width)
        problem(at('value'), `is wider than the column (${width})`);
    } else if (c.width !== undefined || c.align !== undefined || c.pad !== undefined) {
      problem(['columns', i], 'width, align and pad belong to a fixed-width layout (kind: fixed)');
    }
    if (c.field === undefined) {
      if (c.format !== undefined) problem(at('format'), 'applies to a field, not to a constant value');
      return;
    }
    if (typeof c.field !== 'string' || !(c.field in FIELDS)) return; // the schema reports an unknown field
    const name = c.field as FieldName;
    const f = FIELDS[name];
    if (f.grain === 'item' && l.grain !== 'item') problem(at('field'), `${name} needs grain: item`);
    if (f.kind === 'account' && !l.accounts) problem(at('field'), 'item.account needs an accounts map with a default');
    if (c.format === undefined) return;
    const allowed: readonly unknown[] =
      f.kind === 'amount'
        ? AMOUNT_FORMATS
        : f.kind === 'timestamp'
          ? [...DATE_FORMATS, ...TIME_FORMATS, ISO8601]
          : f.kind === 'date'
            ? DATE_FORMATS
            : [];
    if (!allowed.includes(c.format))
      problem(at('format'), allowed.length ? `for ${name} must be one of: ${allowed.join(', ')}` : `${name} takes no format`);
  });
  return out;
}

export type LayoutInput = z.input<typeof layoutSchema>;
export type Layout = z.output<typeof layoutSchema>;
export type LayoutColumn = Layout['columns'][number];

/** Every problem of a parsed document, as `field: what is wrong`, like config.ts. */
export function validateLayout(doc: unknown): { ok: true; layout: Layout } | { ok: false; problems: string[] } {
  const parsed = layoutSchema.safeParse(doc);
  if (parsed.success) return { ok: true, layout: parsed.data };
  const issues = [...parsed.error.issues, ...crossProblems(doc)];
  const problems = issues.map((i) => `${i.path.length ? i.path.join('.') : '(document)'}: ${i.message}`);
  return { ok: false, problems: [...new Set(problems)] };
}
