import { formatMinor, parseAmount } from '../money/money';

/**
 * A day's manifest: the control record of its file, written in the same
 * entity-group transaction as the rows it describes, so its figures can
 * never disagree with them. Pure: building, updating and presenting it.
 */
export type Totals = Readonly<Record<string, bigint>>;

export interface Manifest {
  date: string;
  /** The last seq handed out: rows are 1..seq, dense. */
  seq: number;
  rowCount: number;
  /** Per currency, exact minor units. */
  totals: Totals;
  firstRowAt?: string;
  lastRowAt?: string;
  closedAt?: string;
  closedSeq?: number;
  /** The on-premises system imported rows 1..acknowledgedThrough (0: nothing yet). */
  acknowledgedThrough: number;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  /** Rows 1..exportedThrough have had their expenses moved to `exported` (the acknowledgement's background progress). */
  exportedThrough: number;
  /**
   * Present while rows an earlier release wrote without a seq are being
   * numbered (src/export/legacy/): the whole day is not served until they
   * all are, so that no pull takes part of such a day for all of it.
   */
  upgrade?: UpgradeState;
}

export interface UpgradeState {
  /** Rows without seq found by the numbering's last scan (0: not scanned yet). */
  found: number;
  /** Who numbers it, and until when its lease holds (ISO); another instance takes over after that. */
  by?: string;
  leaseUntil?: string;
}

export type DayState = 'open' | 'closed' | 'late';

/** The file format version: part of every ETag, so that a change of format changes every ETag. */
export const FORMAT_VERSION = 1;

export const emptyManifest = (date: string): Manifest => ({
  date,
  seq: 0,
  rowCount: 0,
  totals: {},
  acknowledgedThrough: 0,
  exportedThrough: 0,
});

/** A row's amount in exact minor units of its currency. Rows are written by us, so a bad one is a bug worth stopping for. */
export function minorOf(amount: string, currency: string): bigint {
  const parsed = parseAmount(amount, currency);
  if (!parsed.ok) throw new Error(`export row amount "${amount}" ${currency} is not exact money: ${parsed.reason}`);
  return parsed.minor;
}

export function addToTotals(totals: Totals, currency: string, minor: bigint): Totals {
  return { ...totals, [currency]: (totals[currency] ?? 0n) + minor };
}

export function subtractTotals(a: Totals, b: Totals): Totals {
  const out: Record<string, bigint> = {};
  for (const [c, v] of Object.entries(a)) {
    const d = v - (b[c] ?? 0n);
    if (d !== 0n) out[c] = d;
  }
  return out;
}

/** The manifest after one more row: its seq (the new `seq`), the count and the totals through it. */
export function withRow(m: Manifest, row: { currency: string; amount: string }): Manifest {
  return { ...m, seq: m.seq + 1, rowCount: m.rowCount + 1, totals: addToTotals(m.totals, row.currency, minorOf(row.amount, row.currency)) };
}

export function dayState(m: Manifest): DayState {
  if (m.closedSeq === undefined) return 'open';
  return m.seq > m.closedSeq ? 'late' : 'closed';
}

/** Rows landed that the on-premises system has not acknowledged. */
export const unacknowledgedRows = (m: Manifest): number => m.seq - m.acknowledgedThrough;

/**
 * RFC 9651 dictionary of exact decimal strings, currencies in order:
 * `eur="10.00", usd="1234.50"`. Dictionary keys must be lowercase in
 * RFC 9651, so the ISO code is lowercased; the value is a string, not an
 * sf-decimal, which allows only three fractional digits and twelve integer ones.
 */
export function totalsHeader(totals: Totals): string | undefined {
  const entries = Object.entries(totals).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return undefined;
  return entries.map(([c, v]) => `${c.toLowerCase()}="${formatMinor(v, c)}"`).join(', ');
}

/** Totals as exact decimal strings, for JSON. */
export function totalsJson(totals: Totals): Record<string, string> {
  return Object.fromEntries(
    Object.entries(totals)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([c, v]) => [c, formatMinor(v, c)]),
  );
}

/** Totals in a table property: JSON of minor units as decimal strings (a bigint has no JSON form). */
export function encodeTotals(totals: Totals): string {
  return JSON.stringify(Object.fromEntries(Object.entries(totals).map(([c, v]) => [c, v.toString()])));
}

export function decodeTotals(text: unknown): Totals {
  if (typeof text !== 'string' || text === '') return {};
  const raw = JSON.parse(text) as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).map(([c, v]) => [c, BigInt(v)]));
}

/**
 * A strong ETag naming exactly the bytes of one response: the rows
 * (after, through] of `date` in format `FORMAT_VERSION`, with the variant
 * that changes the bytes: a layout other than v1 (its tag,
 * `name@version~hash`, see src/layouts/registry.ts), a BOM, a content
 * coding. Rows never change once written, so the same name is the same
 * bytes forever. v1's ETags carry no layout tag: they stay as they were.
 */
export function snapshotEtag(date: string, after: number, through: number, variant: readonly string[] = []): string {
  return `"${[`${date}.${after}-${through}.v${FORMAT_VERSION}`, ...variant].join('.')}"`;
}

/**
 * If-None-Match: does it name this snapshot in this layout (in any other
 * variant: the client's copy holds the same records)? A tag of another
 * layout never matches: its copy is another file. `layoutTag` undefined is v1.
 */
export function matchesSnapshot(
  ifNoneMatch: string | undefined,
  date: string,
  after: number,
  through: number,
  layoutTag?: string,
): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  const base = snapshotEtag(date, after, through).slice(1, -1);
  return ifNoneMatch
    .split(',')
    .map((t) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, ''))
    .some((t) => {
      if (t !== base && !t.startsWith(`${base}.`)) return false;
      return (
        t
          .slice(base.length + 1)
          .split('.')
          .find((segment) => segment.includes('@')) === layoutTag
      );
    });
}
