import { stringify, type Options } from 'csv-stringify/sync';
import { neutralizeCell } from '../export/csv';
import { decodeItems, type RowItem } from '../export/export-row';
import type { FileRecord } from '../export/export-table';
import { minorOf } from '../export/manifest';
import { formatMinor, minorDigits } from '../money/money';
import { Charset } from './encoding';
import { FIELDS, type RecordSource } from './fields';
import { dateParts, ISO8601, iso8601, partsFormatter, TimestampParts, type DateFormat, type TimeFormat } from './formats';
import type { Layout, LayoutColumn } from './layout-schema';

/** A value wider than its fixed-width column: the file is refused, never cut (see docs/layouts.md). */
export class ValueTooWideError extends Error {
  constructor(
    readonly seq: number | undefined,
    readonly column: string,
    readonly width: number,
    readonly length: number,
  ) {
    super(`row ${seq ?? '?'}: the value of column "${column}" is ${length} characters, wider than its ${width}`);
    this.name = 'ValueTooWideError';
  }
}

/** What a page of rows became: its bytes, how many records (lines other than the header) and how many characters were transliterated. */
export interface RenderedPage {
  bytes: Buffer;
  records: number;
  transliterated: number;
}

type Cell = (s: RecordSource, fold: (t: string) => string) => string;

/**
 * A validated layout made into a pure page formatter: rows in, encoded
 * bytes out. Every cell passes one place: the formula guard for user text
 * (in every layout, fixed width too), the charset's fold, the width check.
 */
export class LayoutRenderer {
  readonly charset: Charset;
  private readonly cells: Cell[];
  private readonly stringifyOptions: Options;
  private readonly eol: string;

  constructor(
    readonly layout: Layout,
    exportTimeZone: string,
  ) {
    this.charset = new Charset(layout.encoding);
    const ts = new TimestampParts(layout.timeZone === 'UTC' ? 'UTC' : exportTimeZone);
    this.cells = layout.columns.map((c) => compileCell(layout, c, ts));
    this.eol = layout.recordEnd === 'CRLF' ? '\r\n' : '\n';
    this.stringifyOptions = {
      delimiter: layout.delimiter,
      record_delimiter: layout.recordEnd === 'CRLF' ? 'windows' : 'unix',
      quoted: layout.quoting === 'always',
      quoted_empty: layout.quoting === 'always',
      quoted_match: /[\r\n]/,
    };
  }

  /** The header line's text ('' when the layout has none). */
  headerText(): string {
    if (!this.layout.header) return '';
    return this.lines([this.layout.columns.map((c) => c.header)], [undefined]);
  }

  /** One page of rows of day `date` as bytes; `first`: the file's first page (the header and a BOM go before it). */
  page(rows: readonly FileRecord[], date: string, first: boolean): RenderedPage {
    let transliterated = 0;
    const fold = (t: string) => {
      const r = this.charset.fold(t);
      transliterated += r.changed;
      return r.text;
    };
    const records: string[][] = [];
    const seqs: Array<number | undefined> = [];
    for (const row of rows) {
      for (const src of sources(row, date, this.layout.grain)) {
        records.push(this.cells.map((cell) => cell(src, fold)));
        seqs.push(row.seq);
      }
    }
    const text = (first ? this.headerText() : '') + (records.length ? this.lines(records, seqs) : '');
    return { bytes: this.charset.encode(text, first), records: records.length, transliterated };
  }

  /**
   * How many records `page` would make of these rows, and whether it would refuse them, without making
   * them: the read before the headers (item grain, fixed width) runs at storage speed with no client to
   * pace it, and building every line only to count it is what its memory went on. A delimited layout
   * cannot refuse a value, so it only counts; fixed width computes each cell and checks its width.
   */
  count(rows: readonly FileRecord[], date: string): number {
    const fixed = this.layout.kind === 'fixed';
    const fold = (t: string) => this.charset.fold(t).text;
    let n = 0;
    for (const row of rows) {
      for (const src of sources(row, date, this.layout.grain)) {
        n++;
        if (fixed) this.cells.forEach((cell, i) => this.fits(cell(src, fold), i, row.seq));
      }
    }
    return n;
  }

  private fits(v: string, column: number, seq: number | undefined): void {
    const { width, header } = this.layout.columns[column] as Required<LayoutColumn>;
    if (v.length > width) throw new ValueTooWideError(seq, header, width, v.length);
  }

  private lines(records: string[][], seqs: ReadonlyArray<number | undefined>): string {
    if (this.layout.kind === 'delimited') return stringify(records, this.stringifyOptions);
    const cols = this.layout.columns;
    let out = '';
    records.forEach((cells, r) => {
      for (let i = 0; i < cells.length; i++) {
        const { width, align, pad } = cols[i] as Required<LayoutColumn>;
        const v = cells[i];
        this.fits(v, i, seqs[r]);
        const fill = pad.repeat(width - v.length);
        out += align === 'left' ? v + fill : fill + v;
      }
      out += this.eol;
    });
    return out;
  }
}

/**
 * The records of one row: itself in expense grain; in item grain one per
 * item. A row written before rows carried items renders as one item line
 * with the expense's total and no category (the accounts' default), so
 * that no row is dropped and the lines still sum to the day's totals.
 */
export function* sources(row: FileRecord, date: string, grain: Layout['grain']): Generator<RecordSource> {
  if (grain === 'expense') {
    yield { row, date }; // the items are read only if a column asks (expense.itemCount)
    return;
  }
  const items: RowItem[] = decodeItems(row.items) ?? [{ category: '', amountMinor: minorOf(row.amount, row.currency) }];
  for (let i = 0; i < items.length; i++) yield { row, date, item: items[i], line: i + 1, itemCount: items.length };
}

function compileCell(layout: Layout, c: LayoutColumn, ts: TimestampParts): Cell {
  if (c.value !== undefined) {
    const v = c.value;
    return () => v;
  }
  const f = FIELDS[c.field!];
  const comma = layout.decimal === ',';
  switch (f.kind) {
    case 'text':
    case 'int': {
      const text = f.text;
      return f.user ? (s, fold) => fold(neutralizeCell(text(s))) : (s) => text(s);
    }
    case 'amount': {
      const minor = c.format === 'minor';
      if (c.field === 'item.amount')
        return minor ? (s) => s.item!.amountMinor.toString() : (s) => decimal(formatMinor(s.item!.amountMinor, s.row.currency), comma);
      return minor ? (s) => minorText(s.row.amount, s.row.currency) : (s) => decimal(s.row.amount, comma);
    }
    case 'timestamp': {
      const format = c.format ?? layout.dateFormat;
      if (format === ISO8601) return (s) => iso8601(s.row.approvedAt, ts.of(s.row.approvedAt));
      const fmt = partsFormatter(format as DateFormat | TimeFormat);
      return (s) => fmt(ts.of(s.row.approvedAt));
    }
    case 'date': {
      const fmt = partsFormatter((c.format ?? layout.dateFormat) as DateFormat);
      let last = { date: '', text: '' }; // one day per file: format it once
      return (s) => (s.date === last.date ? last.text : (last = { date: s.date, text: fmt(dateParts(s.date)) }).text);
    }
    case 'account': {
      const { map, default: fallback } = layout.accounts!;
      return (s) => map[s.item!.category] ?? fallback;
    }
  }
}

/**
 * A row's amount in minor units, as text: its digits without the point.
 * The row's amount always has exactly the currency's minor digits
 * (formatMinor wrote it); anything else goes the strict way, which refuses it.
 */
function minorText(amount: string, currency: string): string {
  const dot = amount.indexOf('.');
  const digits = dot === -1 ? amount : amount.slice(0, dot) + amount.slice(dot + 1);
  if ((dot === -1 ? 0 : amount.length - dot - 1) !== minorDigits(currency) || !/^\d+$/.test(digits))
    return minorOf(amount, currency).toString();
  return digits.replace(/^0+(?=\d)/, '');
}

/** A decimal comma changes the separator, never a digit. */
const decimal = (amount: string, comma: boolean): string => (comma ? amount.replace('.', ',') : amount);
